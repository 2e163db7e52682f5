"""``esl run`` on an unchanged lesson answers from its record without loading the engine, and any
change of an input or an output runs the engine again.

Each call runs ``esl`` in a fresh interpreter (as a user does) and reports on stderr whether the
engine's runner was imported: ``ENGINE`` or ``LIGHT``.
"""

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from esl_dagster.pipeline.settings_variables import accepted_variables
from tests.conftest import LESSONS_DIR

SAMPLE = LESSONS_DIR / "01-monologue-narrator-fish-market.md"
PROBE = (
    "import sys\n"
    "from esl_dagster.pipeline.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "print('ENGINE' if 'esl_dagster.pipeline.runner' in sys.modules else 'LIGHT', file=sys.stderr)\n"
    "sys.exit(code)\n"
)


class Esl:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.env = {k: v for k, v in os.environ.items() if k not in accepted_variables()}
        self.env["ESL_DATA_DIR"] = str(folder / "data")

    def run(self, *args: str) -> tuple[str, str]:
        """(stdout, ENGINE|LIGHT) of ``esl run --md lesson.md ARGS``; fails on a non-zero exit."""
        done = subprocess.run(
            [sys.executable, "-c", PROBE, "run", "--md", "lesson.md", *args],
            cwd=self.folder,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout, done.stderr.strip().splitlines()[-1]


@pytest.fixture
def esl(tmp_path: Path) -> Esl:
    shutil.copy(SAMPLE, tmp_path / "lesson.md")
    return Esl(tmp_path)


def _without_run_id(output: str) -> str:
    return "\n".join(line for line in output.splitlines() if not line.startswith("Run:"))


def test_the_third_unchanged_run_is_answered_without_the_engine(esl: Esl) -> None:
    first, how_first = esl.run("--with-tts")
    second, how_second = esl.run("--with-tts")
    third, how_third = esl.run("--with-tts")

    assert (how_first, how_second, how_third) == ("ENGINE", "ENGINE", "LIGHT")
    assert "  manifest   success" in first
    assert _without_run_id(third) == _without_run_id(second)
    run_ids = {line for line in (second + third).splitlines() if line.startswith("Run:")}
    assert len(run_ids) == 2  # a new run id, as a run of the engine would print


def test_json_output_is_replayed_with_a_new_run_id(esl: Esl) -> None:
    esl.run("--json")
    second, _ = esl.run("--json")
    third, how = esl.run("--json")
    assert how == "LIGHT"
    assert third.count('"run_id"') == second.count('"run_id"') == 1
    assert third != second
    assert third.startswith('{\n  "command": "run"')


def _edit_lesson(esl: Esl) -> None:
    lesson = esl.folder / "lesson.md"
    lesson.write_text(lesson.read_text() + "\n<!-- edited -->\n")


def _set_variable(esl: Esl) -> None:
    esl.env["ESL_LOG_FORMAT"] = "text"


def _add_config_file(esl: Esl) -> None:
    (esl.folder / "configs").mkdir()
    (esl.folder / "configs" / "notes.txt").write_text("a teacher's note")


def _write_dotenv(esl: Esl) -> None:
    (esl.folder / ".env").write_text("ESL_LOG_LEVEL=debug\n")


def _touch_manifest(esl: Esl) -> None:
    manifest = esl.folder / "lesson.manifest.json"
    manifest.write_text(manifest.read_text())
    os.utime(manifest, ns=(1, 1))


def _remove_preview(esl: Esl) -> None:
    (esl.folder / "lesson.notion-preview.json").unlink()


@pytest.mark.parametrize(
    "change",
    [
        _edit_lesson,
        _set_variable,
        _add_config_file,
        _write_dotenv,
        _touch_manifest,
        _remove_preview,
    ],
)
def test_a_change_of_any_input_or_output_runs_the_engine(
    esl: Esl, change: Callable[[Esl], None]
) -> None:
    esl.run()
    esl.run()
    assert esl.run()[1] == "LIGHT"

    change(esl)

    assert esl.run()[1] == "ENGINE"


def test_a_missing_mp3_is_built_again(esl: Esl) -> None:
    esl.run("--with-tts")
    esl.run("--with-tts")
    audio = next((esl.folder / "data" / "audio").glob("*.mp3"))
    audio.unlink()

    output, how = esl.run("--with-tts")

    assert how == "ENGINE"
    assert audio.is_file()
    assert "  tts        success" in output


@pytest.mark.parametrize(
    "flags",
    [("--log",), ("--force",), ("--dry-run",), ("--run-id", "r-1"), ("--accent", "british")],
)
def test_other_flags_or_calls_run_the_engine(esl: Esl, flags: tuple[str, ...]) -> None:
    esl.run()
    esl.run()
    assert esl.run(*flags)[1] == "ENGINE"
