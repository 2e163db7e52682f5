"""Build the MP3 a :class:`~esl_dagster.pipeline.tts.request.SpeechRequest` describes: cast voices,
synthesise (cached), assemble, measure.

Cache layout in ``out_dir`` (by default the data folder's ``audio/``, not the lesson folder): the
final file is ``<student-slug>-<hash>.mp3`` where the hash covers everything that shapes the output (text, voices, provider, model, output format, mode, dialogue
settings, gap, sample rate, bitrate, loudness, title); per-line (or per-dialogue-chunk) clips live
in ``out_dir/.clips/<clip-hash>.<ext>`` so an interrupted build resumes without paying twice.
Every file is written under a temporary name and renamed, so the cache never holds a partial one.
"""

import hashlib
import io
import json
import wave
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from anyascii import anyascii
from pydantic import BaseModel

from esl_dagster.pipeline.errors import InfrastructureError, ValidationError
from esl_dagster.pipeline.files import atomic_write_bytes
from esl_dagster.pipeline.tts.audio import Ffmpeg
from esl_dagster.pipeline.tts.modes import ResolvedMode
from esl_dagster.pipeline.tts.mp3 import scan_mp3
from esl_dagster.pipeline.tts.provider import (
    DialogueLine,
    DialogueOptions,
    DialogueProvider,
    SpeechProvider,
)
from esl_dagster.pipeline.tts.request import SpeechRequest
from esl_dagster.pipeline.tts.segments import Segment, order_speakers, plan_segments
from esl_dagster.pipeline.tts.voices import (
    VoiceAssignment,
    assign_voices,
    describe_unusable,
    resolve_voice_preferences,
    summarize_voice_selections,
)

CLIPS_DIR = ".clips"
_CACHE_VERSION = 1


class AudioResult(BaseModel):
    """What the TTS stage produced (or, on a dry run, would produce)."""

    path: Path
    hash: str
    voices: list[VoiceAssignment]
    duration_seconds: float | None
    segments: int
    cached: bool
    mode: ResolvedMode
    provider: str
    dry_run: bool = False
    voice_warnings: list[str] = []
    """One line per requested voice the provider could not use, with what it picked instead."""

    def voice_summary(self) -> str:
        return summarize_voice_selections(self.voices)


@dataclass(frozen=True)
class _Clip:
    """One synthesis request and where its audio is cached."""

    key: str
    path: Path
    render: Callable[[], bytes]


def slugify(value: str | None) -> str:
    """ASCII slug of any script, transliterated ("José" -> "jose", "Анна" -> "anna"); runs of
    other characters -> ``-``."""
    ascii_only = anyascii(value or "").lower()
    slug = "".join(ch if ch.isascii() and ch.isalnum() else "-" for ch in ascii_only)
    return "-".join(part for part in slug.split("-") if part)


def _digest(payload: object) -> str:
    encoded = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return hashlib.sha256(encoded.encode()).hexdigest()


def _clip_is_valid(data: bytes, suffix: str) -> bool:
    if suffix == ".mp3":
        return scan_mp3(data).complete
    if suffix == ".wav":
        try:
            with wave.open(io.BytesIO(data), "rb") as reader:
                return reader.getnframes() > 0 and len(data) >= 44 + reader.getnframes() * 2
        except (wave.Error, EOFError):
            return False
    return len(data) > 0


def _cached_file_ok(path: Path, suffix: str) -> bool:
    try:
        return path.is_file() and _clip_is_valid(path.read_bytes(), suffix)
    except OSError:
        return False


def _voice_for(segment: Segment, voices: Sequence[VoiceAssignment]) -> str:
    if segment.speaker is not None:
        for item in voices:
            if item.speaker == segment.speaker:
                return item.voice_id
        lowered = segment.speaker.lower()
        for item in voices:
            if item.speaker.lower() == lowered:
                return item.voice_id
    return voices[0].voice_id


def _plan_clips(
    segments: Sequence[Segment],
    voices: Sequence[VoiceAssignment],
    provider: SpeechProvider,
    mode: ResolvedMode,
    clips_dir: Path,
    dialogue_options: DialogueOptions,
) -> list[_Clip]:
    lines = [DialogueLine(seg.text, _voice_for(seg, voices)) for seg in segments]
    if mode == "dialogue" and isinstance(provider, DialogueProvider):
        dialogue = provider
        clips: list[_Clip] = []
        for chunk in dialogue.split_dialogue(lines):
            key = _digest(
                {
                    "kind": "dialogue",
                    "provider": dialogue.name,
                    "model": dialogue.dialogue_model,
                    "format": dialogue.output_format,
                    "settings": dialogue.dialogue_settings(dialogue_options),
                    "inputs": [[line.text, line.voice_id] for line in chunk],
                }
            )
            path = clips_dir / f"{key}{dialogue.clip_suffix}"
            render = partial(dialogue.synthesize_dialogue, chunk, dialogue_options)
            clips.append(_Clip(key, path, render))
        return clips
    result: list[_Clip] = []
    for line in lines:
        key = _digest(
            {
                "kind": "line",
                "provider": provider.name,
                "model": provider.model,
                "format": provider.output_format,
                "voice": line.voice_id,
                "text": line.text,
            }
        )
        path = clips_dir / f"{key}{provider.clip_suffix}"
        result.append(_Clip(key, path, partial(provider.synthesize_line, line.text, line.voice_id)))
    return result


def _render(clip: _Clip) -> None:
    data = clip.render()
    if not _clip_is_valid(data, clip.path.suffix):
        raise InfrastructureError(f"TTS returned invalid {clip.path.suffix} audio for a clip")
    atomic_write_bytes(clip.path, data)


def _synthesize(clips: Sequence[_Clip], *, concurrency: int, force: bool) -> None:
    """Render every clip that is not cached yet, up to ``concurrency`` at a time.

    On the first failure no new request starts; clips already written stay cached for a resume.
    """
    todo: dict[str, _Clip] = {}
    for clip in clips:
        if clip.key not in todo and (force or not _cached_file_ok(clip.path, clip.path.suffix)):
            todo[clip.key] = clip
    workers = max(1, min(concurrency, len(todo)))
    if workers == 1:
        for clip in todo.values():
            _render(clip)
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tts") as pool:
        futures: list[Future[None]] = [pool.submit(_render, clip) for clip in todo.values()]
        try:
            for future in as_completed(futures):
                future.result()
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise


@dataclass(frozen=True)
class _Casting:
    """The voices cast for a request, and one line per requested voice the provider lacks."""

    voices: list[VoiceAssignment]
    warnings: list[str]


def _cast(request: SpeechRequest, provider: SpeechProvider, segments: list[Segment]) -> _Casting:
    labels, profiles = request.speaker_labels, request.speaker_profiles
    cast_catalog = provider.voice_catalog(request.catalog)
    preference = resolve_voice_preferences(cast_catalog, request.default_voice, request.accent)
    casting = assign_voices(
        order_speakers(segments, labels, profiles),
        profiles=profiles,
        voices_map=request.voices_map,
        catalog=cast_catalog,
        content_type=request.study_text.type,
        default_accent=preference.accent,
        default_voice=preference.voice,
        accept_unknown_tokens=provider.accepts_any_voice_id,
    )
    warnings = [
        describe_unusable(item, provider.name, request.catalog) for item in casting.unusable
    ]
    return _Casting(casting.assignments, warnings)


def _audio_hash(request: SpeechRequest, clips: list[_Clip], voices: list[VoiceAssignment]) -> str:
    mix = request.mix
    return _digest(
        {
            "version": _CACHE_VERSION,
            "mode": request.mode,
            "clips": [clip.key for clip in clips],
            "voices": {item.speaker: item.voice_id for item in voices},
            "mix": [
                mix.gap_seconds,
                mix.sample_rate,
                mix.bitrate,
                mix.loudness_lufs,
                *([mix.tail_seconds] if mix.tail_seconds else []),
            ],
            "title": request.title,
        }
    )


def build_audio(
    request: SpeechRequest,
    *,
    provider: SpeechProvider,
    ffmpeg: Ffmpeg | None = None,
    force: bool = False,
    dry_run: bool = False,
) -> AudioResult:
    """Produce (or reuse) the MP3 ``request`` describes, with ``provider`` (the engine
    ``request.provider`` describes). ``dry_run`` computes path, hash and voices and makes no
    provider call and no file. ``force`` re-synthesises every clip and rebuilds the MP3."""
    segments = plan_segments(request.study_text, request.speaker_labels)
    if not segments:
        raise ValidationError("TTS produced 0 segments: the study text has no speakable line")
    casting = _cast(request, provider, segments)
    out_dir = request.out_dir
    clips = _plan_clips(
        segments, casting.voices, provider, request.mode, out_dir / CLIPS_DIR, request.dialogue
    )
    audio_hash = _audio_hash(request, clips, casting.voices)
    slug = slugify(request.student)
    path = out_dir / (f"{slug}-{audio_hash}.mp3" if slug else f"{audio_hash}.mp3")
    reusable = not force and _cached_file_ok(path, ".mp3")

    def result(duration: float | None, cached: bool) -> AudioResult:
        return AudioResult(
            path=path,
            hash=audio_hash,
            voices=casting.voices,
            duration_seconds=duration,
            segments=len(clips),
            cached=cached,
            mode=request.mode,
            provider=provider.name,
            dry_run=dry_run,
            voice_warnings=casting.warnings,
        )

    if dry_run:
        return result(None, reusable)
    tool = ffmpeg or Ffmpeg()
    if reusable:
        return result(tool.measure_duration(path), True)
    (out_dir / CLIPS_DIR).mkdir(parents=True, exist_ok=True)
    _synthesize(clips, concurrency=provider.concurrency, force=force)
    tool.assemble([clip.path for clip in clips], path, mix=request.mix, title=request.title or None)
    return result(tool.measure_duration(path), False)
