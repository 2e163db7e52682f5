"""Refuse, before anything is spent, a job that cannot deliver what it asks for.

:func:`preflight` runs at the start of every job (``start_run``), before any paid speech call
(ElevenLabs) and any Notion write. Each refusal is a :class:`PreflightError`: a permanent
``ConfigurationError`` (never retried; the CLI exits 2 with its one line) whose ``code`` names the
case and whose message names the setting or option to change:

- ``unknown_preset``: the colour preset does not exist (the available names are listed);
- ``unknown_voice``: ``--voice-id`` names no voice of the catalog and is not a voice id (for a
  provider that takes any voice id; a closed set such as espeak's reports it as a warning);
- ``ffmpeg_missing``: speech is asked for and no ffmpeg can be found;
- ``upload_target_unavailable``: ``--upload s3`` without S3 settings, ``--upload notion``
  without ``NOTION_TOKEN``;
- ``audio_url_unreachable``: a live Notion page would get a link Notion refuses (local uploads
  make ``file://`` links unless ``ESL_PUBLIC_BASE_URL`` serves the folder over http(s)).
"""

import re

from esl_dagster.pipeline.errors import ConfigurationError, PipelineError
from esl_dagster.pipeline.manifest import Manifest
from esl_dagster.pipeline.notion.live import LiveNotion
from esl_dagster.pipeline.options import JobOptions
from esl_dagster.pipeline.services import Services, uploader_for
from esl_dagster.pipeline.storage import LocalUploader
from esl_dagster.pipeline.tts.audio import resolve_ffmpeg

# ElevenLabs voice ids are 20 letters and digits; such a token is passed through as an id.
_VOICE_ID = re.compile(r"^[A-Za-z0-9]{20}$")


class PreflightError(ConfigurationError):
    """A job refused at its start; ``code`` says which check refused it."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def preflight(options: JobOptions, services: Services, previous: Manifest | None = None) -> None:
    """Raise a :class:`PreflightError` when ``options`` (resolved) cannot succeed here;
    ``previous`` is the lesson's manifest (audio it records may be uploaded without speech)."""
    _check_preset(options, services)
    if _speaks(options):
        _check_ffmpeg(services)
        _check_voice(options, services)
    recorded_audio = bool(previous and previous.audio and previous.audio.path)
    if _uploads(options, recorded_audio):
        _check_upload_target(options, services)


def _speaks(options: JobOptions) -> bool:
    if options.rerun_steps is not None:
        return "tts" in options.rerun_steps
    return options.with_tts and not options.skip_tts


def _uploads(options: JobOptions, recorded_audio: bool) -> bool:
    if options.upload == "none":
        return False
    if options.rerun_steps is not None:
        return "upload" in options.rerun_steps
    return (options.with_tts or recorded_audio) and not options.skip_upload


def _check_preset(options: JobOptions, services: Services) -> None:
    if options.preset is None or options.is_rerun:
        return
    try:
        services.config_provider.get_preset(options.preset)
    except ConfigurationError as exc:
        raise PreflightError("unknown_preset", f"{exc}; choose one with --preset") from exc


def _check_ffmpeg(services: Services) -> None:
    configured = services.settings.speech.ffmpeg_path
    executable = str(services.settings.resolve_path(configured)) if configured else None
    try:
        resolve_ffmpeg(executable)
    except PipelineError as exc:
        raise PreflightError(
            "ffmpeg_missing",
            f"speech needs ffmpeg: {exc}; set FFMPEG_PATH to an ffmpeg executable "
            "(or install the imageio-ffmpeg wheel), or run without --with-tts",
        ) from exc


def _check_voice(options: JobOptions, services: Services) -> None:
    """Only for providers that take any voice id (paid ones): a closed set, such as espeak's,
    casts another voice and reports the unusable one as a warning, spending nothing."""
    token = (options.voice_id or "").strip()
    if not token or not services.tts_provider.accepts_any_voice_id:
        return
    configured = services.config_provider.load_voice_catalog()
    offered = services.tts_provider.voice_catalog(configured)
    if configured.find(token) or offered.find(token) or _VOICE_ID.match(token):
        return
    names = sorted({voice.name for voice in [*offered.voices, *configured.voices]})
    shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
    raise PreflightError(
        "unknown_voice",
        f'unknown voice "{token}" for --voice-id: not in the voice catalog '
        f"(available: {shown or 'none'}) and not a voice id",
    )


def _check_upload_target(options: JobOptions, services: Services) -> None:
    try:
        uploader = uploader_for(options.upload, services)
    except ConfigurationError as exc:
        raise PreflightError("upload_target_unavailable", str(exc)) from exc
    if not isinstance(services.notion, LiveNotion) or not isinstance(uploader, LocalUploader):
        return
    base_url = uploader.base_url or ""
    if base_url.startswith(("http://", "https://")):
        return
    raise PreflightError(
        "audio_url_unreachable",
        "Notion only attaches audio from an http(s) URL, but uploads go to the local folder "
        f"{uploader.folder} without one: set ESL_PUBLIC_BASE_URL to the http(s) URL serving "
        "that folder, or upload with --upload notion (Notion hosts the file) or to S3 "
        "(set S3_BUCKET, --upload s3)",
    )
