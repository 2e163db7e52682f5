"""One request object for speech: everything that shapes a lesson's audio, built once.

:class:`SpeechRequest` is frozen; :func:`~esl_dagster.pipeline.tts.builder.build_audio` takes it,
and its :meth:`~SpeechRequest.digest` is the ``tts`` stage's input hash, so a change to any field
(the lines, the mode after ``ELEVENLABS_TTS_MODE``, the voices, the provider, its model and output
format, the dialogue settings, the mix, the catalog, the output folder) rebuilds the audio, and
nothing outside it can.
"""

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from esl_dagster.pipeline.config.models import VoiceCatalog, VoicesMap
from esl_dagster.pipeline.lesson.models import LessonMeta, SpeakerProfile, StudyText
from esl_dagster.pipeline.tts.audio import MixSettings
from esl_dagster.pipeline.tts.modes import ResolvedMode, select_mode
from esl_dagster.pipeline.tts.provider import DialogueOptions, DialogueProvider, SpeechProvider


class ProviderShape(BaseModel):
    """What of the provider shapes the sound: engine, models, output format, dialogue settings
    (the job's options over the provider's configured defaults)."""

    model_config = ConfigDict(frozen=True)

    name: str
    model: str
    output_format: str
    dialogue_model: str | None = None
    dialogue_settings: dict[str, object] = Field(default_factory=dict)

    @classmethod
    def of(cls, provider: SpeechProvider, dialogue: DialogueOptions) -> "ProviderShape":
        if not isinstance(provider, DialogueProvider):
            return cls(
                name=provider.name, model=provider.model, output_format=provider.output_format
            )
        return cls(
            name=provider.name,
            model=provider.model,
            output_format=provider.output_format,
            dialogue_model=provider.dialogue_model,
            dialogue_settings=provider.dialogue_settings(dialogue),
        )


class SpeechRequest(BaseModel):
    """Everything that shapes one lesson's audio. ``student`` names the file; ``default_voice``
    and ``accent`` are the run's voice preferences (either may be a catalog voice name)."""

    model_config = ConfigDict(frozen=True)

    study_text: StudyText
    speaker_labels: list[str] = Field(default_factory=list)
    speaker_profiles: list[SpeakerProfile] = Field(default_factory=list)
    title: str = ""
    student: str = ""
    mode: ResolvedMode
    voices_map: VoicesMap
    catalog: VoiceCatalog
    default_voice: str | None = None
    accent: str | None = None
    dialogue: DialogueOptions = DialogueOptions()
    provider: ProviderShape
    mix: MixSettings = MixSettings()
    out_dir: Path

    def digest(self) -> str:
        """SHA-256 of every field (the ``tts`` stage's input hash)."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()


@dataclass(frozen=True)
class SpeechOptions:
    """A job's choices for its audio; None leaves the lesson's or the configured value.

    ``mode`` is the job's (auto, monologue or dialogue) and ``default_mode`` the configured one,
    both resolved against the study text; ``title`` and ``student`` default to the front
    matter's; ``default_voice`` and ``accent`` are the run's voice preferences.
    """

    mode: str | None = None
    default_mode: str | None = None
    mix: MixSettings = field(default_factory=MixSettings)
    dialogue: DialogueOptions = field(default_factory=DialogueOptions)
    default_voice: str | None = None
    accent: str | None = None
    title: str | None = None
    student: str | None = None


def speech_request(
    study_text: StudyText,
    meta: LessonMeta | None,
    *,
    provider: SpeechProvider,
    voices_map: VoicesMap,
    catalog: VoiceCatalog,
    out_dir: Path,
    options: SpeechOptions | None = None,
) -> SpeechRequest:
    """The request for a lesson's study text, shaped by the job's ``options`` (``out_dir`` is
    made absolute)."""
    options = options or SpeechOptions()
    title = options.title if options.title is not None else (meta.title if meta else "")
    student = options.student if options.student is not None else (meta.student if meta else "")
    return SpeechRequest(
        study_text=study_text,
        speaker_labels=(meta.speaker_labels or []) if meta else [],
        speaker_profiles=(meta.speaker_profiles or []) if meta else [],
        title=title.strip(),
        student=student or "",
        mode=select_mode(options.mode, study_text.type, options.default_mode),
        voices_map=voices_map,
        catalog=catalog,
        default_voice=options.default_voice,
        accent=options.accent,
        dialogue=options.dialogue,
        provider=ProviderShape.of(provider, options.dialogue),
        mix=options.mix,
        out_dir=out_dir.resolve(),
    )
