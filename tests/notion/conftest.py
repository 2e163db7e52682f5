"""Fixtures for the Notion tests: a fake Notion server per test, a seeded workspace, a client."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from esl_dagster.pipeline.lesson.document import parse_document
from esl_dagster.pipeline.lesson.models import LessonMeta
from esl_dagster.pipeline.notion.client import NotionClient
from tests.fakes.notion_server import FakeNotion, Seeded, running_fake, seed_homework


def load_lesson(path: Path) -> tuple[LessonMeta, str]:
    """Front matter as LessonMeta (topic lists joined) and the body of a sample lesson."""
    document = parse_document(path.read_text(encoding="utf-8"))
    front = dict(document.front_matter)
    if isinstance(front.get("topic"), list):
        front["topic"] = ", ".join(str(t) for t in front["topic"])
    return LessonMeta.model_validate(front), document.body


@pytest.fixture
def fake() -> Iterator[FakeNotion]:
    yield from running_fake()


@pytest.fixture
def seeded(fake: FakeNotion) -> Seeded:
    return seed_homework(fake)


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(fake: FakeNotion, sleeps: list[float]) -> Iterator[NotionClient]:
    with NotionClient(fake.token, base_url=fake.base_url, sleep=sleeps.append, timeout=5.0) as c:
        yield c
