"""Line-based scans of the ``:::`` directives (S, M, L, C, Y, T rules).

Directives are not Markdown, so they are found line by line, as the original did (that is also
why they work inside list items). One :class:`BodyLines` per body holds the lines, their trimmed
forms and, from a single stack pass, the closing line of every container opener; every scan here
is linear in the body length.

Line numbers in messages are 1-based body lines (line 1 follows the closing front-matter ``---``);
``Finding.line`` is the file line (see ``findings.py``).

Two duplicates of the original are removed: an unclosed column list is reported once (the
original reported it from both of its passes), and a column list without any ``:::column`` gets
only the L2 message (the original added the L3 message for the same problem).
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass

from esl_dagster.pipeline.lesson.findings import Code, finding
from esl_dagster.pipeline.lesson.models import Finding

# Trimmed lines starting with one of these open a nesting level; a trimmed ":::" closes one.
STUDY_TEXT_MARKER = ":::study-text"
NESTING_OPENERS = (":::column", ":::callout", ":::toggle-", STUDY_TEXT_MARKER, ":::synced-block")
CLOSER = ":::"
# The study-text opener, the one definition the validator, the extractor and the Notion block
# builder share: ``:::study-text`` at column 1, any case, not followed by a name character
# (``:::study-textual`` and ``:::study-text-x`` are other words); the rest is an inline label.
STUDY_TEXT_OPENER_RE = re.compile(
    re.escape(STUDY_TEXT_MARKER) + r"(?![A-Za-z0-9_-])(?P<label>.*)", re.IGNORECASE
)

# The openers of the two toggles every lesson has (rules M1/M2), matched case-insensitively: the
# validator looks for them anywhere in the body, the extractor reads the toggle whose line starts
# with one.
ANSWER_KEY_OPENER = r":::toggle-(?:heading|h2)\s+answer\s+key"
TEACHER_PLAN_OPENER = r":::toggle-(?:heading|h2|h3)\s+teacher['\u2018\u2019]s\s+follow-up\s+plan"
_ANSWER_KEY_RE = re.compile(ANSWER_KEY_OPENER, re.IGNORECASE)
_TEACHER_PLAN_RE = re.compile(TEACHER_PLAN_OPENER, re.IGNORECASE)
_STUDY_INDENTED_RE = re.compile(r"\s+" + re.escape(STUDY_TEXT_MARKER), re.IGNORECASE)
_COLUMN_CLOSER_RE = re.compile(r":::[ \t]*")
_INDENTED_CLOSER_RE = re.compile(r"\s+:::\s*")
_SEPARATOR_CELL_RE = re.compile(r"[-:]+")


def study_text_label(line: str) -> str | None:
    """The inline label of a study-text opener line (``""`` without one); ``None`` when the line
    opens no study text."""
    opener = STUDY_TEXT_OPENER_RE.match(line)
    return None if opener is None else opener.group("label").strip()


class BodyLines:
    """The body split into lines, with trimmed forms and matched container closers.

    ``first_file_line`` is the file line of body line 1, used to turn 0-based indexes into
    file lines.
    """

    def __init__(self, body: str, first_file_line: int) -> None:
        self.lines = body.split("\n")
        self.trimmed = [line.strip() for line in self.lines]
        # Directive names match in any case, as the block builder reads them (``:::Callout``
        # is a callout there, so it is checked as one here).
        self.folded = [text.lower() for text in self.trimmed]
        self.first_file_line = first_file_line
        self.closers: dict[int, int] = {}
        self._column_lines_before = [0]
        stack: list[int] = []
        for index, text in enumerate(self.folded):
            is_column = text.startswith(":::column")
            self._column_lines_before.append(self._column_lines_before[-1] + is_column)
            if text.startswith(NESTING_OPENERS):
                stack.append(index)
            elif text == CLOSER and stack:
                self.closers[stack.pop()] = index

    def file_line(self, index: int) -> int:
        """The file line of the 0-based body line ``index``."""
        return self.first_file_line + index

    def closer_of(self, index: int) -> int | None:
        """The line that closes the container opened on line ``index``, counting nesting."""
        return self.closers.get(index)

    def has_column_between(self, start: int, end: int) -> bool:
        """Whether a trimmed line in ``start..end`` (exclusive) starts with ``:::column``."""
        return self._column_lines_before[end] - self._column_lines_before[start] > 0


@dataclass(frozen=True)
class StudyBlock:
    """The first ``:::study-text`` block as the validator sees it.

    ``marker`` and ``closer`` are 0-based body lines; ``lines`` are the lines of the trimmed
    study body (study line 1 = first non-blank line after the marker), which starts on body line
    ``first``.
    """

    marker: int
    closer: int
    first: int
    lines: list[str]


def find_markers(body: str) -> list[Finding]:
    """Rules M1/M2: the Answer Key and Teacher's Follow-up Plan toggles must exist somewhere."""
    findings = []
    if _ANSWER_KEY_RE.search(body) is None:
        findings.append(
            finding(
                Code.MARKER_ANSWER_KEY,
                'Missing marker: ":::toggle-heading Answer Key" or ":::toggle-h2 Answer Key"',
            )
        )
    if _TEACHER_PLAN_RE.search(body) is None:
        findings.append(
            finding(
                Code.MARKER_TEACHER_PLAN,
                'Missing marker: ":::toggle-heading Teacher\'s Follow-up Plan" or '
                '":::toggle-h2/h3 Teacher\'s Follow-up Plan"',
            )
        )
    return findings


def locate_study_text(body: BodyLines) -> StudyBlock | Finding:
    """Rules S1-S5: find the first study-text block (marker and closer at column 1)."""
    marker = next(
        (i for i, line in enumerate(body.lines) if STUDY_TEXT_MARKER in line.lower()),
        None,
    )
    if marker is None:
        return finding(Code.STUDY_TEXT_MISSING, 'Missing ":::study-text ... :::" block.')
    line = body.lines[marker]
    if _STUDY_INDENTED_RE.match(line):
        return finding(
            Code.STUDY_TEXT_INDENTED_MARKER,
            f'Line {marker + 1}: study-text marker must start at column 1 with ":::study-text".',
            body.file_line(marker),
        )
    if study_text_label(line) is None:
        return finding(
            Code.STUDY_TEXT_MALFORMED_MARKER,
            f'Line {marker + 1}: malformed study-text marker. Use ":::study-text" '
            "(case-insensitive) on its own line.",
            body.file_line(marker),
        )
    for index in range(marker + 1, len(body.lines)):
        candidate = body.lines[index]
        if _COLUMN_CLOSER_RE.fullmatch(candidate):
            return _study_block(body, marker, index)
        if _INDENTED_CLOSER_RE.fullmatch(candidate):
            return finding(
                Code.STUDY_TEXT_INDENTED_CLOSER,
                f'Line {index + 1}: study-text closing marker must be ":::" with no leading spaces.',
                body.file_line(index),
            )
    return _container_finding(body, Code.STUDY_TEXT_UNCLOSED, marker)


def check_containers(body: BodyLines) -> list[Finding]:
    """Rules L, C, Y and T, in the original's two passes (column lists first, then the rest)."""
    findings = list(_column_list_pass(body))
    reported_unclosed = {f.line for f in findings if f.code == Code.COLUMN_LIST_UNCLOSED}
    for item in _container_pass(body):
        if item.code == Code.COLUMN_LIST_UNCLOSED and item.line in reported_unclosed:
            continue
        findings.append(item)
    return findings


def _study_block(body: BodyLines, marker: int, closer: int) -> StudyBlock:
    first = marker + 1
    while first < closer and not body.trimmed[first]:
        first += 1
    last = closer
    while last > first and not body.trimmed[last - 1]:
        last -= 1
    lines = body.lines[first:last]
    if lines:
        lines[0] = lines[0].lstrip()
        lines[-1] = lines[-1].rstrip()
    return StudyBlock(marker=marker, closer=closer, first=first, lines=lines)


def _column_list_pass(body: BodyLines) -> Iterator[Finding]:
    """Pass A: every column list must be closed and hold at least one ``:::column``."""
    for index, text in enumerate(body.folded):
        if not text.startswith(":::column-list"):
            continue
        closer = body.closer_of(index)
        if closer is None:
            yield _container_finding(body, Code.COLUMN_LIST_UNCLOSED, index)
            return
        if not body.has_column_between(index + 1, closer):
            yield _container_finding(body, Code.COLUMN_LIST_NO_COLUMN, index)


def _container_pass(body: BodyLines) -> Iterator[Finding]:
    """Pass B: callouts, column lists, synced blocks and tables, top to bottom.

    A checked container is skipped as a whole (tables inside it are not checked); an unclosed
    one ends the pass.
    """
    index = 0
    count = len(body.trimmed)
    while index < count:
        text = body.trimmed[index]
        if text.startswith("|"):
            end = index
            while end < count and body.trimmed[end].startswith("|"):
                end += 1
            yield from _check_table(body, index, end)
            index = end
            continue
        folded = body.folded[index]
        kind = next(
            (
                k
                for k in (":::callout", ":::column-list", ":::synced-block")
                if folded.startswith(k)
            ),
            None,
        )
        if kind is None:
            index += 1
            continue
        closer = body.closer_of(index)
        if closer is None:
            yield _unclosed(body, kind, index)
            return
        inner = body.trimmed[index + 1 : closer]
        argument = text[len(kind) :].strip()
        if kind == ":::callout":
            yield from _check_callout(body, index, argument, inner)
        elif kind == ":::column-list":
            yield from _check_columns(body, index, inner)
        elif not argument and not any(inner):
            yield _container_finding(body, Code.SYNCED_BLOCK_EMPTY, index)
        index = closer + 1


# The findings about a container (or table), as "<what> starting at line {line} ...": ``{line}``
# is the 1-based body line of its first line; other fields are given by the caller.
_CONTAINER_MESSAGES = {
    Code.STUDY_TEXT_UNCLOSED: (
        'study-text block starting at line {line} is missing a closing ":::" on its own line.'
    ),
    Code.COLUMN_LIST_UNCLOSED: (
        'column-list starting at line {line} is missing a closing ":::" after its contents.'
    ),
    Code.COLUMN_LIST_NO_COLUMN: (
        'column-list starting at line {line} must contain at least one ":::column" section.'
    ),
    Code.COLUMN_LIST_EMPTY_COLUMN: (
        "column-list starting at line {line} has an empty column "
        "#{empty}; add content or remove it."
    ),
    Code.CALLOUT_UNCLOSED: (
        'callout starting at line {line} is missing a closing ":::" after its content.'
    ),
    Code.CALLOUT_ICON: 'callout starting at line {line} must provide an emoji/icon after ":::callout".',
    Code.CALLOUT_EMPTY: (
        'callout starting at line {line} must contain content before the closing ":::" marker.'
    ),
    Code.SYNCED_BLOCK_UNCLOSED: (
        'synced-block starting at line {line} is missing a closing ":::" after its contents.'
    ),
    Code.SYNCED_BLOCK_EMPTY: (
        "synced-block starting at line {line} must include content when no "
        "source block id is provided."
    ),
    Code.TABLE_NO_COLUMNS: "Table starting at line {line} must have at least one column.",
    Code.TABLE_COLUMNS: (
        "Table starting at line {line} has inconsistent column counts "
        "(row {row} differs). Make all rows the same length."
    ),
    Code.TABLE_NO_DATA: "Table starting at line {line} must include at least one data row.",
}
_UNCLOSED = {
    ":::column-list": Code.COLUMN_LIST_UNCLOSED,
    ":::callout": Code.CALLOUT_UNCLOSED,
    ":::synced-block": Code.SYNCED_BLOCK_UNCLOSED,
}


def _container_finding(body: BodyLines, code: Code, index: int, **values: int) -> Finding:
    """The finding ``code`` about the container (or table) starting on body line ``index``, at
    its file line."""
    message = _CONTAINER_MESSAGES[code].format(line=index + 1, **values)
    return finding(code, message, body.file_line(index))


def _unclosed(body: BodyLines, kind: str, index: int) -> Finding:
    return _container_finding(body, _UNCLOSED[kind], index)


def _check_callout(body: BodyLines, index: int, icon: str, inner: list[str]) -> Iterator[Finding]:
    if not icon:
        yield _container_finding(body, Code.CALLOUT_ICON, index)
    if not any(inner):
        yield _container_finding(body, Code.CALLOUT_EMPTY, index)


def _check_columns(body: BodyLines, index: int, inner: list[str]) -> Iterator[Finding]:
    """L4: the first column (1-based) holding only blank lines.

    A ``:::column`` line starts a column (closing an open one), a bare ``:::`` closes it, lines
    outside a column are ignored and an open column at the end counts. A list with no column
    at all was already reported by pass A (L2).
    """
    columns: list[bool] = []  # per column: has content
    open_column = False
    for text in inner:
        if text.lower().startswith(":::column"):
            columns.append(False)
            open_column = True
        elif text == CLOSER:
            open_column = False
        elif open_column and text:
            columns[-1] = True
    empty = next((number for number, filled in enumerate(columns, 1) if not filled), None)
    if empty is not None:
        yield _container_finding(body, Code.COLUMN_LIST_EMPTY_COLUMN, index, empty=empty)


def _check_table(body: BodyLines, start: int, end: int) -> Iterator[Finding]:
    """T1-T3 for the pipe table on body lines ``start..end`` (exclusive); one finding at most."""
    rows = [_cells(text) for text in body.trimmed[start:end]]
    if not rows[0]:
        yield _container_finding(body, Code.TABLE_NO_COLUMNS, start)
        return
    width = len(rows[0])
    differing = next((n for n, row in enumerate(rows, 1) if len(row) != width), None)
    if differing is not None:
        yield _container_finding(body, Code.TABLE_COLUMNS, start, row=differing)
    elif len(rows) == 2 and all(_SEPARATOR_CELL_RE.fullmatch(cell) for cell in rows[1]):
        yield _container_finding(body, Code.TABLE_NO_DATA, start)


def _cells(row: str) -> list[str]:
    """Split a trimmed table row on ``|``, dropping one empty piece at each end."""
    pieces = row.split("|")
    if pieces and not pieces[0]:
        pieces = pieces[1:]
    if pieces and not pieces[-1]:
        pieces = pieces[:-1]
    return [piece.strip() for piece in pieces]
