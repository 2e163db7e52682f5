"""Fixtures for the TTS tests: sample configs, the fake ElevenLabs server, providers, lessons."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from esl_dagster.pipeline.config.models import VoiceCatalog, VoicesMap
from esl_dagster.pipeline.lesson.extractor import extract_lesson
from esl_dagster.pipeline.lesson.models import LessonMeta, StudyLine, StudyText, StudyTextType
from esl_dagster.pipeline.settings.services import SpeechSettings
from esl_dagster.pipeline.tts.audio import Ffmpeg
from esl_dagster.pipeline.tts.elevenlabs import ElevenLabsProvider
from esl_dagster.pipeline.tts.espeak import EspeakProvider
from tests.conftest import CONFIGS_DIR
from tests.fakes.elevenlabs_server import FakeElevenLabs


def load_lesson(path: Path) -> tuple[StudyText, LessonMeta]:
    """Study text and front matter of a sample lesson, through the lesson extractor."""
    extraction = extract_lesson(path.read_text(encoding="utf-8"))
    assert extraction.study_text is not None and extraction.meta is not None
    return extraction.study_text, extraction.meta


def study(kind: StudyTextType, *pairs: tuple[str | None, str]) -> StudyText:
    """A StudyText built from (speaker, text) pairs."""
    return StudyText(
        type=kind,
        lines=[StudyLine(speaker=s, text=t, raw=f"{s}: {t}" if s else t) for s, t in pairs],
    )


@pytest.fixture(scope="session")
def catalog() -> VoiceCatalog:
    return VoiceCatalog.model_validate(
        json.loads((CONFIGS_DIR / "elevenlabs.voices.sample.json").read_text())
    )


@pytest.fixture(scope="session")
def sample_voices_map() -> VoicesMap:
    raw = yaml.safe_load((CONFIGS_DIR / "voices.yml").read_text())
    speakers = {k: v for k, v in raw.items() if k not in ("auto", "default")}
    return VoicesMap(auto=raw["auto"], default=raw["default"], speakers=speakers)


@pytest.fixture(scope="session")
def ffmpeg() -> Ffmpeg:
    return Ffmpeg()


@pytest.fixture(scope="session")
def espeak() -> EspeakProvider:
    return EspeakProvider()


@pytest.fixture
def fake() -> Iterator[FakeElevenLabs]:
    with FakeElevenLabs() as server:
        yield server


class SleepLog:
    """A ``sleep`` stand-in that records the requested delays (keeps retry tests fast)."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def sleeps() -> SleepLog:
    return SleepLog()


@pytest.fixture
def eleven(fake: FakeElevenLabs, sleeps: SleepLog) -> Iterator[ElevenLabsProvider]:
    with ElevenLabsProvider(
        SpeechSettings(
            api_key="test-key",
            base_url=fake.base_url,
            timeout_seconds=5,
            max_retries=3,
            concurrency=4,
        ),
        sleep=sleeps,
    ) as provider:
        yield provider
