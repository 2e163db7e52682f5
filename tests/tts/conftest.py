"""Fixtures for the TTS tests: sample configs, the fake ElevenLabs server, providers, lessons."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from esl_dagster.pipeline.config.models import VoiceCatalog, VoicesMap
from esl_dagster.pipeline.lesson.document import parse_document
from esl_dagster.pipeline.lesson.front_matter import check_front_matter
from esl_dagster.pipeline.lesson.models import LessonMeta, StudyLine, StudyText
from esl_dagster.pipeline.lesson.speakers import match_speaker_line
from esl_dagster.pipeline.tts.audio import Ffmpeg
from esl_dagster.pipeline.tts.elevenlabs import ElevenLabsProvider
from esl_dagster.pipeline.tts.espeak import EspeakProvider
from tests.conftest import CONFIGS_DIR
from tests.fakes.elevenlabs_server import FakeElevenLabs


def load_lesson(path: Path) -> tuple[StudyText, LessonMeta]:
    """Study text and front matter of a sample lesson (test-only, until the extractor lands)."""
    document = parse_document(path.read_text(encoding="utf-8"))
    _, meta = check_front_matter(document.front_matter)
    assert meta is not None
    body = document.body.splitlines()
    start = next(i for i, line in enumerate(body) if line.lower().startswith(":::study-text"))
    end = next(i for i in range(start + 1, len(body)) if body[i].strip() == ":::")
    lines: list[StudyLine] = []
    for raw in (line.strip() for line in body[start + 1 : end]):
        if not raw:
            continue
        match = match_speaker_line(raw)
        if match is not None:
            lines.append(StudyLine(speaker=match.name, text=match.text, raw=raw))
        else:
            previous = lines[-1].speaker if lines else None
            lines.append(StudyLine(speaker=previous, text=raw, raw=raw))
    kind = "dialogue" if sum(1 for ln in lines if match_speaker_line(ln.raw)) >= 2 else "monologue"
    return StudyText(type=kind, lines=lines), meta


def study(kind: str, *pairs: tuple[str | None, str]) -> StudyText:
    """A StudyText built from (speaker, text) pairs."""
    return StudyText(
        type=kind,  # type: ignore[arg-type]
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
        "test-key", base_url=fake.base_url, timeout=5, max_retries=3, concurrency=4, sleep=sleeps
    ) as provider:
        yield provider
