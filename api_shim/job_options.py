"""The job form's options (`GET /config/job-options`) and the preset check of `POST /jobs`, both
from the active config provider through `ConfigReader`."""

import logging
from typing import Final, get_args

from api_shim.config_source import CatalogVoice, ConfigReader, ConfigSnapshot, ConfigUnavailable
from api_shim.schemas import (
    JobDefaults,
    JobOptionsBody,
    NotionDatabaseOption,
    TtsMode,
    TtsProvider,
    UploadTarget,
    VoiceOption,
)
from esl_common.espeak_voices import espeak_voices

logger = logging.getLogger("api_shim.job_options")

# Without ELEVENLABS_API_KEY the pipeline speaks with espeak-ng, which can only use these voices.
ESPEAK_VOICES: Final[tuple[CatalogVoice, ...]] = tuple(
    CatalogVoice(
        id=voice.id, name=voice.name, category="espeak", accent=voice.accent, gender=voice.gender
    )
    for voice in espeak_voices()
)


class UnknownPreset(Exception):
    def __init__(self, preset: str, available: tuple[str, ...]) -> None:
        names = ", ".join(available) or "none"
        super().__init__(f'unknown preset "{preset}"; available: {names}')


def tts_provider(reader: ConfigReader) -> TtsProvider:
    return "elevenlabs" if reader.settings.elevenlabs_api_key is not None else "espeak"


def _voices(snapshot: ConfigSnapshot, provider: TtsProvider) -> list[VoiceOption]:
    catalog = snapshot.catalog if provider == "elevenlabs" else ESPEAK_VOICES
    return sorted(
        (
            VoiceOption(
                id=voice.id,
                name=voice.name,
                accent=voice.accent,
                gender=voice.gender,
                category=voice.category,
                provider=provider,
            )
            for voice in catalog
        ),
        key=lambda voice: (voice.name.casefold(), voice.id),
    )


def _notion_databases(snapshot: ConfigSnapshot) -> list[NotionDatabaseOption]:
    """Databases named by student profiles, one entry per id, sorted by name (as the original)."""
    found: dict[str, str] = {}
    for student in snapshot.students:
        if student.db_id and student.db_id not in found:
            found[student.db_id] = student.name
    options = [NotionDatabaseOption(id=db_id, name=name) for db_id, name in found.items()]
    return sorted(options, key=lambda option: option.name.casefold())


async def job_form_options(reader: ConfigReader) -> JobOptionsBody:
    """The options from the active provider; raises `ConfigUnavailable` when it cannot be read."""
    snapshot = await reader.read()
    provider = tts_provider(reader)
    voices = _voices(snapshot, provider)
    default = snapshot.default_student()
    return JobOptionsBody(
        presets=list(snapshot.presets),
        students=sorted((s.name for s in snapshot.students), key=str.casefold),
        voices=voices,
        voiceAccents=list(dict.fromkeys(v.accent for v in voices if v.accent)),
        modes=list(get_args(TtsMode)),
        uploadOptions=list(get_args(UploadTarget)),
        notionDatabases=_notion_databases(snapshot),
        ttsProvider=provider,
        configSource=reader.settings.provider,
        defaults=JobDefaults(
            preset=default.color_preset,
            withTts=False,
            mode=reader.settings.tts_mode,
            upload="auto",
            voiceAccent=default.accent_preference,
        ),
    )


async def check_preset(reader: ConfigReader, preset: str | None) -> None:
    """Raise `UnknownPreset` for a preset the config lacks.

    A config that cannot be read does not block a submission (the run reads the config again and
    reports the problem); it is logged.
    """
    if preset is None:
        return
    try:
        snapshot = await reader.read()
    except ConfigUnavailable as exc:
        logger.warning("preset not checked", extra={"fields": {"detail": str(exc)}})
        return
    if preset not in snapshot.presets:
        raise UnknownPreset(preset, snapshot.presets)
