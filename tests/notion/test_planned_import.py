"""The import plan remembered across a preview's stages: same page, no second conversion, and
nothing one stage adds to its plan leaks into another's."""

import dataclasses

import pytest

from esl_dagster.pipeline.notion import preview as preview_module
from esl_dagster.pipeline.notion.preview import planned_import, preview_import
from esl_dagster.pipeline.notion.target import TargetIds
from tests.conftest import VALID_LESSONS
from tests.notion.conftest import load_lesson


def test_a_remembered_plan_is_the_plan_and_is_built_once(monkeypatch: pytest.MonkeyPatch) -> None:
    meta, body = load_lesson(VALID_LESSONS[1])
    calls: list[str] = []

    def counting(**kwargs: object) -> preview_module.ImportPreview:
        calls.append("convert")
        return preview_import(**kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(preview_module, "preview_import", counting)
    target = TargetIds(data_source_id="ds-remembered")
    first = planned_import(meta=meta, body=body, target_ids=target, student="Ana")
    second = planned_import(meta=meta, body=body, target_ids=target, student="Ana")
    assert calls == ["convert"]
    assert (
        first.to_dict()
        == second.to_dict()
        == preview_import(meta=meta, body=body, target_ids=target, student="Ana").to_dict()
    )


def test_what_a_stage_adds_to_its_plan_stays_its_own() -> None:
    meta, body = load_lesson(VALID_LESSONS[2])
    first = planned_import(meta=meta, body=body)
    first.colors = [preview_module.PlannedRequest("PATCH", "/v1/blocks/x", {})]
    first.audio = preview_module.PlannedRequest("PATCH", "/v1/blocks/y/children", {})
    first.requests.append(preview_module.PlannedRequest("PATCH", "/v1/blocks/z/children", {}))
    second = planned_import(meta=meta, body=body)
    assert second.colors == [] and second.audio is None
    assert len(second.requests) == len(first.requests) - 1


@pytest.mark.parametrize(
    "change",
    [
        {"title": "Another title"},
        {"body": "A different body."},
        {"student": "Someone else"},
        {"target_ids": TargetIds(database_id="db-other")},
    ],
)
def test_a_plan_is_remembered_only_for_the_same_inputs(change: dict[str, object]) -> None:
    meta, body = load_lesson(VALID_LESSONS[0])
    inputs: dict[str, object] = {"meta": meta, "body": body, "target_ids": None, "student": None}
    planned_import(**inputs)  # type: ignore[arg-type]
    if "title" in change:
        inputs["meta"] = meta.model_copy(update=change)
    else:
        inputs.update(change)
    expected = preview_import(**inputs)  # type: ignore[arg-type]
    assert planned_import(**inputs).to_dict() == expected.to_dict()  # type: ignore[arg-type]
    assert dataclasses.asdict(expected) == expected.to_dict()
