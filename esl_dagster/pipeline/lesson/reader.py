"""Turn a lesson file's bytes into text, or into a finding that says why that is impossible.

Nothing here raises on content or on a bad path: an empty file, bytes that are not UTF-8, a file
over the size limit, or a path that cannot be read each come back as one
:class:`~esl_dagster.pipeline.lesson.models.Finding`. The size check happens before the content is
read, so an oversized file is rejected in constant time.

Shape limits keep validation fast for any input: the CommonMark block parser costs tens of
microseconds per line, so a 5 MB file of one-character lines would take minutes. A lesson has a
few hundred lines of at most a few hundred characters; text with more than ``MAX_LINES`` lines or
a line longer than ``MAX_LINE_CHARS`` characters is refused before any parsing, in one linear
pass at C speed.
"""

import os
from pathlib import Path

from esl_dagster.pipeline.lesson.findings import Code, finding
from esl_dagster.pipeline.lesson.models import Finding

DEFAULT_MAX_BYTES = 5 * 1024 * 1024
MAX_LINES = 1_000
MAX_LINE_CHARS = 20_000


def too_large_finding(size: int, max_bytes: int) -> Finding:
    """The finding for a lesson of ``size`` bytes when at most ``max_bytes`` are accepted."""
    return finding(
        Code.FILE_TOO_LARGE,
        f"File is too large: {_megabytes(size)} (limit {_megabytes(max_bytes)}).",
    )


def check_text(text: str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Finding | None:
    """The finding for decoded text that is blank, larger than ``max_bytes`` UTF-8 bytes, or
    over the shape limits."""
    problem = check_size_and_shape(text, max_bytes=max_bytes)
    if problem is None and not text.lstrip("\ufeff").strip():
        return finding(Code.FILE_EMPTY, "File is empty.")
    return problem


def check_size_and_shape(text: str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Finding | None:
    """The finding for text over the size limit or the shape limits, else None."""
    if len(text) > max_bytes:
        return too_large_finding(len(text.encode("utf-8", errors="surrogatepass")), max_bytes)
    if len(text) * 4 > max_bytes:
        size = len(text.encode("utf-8", errors="surrogatepass"))
        if size > max_bytes:
            return too_large_finding(size, max_bytes)
    return check_shape(text)


def check_shape(text: str) -> Finding | None:
    """The finding for text with too many lines or a line that is too long, else None."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.count("\n") + 1
    if lines > MAX_LINES:
        return finding(
            Code.FILE_TOO_MANY_LINES,
            f"File has {lines:,} lines (limit {MAX_LINES:,}; a lesson has a few hundred). "
            "Split it into several lessons.",
        )
    if len(text) <= MAX_LINE_CHARS:
        return None
    longest = max(text.split("\n"), key=len)
    if len(longest) > MAX_LINE_CHARS:
        line = text.count("\n", 0, text.find(longest)) + 1
        return finding(
            Code.FILE_LINE_TOO_LONG,
            f"Line {line} has {len(longest):,} characters (limit {MAX_LINE_CHARS:,}). "
            "Break it into shorter lines or paragraphs.",
            line=line,
        )
    return None


def read_lesson_bytes(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> str | Finding:
    """Decode a lesson's bytes as UTF-8 (a leading BOM is allowed)."""
    if len(data) > max_bytes:
        return too_large_finding(len(data), max_bytes)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        offset = exc.start + (3 if data.startswith(b"\xef\xbb\xbf") else 0)
        line = data.count(b"\n", 0, offset) + 1
        return finding(
            Code.FILE_NOT_UTF8,
            f"File is not valid UTF-8: invalid byte 0x{data[offset]:02x} at byte offset {offset} "
            f"(line {line}). Save the lesson as UTF-8.",
            line=line,
        )
    problem = check_text(text, max_bytes=max_bytes)
    return text if problem is None else problem


def read_lesson_file(
    path: str | os.PathLike[str], *, max_bytes: int = DEFAULT_MAX_BYTES
) -> str | Finding:
    """Read and decode a lesson file; a missing or unreadable path becomes a finding."""
    target = Path(path)
    try:
        with target.open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > max_bytes:
                return too_large_finding(size, max_bytes)
            data = handle.read(max_bytes + 1)
    except FileNotFoundError:
        return finding(Code.FILE_UNREADABLE, f"File not found: {target.absolute()}")
    except IsADirectoryError:
        return finding(Code.FILE_UNREADABLE, f"Not a file: {target.absolute()}")
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        return finding(Code.FILE_UNREADABLE, f"Cannot read {target.absolute()}: {reason}")
    return read_lesson_bytes(data, max_bytes=max_bytes)


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"
