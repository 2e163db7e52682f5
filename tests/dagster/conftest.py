"""Fixtures shared by the Dagster tests."""

import shutil
from pathlib import Path

import pytest

from esl_dagster.pipeline.lesson.source import LessonBytes, LessonReader, LessonSource
from tests.conftest import VALID_LESSONS

# The variables that would switch a service from its embedded default to a real one.
SERVICE_VARIABLES = (
    "NOTION_TOKEN",
    "ELEVENLABS_API_KEY",
    "S3_BUCKET",
    "MINIO_ENABLED",
    "ESL_PIPELINE_MANIFEST_STORE",
    "ESL_PIPELINE_CONFIG_ENDPOINT",
)


def offline_services(monkeypatch: pytest.MonkeyPatch, cwd: Path) -> None:
    """Every service in its offline default, the pipeline's folder ``cwd``, whatever the
    environment of the test process holds."""
    for name in SERVICE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PIPELINE_CWD", str(cwd))


@pytest.fixture
def lesson(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A sample lesson in a lesson folder, every service in its offline default."""
    offline_services(monkeypatch, tmp_path)
    target = tmp_path / "lessons" / VALID_LESSONS[0].name
    target.parent.mkdir()
    shutil.copyfile(VALID_LESSONS[0], target)
    return target


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The lessons read through ``LessonReader.fetch`` (the one function that reads a job's
    lesson bytes), in order; the real read still happens."""
    seen: list[str] = []
    real_fetch = LessonReader.fetch

    def counting_fetch(self: LessonReader, source: LessonSource) -> LessonBytes:
        seen.append(source.md)
        return real_fetch(self, source)

    monkeypatch.setattr(LessonReader, "fetch", counting_fetch)
    return seen
