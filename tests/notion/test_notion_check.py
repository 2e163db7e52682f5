"""``esl notion check`` against the fake Notion server: read-only, each problem with its fix."""

import os
from pathlib import Path

import pytest

from esl_dagster.pipeline.cli import main
from tests.conftest import VALID_LESSONS
from tests.fakes.notion_server import FakeNotion, Seeded, seed_homework

ENV_PREFIXES = ("NOTION_", "ELEVENLABS_", "S3_", "AWS_", "MINIO_", "ESL_", "PG_", "PIPELINE_CWD")


@pytest.fixture
def env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fake_notion: FakeNotion
) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.startswith(ENV_PREFIXES):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NOTION_TOKEN", fake_notion.token)
    monkeypatch.setenv("NOTION_BASE_URL", fake_notion.base_url)
    return monkeypatch


def check(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(["notion", "check", *argv])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_a_complete_setup_passes_reading_only(
    env: pytest.MonkeyPatch,
    fake_notion: FakeNotion,
    seeded: Seeded,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake_notion.reset_log()
    env.setenv("NOTION_DB_ID", seeded.homework_db)
    code, out = check(capsys)
    assert code == 0 and "Notion is ready for imports." in out
    assert '"Lesson Key" (rich_text)' in out and '"Student" (relation)' in out
    assert {request.method for request in fake_notion.requests()} == {"GET"}
    code, out = check(capsys, "--data-source-id", seeded.homework_ds, "--md", str(VALID_LESSONS[0]))
    assert code == 0, out


def test_missing_and_mistyped_properties_are_named_with_their_fix(
    env: pytest.MonkeyPatch, fake_notion: FakeNotion, capsys: pytest.CaptureFixture[str]
) -> None:
    bare = seed_homework(fake_notion, topic_type="checkbox", key_property=False)
    code, out = check(capsys, "--data-source-id", bare.homework_ds)
    assert code == 1
    assert 'add a Text property named "Lesson Key"' in out
    assert '"Topic" is a Checkbox property: change its type to Multi-select' in out
    assert "2 problem(s) found" in out


def test_an_unshared_database_is_reported_with_how_to_share_it(
    env: pytest.MonkeyPatch, seeded: Seeded, capsys: pytest.CaptureFixture[str]
) -> None:
    del seeded
    code, out = check(capsys, "--db-id", "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9")
    assert code == 1 and "share the database with the integration" in out


def test_lesson_properties_missing_from_the_schema_are_problems(
    env: pytest.MonkeyPatch, seeded: Seeded, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    lesson = tmp_path / "lesson.md"
    text = VALID_LESSONS[0].read_text(encoding="utf-8")
    lesson.write_text(text.replace("title:", "properties:\n  Homework Week: 3\ntitle:", 1))
    code, out = check(capsys, "--data-source-id", seeded.homework_ds, "--md", str(lesson))
    assert code == 1 and '"Homework Week"' in out and "add a property" in out


def test_usage_errors_exit_2(
    env: pytest.MonkeyPatch, fake_notion: FakeNotion, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = check(capsys)
    assert code == 2 and "NOTION_DATA_SOURCE_ID" in out
    env.delenv("NOTION_TOKEN")
    code, out = check(capsys, "--db-id", "x")
    assert code == 2 and "NOTION_TOKEN" in out
    env.setenv("NOTION_TOKEN", "wrong-token")
    code, out = check(capsys, "--db-id", fake_notion.new_id())
    assert code == 1 and "refused the token (401)" in out
