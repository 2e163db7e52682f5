"""The Notion stages: ``import``, ``colorize`` and ``add-audio``.

Each stage decides from the manifest, calls the run's Notion service (live, preview or dry run,
chosen once: see :mod:`esl_dagster.pipeline.notion.service_contract`) and records the effect the service
reports. No stage asks which mode it is in.
"""

from dataclasses import asdict

from esl_dagster.pipeline.config.models import Preset
from esl_dagster.pipeline.errors import ConfigurationError, ManifestError, ValidationError
from esl_dagster.pipeline.manifest import (
    MANIFEST_SCHEMA_VERSION,
    Manifest,
    NotionRecord,
    sha256_hex,
    utc_timestamp,
)
from esl_dagster.pipeline.notion.import_progress import ImportProgress
from esl_dagster.pipeline.notion.service_contract import (
    AudioRequest,
    ColorizeRequest,
    ImportRequest,
    LessonPage,
    NotionEffect,
    NotionService,
    RecordedImport,
    TargetChoice,
)
from esl_dagster.pipeline.run_state import RunState
from esl_dagster.pipeline.services import Services
from esl_dagster.pipeline.stages.common import (
    Outcome,
    Skip,
    current_lesson,
    input_hash,
    unchanged,
)


def lesson_key(md_path: str) -> str:
    """The lesson's stable identity on its Notion page (first 16 hex of the path's SHA-256)."""
    return sha256_hex(md_path)[:16]


def _notion(state: RunState, services: Services) -> NotionService:
    """The run's Notion service: the configured one, or its stand-in on a dry run."""
    return services.notion.for_dry_run() if state.dry_run else services.notion


def _target(state: RunState, services: Services) -> TargetChoice:
    options = state.options
    profile = services.config_provider.find_student(options.student)
    has_target = bool(profile.db_id or profile.data_source_id)
    return TargetChoice(
        defaults=services.notion.defaults,
        profile=profile if has_target else None,
        data_source_id=options.data_source_id,
        database_id=options.db_id,
        database_name=options.db,
        data_source_name=options.data_source,
    )


def _lesson_page(state: RunState, services: Services, preset: Preset | None = None) -> LessonPage:
    """The lesson as Notion receives it (the run's parsed lesson, still unchanged at its source)."""
    lesson = current_lesson(state, services)
    return LessonPage(
        md_path=state.md_path,
        lesson_key=lesson_key(state.md_path),
        meta=lesson.required_meta(),
        body=lesson.body,
        target=_target(state, services),
        student=state.options.student,
        preset=preset,
    )


def _recorded(state: RunState, effect: NotionEffect) -> Outcome:
    """Apply the service's effect to the run state and return the stage outcome."""
    if effect.page is not None:
        state.page_id, state.page_url = effect.page
    if effect.record is not None:
        state.notion = effect.record
    return Outcome(detail=effect.detail, tokens=effect.tokens, outputs=effect.outputs)


# ##### import


def decide_import(state: RunState, services: Services) -> Skip | str:
    options = state.options
    notion = _notion(state, services)
    if state.rerun:
        return Skip("not requested")
    if options.skip_import:
        if notion.page_required and not state.page_id:
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
        defaults=asdict(notion.defaults),
        mode=notion.mode,
    )
    if unchanged(state, "import", digest) and notion.imported(state.page_id, state.notion):
        return Skip.unchanged("import")
    return digest


def act_import(state: RunState, services: Services) -> Outcome:
    # A retried op gets the state from before its failure: the store holds the newest progress.
    latest = services.manifest_store.read_manifest(state.md_path) or state.previous
    notion_record = latest.notion if latest else None
    progress = notion_record.progress if notion_record else None
    recorded = RecordedImport(
        page_id=latest.page_id if latest else None,
        progress=ImportProgress.from_dict(progress) if progress else None,
        create_started=bool(notion_record and notion_record.create_started),
    )
    request = ImportRequest(
        lesson=_lesson_page(state, services),
        recorded=recorded,
        checkpoint=_ImportCheckpoint(state, services),
        force=state.options.force,
    )
    effect = _notion(state, services).import_lesson(request)
    return _recorded(state, effect)


class _ImportCheckpoint:
    """Records the page and the append progress in the manifest at once, so a crash or retry
    resumes the import instead of creating a second page (only the Notion fields change)."""

    def __init__(self, state: RunState, services: Services) -> None:
        self.state, self.store = state, services.manifest_store

    def _write(self, page_id: str | None, record: NotionRecord) -> None:
        current = self.store.read_manifest(self.state.md_path) or self.state.previous
        base = current.model_copy(deep=True) if current else Manifest(md_hash=self.state.md_hash)
        base.schema_version = MANIFEST_SCHEMA_VERSION
        base.page_id = page_id
        if base.page_id != (current.page_id if current else None):
            base.page_url = None
        base.notion = record
        base.timestamp = utc_timestamp()
        self.store.write_manifest(self.state.md_path, base)

    def create_started(self) -> None:
        """A create is about to be sent: a retry that finds no page id looks the lesson key up."""
        self._write(None, NotionRecord(imported=True, create_started=utc_timestamp()))

    def progress(self, progress: ImportProgress) -> None:
        self._write(progress.page_id, NotionRecord(imported=True, progress=progress.to_dict()))


# ##### colorize


def decide_colorize(state: RunState, services: Services) -> Skip | str:
    preset_name = state.options.preset
    notion = _notion(state, services)
    if state.rerun:
        return Skip("not requested")
    if preset_name is None:
        return Skip("no preset selected")
    preset = services.config_provider.get_preset(preset_name)
    if notion.page_required and not state.page_id:
        raise ValidationError("colorize needs a Notion page: the import stage must run first")
    digest = input_hash(
        "colorize",
        preset=preset_name,
        colors=preset.model_dump(mode="json"),
        page_id=state.page_id,
        page_content=state.input_hash_of("import"),
        mode=notion.mode,
    )
    if unchanged(state, "colorize", digest):
        state.colorized = True
        return Skip.unchanged("colorize")
    return digest


def act_colorize(state: RunState, services: Services) -> Outcome:
    preset_name = state.options.preset
    if preset_name is None:
        raise ConfigurationError("colorize needs a preset")
    request = ColorizeRequest(
        page_id=state.page_id,
        preset_name=preset_name,
        preset=services.config_provider.get_preset(preset_name),
        lesson=lambda: _lesson_page(state, services),
    )
    effect = _notion(state, services).colorize(request)
    state.colorized = True
    return _recorded(state, effect)


# ##### add-audio


def _page_preset(state: RunState, services: Services) -> Preset | None:
    """The preset colouring the page once colorize has run in this run's lineage (so that
    rewriting the preview keeps the colours). A rerun leaves the preset unset: the page keeps the
    one the manifest records; when that preset was removed since, the preview has no colours."""
    preset_name = state.options.preset
    recorded = preset_name is None and state.rerun and state.previous is not None
    if recorded and state.previous is not None:
        preset_name = state.previous.preset
    if not preset_name or not state.input_hash_of("colorize"):
        return None
    try:
        return services.config_provider.get_preset(preset_name)
    except ConfigurationError:
        if not recorded:
            raise
        return None


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
    if _notion(state, services).page_required and not state.page_id:
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
        return Skip.unchanged("add-audio")
    return digest


def act_add_audio(state: RunState, services: Services) -> Outcome:
    """Attach the audio (in preview mode: record the request in the preview next to the
    manifest; on a dry run: report it)."""
    notion = _notion(state, services)
    url = state.audio.url if state.audio else None
    if not url or (notion.page_required and not state.page_id):
        raise ManifestError("add-audio needs a page id and an audio URL")
    record = state.previous_record("add-audio")
    previous_block = record.outputs.get("blockId") if record else None
    request = AudioRequest(
        page_id=state.page_id,
        url=url,
        lesson=lambda: _lesson_page(state, services, _page_preset(state, services)),
        previous_block_id=str(previous_block) if previous_block else None,
    )
    effect = notion.attach_audio(request)
    return _recorded(state, effect)
