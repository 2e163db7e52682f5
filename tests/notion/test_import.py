import re
from pathlib import Path
from typing import Any

import pytest

from esl_dagster.pipeline.errors import ValidationError
from esl_dagster.pipeline.lesson.models import LessonMeta
from esl_dagster.pipeline.notion.blocks import markdown_to_blocks
from esl_dagster.pipeline.notion.client import NotionClient
from esl_dagster.pipeline.notion.importer import ImportResult
from esl_dagster.pipeline.notion.target import TargetIds
from tests.conftest import VALID_LESSONS
from tests.fakes.notion_server import FakeNotion, Seeded
from tests.notion.conftest import RecordingCheckpoint, direct_import, load_lesson


def strip_ids(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for block in blocks:
        kind = block["type"]
        payload = dict(block[kind])
        if "children" in payload:
            payload["children"] = strip_ids(payload["children"])
        out.append({"type": kind, kind: payload})
    return out


def run_import(
    client: NotionClient, seeded: Seeded, meta: LessonMeta, body: str, **kwargs: Any
) -> ImportResult:
    target = TargetIds(database_id=seeded.homework_db)
    return direct_import(client, meta, body, target, key=kwargs.pop("key", "lesson-1"), **kwargs)


@pytest.mark.parametrize("path", VALID_LESSONS, ids=lambda p: p.stem)
def test_every_sample_lesson_imports_block_by_block(
    path: Path, fake_notion: FakeNotion, seeded: Seeded, client: NotionClient
) -> None:
    meta, body = load_lesson(path)
    result = run_import(client, seeded, meta, body, key=path.name)
    tree = strip_ids(fake_notion.page_tree(result.page_id))
    assert tree == markdown_to_blocks(body)
    # Independent of the converter: every "## " line is a top-level heading_2 in order, and the
    # study-text toggle holds one block per non-blank line of the study text.
    h2_lines = [line[3:].strip() for line in body.splitlines() if line.startswith("## ")]
    h2_blocks = [
        "".join(i["text"]["content"] for i in b["heading_2"]["rich_text"])
        for b in tree
        if b["type"] == "heading_2" and not b["heading_2"]["is_toggleable"]
    ]
    assert len(h2_blocks) == len(h2_lines) == 9
    study = re.search(r"^:::study-text.*?\n(.*?)^:::\s*$", body, re.MULTILINE | re.DOTALL)
    assert study is not None
    toggle = next(
        b
        for b in tree
        if b["type"] == "toggle" and b["toggle"]["rich_text"][0]["text"]["content"] == "study-text"
    )
    assert len(toggle["toggle"]["children"]) == len(
        [ln for ln in study.group(1).splitlines() if ln.strip()]
    )
    page = fake_notion.page(result.page_id)
    assert page["properties"]["Name"]["title"][0]["plain_text"] == meta.title
    assert fake_notion.page_count(seeded.homework_ds) == 1
    assert result.progress.complete and result.created


def test_properties_topic_student_icon_cover(
    fake_notion: FakeNotion, seeded: Seeded, client: NotionClient
) -> None:
    meta, body = load_lesson(VALID_LESSONS[4])
    result = run_import(client, seeded, meta, body)
    props = fake_notion.page(result.page_id)["properties"]
    assert [o["name"] for o in props["Topic"]["multi_select"]] == [
        "Present Perfect vs Past Simple",
        "Job interviews",
    ]
    assert props["Student"]["relation"] == [{"id": seeded.student_pages["Joaquín"]}]
    assert props["Week"]["rich_text"][0]["plain_text"] == "14"
    assert props["Materials"]["url"].startswith("https://")
    assert props["Lesson Key"]["rich_text"][0]["plain_text"] == "lesson-1"
    page = fake_notion.page(result.page_id)
    assert page["icon"] == {"type": "emoji", "emoji": "💼"} and page["cover"]["external"][
        "url"
    ].endswith("office-lobby.jpg")
    assert result.student_linked
    # the schema came from the data source, never from the database object
    assert fake_notion.requests("GET", r"/v1/data_sources/")


def test_topic_as_text_when_schema_says_rich_text(
    fake_notion: FakeNotion, client: NotionClient
) -> None:
    from tests.fakes.notion_server import seed_homework

    seeded = seed_homework(fake_notion, topic_type="rich_text")
    meta, body = load_lesson(VALID_LESSONS[0])
    result = run_import(client, seeded, meta, body)
    assert (
        fake_notion.page(result.page_id)["properties"]["Topic"]["rich_text"][0]["plain_text"]
        == meta.topic
    )


def test_unknown_property_fails_before_any_write(
    fake_notion: FakeNotion, seeded: Seeded, client: NotionClient
) -> None:
    meta, body = load_lesson(VALID_LESSONS[0])
    meta = meta.model_copy(update={"properties": {"Foo": "bar"}})
    with pytest.raises(ValidationError, match="Unknown Notion properties in front matter: Foo"):
        run_import(client, seeded, meta, body)
    assert (
        not fake_notion.requests("POST", r"/v1/pages")
        and fake_notion.page_count(seeded.homework_ds) == 0
    )


def test_several_data_sources_need_a_name(fake_notion: FakeNotion, client: NotionClient) -> None:
    from esl_dagster.pipeline.errors import ConfigurationError
    from esl_dagster.pipeline.notion.target import resolve_target

    db, (_alpha, beta) = fake_notion.add_database(
        "Multi", {"Alpha": {"Name": {"type": "title"}}, "Beta": {"Name": {"type": "title"}}}
    )
    with pytest.raises(ConfigurationError, match='Available: "Alpha", "Beta"'):
        resolve_target(client, TargetIds(database_id=db))
    assert (
        resolve_target(client, TargetIds(database_id=db, data_source_name="beta")).data_source_id
        == beta
    )


def test_large_and_deep_lesson_is_split_into_valid_requests(
    fake_notion: FakeNotion, seeded: Seeded, client: NotionClient
) -> None:
    meta, _ = load_lesson(VALID_LESSONS[0])
    nested = "\n".join("  " * depth + f"- level {depth}" for depth in range(6))
    wide = ":::toggle-heading Many\n" + "\n".join(f"item {i}" for i in range(150)) + "\n:::"
    body = (
        "\n".join(f"para {i} " + "x" * (2100 if i == 3 else 1) for i in range(230))
        + "\n\n"
        + nested
        + "\n\n"
        + wide
    )
    result = run_import(client, seeded, meta, body)
    assert strip_ids(fake_notion.page_tree(result.page_id)) == markdown_to_blocks(body)
    appends = fake_notion.requests("PATCH", r"/children")
    assert all(r.status == 200 for r in fake_notion.requests())
    assert all(len(r.body["children"]) <= 100 for r in appends)
    assert result.progress.blocks_done == result.progress.blocks_total == 232


def test_reimport_of_changed_lesson_updates_the_same_page(
    fake_notion: FakeNotion, seeded: Seeded, client: NotionClient
) -> None:
    meta, body = load_lesson(VALID_LESSONS[1])
    first = run_import(client, seeded, meta, body)
    changed = body.replace("## 7.", "## 7. (revised)")
    meta2 = meta.model_copy(update={"title": meta.title + " v2"})
    second = run_import(
        client, seeded, meta2, changed, page_id=first.page_id, progress=first.progress
    )
    assert second.page_id == first.page_id and not second.created
    assert fake_notion.page_count(seeded.homework_ds) == 1
    assert strip_ids(fake_notion.page_tree(first.page_id)) == markdown_to_blocks(changed)
    assert fake_notion.page(first.page_id)["properties"]["Name"]["title"][0]["plain_text"].endswith(
        " v2"
    )


def test_unchanged_complete_import_only_updates_properties(
    fake_notion: FakeNotion, seeded: Seeded, client: NotionClient
) -> None:
    meta, body = load_lesson(VALID_LESSONS[2])
    first = run_import(client, seeded, meta, body)
    fake_notion.reset_log()
    again = run_import(client, seeded, meta, body, page_id=first.page_id, progress=first.progress)
    assert again.page_id == first.page_id
    assert not fake_notion.requests("DELETE") and not fake_notion.requests("PATCH", r"/children")


def test_lost_manifest_adopts_the_page_with_the_same_key(
    fake_notion: FakeNotion, seeded: Seeded, client: NotionClient
) -> None:
    meta, body = load_lesson(VALID_LESSONS[3])
    first = run_import(client, seeded, meta, body, key="same-key")
    second = run_import(client, seeded, meta, body, key="same-key")
    assert second.page_id == first.page_id and fake_notion.page_count(seeded.homework_ds) == 1
    assert strip_ids(fake_notion.page_tree(first.page_id)) == markdown_to_blocks(body)


def test_progress_is_reported_and_a_deleted_page_is_recreated(
    fake_notion: FakeNotion, seeded: Seeded, client: NotionClient
) -> None:
    meta, body = load_lesson(VALID_LESSONS[0])
    checkpoint = RecordingCheckpoint()
    first = run_import(client, seeded, meta, body, checkpoint=checkpoint)
    seen = checkpoint.seen
    assert seen[0].blocks_done == 0 and seen[-1] == first.progress
    client.update_page(first.page_id, {"in_trash": True})
    again = run_import(
        client, seeded, meta, body, page_id="00000000-0000-4000-8000-00000000ffff", key="other"
    )
    assert again.created and any("no longer exists" in w for w in again.warnings)
