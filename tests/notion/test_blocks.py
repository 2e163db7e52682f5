from typing import Any

import pytest

from esl_dagster.pipeline.errors import ValidationError
from esl_dagster.pipeline.notion.batching import count_blocks, plan_batches
from esl_dagster.pipeline.notion.block_payloads import children_of
from esl_dagster.pipeline.notion.blocks import markdown_to_blocks
from esl_dagster.pipeline.notion.rich_text import parse_inline, split_content, utf16_len


def text(block: dict[str, Any]) -> str:
    return "".join(i["text"]["content"] for i in block[block["type"]].get("rich_text", []))


def test_headings_paragraphs_and_front_matter_strip() -> None:
    blocks = markdown_to_blocks(
        "---\ntitle: x\n---\n# One\n## Two\n### Three\n#### Four\nplain line\nsecond line"
    )
    assert [b["type"] for b in blocks] == [
        "heading_1",
        "heading_2",
        "heading_3",
        "paragraph",
        "paragraph",
        "paragraph",
    ]
    assert [text(b) for b in blocks] == [
        "One",
        "Two",
        "Three",
        "#### Four",
        "plain line",
        "second line",
    ]


def test_nested_lists_by_indentation_and_indented_paragraph() -> None:
    blocks = markdown_to_blocks(
        "- root\n  - child\n    - grandchild\n  continued\n- sibling\n1. one\n   1. nested\n1) not a list"
    )
    assert [b["type"] for b in blocks] == [
        "bulleted_list_item",
        "bulleted_list_item",
        "numbered_list_item",
        "paragraph",
    ]
    child = children_of(blocks[0])
    assert [text(c) for c in child] == ["child", "continued"]
    assert text(children_of(child[0])[0]) == "grandchild"
    assert text(children_of(blocks[2])[0]) == "nested"
    assert text(blocks[3]) == "1) not a list"


def test_inline_annotations_links_and_literal_underscores() -> None:
    items = parse_inline(
        r"**bold** *it* ~~gone~~ `Ctrl+E` [here](https://x.org/a) ____ snake_case \*lit\*"
    )
    flat = [
        (
            i["text"]["content"],
            i["annotations"]["bold"],
            i["annotations"]["italic"],
            i["annotations"]["strikethrough"],
            i["annotations"]["code"],
            i["text"]["link"],
        )
        for i in items
    ]
    assert ("bold", True, False, False, False, None) in flat
    assert ("it", False, True, False, False, None) in flat
    assert ("gone", False, False, True, False, None) in flat
    assert ("Ctrl+E", False, False, False, True, None) in flat
    assert ("here", False, False, False, False, {"url": "https://x.org/a"}) in flat
    assert items[-1]["text"]["content"] == " ____ snake_case *lit*"
    assert all(i["text"]["content"] for i in items)


def test_relative_links_become_text_and_empty_text_is_empty_array() -> None:
    assert parse_inline("[a](relative/page)")[0]["text"]["link"] is None
    assert parse_inline("") == []
    assert markdown_to_blocks(":::toggle-heading\n:::")[0]["toggle"]["rich_text"] == []


def test_long_text_is_split_at_2000_utf16_units() -> None:
    line = "a" * 1999 + "😀" + "b" * 2500
    items = markdown_to_blocks(line)[0]["paragraph"]["rich_text"]
    assert all(utf16_len(i["text"]["content"]) <= 2000 for i in items)
    assert "".join(i["text"]["content"] for i in items) == line
    assert split_content("😀" * 1001)[0] == "😀" * 1000


def test_directives() -> None:
    body = "\n".join(
        [
            ":::toc",
            ":::audio https://a.example/x.mp3",
            ":::video https://v.example/x",
            ":::audio",
            ":::callout 💡 Note",
            "first",
            "- second",
            ":::",
            ":::study-text Label",
            "Ann: Hi",
            "",
            "Bob: Hello",
            ":::",
            ":::toggle-h2 Answer Key",
            "### A. Part",
            "1. one",
            "   1. nested kept",
            ":::",
            ":::synced-block",
            "shared",
            ":::",
            ":::synced-block 1f2e3d4c-5b6a-4789-9abc-def012345678",
            ":::",
            ":::column-list",
            "    :::column",
            "    left",
            "    :::",
            "    :::column",
            "    right",
            "    :::",
            ":::",
            ":::column-list",
            ":::column",
            "only one",
            ":::",
            ":::",
            "| a | b |",
            "|---|:-:|",
            "| 1 |",
            "![alt](https://i.example/p.png)",
            "> quote",
            "---",
        ]
    )
    blocks = markdown_to_blocks(body)
    kinds = [b["type"] for b in blocks]
    assert kinds == [
        "table_of_contents",
        "audio",
        "video",
        "callout",
        "toggle",
        "heading_2",
        "synced_block",
        "synced_block",
        "column_list",
        "paragraph",
        "table",
        "image",
        "quote",
        "divider",
    ]
    callout = blocks[3]["callout"]
    assert (
        callout["icon"] == {"type": "emoji", "emoji": "💡"}
        and callout["rich_text"][0]["text"]["content"] == "Note"
    )
    assert [c["type"] for c in callout["children"]] == ["paragraph", "bulleted_list_item"]
    assert text(blocks[4]) == "study-text" and [text(c) for c in children_of(blocks[4])] == [
        "Ann: Hi",
        "Bob: Hello",
    ]
    heading = blocks[5]["heading_2"]
    assert heading["is_toggleable"] is True
    assert [c["type"] for c in heading["children"]] == ["heading_3", "numbered_list_item"]
    assert text(heading["children"][1]["numbered_list_item"]["children"][0]) == "nested kept"
    assert (
        blocks[6]["synced_block"]["synced_from"] is None and blocks[6]["synced_block"]["children"]
    )
    assert blocks[7]["synced_block"] == {
        "synced_from": {"block_id": "1f2e3d4c-5b6a-4789-9abc-def012345678"}
    }
    assert [text(children_of(col)[0]) for col in children_of(blocks[8])] == ["left", "right"]
    assert text(blocks[9]) == "only one"
    table = blocks[10]["table"]
    assert table["table_width"] == 2 and table["has_column_header"] is True
    assert [len(r["table_row"]["cells"]) for r in table["children"]] == [2, 2]
    assert blocks[11]["image"]["external"]["url"] == "https://i.example/p.png"


@pytest.mark.parametrize("count", [1, 100, 101, 250])
def test_top_level_batches_hold_at_most_100_blocks(count: int) -> None:
    blocks = markdown_to_blocks("\n".join(f"line {i}" for i in range(count)))
    batches = plan_batches(blocks)
    assert [len(b.blocks) for b in batches] == [min(100, count - i) for i in range(0, count, 100)]


def test_deep_nesting_and_wide_children_are_deferred() -> None:
    nested = "\n".join("  " * depth + f"- level {depth}" for depth in range(6))
    wide = ":::toggle-heading Many\n" + "\n".join(f"item {i}" for i in range(150)) + "\n:::"
    blocks = markdown_to_blocks(nested + "\n\n" + wide)
    (batch,) = plan_batches(blocks)

    def depth(items: list[dict[str, Any]]) -> int:
        return max((1 + depth(children_of(b)) for b in items), default=0)

    assert depth(batch.blocks) == 3
    assert len(children_of(batch.blocks[1])) == 100
    paths = {d.path: len(d.children) for d in batch.deferred}
    assert paths == {(0, 0, 0): 1, (1,): 50}
    assert count_blocks(blocks) == 6 + 151


def test_unclosed_column_list_is_an_error_naming_its_line_not_a_silent_drop() -> None:
    body = "\n".join(
        [
            "## Before",
            ":::column-list",
            ":::column",
            "left",
            ":::",
            ":::column",
            "right",
            ":::",
            "## After (would be lost)",
            "more text",
        ]
    )
    with pytest.raises(ValidationError, match=r"^column-list starting at line 2 is missing a clo"):
        markdown_to_blocks(body)
    # The same list closed: nothing is lost.
    closed = markdown_to_blocks(body.replace("## After", ":::\n## After"))
    assert [b["type"] for b in closed] == ["heading_2", "column_list", "heading_2", "paragraph"]


def test_unclosed_containers_inside_others_name_body_lines_and_others_keep_content() -> None:
    with pytest.raises(ValidationError, match="column-list starting at line 5"):
        markdown_to_blocks("---\ntitle: x\n---\n:::callout 💡\n:::column-list\n:::column\na")
    with pytest.raises(ValidationError, match="synced-block starting at line 1"):
        markdown_to_blocks(":::synced-block 1f2e3d4c-5b6a-4789-9abc-def012345678\nlost text")
    toggle = markdown_to_blocks(":::toggle-heading Open\nkept\n- also kept")[0]
    assert [text(c) for c in children_of(toggle)] == ["kept", "also kept"]
    callout = markdown_to_blocks(":::callout 💡\nfirst\nsecond")[0]["callout"]
    assert text(callout["children"][0]) == "second"
