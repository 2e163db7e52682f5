"""``esl validate`` and ``esl extract``: output shape and exit codes."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from esl_dagster.pipeline.cli import main
from tests.conftest import INVALID_LESSON, LESSONS_DIR, VALID_LESSONS
from tests.lesson.lessons import with_study_text


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_validate_valid_file_human_output(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "validate", str(VALID_LESSONS[0]))
    assert code == 0
    assert out.startswith("✔ Validation passed\n")
    assert "  student: Marisol" in out


def test_validate_invalid_file_human_output(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "validate", str(INVALID_LESSON))
    assert code == 1
    assert "✖ Errors (10):" in out
    assert "Warnings (3):" in out
    assert (
        '  • study-text line 4: unknown speaker "Grandpa". Allowed: [Mia, Leo]. (file line 59)'
        in out
    )


def test_validate_folder_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "validate", "--json", str(LESSONS_DIR))
    assert code == 1
    reports = json.loads(out)
    assert [Path(r["path"]).name for r in reports] == sorted(
        p.name for p in LESSONS_DIR.glob("*.md")
    )
    assert [r["ok"] for r in reports] == [True] * 5 + [False]
    for report in reports:
        assert set(report) == {"path", "ok", "errors", "warnings"}
        for item in report["errors"] + report["warnings"]:
            assert set(item) == {"code", "message", "line"}
    assert reports[-1]["errors"][0] == {
        "code": "headings.input_material",
        "message": 'H2 #3 mismatch. Expected to start with "3. input material", '
        'found: "3. listening material: weather report"',
        "line": 54,
    }


def test_validate_strict_fails_on_warnings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fm = "\n".join(
        line
        for line in with_study_text(":::study-text\nShort.\n:::").split("\n")
        if "speaker_labels" not in line
    )
    path = tmp_path / "short.md"
    path.write_text(fm, encoding="utf-8")
    assert run(capsys, "validate", str(path))[0] == 0
    code, out, _ = run(capsys, "validate", "--strict", "--json", str(path))
    assert code == 1
    report = json.loads(out)[0]
    assert [e["code"] for e in report["errors"]] == ["study_text.short"]


def test_validate_missing_path_exits_2_and_still_reports(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = run(
        capsys, "validate", "--json", str(VALID_LESSONS[0]), str(tmp_path / "nope.md")
    )
    assert code == 2
    reports = json.loads(out)
    assert reports[0]["ok"] is True
    assert reports[1]["errors"][0]["code"] == "file.unreadable"


def test_validate_empty_folder_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run(capsys, "validate", "--json", str(tmp_path))
    assert code == 2
    assert json.loads(out) == []
    assert "no *.md files" in err


def test_validate_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["validate"])
    assert exc.value.code == 2


def test_validate_folder_recurses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    shutil.copy(VALID_LESSONS[1], nested / "lesson.md")
    (tmp_path / "notes.txt").write_text("not a lesson", encoding="utf-8")
    code, out, _ = run(capsys, "validate", "--json", str(tmp_path))
    assert code == 0
    assert [Path(r["path"]).name for r in json.loads(out)] == ["lesson.md"]


def test_extract_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "extract", "--json", str(VALID_LESSONS[3]))
    assert code == 0
    data = json.loads(out)
    assert data["study_text"]["type"] == "dialogue"
    assert data["study_text"]["lines"][0] == {
        "speaker": "Nina",
        "text": "So, are we really going to sleep in a tent this weekend?",
        "raw": "[Nina]: So, are we really going to sleep in a tent this weekend?",
    }
    assert data["meta"]["student"] == "Катя"
    assert len([s for s in data["sections"] if s["depth"] == 2]) == 9


def test_extract_without_study_text_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "nostudy.md"
    path.write_text(with_study_text("No block here."), encoding="utf-8")
    code, out, err = run(capsys, "extract", "--json", str(path))
    assert code == 1
    assert out == ""
    assert err.strip() == f"esl: {path}: study-text block not found"


def test_extract_unreadable_path_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "extract", "--json", str(tmp_path / "nope.md"))
    assert code == 2
    assert "File not found" in err


def test_console_script_runs_as_a_process() -> None:
    exe = Path(sys.executable).parent / "esl"
    completed = subprocess.run(
        [str(exe), "validate", "--json", str(INVALID_LESSON)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 1
    assert json.loads(completed.stdout)[0]["ok"] is False
    assert completed.stderr == ""


def test_extract_human_summary(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "extract", str(VALID_LESSONS[3]))
    assert code == 0
    assert "study text: dialogue, 6 lines" in out
    assert "  Aunt Rosa: Good plan. But we're going to check the weather first." in out
    assert "answer key: found" in out


def test_extract_non_utf8_file_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "latin1.md"
    path.write_bytes("Caf\xe9".encode("latin-1"))
    code, out, err = run(capsys, "extract", "--json", str(path))
    assert (code, out) == (1, "")
    assert "not valid UTF-8" in err


@pytest.mark.parametrize("command", [["validate", "--json"], ["extract"]])
def test_output_to_a_closed_pipe_ends_quietly(command: list[str]) -> None:
    """``esl ... | head``: the reader is gone before esl writes; no traceback, exit 141."""
    exe = Path(sys.executable).parent / "esl"
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        completed = subprocess.run(
            [str(exe), *command, str(VALID_LESSONS[0])],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)
    assert completed.returncode == 141
    assert completed.stderr == ""
