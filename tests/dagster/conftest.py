"""Fixtures shared by the Dagster tests."""

import pytest

from esl_dagster.pipeline.lesson.source import LessonBytes, LessonReader, LessonSource


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
