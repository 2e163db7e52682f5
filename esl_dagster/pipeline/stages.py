"""The seven stages of a lesson job, each written once; the in-process runner and the Dagster ops
both call :func:`start_run` and then :func:`run_stage` per stage.

Every stage first *decides*: it computes the hash of everything that shapes its effect and skips
(with a reason) when a skip flag says so, when it does not apply, or when the manifest records a
success with the same input hash (unless ``force``). Only then does it emit ``start`` and act.
A dry run decides the same way but acts without effects: it reports what would happen and
records nothing.

Step tokens (``RunState.steps``) follow the original: the stage name when it runs (or would run),
``skip:<stage>`` for an explicit skip flag, ``colorize:<preset>:<h2>/<h3>/<toggles>`` after a
colorize, and the new ``unchanged:<stage>`` when unchanged inputs skip a stage.
"""

import copy
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from esl_dagster.pipeline.config.loaders import load_voices_map
from esl_dagster.pipeline.config.models import VoicesMap
from esl_dagster.pipeline.errors import (
    ConfigurationError,
    InfrastructureError,
    ManifestError,
    ValidationError,
)
from esl_dagster.pipeline.lesson.document import parse_document
from esl_dagster.pipeline.lesson.extractor import extract_study_text
from esl_dagster.pipeline.lesson.models import Finding
from esl_dagster.pipeline.lesson.reader import read_lesson_bytes
from esl_dagster.pipeline.lesson.validator import validate_text
from esl_dagster.pipeline.manifest import (
    MANIFEST_SCHEMA_VERSION,
    Manifest,
    ManifestAudio,
    NotionRecord,
    StageRecord,
    sha256_hex,
    utc_timestamp,
)
from esl_dagster.pipeline.notion.importer import ImportProgress
from esl_dagster.pipeline.notion.stage import (
    NotionDefaults,
    PreviewOutcome,
    run_add_audio,
    run_colorize,
    run_import,
)
from esl_dagster.pipeline.observability import PipelineTelemetry
from esl_dagster.pipeline.options import DEFAULT_RERUN_STEPS, JobOptions
from esl_dagster.pipeline.run_state import STAGES, RunState, StageName, StageResult
from esl_dagster.pipeline.services import Services
from esl_dagster.pipeline.storage import LocalUploader, S3Uploader, Uploader, object_key
from esl_dagster.pipeline.tts.builder import build_audio
from esl_dagster.pipeline.tts.elevenlabs import ElevenLabsProvider
from esl_dagster.pipeline.tts.provider import SpeechProvider
from esl_dagster.pipeline.tts.voices import VoiceAssignment

__all__ = [
    "STAGES",
    "RunState",
    "StageName",
    "StageResult",
    "lesson_text",
    "run_stage",
    "start_run",
]

UNCHANGED_REASON = "inputs unchanged since the last successful run"


@dataclass
class Skip:
    """A decision not to act. ``token`` is pushed to ``steps`` (explicit skip flags, unchanged)."""

    reason: str
    token: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class Outcome:
    """What an acting stage did. ``outputs`` go into the stage's manifest record."""

    detail: dict[str, Any] = field(default_factory=dict)
    tokens: list[str] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)


Decide = Callable[[RunState, Services], "Skip | str"]
Act = Callable[[RunState, Services], Outcome]


# ##### starting a run


def read_lesson(md_path: Path) -> tuple[str, str]:
    """The lesson's text and the SHA-256 of its bytes (the manifest's ``mdHash``)."""
    try:
        data = md_path.read_bytes()
    except FileNotFoundError:
        raise ConfigurationError(f"lesson file not found: {md_path}") from None
    except OSError as exc:
        raise ConfigurationError(f"cannot read lesson {md_path}: {exc.strerror}") from exc
    text = read_lesson_bytes(data)
    if isinstance(text, Finding):
        raise ValidationError(f"Validation failed: {text.message}", [text.message])
    return text, sha256_hex(data)


def lesson_text(state: RunState) -> str:
    """The lesson text this run started with (a changed file fails the run: it would mix inputs)."""
    text, md_hash = read_lesson(Path(state.md_path))
    if md_hash != state.md_hash:
        raise ValidationError(
            f"lesson {state.md_path} changed while the job ran; run the job again",
        )
    return text


def resolve_options(
    options: JobOptions, services: Services, previous: Manifest | None
) -> tuple[JobOptions, str]:
    """Fill unset options from the student profile, the settings and the previous manifest.

    Returns the resolved options and the name of the student profile used. An unknown preset is
    a ``ConfigurationError`` raised here, before anything runs.
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
        updates["prefix"] = services.settings.s3_prefix
    if previous is not None:
        # The TTS options are sticky: an unflagged run reproduces the previous audio.
        for name in ("tts_mode", "dialogue_language", "dialogue_stability", "dialogue_seed"):
            if getattr(options, name) is None:
                updates[name] = getattr(previous, name)
    if options.tts_mode is None and updates.get("tts_mode") is None:
        updates["tts_mode"] = services.settings.elevenlabs_tts_mode
    if options.is_rerun and not options.rerun_steps:
        updates["rerun_steps"] = list(DEFAULT_RERUN_STEPS)
    resolved = options.model_copy(update=updates)
    JobOptions.model_validate(resolved.model_dump())
    if resolved.preset is not None and not resolved.is_rerun:
        provider.get_preset(resolved.preset)
    return resolved, profile.student


def start_run(
    options: JobOptions, services: Services, *, run_id: str, job_id: str | None = None
) -> RunState:
    """Read the lesson and its manifest, resolve the options and return the initial state."""
    md_path = Path(options.md).expanduser().resolve()
    _, md_hash = read_lesson(md_path)
    store = services.manifest_store
    previous = store.read_manifest(str(md_path))
    if options.is_rerun and previous is None:
        raise ManifestError(
            f"no manifest for {md_path}; run the whole pipeline (esl run) before a rerun"
        )
    resolved, profile = resolve_options(
        options.model_copy(update={"md": str(md_path)}), services, previous
    )
    return RunState(
        options=resolved,
        run_id=run_id,
        job_id=job_id,
        md_path=str(md_path),
        md_hash=md_hash,
        profile=profile,
        page_id=previous.page_id if previous else None,
        page_url=previous.page_url if previous else None,
        notion=previous.notion if previous else None,
        audio=previous.audio.model_copy() if previous and previous.audio else None,
        manifest_path=store.manifest_path_for(str(md_path)),
        previous=previous,
    )


# ##### running one stage


def input_hash(stage: str, **parts: Any) -> str:
    """The hash of everything that shapes ``stage``'s effect."""
    return sha256_hex(json.dumps({"stage": stage, **parts}, sort_keys=True, default=str))


def unchanged(state: RunState, stage: str, digest: str) -> bool:
    """True when the manifest records a success of ``stage`` with inputs hashing to ``digest``."""
    if state.options.force:
        return False
    record = state.previous_record(stage)
    return record is not None and record.input_hash == digest


def _telemetry(state: RunState, services: Services) -> PipelineTelemetry:
    logger = services.logger.bind(run_id=state.run_id, job_id=state.job_id)
    return PipelineTelemetry(logger, services.metrics)


def run_stage(stage: str, state: RunState, services: Services) -> RunState:
    """Run one stage (or record why it is skipped) on a copy of ``state`` and return the copy.

    Emits ``stage.<name>.start|success|skipped|failure`` and the stage metrics; raises the shared
    errors on failure (``transient`` only for retryable faults), after recording the failure.
    """
    if stage not in _STAGE_FUNCTIONS:
        raise ConfigurationError(f"unknown stage {stage!r} (stages: {', '.join(STAGES)})")
    decide, act = _STAGE_FUNCTIONS[stage]
    state = state.model_copy(deep=True)
    telemetry = _telemetry(state, services)
    started = time.perf_counter()
    try:
        decision = decide(state, services)
        if isinstance(decision, Skip):
            if decision.token:
                state.steps.append(decision.token)
            state.stage_results[stage] = StageResult(
                status="skipped",
                duration_ms=_elapsed_ms(started),
                reason=decision.reason,
                detail=decision.detail,
            )
            telemetry.stage_skipped(stage, decision.reason)
            return state
        started = telemetry.stage_start(stage)
        outcome = act(state, services)
    except Exception as exc:
        telemetry.stage_failure(stage, started, exc)
        state.stage_results[stage] = StageResult(
            status="failed", duration_ms=_elapsed_ms(started), reason=one_line(exc)
        )
        raise
    state.steps.extend(outcome.tokens)
    if state.dry_run:
        outcome.detail = {"dryRun": True, **outcome.detail}
    elif stage != "manifest":
        state.records[stage] = StageRecord(
            input_hash=decision,
            completed_at=utc_timestamp(),
            run_id=state.run_id,
            outputs=outcome.outputs,
        )
    duration = telemetry.stage_success(stage, started, outcome.detail)
    state.stage_results[stage] = StageResult(
        status="success", duration_ms=duration, detail=outcome.detail
    )
    return state


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000.0, 3)


def one_line(exc: BaseException) -> str:
    """An error as one line: its lines joined with ``; `` (validation lists become one line)."""
    lines = [line.strip().removeprefix("- ") for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    head, rest = lines[0], lines[1:]
    if head.endswith(":") and rest:
        return f"{head} {'; '.join(rest)}"
    return "; ".join(lines)


# ##### validate


def _decide_validate(state: RunState, _services: Services) -> Skip | str:
    if state.rerun:
        return Skip("not requested")
    digest = input_hash("validate", md_hash=state.md_hash, strict=False)
    if unchanged(state, "validate", digest):
        return Skip(UNCHANGED_REASON, token="unchanged:validate")
    return digest


def _act_validate(state: RunState, services: Services) -> Outcome:
    result = validate_text(lesson_text(state), strict=False)
    if not result.ok:
        raise ValidationError(result.error_summary(), [f.message for f in result.errors])
    warnings = [f.message for f in result.warnings]
    if warnings:
        services.logger.bind(run_id=state.run_id, job_id=state.job_id).log(
            "warn", "validation.warnings", stage="validate", detail={"warnings": warnings}
        )
    return Outcome(
        detail={"warnings": warnings}, tokens=["validate"], outputs={"warnings": len(warnings)}
    )


# ##### manifest


def build_manifest(state: RunState) -> Manifest:
    """The manifest this run leaves: the previous one updated with what this run did.

    Unlike the original, nothing is lost on ordinary runs: the preset, page and audio carry over
    when this run did not change them, and a rerun keeps ``mdHash`` (it did not re-import).
    """
    previous = state.previous
    options = state.options
    stages = dict(previous.stages) if previous else {}
    stages.update(state.records)
    base = previous.model_dump(by_alias=False) if previous else {}
    base.update(
        schema_version=MANIFEST_SCHEMA_VERSION,
        md_hash=previous.md_hash if state.rerun and previous else state.md_hash,
        page_id=state.page_id,
        page_url=state.page_url,
        audio=state.audio,
        preset=options.preset if options.preset is not None else base.get("preset"),
        tts_mode=options.tts_mode,
        dialogue_language=options.dialogue_language,
        dialogue_stability=options.dialogue_stability,
        dialogue_seed=options.dialogue_seed,
        timestamp=utc_timestamp(),
        run_id=state.run_id,
        job_id=state.job_id,
        stages=stages,
        notion=state.notion,
    )
    return Manifest.model_validate(base)


def _decide_manifest(state: RunState, _services: Services) -> Skip | str:
    manifest = build_manifest(state)
    digest = manifest.content_fingerprint()
    if state.dry_run:
        return Skip(
            "dry run: manifest not written",
            detail={
                "manifestPath": state.manifest_path,
                "manifest": manifest.model_dump(mode="json", by_alias=True, exclude_none=True),
            },
        )
    previous = state.previous
    if (
        previous is not None
        and not state.options.force
        and previous.schema_version == MANIFEST_SCHEMA_VERSION
        and previous.content_fingerprint() == digest
    ):
        return Skip(
            UNCHANGED_REASON,
            token="unchanged:manifest",
            detail={"manifestPath": state.manifest_path},
        )
    return digest


def _act_manifest(state: RunState, services: Services) -> Outcome:
    manifest = build_manifest(state)
    state.manifest_path = services.manifest_store.write_manifest(state.md_path, manifest)
    state.manifest_written = True
    return Outcome(detail={"manifestPath": state.manifest_path}, tokens=["manifest"])


# ##### import


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


def _decide_import(state: RunState, services: Services) -> Skip | str:
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
        mode=_notion_mode(services),
    )
    done = state.page_id if services.notion is not None else state.notion
    if unchanged(state, "import", digest) and done:
        return Skip(UNCHANGED_REASON, token="unchanged:import")
    return digest


def _act_import(state: RunState, services: Services) -> Outcome:
    options = state.options
    text = lesson_text(state)
    meta = validate_text(text, strict=False).meta
    if meta is None:
        raise ValidationError("Validation failed: the front matter is invalid")
    store = services.manifest_store
    latest = None if state.dry_run else store.read_manifest(state.md_path)
    # A retried op gets the state from before its failure: the store holds the newest progress.
    recorded = latest or state.previous
    page_id = recorded.page_id if recorded else None
    progress_data = recorded.notion.progress if recorded and recorded.notion else None
    progress = ImportProgress.from_dict(progress_data) if progress_data else None
    profile = services.config_provider.find_student(options.student)
    has_target = bool(profile.db_id or profile.data_source_id)

    def checkpoint(update: ImportProgress) -> None:
        _checkpoint_import(state, services, update)

    result = run_import(
        services.notion,
        meta=meta,
        body=parse_document(text).body,
        lesson_key=lesson_key(state.md_path),
        defaults=_notion_defaults(services),
        profile=profile if has_target else None,
        data_source_id=options.data_source_id,
        database_id=options.db_id,
        data_source_name=options.data_source,
        student=options.student,
        page_id=page_id,
        progress=progress,
        force=options.force,
        dry_run=state.dry_run,
        on_progress=checkpoint,
    )
    if isinstance(result, PreviewOutcome):
        payload = result.preview.to_dict()
        detail: dict[str, Any] = {
            "imported": False,
            "blocks": result.preview.total_blocks,
            "requests": len(result.preview.requests),
        }
        if state.dry_run:
            detail["wouldUpdatePage"] = page_id if services.notion is not None else None
            detail["payload"] = payload
            return Outcome(detail=detail, tokens=["import"])
        location = store.write_preview(state.md_path, payload)
        # A page imported earlier (with a token) stays recorded: preview mode never forgets it.
        state.notion = NotionRecord(imported=False, preview_path=location)
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


def _decide_colorize(state: RunState, services: Services) -> Skip | str:
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


def _act_colorize(state: RunState, services: Services) -> Outcome:
    preset_name = state.options.preset
    if preset_name is None:
        raise ConfigurationError("colorize needs a preset")
    preset = services.config_provider.get_preset(preset_name)
    counts = run_colorize(services.notion, state.page_id, preset, dry_run=state.dry_run)
    tokens = ["colorize", f"colorize:{preset_name}:{counts.h2}/{counts.h3}/{counts.toggles}"]
    detail: dict[str, Any] = {"preset": preset_name, "counts": counts.as_dict()}
    if services.notion is None:
        detail["preview"] = True
        tokens = tokens[1:]
    state.colorized = True
    return Outcome(detail=detail, tokens=tokens, outputs={"counts": counts.as_dict()})


# ##### add-audio


def _decide_add_audio(state: RunState, services: Services) -> Skip | str:
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
    if services.notion is None:
        return Skip("Notion preview mode: no page to attach the audio to")
    if not state.page_id:
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


def _act_add_audio(state: RunState, services: Services) -> Outcome:
    url = state.audio.url if state.audio else None
    if not url or not state.page_id:
        raise ManifestError("add-audio needs a page id and an audio URL")
    record = state.previous_record("add-audio")
    previous_block = record.outputs.get("blockId") if record else None
    result = run_add_audio(
        services.notion,
        state.page_id,
        url,
        previous_block_id=str(previous_block) if previous_block else None,
        dry_run=state.dry_run,
    )
    if result is None:
        return Outcome(detail={"pageId": state.page_id, "url": url}, tokens=["add-audio"])
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


# ##### tts


def _tts_provider(state: RunState, services: Services) -> SpeechProvider:
    """The configured provider, carrying this job's dialogue options when it has any."""
    provider = services.tts_provider
    options = state.options
    if isinstance(provider, ElevenLabsProvider):
        job_provider = copy.copy(provider)  # shares the HTTP client; only the options differ
        if options.dialogue_language is not None:
            job_provider.dialogue_language = options.dialogue_language
        if options.dialogue_stability is not None:
            job_provider.dialogue_stability = options.dialogue_stability
        if options.dialogue_seed is not None:
            job_provider.dialogue_seed = options.dialogue_seed
        return job_provider
    return provider


def _out_dir(state: RunState, services: Services) -> Path:
    out = state.options.out
    if out is None:
        return Path(state.md_path).parent
    return services.settings.resolve_path(Path(out))


def _voices_map(state: RunState, services: Services) -> VoicesMap:
    if state.options.voices is not None:
        return load_voices_map(services.settings.resolve_path(Path(state.options.voices)))
    return services.config_provider.load_voices_map()


def _tts_inputs(state: RunState, services: Services) -> dict[str, Any]:
    options = state.options
    provider = services.tts_provider
    return {
        "md_hash": state.md_hash,
        "voices": _voices_map(state, services).model_dump(mode="json"),
        "voice_id": options.voice_id,
        "accent": options.accent,
        "mode": options.tts_mode,
        "dialogue": [options.dialogue_language, options.dialogue_stability, options.dialogue_seed],
        "provider": [provider.name, provider.model, provider.output_format],
        "out": str(_out_dir(state, services)),
        "student": options.student,
    }


def _audio_file_ok(path: str | None) -> bool:
    if not path:
        return False
    target = Path(path)
    return target.is_file() and target.stat().st_size > 0


def _decide_tts(state: RunState, services: Services) -> Skip | str:
    options = state.options
    if state.rerun and not state.requested("tts"):
        return Skip("not requested")
    if state.rerun:
        return input_hash("tts", **_tts_inputs(state, services))
    if not options.with_tts:
        return Skip("tts disabled")
    if options.skip_tts:
        if not state.dry_run and not (state.audio and state.audio.path):
            raise ManifestError(
                "--skip-tts needs audio recorded in the manifest; run without --skip-tts first"
            )
        return Skip("skip-tts flag set", token="skip:tts")
    digest = input_hash("tts", **_tts_inputs(state, services))
    if (
        not options.redo_tts
        and unchanged(state, "tts", digest)
        and _audio_file_ok(state.audio.path if state.audio else None)
    ):
        return Skip(UNCHANGED_REASON, token="unchanged:tts")
    return digest


def _act_tts(state: RunState, services: Services) -> Outcome:
    options = state.options
    text = lesson_text(state)
    study_text = extract_study_text(text)
    meta = validate_text(text, strict=False).meta
    force = options.force or options.redo_tts
    result = build_audio(
        study_text,
        meta,
        provider=_tts_provider(state, services),
        voices_map=_voices_map(state, services),
        catalog=services.config_provider.load_voice_catalog(),
        out_dir=_out_dir(state, services),
        mode=options.tts_mode,
        default_mode=services.settings.elevenlabs_tts_mode,
        force=force,
        dry_run=state.dry_run,
        gap_seconds=services.settings.tts_gap_seconds,
        student=options.student,
        default_voice=options.voice_id,
        accent=options.accent,
    )
    voices = [_voice_record(item) for item in result.voices]
    summary = result.voice_summary()
    detail: dict[str, Any] = {
        "path": str(result.path),
        "hash": result.hash,
        "mode": result.mode,
        "provider": result.provider,
        "cached": result.cached,
        "voices": voices,
        "voiceSummary": summary,
    }
    if not state.dry_run:
        if not _audio_file_ok(str(result.path)):
            raise InfrastructureError(
                f"TTS finished but {result.path} is missing or empty; the study text needs "
                "speakable lines and voices.yml needs a default or auto: true"
            )
        previous = state.audio
        keep_upload = previous is not None and previous.hash == result.hash
        state.audio = ManifestAudio(
            path=str(result.path),
            hash=result.hash,
            voices=voices,
            url=previous.url if keep_upload and previous else None,
            key=previous.key if keep_upload and previous else None,
        )
        state.voice_summary = summary
        detail["durationSeconds"] = result.duration_seconds
    return Outcome(
        detail=detail,
        tokens=["tts"],
        outputs={"path": str(result.path), "hash": result.hash},
    )


def _voice_record(item: VoiceAssignment) -> dict[str, Any]:
    """A voice assignment with the manifest's camelCase keys (``voiceId``, ``voiceName``...)."""
    data = item.model_dump(exclude_none=True)
    return {_camel(key): value for key, value in data.items()}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


# ##### upload


def _uploader(state: RunState, services: Services) -> Uploader:
    """The target the ``upload`` option asks for (auto = whatever the settings configured)."""
    mode = state.options.upload
    configured = services.uploader
    if mode == "s3" and not isinstance(configured, S3Uploader):
        raise ConfigurationError("--upload s3 needs S3 storage: set S3_BUCKET (or MINIO_ENABLED)")
    if mode == "local" and not isinstance(configured, LocalUploader):
        settings = services.settings
        return LocalUploader(settings.upload_dir, settings.public_base_url)
    return configured


def _upload_target(uploader: Uploader) -> list[Any]:
    if isinstance(uploader, S3Uploader):
        return ["s3", uploader.bucket, uploader.endpoint_url]
    if isinstance(uploader, LocalUploader):
        return ["local", str(uploader.folder), uploader.base_url]
    return [type(uploader).__name__]


def _decide_upload(state: RunState, services: Services) -> Skip | str:
    options = state.options
    if state.rerun and not state.requested("upload"):
        return Skip("not requested")
    if options.upload == "none":
        if state.rerun:
            raise ConfigurationError("rerun of upload needs an upload target (--upload)")
        return Skip("upload disabled")
    audio = state.audio
    if audio is None or not audio.path:
        if state.rerun:
            raise ManifestError("no audio recorded in the manifest; rerun with --steps tts first")
        return Skip("no audio path available")
    if options.skip_upload and not state.rerun:
        if not state.dry_run and not audio.url:
            raise ManifestError(
                "--skip-upload needs an audio URL recorded in the manifest; upload once first"
            )
        return Skip("skip-upload flag set", token="skip:upload")
    digest = input_hash(
        "upload",
        audio_hash=audio.hash,
        path=audio.path,
        target=_upload_target(_uploader(state, services)),
        prefix=options.prefix,
        public_read=options.public_read,
        presign=options.presign,
    )
    if not state.rerun and unchanged(state, "upload", digest) and audio.url:
        return Skip(UNCHANGED_REASON, token="unchanged:upload")
    return digest


def _act_upload(state: RunState, services: Services) -> Outcome:
    options = state.options
    audio = state.audio
    if audio is None or audio.path is None:
        raise ManifestError("no audio to upload")
    uploader = _uploader(state, services)
    path = Path(audio.path)
    if state.dry_run:
        key = object_key(path, options.prefix)
        return Outcome(
            detail={"key": key, "target": _upload_target(uploader)[:2]}, tokens=["upload"]
        )
    result = uploader.upload(
        path,
        key_prefix=options.prefix,
        public_read=options.public_read,
        presign_seconds=options.presign,
    )
    audio.url = result.url
    audio.key = result.key
    return Outcome(
        detail={
            "url": result.url,
            "key": result.key,
            "location": result.location,
            "reused": result.reused,
        },
        tokens=["upload"],
        outputs={"url": result.url, "key": result.key},
    )


_STAGE_FUNCTIONS: dict[str, tuple[Decide, Act]] = {
    "validate": (_decide_validate, _act_validate),
    "import": (_decide_import, _act_import),
    "colorize": (_decide_colorize, _act_colorize),
    "tts": (_decide_tts, _act_tts),
    "upload": (_decide_upload, _act_upload),
    "add-audio": (_decide_add_audio, _act_add_audio),
    "manifest": (_decide_manifest, _act_manifest),
}
