"""Colorize planned offline (preview mode, dry runs) against the real colorizer on the fake Notion
server: the same lesson gives the same counts and the same update bodies."""

from pathlib import Path
from typing import Any

import pytest

from esl_dagster.pipeline.config.models import Preset
from esl_dagster.pipeline.manifest import FilesystemManifestStore
from esl_dagster.pipeline.notion.client import NotionClient
from esl_dagster.pipeline.notion.colorize import ColourPlan, apply_preset
from esl_dagster.pipeline.notion.live import LiveNotion
from esl_dagster.pipeline.notion.offline import DryRunNotion, PreviewNotion
from esl_dagster.pipeline.notion.preview import colour_requests, plan_colorize, preview_import
from esl_dagster.pipeline.notion.service_contract import ColorizeRequest, NotionDefaults
from esl_dagster.pipeline.notion.target import TargetIds
from tests.conftest import VALID_LESSONS
from tests.fakes.notion_server import FakeNotion, Seeded
from tests.notion.conftest import direct_import, lesson_page, load_lesson

PRESETS = {
    "all": Preset.model_validate(
        {"h2": "yellow_background", "h3": "purple_background", "toggleMap": {"h2": "orange"}}
    ),
    "h2-only": Preset.model_validate({"h2": "gray_background"}),
    "h3-and-toggles": Preset.model_validate({"h3": "green", "toggleMap": {"h2": "red"}}),
}
_BLOCK_UPDATE = r"^/v1/blocks/[^/]+$"


def compare(
    fake_notion: FakeNotion, seeded: Seeded, client: NotionClient, body: str, preset: Preset
) -> tuple[ColourPlan, list[dict[str, Any]]]:
    """Plan ``preset`` offline on the lesson's preview, import the same lesson and colour it for
    real; assert equal counts and update bodies and return the plan and the sent bodies."""
    meta, _ = load_lesson(VALID_LESSONS[0])
    target = TargetIds(data_source_id=seeded.homework_ds)
    plan = plan_colorize(preview_import(meta=meta, body=body, target_ids=target), preset)
    page = direct_import(client, meta, body, target).page_id
    fake_notion.reset_log()
    counts = apply_preset(client, page, preset)
    sent = [r.body for r in fake_notion.requests("PATCH", _BLOCK_UPDATE)]
    assert plan.counts == counts
    assert [request.body for request in colour_requests(plan)] == sent
    return plan, sent


@pytest.mark.parametrize("lesson", VALID_LESSONS, ids=lambda p: Path(p).stem[:2])
@pytest.mark.parametrize("preset_name", sorted(PRESETS))
def test_offline_counts_equal_what_the_real_colorizer_applies(
    fake_notion: FakeNotion,
    seeded: Seeded,
    client: NotionClient,
    lesson: Path,
    preset_name: str,
) -> None:
    _, body = load_lesson(lesson)
    plan, sent = compare(fake_notion, seeded, client, body, PRESETS[preset_name])
    assert plan.counts.updates == len(sent)
    if preset_name == "all":
        assert plan.counts.h2 > 0 and plan.counts.h3 > 0


def test_offline_plan_follows_children_appended_after_the_create(
    fake_notion: FakeNotion, seeded: Seeded, client: NotionClient
) -> None:
    """A toggleable heading with more children than one request holds: the headings among the
    deferred children (appended to a placeholder parent) are counted too."""
    inner = "\n\n".join(f"### Part {n}\n\nText {n}." for n in range(70))
    body = f"## Intro\n\n:::toggle-heading Tips\nHi.\n:::\n\n:::toggle-h2 Answers\n{inner}\n:::\n"
    plan, _ = compare(fake_notion, seeded, client, body, PRESETS["all"])
    assert plan.counts.as_dict() == {"h2": 2, "h3": 70, "toggles": 1}
    deferred = [u for u in plan.updates if u.block_id.startswith("{block:1:")]
    assert deferred, "some updates address blocks of the append request"


def test_colorize_plans_without_notion_calls_in_preview_and_dry_runs(
    fake_notion: FakeNotion, seeded: Seeded, client: NotionClient, tmp_path: Path
) -> None:
    meta, body = load_lesson(VALID_LESSONS[0])
    page = lesson_page(meta, body, md_path=tmp_path / "lesson.md")
    preview = PreviewNotion(FilesystemManifestStore(), NotionDefaults())
    live = LiveNotion(client, NotionDefaults())
    fake_notion.reset_log()
    results = {
        name: service.colorize(ColorizeRequest("page-1", "all", PRESETS["all"], lambda: page))
        for name, service in [
            ("preview", preview),
            ("dry-preview", DryRunNotion(preview)),
            ("dry-live", live.for_dry_run()),
        ]
    }
    assert fake_notion.requests() == []
    counts = {"h2": 9, "h3": 9, "toggles": 2}
    assert all(effect.detail["counts"] == counts for effect in results.values())
    first = results["preview"].detail["updates"][0]
    assert first["method"] == "PATCH" and first["path"] == "/v1/blocks/{block:0:0}"
    written = (tmp_path / "lesson.notion-preview.json").read_text(encoding="utf-8")
    assert '"/v1/blocks/{block:0:0}"' in written
    assert results["dry-live"].tokens == ["colorize", "colorize:all:9/9/2"]
    assert "updates" not in results["dry-live"].detail
