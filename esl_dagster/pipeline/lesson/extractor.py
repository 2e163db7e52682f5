"""The lesson extractor: front matter, study text, sections, answer key and teacher notes.

Behaviour follows the original extractor with these deliberate fixes:

- The outer fence is honoured (:func:`parse_document`), so front matter is read from fenced files
  and the last section does not end with the closing backticks. Sections are found in the body,
  so a front-matter line starting with ``## `` is not a section.
- An EMPTY study-text block (closer on the next line) is seen as closed and empty; the original
  kept searching and swallowed later text.
- The inline label after ``:::study-text`` is honoured as intended: when the first study line
  repeats it (case-insensitively) that line is dropped. The original never saw the label in
  real files.
- A section's content ends BEFORE the next ``##``/``###`` heading (the original included that
  heading's line).
- The answer key and teacher notes track nested ``:::`` containers, so a callout inside them
  no longer cuts them short at the callout's closer.
- Study lines carry a normalised speaker (``[Ann]``, ``**Ann:**``, ``**Ann**:`` and ``Ann:`` all
  give ``Ann``, spelt as in ``speaker_labels`` when it is listed there) and the spoken text with
  inline Markdown removed. When ``speaker_labels`` exist, a "Name: text" line whose name is not a
  label is a continuation of the current speaker (e.g. "The app says: 20 degrees"); prose before
  any speaker line goes to the only label, else the first non-narrator label, else None.
"""

import re
from typing import Any

from esl_dagster.pipeline.errors import ValidationError
from esl_dagster.pipeline.lesson.directives import (
    ANSWER_KEY_OPENER,
    TEACHER_PLAN_OPENER,
    BodyLines,
    study_text_label,
)
from esl_dagster.pipeline.lesson.document import LessonDocument, parse_document
from esl_dagster.pipeline.lesson.front_matter import check_front_matter, to_jsonable
from esl_dagster.pipeline.lesson.markdown_tree import markdown_inline_to_text
from esl_dagster.pipeline.lesson.models import (
    Extraction,
    LessonMeta,
    Section,
    StudyLine,
    StudyText,
    StudyTextType,
)
from esl_dagster.pipeline.lesson.reader import check_size_and_shape
from esl_dagster.pipeline.lesson.speakers import default_speaker, match_speaker_line

_CLOSER_RE = re.compile(r"[ \t]*:::\s*")
_SECTION_RE = re.compile(r"(#{2,3})[ \t]+(\S.*)")
_ANSWER_KEY_RE = re.compile(rf"[ \t]*{ANSWER_KEY_OPENER}.*", re.IGNORECASE)
_TEACHER_NOTES_RE = re.compile(rf"[ \t]*{TEACHER_PLAN_OPENER}.*", re.IGNORECASE)
_INVISIBLE_TRANSLATION = str.maketrans({"\u00a0": " ", "\u200b": None})
DIALOGUE_MIN_SPEAKER_LINES = 2


def extract_lesson(text: str) -> Extraction:
    """Everything the later stages need from a lesson: parts that are missing are None (front
    matter that fails the schema gives ``meta=None``). Raises ``ValidationError`` only for text
    over the reader's size and shape limits (see ``reader.py``), which no lesson reaches."""
    doc = _parse(text)
    body = BodyLines(doc.body, doc.body_start_line)
    meta: LessonMeta | None = None
    if doc.front_matter_error is None:
        meta = check_front_matter(doc.front_matter_value)[1]
    study = _study_text(doc, body)
    return Extraction(
        front_matter=to_jsonable(doc.front_matter),
        meta=meta,
        study_text=study if isinstance(study, StudyText) else None,
        sections=_sections(body),
        answer_key=_toggle_block(body, _ANSWER_KEY_RE),
        teacher_notes=_toggle_block(body, _TEACHER_NOTES_RE),
    )


def extract_study_text(text: str) -> StudyText:
    """The lesson's first study-text block; raises ``ValidationError`` when there is none."""
    doc = _parse(text)
    study = _study_text(doc, BodyLines(doc.body, doc.body_start_line))
    if isinstance(study, str):
        raise ValidationError(study)
    return study


def extract_answer_key(text: str) -> str:
    """The raw Markdown inside the Answer Key toggle; raises ``ValidationError`` when the lesson
    has none (or it is never closed)."""
    return _required_toggle(text, _ANSWER_KEY_RE, "Answer Key")


def extract_teacher_notes(text: str) -> str:
    """The raw Markdown inside the Teacher's Follow-up Plan toggle; raises ``ValidationError``
    when the lesson has none (or it is never closed)."""
    return _required_toggle(text, _TEACHER_NOTES_RE, "Teacher's Follow-up Plan")


def _required_toggle(text: str, marker: re.Pattern[str], name: str) -> str:
    doc = _parse(text)
    body = BodyLines(doc.body, doc.body_start_line)
    start = next((i for i, line in enumerate(body.lines) if marker.fullmatch(line)), None)
    if start is None:
        raise ValidationError(f"{name} toggle not found")
    found = _toggle_block(body, marker)
    if found is None:
        raise ValidationError(
            f'{name} toggle starting at line {start + 1} is missing its closing ":::"'
        )
    return found


def _parse(text: str) -> LessonDocument:
    """Parse after the extractor's own normalisation (NBSP to space, zero-width space removed).
    Text over the reader's limits is refused before any parsing."""
    problem = check_size_and_shape(text)
    if problem is not None:
        raise ValidationError(problem.message)
    return parse_document(text.translate(_INVISIBLE_TRANSLATION))


def _study_text(doc: LessonDocument, body: BodyLines) -> StudyText | str:
    """The study text, or the reason there is none."""
    marker = next(
        (i for i, line in enumerate(body.lines) if _indented_label(line) is not None),
        None,
    )
    if marker is None:
        return "study-text block not found"
    closer = next(
        (i for i in range(marker + 1, len(body.lines)) if _CLOSER_RE.fullmatch(body.lines[i])),
        None,
    )
    if closer is None:
        return f'study-text block starting at line {marker + 1} is missing its closing ":::"'
    lines = [line for line in body.trimmed[marker + 1 : closer] if line]
    label = _indented_label(body.lines[marker])
    if label and lines and lines[0].lower() == label.lower():
        lines = lines[1:]
    if not lines:
        return f"study-text block starting at line {marker + 1} is empty"
    return _study_lines(lines, _speaker_labels(doc.front_matter))


def _indented_label(line: str) -> str | None:
    """The opener's label as the extractor reads it: the original's reader also took an indented
    opener (the validator refuses it, so a validated lesson never has one)."""
    return study_text_label(line.lstrip(" \t"))


def _speaker_labels(front_matter: dict[str, Any]) -> list[str]:
    labels = front_matter.get("speaker_labels")
    if not isinstance(labels, list):
        return []
    return [label.strip() for label in labels if isinstance(label, str) and label.strip()]


def _study_lines(lines: list[str], labels: list[str]) -> StudyText:
    cast = {label.lower(): label for label in labels}
    fallback = default_speaker(labels)
    current: str | None = None
    study_lines: list[StudyLine] = []
    speaker_lines = 0
    for line in lines:
        match = match_speaker_line(line)
        if match is not None:
            speaker_lines += 1
        if match is not None and match.name and (not cast or match.name.lower() in cast):
            current = cast.get(match.name.lower(), match.name)
            spoken = match.text
        else:
            spoken = line
        study_lines.append(
            StudyLine(speaker=current or fallback, text=markdown_inline_to_text(spoken), raw=line)
        )
    kind: StudyTextType = "dialogue" if speaker_lines >= DIALOGUE_MIN_SPEAKER_LINES else "monologue"
    return StudyText(type=kind, lines=study_lines)


def _sections(body: BodyLines) -> list[Section]:
    """Every column-1 ``##``/``###`` line starts a section that runs to the next one."""
    starts: list[tuple[int, int, str]] = []
    for index, line in enumerate(body.lines):
        match = _SECTION_RE.fullmatch(line)
        if match is not None:
            starts.append((index, len(match.group(1)), match.group(2).strip()))
    sections = []
    for position, (index, depth, title) in enumerate(starts):
        end = starts[position + 1][0] if position + 1 < len(starts) else len(body.lines)
        content = "\n".join(body.lines[index + 1 : end]).strip()
        sections.append(
            Section(
                depth=2 if depth == 2 else 3,
                title=title,
                content=content,
                line=body.file_line(index),
            )
        )
    return sections


def _toggle_block(body: BodyLines, marker: re.Pattern[str]) -> str | None:
    """The raw Markdown inside the first toggle whose marker line matches, up to its own closer."""
    start = next((i for i, line in enumerate(body.lines) if marker.fullmatch(line)), None)
    if start is None:
        return None
    closer = body.closer_of(start)
    if closer is None:
        return None
    return "\n".join(body.lines[start + 1 : closer]).strip()
