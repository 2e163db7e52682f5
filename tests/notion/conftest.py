"""Fixtures for the Notion tests: a fake Notion server per test, a seeded workspace, a client."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from esl_dagster.pipeline.lesson.document import parse_document
from esl_dagster.pipeline.lesson.models import LessonMeta
from esl_dagster.pipeline.notion.blocks import markdown_to_blocks
from esl_dagster.pipeline.notion.client import NotionClient
from esl_dagster.pipeline.notion.import_progress import ImportProgress
from esl_dagster.pipeline.notion.importer import ImportResult, import_lesson
from esl_dagster.pipeline.notion.service_contract import (
    ImportRequest,
    LessonPage,
    NotionDefaults,
    RecordedImport,
    TargetChoice,
)
from esl_dagster.pipeline.notion.target import TargetIds
from tests.conftest import VALID_LESSONS
from tests.fakes.notion_server import FakeNotion


def load_lesson(path: Path) -> tuple[LessonMeta, str]:
    """Front matter as LessonMeta (topic lists joined) and the body of a sample lesson."""
    document = parse_document(path.read_text(encoding="utf-8"))
    front = dict(document.front_matter)
    if isinstance(front.get("topic"), list):
        front["topic"] = ", ".join(str(t) for t in front["topic"])
    return LessonMeta.model_validate(front), document.body


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(fake_notion: FakeNotion, sleeps: list[float]) -> Iterator[NotionClient]:
    with NotionClient(
        fake_notion.token, base_url=fake_notion.base_url, sleep=sleeps.append, timeout=5.0
    ) as c:
        yield c


def lesson_page(
    meta: LessonMeta,
    body: str,
    *,
    md_path: Path = Path("/lessons/lesson.md"),
    defaults: NotionDefaults = NotionDefaults(),
) -> LessonPage:
    """The lesson as the Notion service receives it (no explicit target: the defaults)."""
    return LessonPage(
        md_path=str(md_path),
        lesson_key="lesson-key",
        meta=meta,
        body=body,
        target=TargetChoice(defaults=defaults),
    )


class RecordingCheckpoint:
    """An import checkpoint that keeps what it is told (the pipeline writes the manifest)."""

    def __init__(self) -> None:
        self.creates = 0
        self.seen: list[ImportProgress] = []

    def create_started(self) -> None:
        self.creates += 1

    def progress(self, progress: ImportProgress) -> None:
        self.seen.append(progress)


def direct_import(
    client: NotionClient,
    meta: LessonMeta,
    body: str,
    target: TargetIds,
    *,
    key: str = "k",
    page_id: str | None = None,
    progress: ImportProgress | None = None,
    checkpoint: RecordingCheckpoint | None = None,
) -> ImportResult:
    """``import_lesson`` called directly with ``page_id`` and ``progress`` recorded and a create
    possibly started (so the lesson key is looked up when no page is known)."""
    choice = TargetChoice(data_source_id=target.data_source_id, database_id=target.database_id)
    page = LessonPage(md_path="lesson.md", lesson_key=key, meta=meta, body=body, target=choice)
    recorded = RecordedImport(page_id, progress, create_started=True)
    request = ImportRequest(page, recorded, checkpoint or RecordingCheckpoint())
    return import_lesson(client, request, NotionDefaults())


def sixty_block_lesson() -> tuple[LessonMeta, str]:
    """Sample lesson 05 padded with practice lines to exactly 60 top-level blocks."""
    meta, body = load_lesson(VALID_LESSONS[4])
    count = len(markdown_to_blocks(body))
    extra = "\n".join(f"Extra practice line {i}." for i in range(60 - count))
    return meta, body + "\n\n" + extra
