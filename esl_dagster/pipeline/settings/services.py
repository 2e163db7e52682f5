"""Settings sections of the external services: Notion and speech (ElevenLabs, espeak-ng, ffmpeg).

Field names are the section's own (``notion.token``); the environment variables that set them are
listed once, in :mod:`esl_dagster.pipeline.settings_variables`.
"""

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator

from esl_dagster.pipeline.settings.choices import normalised_choice

TtsMode = Literal["auto", "dialogue", "monologue"]


def request_timeout(service: str, default: float) -> Any:
    """The field of the timeout of one HTTP request to ``service``."""
    return Field(default, gt=0, description=f"Timeout of one {service} HTTP request, in seconds.")


def request_retries(service: str) -> Any:
    """The field of the retries of one request to ``service``: its client is the call's one
    retry layer (``pipeline/retry_budget.py``), so a call that used them up is not retried again."""
    return Field(
        4,
        ge=0,
        description=f"Retries of one {service} request on 429/5xx/timeouts (honouring "
        "Retry-After); a call that used them up is not retried again by the op.",
    )


class NotionSettings(BaseModel):
    """The Notion REST API; without ``token`` imports run in preview mode (no network)."""

    token: SecretStr | None = Field(
        None,
        description="Notion integration token; when unset, imports run in preview mode (no network).",
    )
    base_url: str = Field("https://api.notion.com", description="Notion API base URL.")
    version: str = Field("2025-09-03", description="Notion-Version header.")
    db_id: str | None = Field(
        None,
        description="Default Notion database for lesson pages (a student profile's dbId wins).",
    )
    data_source_id: str | None = Field(
        None,
        description="Notion data source for lesson pages (skips data-source discovery).",
    )
    students_data_source_id: str | None = Field(
        None, description="Data source queried by Name to link the lesson page to its student."
    )
    timeout_seconds: float = request_timeout("Notion", 30.0)
    max_retries: int = request_retries("Notion")
    retry_delay_seconds: float = Field(
        0.35, ge=0, description="First backoff delay of those retries, doubled each time."
    )


class SpeechSettings(BaseModel):
    """ElevenLabs text-to-speech (without ``api_key``: espeak-ng) and the audio mix."""

    api_key: SecretStr | None = Field(
        None,
        description="ElevenLabs API key; when unset, speech uses the offline espeak-ng engine.",
    )
    base_url: str = Field("https://api.elevenlabs.io", description="ElevenLabs API base URL.")
    model_id: str = Field(
        "eleven_multilingual_v2",
        description="Model for monologues (dialogues always use eleven_v3).",
    )
    output_format: str = Field("mp3_22050_32", description="ElevenLabs output_format.")
    tts_mode: TtsMode = Field(
        "auto", description="TTS mode when a job gives none: auto, dialogue or monologue."
    )
    dialogue_language: str | None = Field(None, description="language_code for dialogue requests.")
    dialogue_stability: float | None = Field(
        None, ge=0, le=1, description="Stability (0..1) for dialogue requests."
    )
    dialogue_seed: int | None = Field(None, description="Seed for dialogue requests.")
    silence_tail_seconds: float = Field(
        0.4, ge=0, le=10, description="Silence appended after the last line, in seconds."
    )
    voices_path: Path | None = Field(
        None,
        description="Voice catalog file (default: elevenlabs.voices.json from the config folders).",
    )
    timeout_seconds: float = request_timeout("ElevenLabs", 120.0)
    max_retries: int = request_retries("ElevenLabs")
    concurrency: int = Field(
        4, ge=1, le=32, description="Lines synthesised in parallel within one lesson."
    )
    gap_seconds: float = Field(
        0.4, ge=0, le=10, description="Pause between spoken lines, in seconds."
    )
    ffmpeg_path: Path | None = Field(
        None, description="ffmpeg executable (default: the imageio-ffmpeg binary)."
    )

    @field_validator("tts_mode", mode="before")
    @classmethod
    def _lowercase(cls, value: object) -> object:
        return normalised_choice(value)
