"""`esl submit` against a fake /jobs API over real HTTP on 127.0.0.1: upload, submit, follow the
event stream (also across a dropped connection, resumed with Last-Event-ID), fall back to polling
when the API has no stream, and end with each job's Notion URL or error and the exit code."""

import io
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from esl_dagster.pipeline.cli import main
from tests.conftest import VALID_LESSONS
from tests.fakes.jobs_api import FakeJobsApi

API_KEY = "client-key-0123456789"


@pytest.fixture
def api() -> Iterator[FakeJobsApi]:
    with FakeJobsApi(api_key=API_KEY) as server:
        yield server


@pytest.fixture
def lessons(tmp_path: Path) -> list[Path]:
    paths = []
    for name in ("mission.md", "podcast.md"):
        path = tmp_path / name
        shutil.copyfile(VALID_LESSONS[0], path)
        paths.append(path)
    return paths


def _submit(api: FakeJobsApi, *args: str | Path) -> int:
    return main(["submit", *map(str, args), "--api", api.url, "--api-key", API_KEY])


def test_follow_uploads_submits_and_ends_with_notion_urls(
    api: FakeJobsApi, lessons: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code = _submit(api, *lessons, "--follow")

    out = capsys.readouterr().out.splitlines()
    assert code == 0
    assert [request["withTts"] for request in api.submissions] == [False, False]
    assert set(api.uploads.values()) == {VALID_LESSONS[0].read_bytes()}
    finals = out[-2:]
    for lesson, final in zip(lessons, finals, strict=True):
        assert final.startswith(f"{lesson.name}: succeeded https://www.notion.so/")
    # Stage by stage: the line of a job shows its stages as they finish.
    assert any("validate ✓  import …" in line for line in out if line.startswith("mission.md"))
    assert api.job_requests == []  # followed by events only


def test_with_tts_is_sent_and_stages_are_not_skipped(
    api: FakeJobsApi, lessons: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert _submit(api, lessons[0], "--with-tts", "--follow") == 0
    assert api.submissions == [{"md": next(iter(api.uploads)), "withTts": True}]
    progress = capsys.readouterr().out
    assert "tts ✓" in progress and "tts -" not in progress


def test_a_failed_job_prints_its_error_and_exits_1(
    api: FakeJobsApi, lessons: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    failing = tmp_path / "will-fail.md"
    shutil.copyfile(VALID_LESSONS[1], failing)

    code = _submit(api, lessons[0], failing, "--follow")

    out = capsys.readouterr().out
    assert code == 1
    assert "will-fail.md: failed: import: Notion answered 400 (fake)" in out
    assert "mission.md: succeeded https://www.notion.so/" in out


def test_a_dropped_stream_is_resumed_without_gap_or_duplicate(
    api: FakeJobsApi, lessons: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    api.drop_stream_after = 3

    assert _submit(api, *lessons, "--follow") == 0

    first, second, *_ = api.stream_requests
    assert first["lastEventId"] is None
    assert second["lastEventId"] == "3"
    # Every event of the two jobs reached the client once, across both connections.
    assert api.streamed_ids == list(range(1, len(api.events) + 1))
    finals = [line for line in capsys.readouterr().out.splitlines() if "https://" in line]
    assert [line.split(":")[0] for line in finals] == ["mission.md", "podcast.md"]
    assert api.job_requests == []


def test_without_a_stream_the_jobs_are_polled(
    api: FakeJobsApi, lessons: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    api.events_status = 404

    assert _submit(api, *lessons, "--follow") == 0

    captured = capsys.readouterr()
    assert "following by polling" in captured.err
    assert api.job_requests
    assert captured.out.count(": succeeded https://www.notion.so/") == 2


def test_a_stream_that_keeps_ending_empty_falls_back_to_polling(
    api: FakeJobsApi, lessons: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    api.events_status = 200  # an empty body: the stream ends at once, every time

    assert _submit(api, lessons[0], "--follow") == 0

    assert len(api.stream_requests) == 3
    assert "following by polling" in capsys.readouterr().err
    assert api.job_requests


def test_without_follow_the_job_ids_are_printed(
    api: FakeJobsApi, lessons: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert _submit(api, *lessons) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split(": job ")[0] for line in out] == ["mission.md", "podcast.md"]
    assert {line.split(": job ")[1] for line in out} == set(api.jobs)


def test_a_wrong_key_is_one_line_and_exit_1(
    api: FakeJobsApi, lessons: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["submit", str(lessons[0]), "--api", api.url, "--api-key", "wrong"])
    err = capsys.readouterr().err
    assert code == 1
    assert err == "esl: mission.md: upload refused: HTTP 401: unauthorized (invalid_api_key)\n"


def test_unreachable_api_and_bad_paths(
    lessons: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeJobsApi() as gone:
        url = gone.url
    assert main(["submit", str(lessons[0]), "--api", url, "--follow"]) == 1
    assert capsys.readouterr().err.startswith(f"esl: mission.md: cannot reach the API at {url}")
    assert main(["submit", str(tmp_path / "missing.md"), "--api", url]) == 2
    assert "missing.md: not a file" in capsys.readouterr().err
    assert main(["submit", str(lessons[0]), "--api", "ftp://x"]) == 2


def test_help_does_not_import_the_client() -> None:
    probe = (
        "import sys; from esl_dagster.pipeline.cli import build_parser; build_parser(); "
        "print(any(name.startswith('esl_dagster.pipeline.cli.submit_') and "
        "name != 'esl_dagster.pipeline.cli.submit_commands' for name in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_progress_is_a_live_table(
    api: FakeJobsApi, lessons: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stdout", terminal)

    assert _submit(api, *lessons, "--follow") == 0

    screen = terminal.getvalue()
    assert "\x1b[" in screen  # drawn by rich's live display, not plain lines
    assert "lesson" in screen and "stages" in screen
    assert "mission.md: queued" not in screen
    assert screen.count(": succeeded https://www.notion.so/") == 2
