import json
from pathlib import Path

import pytest

from esl_dagster.pipeline.config.models import Preset
from esl_dagster.pipeline.errors import ValidationError
from esl_dagster.pipeline.manifest import FilesystemManifestStore
from esl_dagster.pipeline.notion.audio_block import add_or_replace_audio
from esl_dagster.pipeline.notion.block_payloads import external, text_block
from esl_dagster.pipeline.notion.client import NotionClient
from esl_dagster.pipeline.notion.colorize import apply_preset
from esl_dagster.pipeline.notion.live import LiveNotion
from esl_dagster.pipeline.notion.offline import DryRunNotion, PreviewNotion
from esl_dagster.pipeline.notion.preview import (
    PlannedRequest,
    plan_audio,
    preview_import,
)
from esl_dagster.pipeline.notion.rich_text import plain, plain_text_of
from esl_dagster.pipeline.notion.service_contract import (
    AudioRequest,
    ImportRequest,
    NotionDefaults,
    RecordedImport,
)
from esl_dagster.pipeline.notion.target import TargetIds
from tests.conftest import VALID_LESSONS
from tests.fakes.notion_server import FakeNotion, Seeded
from tests.notion.conftest import RecordingCheckpoint, direct_import, lesson_page, load_lesson

PRESET = Preset.model_validate(
    {"h2": "yellow_background", "h3": "purple_background", "toggleMap": {"h2": "orange"}}
)


def imported(client: NotionClient, seeded: Seeded, index: int) -> str:
    meta, body = load_lesson(VALID_LESSONS[index])
    target = TargetIds(data_source_id=seeded.homework_ds)
    return direct_import(client, meta, body, target, key=str(index)).page_id


def test_colorize_counts_include_headings_inside_toggleable_headings(
    fake_notion: FakeNotion, seeded: Seeded, client: NotionClient
) -> None:
    page = imported(client, seeded, 4)
    counts = apply_preset(client, page, PRESET)
    # Every "## " line plus the toggle-h2 Answer Key; every "### " line (3 of them inside the
    # Answer Key, which the original missed) plus the toggle-h3 Teacher's plan; no plain toggle
    # follows an H2 in this lesson.
    lines = VALID_LESSONS[4].read_text(encoding="utf-8").splitlines()
    h2 = sum(ln.startswith("## ") for ln in lines) + sum(
        ln.startswith(":::toggle-h2 ") for ln in lines
    )
    h3 = sum(ln.startswith("### ") for ln in lines) + sum(
        ln.startswith(":::toggle-h3 ") for ln in lines
    )
    assert (
        counts.as_dict() == {"h2": h2, "h3": h3, "toggles": 0} == {"h2": 10, "h3": 11, "toggles": 0}
    )
    tree = fake_notion.page_tree(page)
    answer = next(b for b in tree if b["type"] == "heading_2" and b["heading_2"]["is_toggleable"])
    inner = answer["heading_2"]["children"][0]["heading_3"]
    assert inner["color"] == "purple_background"
    assert answer["heading_2"].get("color", "default") == "default"
    assert answer["heading_2"]["rich_text"][0]["annotations"]["color"] == "yellow_background"
    rerun = apply_preset(client, page, PRESET)
    assert rerun.as_dict() == counts.as_dict() and rerun.updates == 0


def test_colorize_toggle_after_h2(
    fake_notion: FakeNotion, seeded: Seeded, client: NotionClient
) -> None:
    page = imported(client, seeded, 0)
    counts = apply_preset(client, page, PRESET)
    assert counts.toggles == 2 and counts.h2 == 9
    toggles = [
        b
        for b in fake_notion.page_tree(page)
        if b["type"] == "toggle" and b["toggle"]["rich_text"][0]["text"]["content"] != "study-text"
    ]
    assert toggles and toggles[0]["toggle"]["rich_text"][0]["annotations"]["color"] == "orange"


def top_types(fake_notion: FakeNotion, page: str) -> list[str]:
    return [
        b["type"] if b["type"] != "toggle" else b["toggle"]["rich_text"][0]["text"]["content"]
        for b in fake_notion.page_tree(page)
    ]


def test_audio_goes_directly_above_the_study_text_and_replaces_ours(
    fake_notion: FakeNotion, seeded: Seeded, client: NotionClient
) -> None:
    page = imported(client, seeded, 4)
    before = top_types(fake_notion, page)
    first = add_or_replace_audio(client, page, "https://cdn.example/a1.mp3")
    after = top_types(fake_notion, page)
    at = after.index("study-text")
    assert after[at - 1] == "audio" and len(after) == len(before) + 1
    assert after.count("audio") == 2  # the lesson's own :::audio embed is left alone
    same = add_or_replace_audio(
        client, page, "https://cdn.example/a1.mp3", previous_block_id=first.block_id
    )
    assert not same.appended and same.block_id == first.block_id
    second = add_or_replace_audio(
        client, page, "https://cdn.example/a2.mp3", previous_block_id=first.block_id
    )
    final = fake_notion.page_tree(page)
    at = [
        b["type"] if b["type"] != "toggle" else b["toggle"]["rich_text"][0]["text"]["content"]
        for b in final
    ].index("study-text")
    assert final[at - 1]["id"] == second.block_id and final[at - 1]["audio"]["external"][
        "url"
    ].endswith("a2.mp3")
    assert second.replaced == [first.block_id] and len(final) == len(before) + 1


def test_audio_when_the_toggle_is_the_first_block(
    fake_notion: FakeNotion, seeded: Seeded, client: NotionClient
) -> None:
    page = fake_notion.add_page(
        seeded.homework_ds,
        "p",
        [
            text_block("toggle", plain("study-text"), [text_block("paragraph", plain("Ann: hi"))]),
            text_block("paragraph", plain("after")),
        ],
    )
    add_or_replace_audio(client, page, "https://cdn.example/x.mp3")
    assert top_types(fake_notion, page) == ["audio", "study-text", "paragraph"]
    assert fake_notion.requests("PATCH", "/children")[-1].body["position"] == {"type": "start"}
    add_or_replace_audio(client, page, "https://cdn.example/y.mp3")
    tree = fake_notion.page_tree(page)
    assert [b["type"] for b in tree] == ["audio", "toggle", "paragraph"] and tree[0]["audio"][
        "external"
    ]["url"].endswith("y.mp3")


def test_audio_replaces_legacy_audio_inside_the_toggle_and_needs_a_toggle(
    fake_notion: FakeNotion, seeded: Seeded, client: NotionClient
) -> None:
    page = fake_notion.add_page(
        seeded.homework_ds,
        "p",
        [
            text_block("heading_2", plain("h")),
            text_block(
                "toggle", plain("study-text"), [external("audio", "https://old.example/a.mp3")]
            ),
        ],
    )
    add_or_replace_audio(client, page, "https://cdn.example/x.mp3")
    tree = fake_notion.page_tree(page)
    assert [b["type"] for b in tree] == ["heading_2", "audio", "toggle"] and "children" not in tree[
        2
    ]["toggle"]
    bare = fake_notion.add_page(
        seeded.homework_ds, "q", [text_block("paragraph", plain("no toggle"))]
    )
    with pytest.raises(ValidationError, match="study-text toggle not found"):
        add_or_replace_audio(client, bare, "https://cdn.example/x.mp3")


def test_preview_payload_is_exactly_what_the_import_sends(
    fake_notion: FakeNotion, seeded: Seeded, client: NotionClient, tmp_path: Path
) -> None:
    meta, body = load_lesson(VALID_LESSONS[4])
    preview = preview_import(
        meta=meta, body=body, target_ids=TargetIds(data_source_id=seeded.homework_ds)
    )
    direct_import(client, meta, body, TargetIds(data_source_id=seeded.homework_ds))
    (sent,) = fake_notion.requests("POST", r"/v1/pages$")
    assert preview.requests[0].body["children"] == sent.body["children"]
    assert preview.requests[0].body["icon"] == sent.body["icon"] and preview.total_blocks == len(
        sent.body["children"]
    )
    preview_service = PreviewNotion(FilesystemManifestStore(), NotionDefaults(database_id="db-1"))
    page = lesson_page(
        meta, body, md_path=tmp_path / "lesson.md", defaults=preview_service.defaults
    )
    outcome = preview_service.import_lesson(
        ImportRequest(page, RecordedImport(), RecordingCheckpoint())
    )
    assert outcome.record is not None and not outcome.record.imported
    written = json.loads((tmp_path / "lesson.notion-preview.json").read_text(encoding="utf-8"))
    assert outcome.detail["previewPath"] == str(tmp_path / "lesson.notion-preview.json")
    assert written["imported"] is False and "not imported" in written["note"]
    assert written["requests"][0]["body"]["parent"] == {"data_source_id": "db-1"}
    sent_before = len(fake_notion.requests())
    dry = LiveNotion(client, NotionDefaults()).for_dry_run()
    planned = dry.import_lesson(
        ImportRequest(lesson_page(meta, body), RecordedImport(), RecordingCheckpoint())
    )
    assert planned.detail["payload"]["imported"] is False
    assert len(fake_notion.requests()) == sent_before


def test_preview_of_a_large_lesson_plans_appends_with_placeholders() -> None:
    meta, _ = load_lesson(VALID_LESSONS[0])
    body = (
        "\n".join(f"p{i}" for i in range(150))
        + "\n\n"
        + "\n".join("  " * d + f"- l{d}" for d in range(5))
    )
    preview = preview_import(meta=meta, body=body)
    paths = [r.path for r in preview.requests]
    assert paths == [
        "/v1/pages",
        "/v1/blocks/{page_id}/children",
        "/v1/blocks/{block:1:50.0.0}/children",
    ]


def test_preview_audio_request_is_what_add_audio_sends_on_the_imported_page(
    fake_notion: FakeNotion, seeded: Seeded, client: NotionClient
) -> None:
    meta, body = load_lesson(VALID_LESSONS[4])
    url = "https://cdn.example/lesson.mp3"
    preview = preview_import(meta=meta, body=body)
    offline = DryRunNotion(PreviewNotion(FilesystemManifestStore(), NotionDefaults()))
    effect = offline.attach_audio(AudioRequest(None, url, lambda: lesson_page(meta, body)))
    planned = PlannedRequest(**effect.detail["payload"])
    assert (planned.method, planned.path) == ("PATCH", "/v1/blocks/{page_id}/children")
    assert planned.body["children"] == [external("audio", url)]

    page = imported(client, seeded, 4)
    add_or_replace_audio(client, page, url)
    (sent,) = fake_notion.requests("PATCH", rf"/v1/blocks/{page}/children$")[-1:]
    assert sent.body["children"] == planned.body["children"]
    anchor = sent.body["position"]["after_block"]["id"]
    placeholder = planned.body["position"]["after_block"]["id"]
    request, index = placeholder.strip("{}").split(":")[1:]
    page_blocks = [b for b in client.iter_block_children(page) if b["type"] != "audio"]
    anchor_block = next(b for b in page_blocks if b["id"] == anchor)
    planned_block = preview.requests[int(request)].body["children"][int(index)]
    assert anchor_block["type"] == planned_block["type"]
    kind = planned_block["type"]
    anchor_text = plain_text_of(anchor_block[kind]["rich_text"])
    assert anchor_text.startswith("Study Text:")
    assert plain_text_of(planned_block[kind]["rich_text"]) == anchor_text
    assert fake_notion.requests("PATCH", r"/v1/blocks/\{") == []


def test_preview_audio_goes_to_the_page_start_or_the_known_page_and_needs_the_toggle() -> None:
    meta, _ = load_lesson(VALID_LESSONS[0])
    url = "https://cdn.example/a.mp3"
    first = lesson_page(meta, ":::study-text\nA: Hi.\n:::\n\nAfter.")
    offline = DryRunNotion(PreviewNotion(FilesystemManifestStore(), NotionDefaults()))
    effect = offline.attach_audio(AudioRequest("page-9", url, lambda: first))
    planned = PlannedRequest(**effect.detail["payload"])
    assert planned.path == "/v1/blocks/page-9/children"
    assert planned.body["position"] == {"type": "start"}
    with pytest.raises(ValidationError, match="study-text toggle not found"):
        plan_audio(preview_import(meta=meta, body="No toggle here."), url)
