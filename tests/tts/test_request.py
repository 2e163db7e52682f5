"""The speech request: every field that shapes the audio changes its digest (the tts stage's input
hash), the mode resolves ``ELEVENLABS_TTS_MODE``, and an unchanged request is equal to itself."""

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError as PydanticValidationError

from esl_dagster.pipeline.config.models import VoiceCatalog, VoicesMap
from esl_dagster.pipeline.settings.services import SpeechSettings
from esl_dagster.pipeline.tts.audio import MixSettings
from esl_dagster.pipeline.tts.elevenlabs import ElevenLabsProvider
from esl_dagster.pipeline.tts.espeak import EspeakProvider
from esl_dagster.pipeline.tts.provider import DialogueOptions, SpeechProvider
from esl_dagster.pipeline.tts.request import SpeechOptions, SpeechRequest, speech_request
from tests.tts.conftest import study

LINES = study("dialogue", ("Alex", "Good morning."), ("Mara", "Morning! Coffee?"))


def request(
    provider: SpeechProvider,
    catalog: VoiceCatalog,
    *,
    voices_map: VoicesMap | None = None,
    out_dir: Path = Path("/audio"),
    **options: Any,
) -> SpeechRequest:
    return speech_request(
        LINES, None, provider=provider, voices_map=voices_map or VoicesMap(), catalog=catalog,
        out_dir=out_dir, options=SpeechOptions(**options),
    )  # fmt: skip


def test_every_field_that_shapes_the_audio_changes_the_digest(
    espeak: EspeakProvider, catalog: VoiceCatalog
) -> None:
    eleven = ElevenLabsProvider(SpeechSettings(api_key="key", base_url="http://127.0.0.1:9"))
    base = request(eleven, catalog)
    assert request(eleven, catalog).digest() == base.digest()
    smaller_catalog = VoiceCatalog(voices=catalog.voices[:2])
    variants = {
        "mode": request(eleven, catalog, mode="monologue"),
        "configured mode": request(eleven, catalog, default_mode="monologue"),
        "voices": request(eleven, catalog, voices_map=VoicesMap(default="Quinn")),
        "default voice": request(eleven, catalog, default_voice="Quinn"),
        "accent": request(eleven, catalog, accent="british"),
        "model": request(
            ElevenLabsProvider(SpeechSettings(api_key="key", model_id="eleven_turbo_v2_5")), catalog
        ),
        "format": request(
            ElevenLabsProvider(SpeechSettings(api_key="key", output_format="mp3_44100_128")),
            catalog,
        ),
        "dialogue model": request(
            ElevenLabsProvider(SpeechSettings(api_key="key"), dialogue_model_id="v4"), catalog
        ),
        "dialogue": request(eleven, catalog, dialogue=DialogueOptions(seed=7)),
        "gap": request(eleven, catalog, mix=MixSettings(gap_seconds=0.9)),
        "tail": request(eleven, catalog, mix=MixSettings(tail_seconds=1.5)),
        "provider": request(espeak, catalog),
        "catalog": request(eleven, smaller_catalog),
        "title": request(eleven, catalog, title="Another title"),
        "student": request(eleven, catalog, student="Someone Else"),
        "out": request(eleven, catalog, out_dir=Path("/elsewhere")),
    }
    unchanged = [name for name, variant in variants.items() if variant.digest() == base.digest()]
    assert unchanged == []
    # The job's mode and the configured one resolve to the same sound, so to the same request.
    assert variants["mode"] == variants["configured mode"]


def test_the_configured_mode_applies_only_when_the_job_gives_none(catalog: VoiceCatalog) -> None:
    eleven = ElevenLabsProvider(SpeechSettings(api_key="key", base_url="http://127.0.0.1:9"))
    assert request(eleven, catalog).mode == "dialogue"  # auto follows the lesson
    assert request(eleven, catalog, default_mode="monologue").mode == "monologue"
    assert request(eleven, catalog, mode="dialogue", default_mode="monologue").mode == "dialogue"


def test_the_request_is_frozen(espeak: EspeakProvider, catalog: VoiceCatalog) -> None:
    built = request(espeak, catalog)
    with pytest.raises(PydanticValidationError):
        built.title = "changed"  # type: ignore[misc]
