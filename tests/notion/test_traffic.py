"""Request counts against the fake Notion server: a first import of a 60-block lesson makes the
three calls it needs (schema, student, create), the manifest's page id is trusted and checked by
the call that uses it, and a rerun with nothing changed sends nothing."""

from pathlib import Path

from esl_dagster.pipeline.notion.blocks import markdown_to_blocks
from esl_dagster.pipeline.notion.client import NotionClient
from esl_dagster.pipeline.notion.import_progress import ImportProgress
from esl_dagster.pipeline.notion.live import LiveNotion
from esl_dagster.pipeline.notion.service_contract import (
    ImportRequest,
    LessonPage,
    NotionDefaults,
    RecordedImport,
    TargetChoice,
)
from tests.fakes.notion_server import FakeNotion, Seeded
from tests.notion.conftest import RecordingCheckpoint, sixty_block_lesson


def _lesson(seeded: Seeded, tmp_path: Path) -> LessonPage:
    meta, body = sixty_block_lesson()
    assert len(markdown_to_blocks(body)) == 60 and meta.student
    return LessonPage(
        md_path=str(tmp_path / "lesson.md"),
        lesson_key="traffic-lesson",
        meta=meta,
        body=body,
        target=TargetChoice(data_source_id=seeded.homework_ds),
    )


def _calls(fake_notion: FakeNotion) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in fake_notion.requests()]


def test_first_import_of_sixty_blocks_makes_three_calls(
    fake_notion: FakeNotion, seeded: Seeded, client: NotionClient, tmp_path: Path
) -> None:
    notion = LiveNotion(client, NotionDefaults())
    checkpoint = RecordingCheckpoint()
    effect = notion.import_lesson(
        ImportRequest(_lesson(seeded, tmp_path), RecordedImport(), checkpoint)
    )
    assert _calls(fake_notion) == [
        ("GET", f"/v1/data_sources/{seeded.homework_ds}"),
        ("POST", f"/v1/data_sources/{seeded.students_ds}/query"),
        ("POST", "/v1/pages"),
    ]
    assert effect.detail["studentLinked"] and checkpoint.creates == 1
    assert checkpoint.seen[-1].blocks_done == 60


def test_recorded_page_is_checked_by_the_update_that_uses_it(
    fake_notion: FakeNotion, seeded: Seeded, client: NotionClient, tmp_path: Path
) -> None:
    notion = LiveNotion(client, NotionDefaults())
    lesson = _lesson(seeded, tmp_path)
    first = notion.import_lesson(ImportRequest(lesson, RecordedImport(), RecordingCheckpoint()))
    assert first.page is not None and first.record is not None and first.record.progress
    page_id = first.page[0]
    progress = ImportProgress.from_dict(first.record.progress)
    recorded = RecordedImport(page_id=page_id, progress=progress)
    fake_notion.reset_log()
    notion.import_lesson(ImportRequest(lesson, recorded, RecordingCheckpoint()))
    # The schema is cached by the service; no lookup by key, the update proves the page exists.
    assert _calls(fake_notion) == [
        ("POST", f"/v1/data_sources/{seeded.students_ds}/query"),
        ("PATCH", f"/v1/pages/{page_id}"),
    ]
    fake_notion.reset_log()
    gone = RecordedImport(page_id="00000000-0000-4000-8000-00000000ffff")
    again = notion.import_lesson(ImportRequest(lesson, gone, RecordingCheckpoint()))
    assert again.page is not None and again.page[0] != page_id and again.detail["created"]
    # student query, the update answering 404, then the create: no separate existence check
    assert [call[0] for call in _calls(fake_notion)] == ["POST", "PATCH", "POST"]


def test_lesson_key_is_looked_up_only_after_a_create_whose_page_id_was_lost(
    fake_notion: FakeNotion, seeded: Seeded, client: NotionClient, tmp_path: Path
) -> None:
    notion = LiveNotion(client, NotionDefaults())
    lesson = _lesson(seeded, tmp_path)
    first = notion.import_lesson(ImportRequest(lesson, RecordedImport(), RecordingCheckpoint()))
    fake_notion.reset_log()
    adopted = notion.import_lesson(
        ImportRequest(lesson, RecordedImport(create_started=True), RecordingCheckpoint())
    )
    assert adopted.page == first.page and fake_notion.page_count(seeded.homework_ds) == 1
    key_queries = fake_notion.requests("POST", rf"/v1/data_sources/{seeded.homework_ds}/query")
    assert len(key_queries) == 1
