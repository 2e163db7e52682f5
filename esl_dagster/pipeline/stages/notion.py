"""The Notion stages: ``import``, ``colorize`` and ``add-audio`` (real or preview mode)."""

from dataclasses import asdict
from typing import Any, TypedDict

from esl_dagster.pipeline.config.models import StudentProfile
from esl_dagster.pipeline.errors import ConfigurationError, ManifestError, ValidationError
from esl_dagster.pipeline.lesson.document import parse_document
from esl_dagster.pipeline.lesson.models import LessonMeta
from esl_dagster.pipeline.lesson.validator import validate_text
from esl_dagster.pipeline.manifest import (
    MANIFEST_SCHEMA_VERSION,
    Manifest,
    NotionRecord,
    sha256_hex,
    utc_timestamp,
)
from esl_dagster.pipeline.notion.colorize import ColourPlan
from esl_dagster.pipeline.notion.importer import ImportProgress
from esl_dagster.pipeline.notion.preview import (
    ImportPreview,
    PlannedRequest,
    colour_requests,
    plan_colorize,
)
from esl_dagster.pipeline.notion.stage import (
    NotionDefaults,
    preview_lesson_import,
    run_add_audio,
    run_colorize,
    run_import,
)
from esl_dagster.pipeline.run_state import RunState
from esl_dagster.pipeline.services import Services
from esl_dagster.pipeline.stages.common import (
    UNCHANGED_REASON,
    Outcome,
    Skip,
    input_hash,
    lesson_text,
    unchanged,
)


def _notion_mode(services: Services) -> str:
    return "notion" if services.notion is not None else "preview"


def _notion_defaults(services: Services) -> NotionDefaults:
    settings = services.settings
    return NotionDefaults(
        database_id=settings.notion_db_id,
        data_source_id=settings.notion_data_source_id,
        students_data_source_id=settings.notion_students_data_source_id,
    )


def lesson_key(md_path: str) -> str:
    """The lesson's stable identity on its Notion page (first 16 hex of the path's SHA-256)."""
    return sha256_hex(md_path)[:16]


def decide_import(state: RunState, services: Services) -> Skip | str:
    options = state.options
    if state.rerun:
        return Skip("not requested")
    if options.skip_import:
        if not state.dry_run and services.notion is not None and not state.page_id:
            raise ValidationError(
                "--skip-import needs a page recorded in the manifest; run the full pipeline first"
            )
        return Skip("skip-import flag set", token="skip:import")
    digest = input_hash(
        "import",
        md_hash=state.md_hash,
        student=options.student,
        target=[options.db_id, options.db, options.data_source_id, options.data_source],
        # The defaults the target falls back to (profile, then settings) shape it as well.
        profile_db=services.config_provider.find_student(options.student).db_id,
        defaults=asdict(_notion_defaults(services)),
        mode=_notion_mode(services),
    )
    done = state.page_id if services.notion is not None else state.notion
    if unchanged(state, "import", digest) and done:
        return Skip(UNCHANGED_REASON, token="unchanged:import")
    return digest


class _LessonImport(TypedDict):
    """The lesson and its target: what the import and its preview both take."""

    meta: LessonMeta
    body: str
    defaults: NotionDefaults
    profile: StudentProfile | None
    data_source_id: str | None
    database_id: str | None
    database_name: str | None
    data_source_name: str | None
    student: str | None


def _lesson_import(state: RunState, services: Services) -> _LessonImport:
    options = state.options
    text = lesson_text(state)
    meta = validate_text(text, strict=False).meta
    if meta is None:
        raise ValidationError("Validation failed: the front matter is invalid")
    profile = services.config_provider.find_student(options.student)
    has_target = bool(profile.db_id or profile.data_source_id)
    return _LessonImport(
        meta=meta,
        body=parse_document(text).body,
        defaults=_notion_defaults(services),
        profile=profile if has_target else None,
        data_source_id=options.data_source_id,
        database_id=options.db_id,
        database_name=options.db,
        data_source_name=options.data_source,
        student=options.student,
    )


def act_import(state: RunState, services: Services) -> Outcome:
    lesson = _lesson_import(state, services)
    store = services.manifest_store
    latest = None if state.dry_run else store.read_manifest(state.md_path)
    # A retried op gets the state from before its failure: the store holds the newest progress.
    recorded = latest or state.previous
    page_id = recorded.page_id if recorded else None
    progress_data = recorded.notion.progress if recorded and recorded.notion else None
    progress = ImportProgress.from_dict(progress_data) if progress_data else None

    def checkpoint(update: ImportProgress) -> None:
        _checkpoint_import(state, services, update)

    result = run_import(
        services.notion,
        lesson_key=lesson_key(state.md_path),
        page_id=page_id,
        progress=progress,
        force=state.options.force,
        dry_run=state.dry_run,
        on_progress=checkpoint,
        **lesson,
    )
    if isinstance(result, ImportPreview):
        payload = result.to_dict()
        detail: dict[str, Any] = {
            "imported": False,
            "blocks": result.total_blocks,
            "requests": len(result.requests),
        }
        if state.dry_run:
            detail["wouldUpdatePage"] = page_id if services.notion is not None else None
            detail["payload"] = payload
            return Outcome(detail=detail, tokens=["import"])
        # A page imported earlier (with a token) stays recorded: preview mode never forgets it.
        location = _write_preview(state, services, result)
        detail["previewPath"] = location
        return Outcome(detail=detail, tokens=["import"], outputs={"previewPath": location})
    state.page_id = result.page_id
    state.page_url = result.url
    state.notion = NotionRecord(imported=True, progress=result.progress.to_dict())
    return Outcome(
        detail={
            "pageId": result.page_id,
            "pageUrl": result.url,
            "created": result.created,
            "studentLinked": result.student_linked,
            "warnings": result.warnings,
        },
        tokens=["import"],
        outputs={"pageId": result.page_id},
    )


def _write_preview(state: RunState, services: Services, preview: ImportPreview) -> str:
    """Write the preview next to the manifest and record the lesson as not imported."""
    location = services.manifest_store.write_preview(state.md_path, preview.to_dict())
    state.notion = NotionRecord(imported=False, preview_path=location)
    return location


def _lesson_preview(state: RunState, services: Services) -> ImportPreview:
    """The lesson's import preview; once colorize has run in this run's lineage, with its colour
    updates too, so that rewriting the preview file keeps them. A rerun leaves the preset unset:
    the page keeps the one the manifest records."""
    preview = preview_lesson_import(**_lesson_import(state, services))
    preset_name = state.options.preset
    recorded = preset_name is None and state.rerun and state.previous is not None
    if recorded and state.previous is not None:
        preset_name = state.previous.preset
    if preset_name and state.input_hash_of("colorize"):
        try:
            preset = services.config_provider.get_preset(preset_name)
        except ConfigurationError:
            if not recorded:
                raise
            # The preset the manifest records was removed since: the preview just has no colours.
            return preview
        preview.colors = colour_requests(plan_colorize(preview, preset))
    return preview


def _checkpoint_import(state: RunState, services: Services, progress: ImportProgress) -> None:
    """Record the page and the append progress at once, so a crash or retry resumes the import
    instead of creating a second page (DESIGN D3). Only the Notion fields change."""
    store = services.manifest_store
    current = store.read_manifest(state.md_path) or state.previous
    base = current.model_copy(deep=True) if current else Manifest(md_hash=state.md_hash)
    base.schema_version = MANIFEST_SCHEMA_VERSION
    base.page_id = progress.page_id
    if base.page_id != (current.page_id if current else None):
        base.page_url = None
    base.notion = NotionRecord(imported=True, progress=progress.to_dict())
    base.timestamp = utc_timestamp()
    store.write_manifest(state.md_path, base)


# ##### colorize


def decide_colorize(state: RunState, services: Services) -> Skip | str:
    preset_name = state.options.preset
    if state.rerun:
        return Skip("not requested")
    if preset_name is None:
        return Skip("no preset selected")
    preset = services.config_provider.get_preset(preset_name)
    if services.notion is not None and not state.page_id and not state.dry_run:
        raise ValidationError("colorize needs a Notion page: the import stage must run first")
    digest = input_hash(
        "colorize",
        preset=preset_name,
        colors=preset.model_dump(mode="json"),
        page_id=state.page_id,
        page_content=state.input_hash_of("import"),
        mode=_notion_mode(services),
    )
    if unchanged(state, "colorize", digest):
        state.colorized = True
        return Skip(UNCHANGED_REASON, token="unchanged:colorize")
    return digest


def act_colorize(state: RunState, services: Services) -> Outcome:
    preset_name = state.options.preset
    if preset_name is None:
        raise ConfigurationError("colorize needs a preset")
    preset = services.config_provider.get_preset(preset_name)
    lesson_preview = preview_lesson_import(**_lesson_import(state, services))
    result = run_colorize(
        services.notion,
        state.page_id,
        preset,
        lesson_preview=lesson_preview,
        dry_run=state.dry_run,
    )
    counts = result.counts if isinstance(result, ColourPlan) else result
    tokens = ["colorize", f"colorize:{preset_name}:{counts.h2}/{counts.h3}/{counts.toggles}"]
    detail: dict[str, Any] = {"preset": preset_name, "counts": counts.as_dict()}
    outputs: dict[str, Any] = {"counts": counts.as_dict()}
    state.colorized = True
    if services.notion is None and isinstance(result, ColourPlan):
        # Preview mode: report (and outside a dry run record) the updates colorize would send.
        lesson_preview.colors = colour_requests(result)
        detail["preview"] = True
        detail["updates"] = [asdict(request) for request in lesson_preview.colors]
        if not state.dry_run:
            location = _write_preview(state, services, lesson_preview)
            detail["previewPath"] = location
            outputs["previewPath"] = location
        tokens = tokens[1:]
    return Outcome(detail=detail, tokens=tokens, outputs=outputs)


# ##### add-audio


def decide_add_audio(state: RunState, services: Services) -> Skip | str:
    options = state.options
    if state.rerun and not state.requested("add-audio"):
        return Skip("not requested")
    if options.skip_upload and not state.rerun:
        return Skip("skip-upload flag set", token="skip:add-audio")
    url = state.audio.url if state.audio else None
    if not url:
        if state.rerun:
            raise ManifestError("no audio URL in the manifest; rerun with --steps upload first")
        return Skip("no audio url available")
    if services.notion is not None and not state.page_id:
        if state.rerun:
            raise ManifestError("no Notion page in the manifest; run the full pipeline first")
        return Skip("missing pageId")
    digest = input_hash(
        "add-audio",
        page_id=state.page_id,
        url=url,
        page_content=state.input_hash_of("import"),
    )
    if not state.rerun and unchanged(state, "add-audio", digest):
        return Skip(UNCHANGED_REASON, token="unchanged:add-audio")
    return digest


def act_add_audio(state: RunState, services: Services) -> Outcome:
    """Attach the audio; in preview mode record the request in the preview next to the manifest
    (a dry run only reports it)."""
    url = state.audio.url if state.audio else None
    if not url or (services.notion is not None and not state.page_id):
        raise ManifestError("add-audio needs a page id and an audio URL")
    record = state.previous_record("add-audio")
    previous_block = record.outputs.get("blockId") if record else None
    lesson_preview = _lesson_preview(state, services)
    result = run_add_audio(
        services.notion,
        state.page_id,
        url,
        lesson_preview=lesson_preview,
        previous_block_id=str(previous_block) if previous_block else None,
        dry_run=state.dry_run,
    )
    if isinstance(result, PlannedRequest):
        detail: dict[str, Any] = {
            "pageId": state.page_id,
            "url": url,
            "preview": True,
            "payload": asdict(result),
        }
        if state.dry_run:
            return Outcome(detail=detail, tokens=["add-audio"])
        lesson_preview.audio = result
        location = _write_preview(state, services, lesson_preview)
        detail["previewPath"] = location
        return Outcome(detail=detail, tokens=["add-audio"], outputs={"previewPath": location})
    return Outcome(
        detail={
            "pageId": state.page_id,
            "url": url,
            "blockId": result.block_id,
            "appended": result.appended,
            "replaced": result.replaced,
        },
        tokens=["add-audio"],
        outputs={"blockId": result.block_id},
    )
