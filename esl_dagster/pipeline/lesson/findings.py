"""The one catalogue of validator finding codes.

Every :class:`~esl_dagster.pipeline.lesson.models.Finding` carries a ``code`` from this table. Codes
are stable: tools and tests match on them, so a code is never renamed or reused; messages may be
reworded. The rule ids are the original validator's (F0, FM, HC, M, S, D, W, L, C, Y, T).

=============================  ========  ====  ==============================================
code                           severity  rule  meaning
=============================  ========  ====  ==============================================
file.empty                     error     -     the file is empty (or only whitespace)
file.not_utf8                  error     -     the bytes are not valid UTF-8
file.too_large                 error     -     the file exceeds the size limit (5 MB default)
file.unreadable                error     -     the path is missing or cannot be read
file.too_many_lines            error     -     more lines than a lesson can have (1,000)
file.line_too_long             error     -     a line longer than 20,000 characters
fence.missing                  error     F0    no outer triple-backtick fence
front_matter.yaml              error     FM    invalid YAML, or a value YAML cannot convert
front_matter.type              error     FM    the front matter is not a mapping
front_matter.field             error     FM    a front-matter field is missing or invalid
headings.count                 error     HC1   not exactly nine top-level H2 headings
headings.order                 error     HC2   an H2 heading differs from the expected title
headings.input_material        error     HC3   H2 #3 does not start with "3. Input Material"
marker.answer_key              error     M1    no Answer Key toggle marker
marker.teacher_plan            error     M2    no Teacher's Follow-up Plan toggle marker
study_text.missing             error     S1    no ``:::study-text`` block
study_text.indented_marker     error     S2    the study-text marker is not at column 1
study_text.malformed_marker    error     S3    the study-text marker line is malformed
study_text.indented_closer     error     S4    the study-text closer is indented
study_text.unclosed            error     S5    the study-text block is never closed
dialogue.empty_speaker         error     D1    a speaker prefix with an empty name
dialogue.unknown_speaker       error     D2    a speaker not listed in ``speaker_labels``
dialogue.missing_speaker       error     D3    prose before the first speaker line
study_text.short               warning   W1    the monologue study text looks short
practice.missing               warning   W2    no "A. Controlled Practice" H3
practice.item_count            warning   W3    Controlled Practice outside 8-12 items
comprehension.item_count       warning   W4    Comprehension Check with exactly one item
body.code_block                warning   W5    a code block inside the lesson body
front_matter.input_type        warning   W6    ``input_type`` not generate/authentic
column_list.unclosed           error     L1    a ``:::column-list`` is never closed
column_list.no_column          error     L2    a column list without ``:::column`` (L2+L3)
column_list.empty_column       error     L4    a column with no content
callout.unclosed               error     C1    a ``:::callout`` is never closed
callout.icon                   error     C2    a callout without an icon
callout.empty                  error     C3    a callout without content
synced_block.unclosed          error     Y1    a ``:::synced-block`` is never closed
synced_block.empty             error     Y2    a new synced block without content
table.no_columns               error     T1    a table whose first row has no cells
table.columns                  error     T2    table rows with different cell counts
table.no_data                  error     T3    a table with a header but no data row
=============================  ========  ====  ==============================================

Line numbers. ``Finding.line`` is the 1-based line in the FILE as an editor shows it (front
matter and the text before the fence included), so tools can jump to it; it is None when a
finding has no single place (a missing marker, the H2 count, a file that cannot be read). The message text
keeps the original validator's wording, whose numbers are relative: ``Line <n>:`` and
``... starting at line <n>`` count from the first line after the closing front-matter ``---``
(the "body"), and ``study-text line <n>:`` counts from the first non-blank line of the study text.
Users and existing docs grep for those phrases, so they are kept as they were.

Rule L3 of the original only repeated L2 for the same column list, so both are reported once as
``column_list.no_column``.

In strict mode warnings are copied into the errors with the same code and ``severity="error"``.
"""

from enum import StrEnum

from esl_dagster.pipeline.lesson.models import Finding, Severity


class Code(StrEnum):
    """Stable finding codes; the table in the module docstring describes each one."""

    FILE_EMPTY = "file.empty"
    FILE_NOT_UTF8 = "file.not_utf8"
    FILE_TOO_LARGE = "file.too_large"
    FILE_UNREADABLE = "file.unreadable"
    FILE_TOO_MANY_LINES = "file.too_many_lines"
    FILE_LINE_TOO_LONG = "file.line_too_long"
    FENCE_MISSING = "fence.missing"
    FRONT_MATTER_YAML = "front_matter.yaml"
    FRONT_MATTER_TYPE = "front_matter.type"
    FRONT_MATTER_FIELD = "front_matter.field"
    HEADINGS_COUNT = "headings.count"
    HEADINGS_ORDER = "headings.order"
    HEADINGS_INPUT_MATERIAL = "headings.input_material"
    MARKER_ANSWER_KEY = "marker.answer_key"
    MARKER_TEACHER_PLAN = "marker.teacher_plan"
    STUDY_TEXT_MISSING = "study_text.missing"
    STUDY_TEXT_INDENTED_MARKER = "study_text.indented_marker"
    STUDY_TEXT_MALFORMED_MARKER = "study_text.malformed_marker"
    STUDY_TEXT_INDENTED_CLOSER = "study_text.indented_closer"
    STUDY_TEXT_UNCLOSED = "study_text.unclosed"
    DIALOGUE_EMPTY_SPEAKER = "dialogue.empty_speaker"
    DIALOGUE_UNKNOWN_SPEAKER = "dialogue.unknown_speaker"
    DIALOGUE_MISSING_SPEAKER = "dialogue.missing_speaker"
    STUDY_TEXT_SHORT = "study_text.short"
    PRACTICE_MISSING = "practice.missing"
    PRACTICE_ITEM_COUNT = "practice.item_count"
    COMPREHENSION_ITEM_COUNT = "comprehension.item_count"
    BODY_CODE_BLOCK = "body.code_block"
    FRONT_MATTER_INPUT_TYPE = "front_matter.input_type"
    COLUMN_LIST_UNCLOSED = "column_list.unclosed"
    COLUMN_LIST_NO_COLUMN = "column_list.no_column"
    COLUMN_LIST_EMPTY_COLUMN = "column_list.empty_column"
    CALLOUT_UNCLOSED = "callout.unclosed"
    CALLOUT_ICON = "callout.icon"
    CALLOUT_EMPTY = "callout.empty"
    SYNCED_BLOCK_UNCLOSED = "synced_block.unclosed"
    SYNCED_BLOCK_EMPTY = "synced_block.empty"
    TABLE_NO_COLUMNS = "table.no_columns"
    TABLE_COLUMNS = "table.columns"
    TABLE_NO_DATA = "table.no_data"


WARNING_CODES: frozenset[Code] = frozenset(
    {
        Code.STUDY_TEXT_SHORT,
        Code.PRACTICE_MISSING,
        Code.PRACTICE_ITEM_COUNT,
        Code.COMPREHENSION_ITEM_COUNT,
        Code.BODY_CODE_BLOCK,
        Code.FRONT_MATTER_INPUT_TYPE,
    }
)


def finding(code: Code, message: str, line: int | None = None) -> Finding:
    """Build a finding with the severity the catalogue gives its code."""
    severity: Severity = "warning" if code in WARNING_CODES else "error"
    return Finding(code=code.value, message=message, line=line, severity=severity)
