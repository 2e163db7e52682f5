"""Build the MP3 a :class:`~esl_dagster.pipeline.tts.request.SpeechRequest` describes: cast voices,
synthesise (cached) and assemble while the clips arrive (:mod:`.synthesis`).

Cache layout in ``out_dir`` (by default the data folder's ``audio/``, not the lesson folder): the
final file is ``<student-slug>-<hash>.mp3`` where the hash covers everything that shapes the output (text, voices, provider, model, output format, mode, dialogue
settings, gap, sample rate, bitrate, loudness, title); per-line (or per-dialogue-chunk) clips live
in ``out_dir/.clips/<clip-hash>.<ext>`` so an interrupted build resumes without paying twice.
Every file is written under a temporary name and renamed, so the cache never holds a partial one.
"""

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from anyascii import anyascii
from pydantic import BaseModel

from esl_dagster.pipeline.errors import ValidationError
from esl_dagster.pipeline.tts.audio import Ffmpeg
from esl_dagster.pipeline.tts.modes import ResolvedMode
from esl_dagster.pipeline.tts.provider import (
    DialogueLine,
    DialogueOptions,
    DialogueProvider,
    SpeechProvider,
)
from esl_dagster.pipeline.tts.request import SpeechRequest
from esl_dagster.pipeline.tts.segments import Segment, order_speakers, plan_segments
from esl_dagster.pipeline.tts.synthesis import Clip, cached_file_ok, synthesize_into
from esl_dagster.pipeline.tts.voices import (
    VoiceAssignment,
    assign_voices,
    describe_unusable,
    resolve_voice_preferences,
    summarize_voice_selections,
)

CLIPS_DIR = ".clips"
_CACHE_VERSION = 1


class LessonAudio(BaseModel):
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


def slugify(value: str | None) -> str:
    """ASCII slug of any script, transliterated ("José" -> "jose", "Анна" -> "anna"); runs of
    other characters -> ``-``."""
    ascii_only = anyascii(value or "").lower()
    slug = "".join(ch if ch.isascii() and ch.isalnum() else "-" for ch in ascii_only)
    return "-".join(part for part in slug.split("-") if part)


def _digest(payload: object) -> str:
    encoded = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return hashlib.sha256(encoded.encode()).hexdigest()


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
) -> list[Clip]:
    lines = [DialogueLine(seg.text, _voice_for(seg, voices)) for seg in segments]
    if mode == "dialogue" and isinstance(provider, DialogueProvider):
        dialogue = provider
        clips: list[Clip] = []
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
            clips.append(Clip(key, path, render))
        return clips
    result: list[Clip] = []
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
        result.append(Clip(key, path, partial(provider.synthesize_line, line.text, line.voice_id)))
    return result


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


def _audio_hash(request: SpeechRequest, clips: list[Clip], voices: list[VoiceAssignment]) -> str:
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
) -> LessonAudio:
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
    reusable = not force and cached_file_ok(path, ".mp3")

    def result(duration: float | None, cached: bool) -> LessonAudio:
        return LessonAudio(
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
    duration = synthesize_into(
        clips, path, concurrency=provider.concurrency, force=force, ffmpeg=tool, mix=request.mix,
        title=request.title or None,
    )  # fmt: skip
    return result(duration, False)
