"""The Notion stage's entry points for the pipeline runner and the Dagster ops.

Each function takes a ``NotionClient`` or None; None (no ``NOTION_TOKEN``) or ``dry_run`` means
preview mode: no network, the planned requests are returned (outside a dry run the pipeline stage
has the manifest store write them next to the manifest, marked as not imported). Colorize plans
the preset on the block payloads of the import preview, by the real colorizer's rules.
"""

from collections.abc import Callable
from dataclasses import dataclass

from esl_dagster.pipeline.config.models import Preset, StudentProfile
from esl_dagster.pipeline.lesson.models import LessonMeta
from esl_dagster.pipeline.notion.audio import AudioResult, add_or_replace_audio
from esl_dagster.pipeline.notion.client import NotionClient
from esl_dagster.pipeline.notion.colorize import ColorizeCounts, ColourPlan, apply_preset
from esl_dagster.pipeline.notion.importer import (
    DEFAULT_KEY_PROPERTY,
    ImportProgress,
    ImportResult,
    import_lesson,
)
from esl_dagster.pipeline.notion.preview import (
    ImportPreview,
    PlannedRequest,
    plan_audio,
    plan_colorize,
    preview_import,
)
from esl_dagster.pipeline.notion.target import TargetIds, choose_target_ids


@dataclass(frozen=True)
class NotionDefaults:
    """Settings the stage needs besides the token (mapped from the environment by settings.py)."""

    database_id: str | None = None
    data_source_id: str | None = None
    students_data_source_id: str | None = None
    key_property: str = DEFAULT_KEY_PROPERTY


def _target_ids(
    defaults: NotionDefaults,
    profile: StudentProfile | None,
    data_source_id: str | None,
    database_id: str | None,
    database_name: str | None,
    data_source_name: str | None,
) -> TargetIds:
    """The explicit target first, then the student profile's ids, then the configured defaults."""
    return choose_target_ids(
        data_source_id=data_source_id,
        database_id=database_id,
        database_name=database_name,
        data_source_name=data_source_name,
        profile=profile,
        default_data_source_id=defaults.data_source_id,
        default_database_id=defaults.database_id,
    )


def preview_lesson_import(
    *,
    meta: LessonMeta,
    body: str,
    defaults: NotionDefaults,
    profile: StudentProfile | None = None,
    data_source_id: str | None = None,
    database_id: str | None = None,
    database_name: str | None = None,
    data_source_name: str | None = None,
    student: str | None = None,
) -> ImportPreview:
    """The import's requests, computed without any network call (preview mode and dry runs).

    A target known only by name cannot be resolved offline: its id stays a placeholder.
    """
    ids = None
    explicit = data_source_id or database_id or database_name or data_source_name
    if explicit or profile or defaults.data_source_id or defaults.database_id:
        ids = _target_ids(
            defaults, profile, data_source_id, database_id, database_name, data_source_name
        )
    return preview_import(meta=meta, body=body, target_ids=ids, student=student)


def run_import(
    client: NotionClient | None,
    *,
    meta: LessonMeta,
    body: str,
    lesson_key: str,
    defaults: NotionDefaults,
    profile: StudentProfile | None = None,
    data_source_id: str | None = None,
    database_id: str | None = None,
    database_name: str | None = None,
    data_source_name: str | None = None,
    student: str | None = None,
    page_id: str | None = None,
    progress: ImportProgress | None = None,
    force: bool = False,
    dry_run: bool = False,
    on_progress: Callable[[ImportProgress], None] | None = None,
) -> ImportResult | ImportPreview:
    """Import (or preview) a lesson; see :func:`importer.import_lesson` for idempotency."""
    if client is None or dry_run:
        return preview_lesson_import(
            meta=meta,
            body=body,
            defaults=defaults,
            profile=profile,
            data_source_id=data_source_id,
            database_id=database_id,
            database_name=database_name,
            data_source_name=data_source_name,
            student=student,
        )
    ids = _target_ids(
        defaults, profile, data_source_id, database_id, database_name, data_source_name
    )
    return import_lesson(
        client,
        meta=meta,
        body=body,
        lesson_key=lesson_key,
        target_ids=ids,
        page_id=page_id,
        progress=progress,
        student=student,
        students_data_source_id=defaults.students_data_source_id,
        key_property=defaults.key_property,
        force=force,
        on_progress=on_progress,
    )


def run_colorize(
    client: NotionClient | None,
    page_id: str | None,
    preset: Preset,
    *,
    lesson_preview: ImportPreview,
    dry_run: bool = False,
) -> ColorizeCounts | ColourPlan:
    """Colour the page and return the counts.

    In preview mode, on a dry run or without a page nothing is sent: the result is the plan for
    the page ``lesson_preview`` (the lesson's import preview) describes, the counts the preset
    would apply and the updates addressed to the planned blocks' placeholder ids.
    """
    if client is None or dry_run or not page_id:
        return plan_colorize(lesson_preview, preset)
    return apply_preset(client, page_id, preset)


def run_add_audio(
    client: NotionClient | None,
    page_id: str | None,
    url: str,
    *,
    lesson_preview: ImportPreview,
    previous_block_id: str | None = None,
    dry_run: bool = False,
) -> AudioResult | PlannedRequest:
    """Place the audio block above the study-text toggle, replacing ours.

    In preview mode, on a dry run or without a page nothing is sent: the result is the request
    that would insert the block, placed on the page ``lesson_preview`` (the lesson's import
    preview) describes and addressed to ``page_id`` when there is one.
    """
    if client is None or dry_run or not page_id:
        return plan_audio(lesson_preview, url, page_id=page_id)
    return add_or_replace_audio(client, page_id, url, previous_block_id=previous_block_id)
