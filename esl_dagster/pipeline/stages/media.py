"""The audio stages: ``tts`` (build the MP3) and ``upload`` (put it where the page can link it:
S3/MinIO, Notion itself, or the local folder)."""

from pathlib import Path
from typing import TYPE_CHECKING, Any

from esl_dagster.pipeline.config.loaders import load_voices_map
from esl_dagster.pipeline.config.models import VoicesMap
from esl_dagster.pipeline.errors import ConfigurationError, InfrastructureError, ManifestError
from esl_dagster.pipeline.manifest import ManifestAudio
from esl_dagster.pipeline.observability import UPLOADS
from esl_dagster.pipeline.run_state import RunState
from esl_dagster.pipeline.services import Services, uploader_for
from esl_dagster.pipeline.stages.common import (
    Outcome,
    Skip,
    current_lesson,
    input_hash,
    unchanged,
)
from esl_dagster.pipeline.storage import (
    LocalUploader,
    NotionUploader,
    S3Uploader,
    Uploader,
    object_key,
)

if TYPE_CHECKING:  # the speech modules load when a run speaks, not when its tts stage skips
    from esl_dagster.pipeline.tts.audio import Ffmpeg
    from esl_dagster.pipeline.tts.request import SpeechOptions, SpeechRequest
    from esl_dagster.pipeline.tts.voices import VoiceAssignment


def _out_dir(state: RunState, services: Services) -> Path:
    """``--out``, else the data folder: MP3s and clips never land in the teachers' folder."""
    out = state.options.out
    if out is None:
        return services.settings.audio_dir
    return services.settings.resolve_path(Path(out))


def _voices_map(state: RunState, services: Services) -> VoicesMap:
    if state.options.voices is not None:
        return load_voices_map(services.settings.resolve_path(Path(state.options.voices)))
    return services.config_provider.load_voices_map()


def _speech_options(state: RunState, services: Services) -> "SpeechOptions":
    """The job's speech options; the settings give the default mode and the mix."""
    from esl_dagster.pipeline.tts.audio import MixSettings
    from esl_dagster.pipeline.tts.provider import DialogueOptions
    from esl_dagster.pipeline.tts.request import SpeechOptions

    job = state.options
    speech = services.settings.speech
    return SpeechOptions(
        mode=job.tts_mode,
        default_mode=speech.tts_mode,
        mix=MixSettings(gap_seconds=speech.gap_seconds, tail_seconds=speech.silence_tail_seconds),
        dialogue=DialogueOptions.of(job),
        default_voice=job.voice_id,
        accent=job.accent,
        student=job.student,
    )


def _speech_request(state: RunState, services: Services) -> "SpeechRequest":
    """Everything that shapes this run's audio (its digest is the stage's input hash)."""
    from esl_dagster.pipeline.tts.request import speech_request

    lesson = current_lesson(state, services)
    return speech_request(
        lesson.required_study_text(),
        lesson.meta,
        provider=services.tts_provider,
        voices_map=_voices_map(state, services),
        catalog=services.config_provider.load_voice_catalog(),
        out_dir=_out_dir(state, services),
        options=_speech_options(state, services),
    )


def _ffmpeg(services: Services) -> "Ffmpeg | None":
    """The ffmpeg FFMPEG_PATH names, else None (the builder uses the bundled one)."""
    from esl_dagster.pipeline.tts.audio import Ffmpeg

    path = services.settings.speech.ffmpeg_path
    return Ffmpeg(str(services.settings.resolve_path(path))) if path is not None else None


def _audio_file_ok(path: str | None) -> bool:
    if not path:
        return False
    target = Path(path)
    return target.is_file() and target.stat().st_size > 0


def decide_tts(state: RunState, services: Services) -> Skip | str:
    options = state.options
    if state.rerun and not state.requested("tts"):
        return Skip("not requested")
    if state.rerun:
        return _speech_request(state, services).digest()
    if not options.with_tts:
        return Skip("tts disabled")
    if options.skip_tts:
        if not state.dry_run and not (state.audio and state.audio.path):
            raise ManifestError(
                "--skip-tts needs audio recorded in the manifest; run without --skip-tts first"
            )
        return Skip("skip-tts flag set", token="skip:tts")
    digest = _speech_request(state, services).digest()
    if (
        not options.redo_tts
        and unchanged(state, "tts", digest)
        and _audio_file_ok(state.audio.path if state.audio else None)
    ):
        return Skip.unchanged("tts")
    return digest


def act_tts(state: RunState, services: Services) -> Outcome:
    from esl_dagster.pipeline.tts.builder import build_audio

    options = state.options
    request = _speech_request(state, services)
    if not state.dry_run:
        _ensure_folder(request.out_dir)
    result = build_audio(
        request,
        provider=services.tts_provider,
        ffmpeg=_ffmpeg(services),
        force=options.force or options.redo_tts,
        dry_run=state.dry_run,
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
    if result.voice_warnings:
        detail["voiceWarnings"] = result.voice_warnings
        services.logger.bind(run_id=state.run_id, job_id=state.job_id).log(
            "warn", "tts.voice_warnings", stage="tts", detail={"warnings": result.voice_warnings}
        )
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


def _ensure_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigurationError(
            f"cannot create the audio output folder {folder}: {exc.strerror}; "
            "choose a writable folder with --out"
        ) from exc


def _voice_record(item: "VoiceAssignment") -> dict[str, Any]:
    """A voice assignment with the manifest's camelCase keys (``voiceId``, ``voiceName``...)."""
    data = item.model_dump(exclude_none=True)
    return {_camel(key): value for key, value in data.items()}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


# ##### upload


def _upload_target(uploader: Uploader) -> list[Any]:
    if isinstance(uploader, S3Uploader):
        return ["s3", uploader.bucket, uploader.endpoint_url]
    if isinstance(uploader, NotionUploader):
        return ["notion", uploader.workspace]
    if isinstance(uploader, LocalUploader):
        return ["local", str(uploader.folder), uploader.base_url]
    return [type(uploader).__name__]


def decide_upload(state: RunState, services: Services) -> Skip | str:
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
    uploader = uploader_for(options.upload, services)
    digest = input_hash(
        "upload",
        audio_hash=audio.hash,
        path=audio.path,
        target=_upload_target(uploader),
        prefix=options.prefix,
        public_read=options.public_read,
        presign=options.presign,
    )
    if (
        not state.rerun
        and unchanged(state, "upload", digest)
        and audio.url
        and _still_attachable(state, uploader, audio.url)
    ):
        return Skip.unchanged("upload")
    return digest


def _still_attachable(state: RunState, uploader: Uploader, url: str) -> bool:
    """False when the recorded Notion upload was never attached and Notion has expired it (an
    upload expires an hour after its creation unless attached): it must be uploaded again."""
    if not isinstance(uploader, NotionUploader) or state.dry_run:
        return True
    upload_record = state.previous_record("upload")
    attach_record = state.previous_record("add-audio")
    if (
        upload_record is not None
        and attach_record is not None
        and attach_record.completed_at >= upload_record.completed_at
    ):
        return True
    return uploader.still_usable(url)


def act_upload(state: RunState, services: Services) -> Outcome:
    options = state.options
    audio = state.audio
    if audio is None or audio.path is None:
        raise ManifestError("no audio to upload")
    uploader = uploader_for(options.upload, services)
    path = Path(audio.path)
    if state.dry_run:
        key = object_key(path, options.prefix)
        return Outcome(
            detail={"key": key, "target": _upload_target(uploader)[:2]}, tokens=["upload"]
        )
    if isinstance(uploader, NotionUploader):
        result = uploader.upload(path, previous_url=audio.url)
    else:
        result = uploader.upload(
            path,
            key_prefix=options.prefix,
            public_read=options.public_read,
            presign_seconds=options.presign,
        )
    audio.url = result.url
    audio.key = result.key
    if not result.reused:
        services.metrics.increment(UPLOADS, 1, {"target": _upload_target(uploader)[0]})
    detail: dict[str, Any] = {
        "url": result.url,
        "key": result.key,
        "location": result.location,
        "reused": result.reused,
    }
    outputs: dict[str, Any] = {"url": result.url, "key": result.key}
    if isinstance(uploader, NotionUploader):
        notion_upload = {
            "fileUploadId": result.key,
            "status": result.status,
            "expiryTime": result.expiry_time,
            "audioHash": audio.hash,
        }
        detail.update(notion_upload)
        outputs.update(notion_upload)
    return Outcome(detail=detail, tokens=["upload"], outputs=outputs)
