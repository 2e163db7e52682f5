"""Inputs that cannot be validated as text each give one ``file.*`` finding, never an exception."""

import time
from pathlib import Path

import pytest

from esl_dagster.pipeline.lesson.models import Finding
from esl_dagster.pipeline.lesson.reader import (
    DEFAULT_MAX_BYTES,
    MAX_LINE_CHARS,
    MAX_LINES,
    read_lesson_bytes,
    read_lesson_file,
)
from esl_dagster.pipeline.lesson.validator import validate_file, validate_text
from tests.conftest import VALID_LESSONS
from tests.lesson.lessons import make_lesson


def test_reads_utf8_with_or_without_bom() -> None:
    text = make_lesson()
    assert read_lesson_bytes(text.encode()) == text
    assert read_lesson_bytes(b"\xef\xbb\xbf" + text.encode()) == text


@pytest.mark.parametrize("data", [b"", b"  \n\t\n", b"\xef\xbb\xbf"], ids=["empty", "blank", "bom"])
def test_empty_file(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "empty.md"
    path.write_bytes(data)
    result = validate_file(path)
    assert not result.ok
    assert [(f.code, f.message) for f in result.errors] == [("file.empty", "File is empty.")]


def test_non_utf8_bytes_name_the_offset_and_line() -> None:
    data = make_lesson().encode() + "\nCaf\xe9 au lait\n".encode("latin-1")
    finding = read_lesson_bytes(data)
    assert isinstance(finding, Finding)
    offset = data.index(b"\xe9")
    assert finding.code == "file.not_utf8"
    assert finding.line == data.count(b"\n", 0, offset) + 1
    assert f"invalid byte 0xe9 at byte offset {offset}" in finding.message


def test_non_utf8_offset_counts_a_leading_bom() -> None:
    finding = read_lesson_bytes(b"\xef\xbb\xbfab\xff")
    assert isinstance(finding, Finding)
    assert "byte offset 5" in finding.message


def test_ten_megabyte_file_is_rejected_quickly(tmp_path: Path) -> None:
    path = tmp_path / "huge.md"
    lesson = VALID_LESSONS[0].read_bytes()
    path.write_bytes(lesson * (10 * 1024 * 1024 // len(lesson) + 1))
    start = time.perf_counter()
    result = validate_file(path)
    elapsed = time.perf_counter() - start
    assert [f.code for f in result.errors] == ["file.too_large"]
    assert "limit 5.0 MB" in result.errors[0].message
    assert elapsed < 1.0


def test_ten_megabyte_text_is_rejected_by_validate_text() -> None:
    text = "x" * (10 * 1024 * 1024)
    assert [f.code for f in validate_text(text).errors] == ["file.too_large"]


def test_multibyte_text_is_measured_in_utf8_bytes() -> None:
    text = "é" * (DEFAULT_MAX_BYTES // 2 + 1)
    assert [f.code for f in validate_text(text).errors] == ["file.too_large"]
    assert isinstance(read_lesson_bytes(b"x" * 11, max_bytes=10), Finding)


def test_missing_and_unreadable_paths(tmp_path: Path) -> None:
    missing = read_lesson_file(tmp_path / "nope.md")
    assert isinstance(missing, Finding)
    assert missing.code == "file.unreadable"
    assert missing.message == f"File not found: {tmp_path / 'nope.md'}"
    folder = read_lesson_file(tmp_path)
    assert isinstance(folder, Finding)
    assert folder.code == "file.unreadable"


@pytest.mark.parametrize(
    ("text", "code", "line"),
    [
        ("```markdown\n" + "- a\n" * MAX_LINES + "```\n", "file.too_many_lines", None),
        ("```markdown\n" + "x\r" * MAX_LINES + "```\n", "file.too_many_lines", None),
        ("```markdown\n---\n## " + "[" * (MAX_LINE_CHARS + 1) + "\n```\n", "file.line_too_long", 3),
        ("a\n" * 5 + "*" * 2_000_000, "file.line_too_long", 6),
    ],
    ids=["lines", "cr-lines", "heading-of-brackets", "two-million-stars"],
)
def test_pathological_shapes_are_refused_before_parsing(
    text: str, code: str, line: int | None
) -> None:
    result = validate_text(text)
    (error,) = result.errors
    assert (error.code, error.line) == (code, line)
    assert "limit" in error.message
    assert read_lesson_bytes(text.encode()) == error


def test_the_largest_accepted_shape_is_validated_normally() -> None:
    lesson = make_lesson()
    padding = "\n".join("Practice line." for _ in range(MAX_LINES - lesson.count("\n") - 1))
    text = lesson.replace("Record yourself ordering.", "Record yourself ordering.\n" + padding)
    assert text.count("\n") + 1 == MAX_LINES
    assert validate_text(text).ok
