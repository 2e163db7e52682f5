"""Preview mode: the import's exact requests, computed without any network call.

Used when there is no Notion token or on a dry run (design D4/D5). The schema is unknown, so the
properties follow the original's assumptions (``Name`` title, multi_select Topic, a placeholder
student relation). Ids that only Notion can assign appear as placeholders: ``{page_id}`` and
``{block:R:I.J}`` (block at index path I.J of the children of request R). Once the audio is
uploaded, ``audio`` holds the add-audio request: the audio block inserted directly above the
study-text toggle, and once a preset colours the page, ``colors`` holds the block updates colorize
would send (:func:`plan_colorize`). Outside a dry run the manifest store writes the preview as JSON
next to the manifest, marked ``"imported": false``.
"""

import threading
from collections import OrderedDict
from dataclasses import dataclass, field, fields, replace
from typing import Any

from esl_dagster.pipeline.config.models import Preset
from esl_dagster.pipeline.errors import ValidationError
from esl_dagster.pipeline.lesson.models import LessonMeta
from esl_dagster.pipeline.notion.audio_block import audio_block, find_study_text, insert_position
from esl_dagster.pipeline.notion.batching import Batch, plan_batches
from esl_dagster.pipeline.notion.block_payloads import Block, children_of, with_children
from esl_dagster.pipeline.notion.blocks import markdown_to_blocks
from esl_dagster.pipeline.notion.colorize import ColourPlan, plan_colours
from esl_dagster.pipeline.notion.properties import (
    PREVIEW_STUDENT_PLACEHOLDER,
    build_page_fields,
    lesson_student,
)
from esl_dagster.pipeline.notion.target import TargetIds

PREVIEW_NOTE = "preview, not imported: no request was sent to Notion"
PAGE_PLACEHOLDER = "{page_id}"
_PLANS_KEPT = 8


@dataclass
class PlannedRequest:
    method: str
    path: str
    body: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "path": self.path, "body": self.body}


@dataclass
class ImportPreview:
    data_source_id: str
    total_blocks: int
    block_types: list[str]
    requests: list[PlannedRequest] = field(default_factory=list)
    imported: bool = False
    note: str = PREVIEW_NOTE
    audio: PlannedRequest | None = None
    colors: list[PlannedRequest] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The preview as JSON-ready data. The request bodies are shared, not copied: a plan is
        never changed once built, and a deep copy of every block of the page cost more than a
        dry run's stages together."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["requests"] = [request.to_dict() for request in self.requests]
        data["colors"] = [request.to_dict() for request in self.colors]
        data["audio"] = self.audio.to_dict() if self.audio else None
        return data


_PlanKey = tuple[str, str, TargetIds | None, str | None]
_plans: "OrderedDict[_PlanKey, ImportPreview]" = OrderedDict()
_plans_lock = threading.Lock()


def planned_import(
    *, meta: LessonMeta, body: str, target_ids: TargetIds | None = None, student: str | None = None
) -> ImportPreview:
    """:func:`preview_import`, remembered for the last few lessons: the import, colorize and
    add-audio stages of a preview or dry run plan the same page, which depends only on these
    inputs. Each call gets its own :class:`ImportPreview` (its colours and audio request are its
    own); the planned requests are shared and never changed."""
    key = (meta.model_dump_json(), body, target_ids, student)
    with _plans_lock:
        plan = _plans.get(key)
        if plan is not None:
            _plans.move_to_end(key)
    if plan is None:
        plan = preview_import(meta=meta, body=body, target_ids=target_ids, student=student)
        with _plans_lock:
            _plans[key] = plan
            while len(_plans) > _PLANS_KEPT:
                _plans.popitem(last=False)
    return replace(plan, requests=list(plan.requests), colors=[], audio=None)


def preview_import(
    *, meta: LessonMeta, body: str, target_ids: TargetIds | None = None, student: str | None = None
) -> ImportPreview:
    blocks = markdown_to_blocks(body)
    student_name = lesson_student(meta, student)
    fields = build_page_fields(
        meta,
        target=None,
        student_value={"relation": [{"id": PREVIEW_STUDENT_PLACEHOLDER}]} if student_name else None,
    )
    ids = target_ids or TargetIds()
    data_source_id = ids.data_source_id or ids.database_id or "{data_source_id}"
    preview = ImportPreview(data_source_id, len(blocks), [b["type"] for b in blocks])
    batches = plan_batches(blocks)
    first = batches[0] if batches else Batch()
    create: dict[str, Any] = {"parent": {"data_source_id": data_source_id}, **fields.body()}
    if first.blocks:
        create["children"] = first.blocks
    preview.requests.append(PlannedRequest("POST", "/v1/pages", create))
    _plan_deferred(preview, 0, first)
    _plan_appends(preview, PAGE_PLACEHOLDER, blocks[len(first.blocks) :])
    return preview


def plan_audio(preview: ImportPreview, url: str, *, page_id: str | None = None) -> PlannedRequest:
    """The add-audio request for the page ``preview`` creates: the audio block directly above the
    study-text toggle (after the block before it, as a placeholder id, or at the page start).

    ``page_id`` addresses an existing page; otherwise the ``{page_id}`` placeholder is used.
    Raises ``ValidationError`` when the lesson has no study-text toggle.
    """
    if not url.strip():
        raise ValidationError("url is required")
    refs, blocks = _page_level_blocks(preview)
    index = find_study_text(blocks)
    if index is None:
        raise ValidationError("study-text toggle not found on page")
    body = {
        "children": [audio_block(url)],
        "position": insert_position(refs[index - 1] if index > 0 else None),
    }
    return PlannedRequest("PATCH", f"/v1/blocks/{page_id or PAGE_PLACEHOLDER}/children", body)


def plan_colorize(preview: ImportPreview, preset: Preset) -> ColourPlan:
    """What colorize would do to the page ``preview`` creates, by the same rules as the real
    colorizer: the counts, and the block updates addressed to the planned blocks' placeholders."""
    tree = _planned_tree(preview)
    return plan_colours(PAGE_PLACEHOLDER, lambda parent: tree.get(parent, []), preset)


def colour_requests(plan: ColourPlan) -> list[PlannedRequest]:
    """The plan's updates as the requests colorize would send."""
    return [PlannedRequest("PATCH", f"/v1/blocks/{u.block_id}", u.body) for u in plan.updates]


def _planned_tree(preview: ImportPreview) -> dict[str, list[Block]]:
    """The page the requests build: parent placeholder -> its children in page order, each child
    shaped like a block Notion lists (placeholder ``id``, ``has_children``, no inline children).
    Deferred children are appended after the inline ones, as the import appends them."""
    tree: dict[str, list[Block]] = {}
    for index, request in enumerate(preview.requests):
        parent = PAGE_PLACEHOLDER
        if request.path != "/v1/pages":
            parent = request.path.removeprefix("/v1/blocks/").removesuffix("/children")
        _plant(tree, parent, index, (), request.body.get("children", []))
    for blocks in tree.values():
        for block in blocks:
            block["has_children"] = bool(tree.get(block["id"]))
    return tree


def _plant(
    tree: dict[str, list[Block]],
    parent: str,
    request_index: int,
    path: tuple[int, ...],
    blocks: list[Block],
) -> None:
    for position, block in enumerate(blocks):
        here = (*path, position)
        ref = f"{{block:{request_index}:{'.'.join(str(i) for i in here)}}}"
        tree.setdefault(parent, []).append({"id": ref, **with_children(block, [])})
        _plant(tree, ref, request_index, here, children_of(block))


def _page_level_blocks(preview: ImportPreview) -> tuple[list[str], list[Block]]:
    """The page's top-level blocks in order, with the placeholder id of each."""
    refs: list[str] = []
    blocks: list[Block] = []
    page_children = ("/v1/pages", f"/v1/blocks/{PAGE_PLACEHOLDER}/children")
    for index, request in enumerate(preview.requests):
        if request.path in page_children:
            children: list[Block] = request.body.get("children", [])
            refs.extend(f"{{block:{index}:{position}}}" for position in range(len(children)))
            blocks.extend(children)
    return refs, blocks


def _plan_appends(preview: ImportPreview, parent: str, blocks: list[Block]) -> None:
    for batch in plan_batches(blocks):
        preview.requests.append(
            PlannedRequest("PATCH", f"/v1/blocks/{parent}/children", {"children": batch.blocks})
        )
        _plan_deferred(preview, len(preview.requests) - 1, batch)


def _plan_deferred(preview: ImportPreview, request_index: int, batch: Batch) -> None:
    for deferred in batch.deferred:
        path = ".".join(str(i) for i in deferred.path)
        _plan_appends(preview, f"{{block:{request_index}:{path}}}", deferred.children)
