"""Starting a run: read the lesson (the job's only read of it) and its manifest, resolve the
options into the first state."""

from typing import Any

from esl_dagster.pipeline.errors import ManifestError
from esl_dagster.pipeline.lesson.parsed import read_and_parse
from esl_dagster.pipeline.lesson.source import locate_lesson
from esl_dagster.pipeline.manifest import Manifest
from esl_dagster.pipeline.options import DEFAULT_RERUN_STEPS, JobOptions
from esl_dagster.pipeline.run_state import RunState
from esl_dagster.pipeline.services import Services


def resolve_options(
    options: JobOptions, services: Services, previous: Manifest | None
) -> tuple[JobOptions, str]:
    """Fill unset options from the student profile, the settings and the previous manifest.

    Returns the resolved options and the name of the student profile used.
    """
    provider = services.config_provider
    profile = provider.find_student(options.student)
    updates: dict[str, Any] = {}
    notion_target = (options.db_id, options.db, options.data_source_id, options.data_source)
    if all(value is None for value in notion_target):
        updates["db_id"] = profile.db_id
        updates["data_source_id"] = profile.data_source_id
    if options.preset is None and not options.is_rerun:
        updates["preset"] = profile.color_preset
    if options.accent is None:
        updates["accent"] = profile.accent_preference
    if options.prefix is None:
        updates["prefix"] = services.settings.storage.prefix
    if previous is not None:
        # The TTS options are sticky: an unflagged run reproduces the previous audio.
        for name in ("tts_mode", "dialogue_language", "dialogue_stability", "dialogue_seed"):
            if getattr(options, name) is None:
                updates[name] = getattr(previous, name)
    if options.tts_mode is None and updates.get("tts_mode") is None:
        updates["tts_mode"] = services.settings.speech.tts_mode
    if options.is_rerun and not options.rerun_steps:
        updates["rerun_steps"] = list(DEFAULT_RERUN_STEPS)
    resolved = options.model_copy(update=updates)
    JobOptions.model_validate(resolved.model_dump())
    return resolved, profile.student


def start_run(
    options: JobOptions, services: Services, *, run_id: str, job_id: str | None = None
) -> RunState:
    """Read and parse the lesson and read its manifest, resolve the options, refuse a job that
    cannot succeed (:func:`~esl_dagster.pipeline.preflight.preflight`, before any paid call or
    Notion write) and return the initial state, which carries the parsed lesson to every stage."""
    source = locate_lesson(options.md, services.settings)
    lesson = read_and_parse(source, services.lesson_reader())
    md_path = str(source.path)
    store = services.manifest_store
    previous = store.read_manifest(md_path)
    if options.is_rerun and previous is None:
        raise ManifestError(
            f"no manifest for {source.md}; run the whole pipeline (esl run) before a rerun"
        )
    resolved, profile = resolve_options(
        options.model_copy(update={"md": source.md}), services, previous
    )
    from esl_dagster.pipeline.preflight import preflight  # imports the Notion and audio tools

    preflight(resolved, services, previous)
    return RunState(
        options=resolved,
        run_id=run_id,
        job_id=job_id,
        md_path=md_path,
        md_hash=lesson.md_hash,
        lesson=lesson,
        profile=profile,
        page_id=previous.page_id if previous else None,
        page_url=previous.page_url if previous else None,
        notion=previous.notion if previous else None,
        audio=previous.audio.model_copy() if previous and previous.audio else None,
        manifest_path=store.manifest_path_for(md_path),
        previous=previous,
    )
