"""Teachers' inline Markdown -> Notion rich text: what the original importer produces, and the
cases where it was plainly wrong and the converter does better (each marked "better")."""

from typing import Any

import pytest

from esl_dagster.pipeline.errors import ValidationError
from esl_dagster.pipeline.notion.block_payloads import children_of
from esl_dagster.pipeline.notion.blocks import markdown_to_blocks
from esl_dagster.pipeline.notion.inline import inline_runs
from esl_dagster.pipeline.notion.rich_text import parse_inline

Styled = tuple[str, str]  # (content, flags: B bold, I italic, S strike, C code, L linked)


def styled(items: list[dict[str, Any]]) -> list[Styled]:
    out = []
    for item in items:
        notes = item["annotations"]
        flags = "".join(
            letter
            for letter, key in (("B", "bold"), ("I", "italic"), ("S", "strikethrough"))
            if notes[key]
        )
        flags += "C" if notes["code"] else ""
        flags += "L" if item["text"]["link"] else ""
        out.append((item["text"]["content"], flags))
    return out


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        # Sample lesson 05: bold glued to the apostrophe of a contraction.
        ("I**'ve never been** inside.", [("I", ""), ("'ve never been", "B"), (" inside.", "")]),
        ("un**believ**able", [("un", ""), ("believ", "B"), ("able", "")]),
        ("**Ann:** Hi", [("Ann:", "B"), (" Hi", "")]),
        ("don't *stop* now'", [("don't ", ""), ("stop", "I"), (" now'", "")]),
        ("(*aside*)", [("(", ""), ("aside", "I"), (")", "")]),
        ("‘**quoted**’.", [("‘", ""), ("quoted", "B"), ("’.", "")]),
        ("a*b*c and 5 * 3", [("a*b*c and 5 * 3", "")]),
        ("I*'m* here", [("I*'m* here", "")]),
        ("*a **b** c*", [("a ", "I"), ("b", "BI"), (" c", "I")]),
        ("~~gone~~ `Ctrl+E`", [("gone", "S"), (" ", ""), ("Ctrl+E", "C")]),
        ("**bold*", [("**bold*", "")]),
        (r"\*lit\* snake_case ____", [("*lit* snake_case ____", "")]),
        ("[**b**](https://u.example)", [("b", "BL")]),
    ],
)
def test_emphasis_as_the_original_makes_it(line: str, expected: list[Styled]) -> None:
    assert styled(parse_inline(line)) == expected


@pytest.mark.parametrize(
    ("line", "expected", "original"),
    [
        ("***x***", [("x", "BI")], "bold '*x' and a stray '*'"),
        ('"*word*"', [('"', ""), ("word", "I"), ('"', "")], "literal asterisks"),
        ("— *dash*", [("— ", ""), ("dash", "I")], "literal asterisks"),
        ("**a *b**", [("a *b", "B")], "italic from '*b' to the end"),
        ("*a **b*", [("a **b", "I")], "bold from '**b' to the end, opener lost"),
        ("**a `b**` c", [("**a ", ""), ("b**", "C"), (" c", "")], "bold opened by '**' in code"),
        ("****", [("****", "")], "the four asterisks vanished"),
        (
            "**see [here](https://u.example)** now",
            [("see ", "B"), ("here", "BL"), (" now", "")],
            "the link lost the bold around it",
        ),
        (
            "[Foo](https://en.wikipedia.org/wiki/Foo_(bar)) x",
            [("Foo", "L"), (" x", "")],
            "the URL ended at the first ')', leaving ')' in the text",
        ),
        ("``a`b``", [("a`b", "C")], "empty code spans around plain 'a`b'"),
    ],
)
def test_better_than_the_original(line: str, expected: list[Styled], original: str) -> None:
    """The original produced what ``original`` says; a teacher means what ``expected`` shows."""
    assert styled(parse_inline(line)) == expected


def test_link_urls_in_items() -> None:
    items = parse_inline(
        "[Foo](https://en.wikipedia.org/wiki/Foo_(bar)) [rel](page) [sp](https://a b)"
    )
    links = [i["text"]["link"] for i in items]
    assert links[0] == {"url": "https://en.wikipedia.org/wiki/Foo_(bar)"}
    assert all(link is None for link in links[1:])


def test_emphasis_in_every_text_block() -> None:
    body = "\n".join(
        [
            "## I**'ve** got it",
            "- I**'ve never been** inside.",
            "  - nested *quiet* one",
            "1. **Don't** stop",
            "> *it's* fine",
            "| **a'b** | *c* |",
            "| --- | --- |",
            "| x**'y** | z |",
            ":::callout 💡 **Don't** forget",
            "- I**'m** in a callout",
            ":::",
            ":::toggle-heading **Answer** Key",
            "I**'d** say",
            ":::",
        ]
    )
    blocks = markdown_to_blocks(body)
    heading, bullet, numbered, quote, table, callout, toggle = blocks

    def rich(block: dict[str, Any]) -> list[Styled]:
        return styled(block[block["type"]]["rich_text"])

    assert ("'ve", "B") in rich(heading)
    assert ("'ve never been", "B") in rich(bullet)
    assert ("quiet", "I") in rich(children_of(bullet)[0])
    assert ("Don't", "B") in rich(numbered)
    assert ("it's", "I") in rich(quote)
    cells = [row["table_row"]["cells"] for row in table["table"]["children"]]
    assert styled(cells[0][0]) == [("a'b", "B")] and styled(cells[1][0]) == [("x", ""), ("'y", "B")]
    assert ("Don't", "B") in rich(callout)
    assert ("'m", "B") in rich(children_of(callout)[0])
    assert rich(toggle)[0] == ("Answer", "B")
    assert ("'d", "B") in rich(children_of(toggle)[0])


@pytest.mark.parametrize(
    ("line", "text"),
    [
        ("[" * 20_000, "[" * 20_000),
        ("![" * 5_000, "![" * 5_000),
        ("*a" * 5_000, "aa" + "*a" * 4_998),
        ("**a" * 5_000, "a" * 5_000),
        ("`a" * 5_000, "a" * 5_000),
    ],
)
def test_marker_heavy_lines_keep_their_text(line: str, text: str) -> None:
    """Lines of thousands of markers parse (in linear time: see bench/notion.py)."""
    assert "".join(run.content for run in inline_runs(line)) == text
    try:
        items = parse_inline(line)
    except ValidationError as exc:  # more than 100 differently formatted runs
        assert "Notion accepts at most 100" in str(exc)
    else:
        assert "".join(i["text"]["content"] for i in items) == text
