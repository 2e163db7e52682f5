"""The lesson validator: every rule of the lesson format, relaxed and strict.

Processing follows §2.2: fence (F0, fatal), front matter (FM), headings (HC1-HC3), toggle markers
(M1-M2), study text (S1-S5, then D1-D3 when speakers are enforced, else W1), Controlled Practice
and Comprehension Check item counts (W2-W4), code blocks (W5), directives and tables (L, C, Y,
T), input_type (W6), then strict post-processing (§2.6). Codes come from ``findings.py``.

Fixed over the original: malformed or non-mapping front matter is a finding, never an exception
(§1.2); an unreadable, empty, non-UTF-8 or oversized input is a ``file.*`` finding; duplicate
column-list messages are reported once (see ``directives.py``).
"""

import os
import re

from esl_dagster.pipeline.lesson.directives import (
    BodyLines,
    StudyBlock,
    check_containers,
    find_markers,
    locate_study_text,
)
from esl_dagster.pipeline.lesson.document import LessonDocument, find_fence, parse_document
from esl_dagster.pipeline.lesson.findings import Code, finding
from esl_dagster.pipeline.lesson.front_matter import KNOWN_INPUT_TYPES, check_front_matter
from esl_dagster.pipeline.lesson.markdown_tree import (
    Block,
    count_items_under,
    normalize_heading,
    parse_outline,
)
from esl_dagster.pipeline.lesson.models import Finding, LessonMeta, ValidationResult
from esl_dagster.pipeline.lesson.reader import DEFAULT_MAX_BYTES, check_text, read_lesson_file
from esl_dagster.pipeline.lesson.speakers import label_set, match_speaker_line, speakers_enforced

FENCE_MISSING_MESSAGE = (
    "No fenced code block found. Wrap the entire assignment in a single triple-backtick block, "
    "e.g.: ``` --- title: ... --- # 1. This Week's Mission Briefing ...lesson content... ```"
)

EXPECTED_H2 = (
    "1. this week's mission briefing",
    "2. your homework roadmap",
    "3. input material",
    "4. language toolkit: useful language",
    "5. practice & pronunciation",
    "6. your turn: complete the mission",
    "7. why this mission helps you",
    "8. answer key & sample mission",
    "9. teacher's follow-up plan",
)
INPUT_MATERIAL_INDEX = 2
CONTROLLED_PRACTICE = "a. controlled practice"
COMPREHENSION_CHECK = "b. comprehension check"

_BLANK_LINE_RUN_RE = re.compile(r"\n\s*\n")
# An H3 can only be one of the two practice headings (22 characters once normalised) when its
# source names one and is short; this cheap pre-check spares the inline parse of other H3s.
_PRACTICE_HINT_RE = re.compile(r"controlled|comprehension", re.IGNORECASE)
MAX_PRACTICE_SOURCE = 100


def validate_file(
    path: str | os.PathLike[str], *, strict: bool = False, max_bytes: int = DEFAULT_MAX_BYTES
) -> ValidationResult:
    """Read and validate a lesson file. Reading problems are ``file.*`` errors, never raised."""
    text = read_lesson_file(path, max_bytes=max_bytes)
    if isinstance(text, Finding):
        return ValidationResult(ok=False, errors=[text])
    return validate_text(text, strict=strict, max_bytes=max_bytes)


def validate_text(
    text: str, *, strict: bool = False, max_bytes: int = DEFAULT_MAX_BYTES
) -> ValidationResult:
    """Validate a lesson's text. Never raises on content."""
    problem = check_text(text, max_bytes=max_bytes)
    if problem is not None:
        return ValidationResult(ok=False, errors=[problem])
    doc = parse_document(text)
    if not doc.fenced:
        return ValidationResult(
            ok=False, errors=[finding(Code.FENCE_MISSING, FENCE_MISSING_MESSAGE)]
        )

    errors, meta = _front_matter_findings(doc)
    warnings: list[Finding] = []
    body = BodyLines(doc.body, doc.body_start_line)
    outline = parse_outline(doc.body)

    errors.extend(_heading_findings(outline, body))
    errors.extend(find_markers(doc.body))
    study = locate_study_text(body)
    if isinstance(study, Finding):
        errors.append(study)
    elif meta is not None and speakers_enforced(meta.speaker_labels):
        errors.extend(_dialogue_findings(study, body, meta.speaker_labels or []))
    elif _looks_short(study):
        warnings.append(
            finding(
                Code.STUDY_TEXT_SHORT,
                "study-text looks short. Aim for 3–5 paragraphs or 10–15 lines.",
                body.file_line(study.marker),
            )
        )
    warnings.extend(_practice_findings(outline, body))
    warnings.extend(_code_block_findings(outline, body))
    errors.extend(check_containers(body))
    if meta is not None and meta.input_type not in KNOWN_INPUT_TYPES:
        warnings.append(
            finding(
                Code.FRONT_MATTER_INPUT_TYPE,
                f'input_type "{meta.input_type}" is not one of "generate"|"authentic".',
                _front_matter_key_line(doc, "input_type", _content_line(doc)),
            )
        )
    return _result(errors, warnings, meta, strict=strict)


def _result(
    errors: list[Finding], warnings: list[Finding], meta: LessonMeta | None, *, strict: bool
) -> ValidationResult:
    """Relaxed: ok means no errors. Strict: warnings become errors when there are no errors,
    and ok also needs zero warnings."""
    if strict and warnings and not errors:
        errors = [item.model_copy(update={"severity": "error"}) for item in warnings]
    ok = not errors and not (strict and warnings)
    return ValidationResult(ok=ok, errors=errors, warnings=warnings, meta=meta)


def _front_matter_findings(doc: LessonDocument) -> tuple[list[Finding], LessonMeta | None]:
    if doc.front_matter_error is not None:
        message = f"Front matter: YAML parse error: {doc.front_matter_error}"
        line = _content_line(doc) + (doc.front_matter_error_line or 0)
        return [finding(Code.FRONT_MATTER_YAML, message, line)], None
    problems, meta = check_front_matter(doc.front_matter_value)
    if not problems:
        return [], meta
    start = _content_line(doc)
    findings = [
        finding(
            Code.FRONT_MATTER_TYPE if not problem.path else Code.FRONT_MATTER_FIELD,
            problem.message,
            _front_matter_key_line(doc, problem.path.split(".", 1)[0], start),
        )
        for problem in problems
    ]
    return findings, meta


def _content_line(doc: LessonDocument) -> int:
    """The file line where the fenced content (its opening ``---``) starts."""
    fence = find_fence(doc.text)
    return fence[1] if fence is not None else 1


def _front_matter_key_line(doc: LessonDocument, key: str, start: int) -> int:
    """The file line of a top-level front-matter key, else ``start`` (the opening ``---``)."""
    if key and doc.front_matter_raw is not None:
        pattern = re.compile(rf"""(["']?){re.escape(key)}\1[ \t]*:""")
        for offset, line in enumerate(doc.front_matter_raw.split("\n"), 1):
            if pattern.match(line):
                return start + offset
    return start


def _heading_findings(outline: list[Block], body: BodyLines) -> list[Finding]:
    """HC1-HC3: exactly nine top-level H2s in the canonical order (count and order exclusive)."""
    h2s = [block for block in outline if block.kind == "heading" and block.level == 2]
    if len(h2s) != len(EXPECTED_H2):
        return [finding(Code.HEADINGS_COUNT, f"Expected 9 H2 sections, found {len(h2s)}.")]
    findings = []
    for index, (block, expected) in enumerate(zip(h2s, EXPECTED_H2, strict=True)):
        actual = normalize_heading(block.head_text)
        line = body.file_line(block.line)
        if index == INPUT_MATERIAL_INDEX:
            if not actual.startswith(expected):
                findings.append(
                    finding(
                        Code.HEADINGS_INPUT_MATERIAL,
                        f'H2 #3 mismatch. Expected to start with "{expected}", found: "{actual}"',
                        line,
                    )
                )
        elif actual != expected:
            findings.append(
                finding(Code.HEADINGS_ORDER, f'H2 #{index + 1} mismatch. Found: "{actual}"', line)
            )
    return findings


def _dialogue_findings(study: StudyBlock, body: BodyLines, labels: list[str]) -> list[Finding]:
    """D1-D3 over the study lines (numbered from the first non-blank line, blanks counted)."""
    allowed = label_set(labels)
    shown = ", ".join(labels)
    findings = []
    current: str | None = None
    for number, raw in enumerate(study.lines, 1):
        text = raw.strip()
        if not text:
            continue
        line = body.file_line(study.first + number - 1)
        speaker = match_speaker_line(text)
        if speaker is None:
            if current is None:
                findings.append(
                    finding(
                        Code.DIALOGUE_MISSING_SPEAKER,
                        f'study-text line {number}: expected "Speaker: text" or continuation, '
                        f'got "{text}".',
                        line,
                    )
                )
            continue
        if not speaker.name:
            current = None
            findings.append(
                finding(
                    Code.DIALOGUE_EMPTY_SPEAKER,
                    f'study-text line {number}: could not extract speaker from line: "{text}".',
                    line,
                )
            )
            continue
        current = speaker.name
        if speaker.name.lower() not in allowed:
            findings.append(
                finding(
                    Code.DIALOGUE_UNKNOWN_SPEAKER,
                    f'study-text line {number}: unknown speaker "{speaker.name}". '
                    f"Allowed: [{shown}].",
                    line,
                )
            )
    return findings


def _looks_short(study: StudyBlock) -> bool:
    """W1: fewer than 3 paragraphs and fewer than 10 non-blank lines."""
    text = "\n".join(study.lines)
    paragraphs = sum(1 for part in _BLANK_LINE_RUN_RE.split(text) if part.strip())
    lines = sum(1 for line in study.lines if line.strip())
    return paragraphs < 3 and lines < 10


def _practice_findings(outline: list[Block], body: BodyLines) -> list[Finding]:
    """W2-W4: item counts under the last matching Controlled Practice / Comprehension H3s."""
    last: dict[str, int] = {}
    for index, block in enumerate(outline):
        if block.kind == "heading" and block.level == 3 and _may_name_practice(block.source):
            name = normalize_heading(block.head_text)
            if name in (CONTROLLED_PRACTICE, COMPREHENSION_CHECK):
                last[name] = index
    findings = []
    practice = last.get(CONTROLLED_PRACTICE)
    if practice is None:
        findings.append(
            finding(
                Code.PRACTICE_MISSING,
                'No "### A. Controlled Practice" section found under H2 #5.',
            )
        )
    else:
        items = count_items_under(outline, practice)
        if items > 0 and (items < 8 or items > 12):
            findings.append(
                finding(
                    Code.PRACTICE_ITEM_COUNT,
                    f"Controlled Practice has {items} items (recommended 8–10).",
                    body.file_line(outline[practice].line),
                )
            )
    check = last.get(COMPREHENSION_CHECK)
    if check is not None and count_items_under(outline, check) == 1:
        findings.append(
            finding(
                Code.COMPREHENSION_ITEM_COUNT,
                "Comprehension Check has 1 item(s) (recommended 2–3).",
                body.file_line(outline[check].line),
            )
        )
    return findings


def _may_name_practice(source: str) -> bool:
    return len(source) <= MAX_PRACTICE_SOURCE and _PRACTICE_HINT_RE.search(source) is not None


def _code_block_findings(outline: list[Block], body: BodyLines) -> list[Finding]:
    """W5: one warning when the body holds any top-level code block."""
    first = next((block for block in outline if block.kind == "code"), None)
    if first is None:
        return []
    return [
        finding(
            Code.BODY_CODE_BLOCK,
            "Found code block(s) inside the main document. Avoid nested ``` blocks.",
            body.file_line(first.line),
        )
    ]
