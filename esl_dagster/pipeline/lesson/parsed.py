"""The lesson of one job, read and parsed once.

:func:`parse_lesson` turns the bytes of the job's single read into a :class:`ParsedLesson`: the
text and the SHA-256 of its bytes, the front matter and its validated meta, the body, the study
text and the validation result. ``start_run`` builds it at the start of the ``validate`` stage and
puts it in the run state, so every later stage uses it and none reads or parses the lesson again.

Why it travels as data in the run state rather than being re-derived in each op: Dagster hands
the state from op to op as the op's output (pickled by the IO manager; ops may run in other
processes or on other machines), and a pydantic model is plain, serialisable data there. Re-deriving
it would mean reading the lesson again in each op (from S3 for an uploaded lesson: a request per
stage) and parsing it again, which is what this replaces; a state handed over by a parent run (a
re-execution from failure) still carries the lesson that run read and checked. The model is frozen; a lesson of a few
kilobytes (at most the validator's size limit) costs little to carry.

Edits while the job runs: the model keeps the version stamp of its read (see
:mod:`esl_dagster.pipeline.lesson.source`). Before a stage uses the lesson,
:func:`checked_lesson` compares the source's current stamp with it; only when the stamp moved is
the lesson read again, and when its hash differs the run fails (its stages must not mix two
versions of the lesson). A file merely touched (same bytes) passes.
"""

from typing import Any

from pydantic import BaseModel, ConfigDict

from esl_dagster.pipeline.errors import PipelineError, ValidationError
from esl_dagster.pipeline.lesson.models import Finding, LessonMeta, StudyText, ValidationResult
from esl_dagster.pipeline.lesson.source import LessonBytes, LessonReader, LessonSource
from esl_dagster.pipeline.manifest import sha256_hex


class ParsedLesson(BaseModel):
    """One read of a lesson, parsed: what every stage needs of it (see the module docstring).

    ``md_hash`` is the SHA-256 of the bytes read (the manifest's ``mdHash``); ``stamp`` their
    version at the source. ``study_text`` is None when the lesson has none, and
    ``study_text_error`` then says why (the ``tts`` stage raises it, as before).
    """

    model_config = ConfigDict(frozen=True)

    md: str
    md_hash: str
    stamp: str
    text: str
    front_matter: dict[str, Any]
    meta: LessonMeta | None
    body: str
    study_text: StudyText | None
    study_text_error: str | None
    validation: ValidationResult

    def required_meta(self) -> LessonMeta:
        """The front matter as Notion receives it; invalid front matter fails the stage."""
        if self.meta is None:
            raise ValidationError("Validation failed: the front matter is invalid")
        return self.meta

    def required_study_text(self) -> StudyText:
        """The study text the audio is built from; a lesson without one fails the stage."""
        if self.study_text is None:
            raise ValidationError(self.study_text_error or "the lesson has no study text")
        return self.study_text


def parse_lesson(md: str, read: LessonBytes) -> ParsedLesson:
    """Decode and parse the bytes of one read (undecodable bytes fail as a validation error)."""
    # The parser and validator (markdown-it) load when a run parses, not with the run state.
    from esl_dagster.pipeline.lesson.document import parse_document
    from esl_dagster.pipeline.lesson.extractor import extract_study_text
    from esl_dagster.pipeline.lesson.reader import read_lesson_bytes
    from esl_dagster.pipeline.lesson.validator import validate_text

    text = read_lesson_bytes(read.data)
    if isinstance(text, Finding):
        raise ValidationError(f"Validation failed: {text.message}", [text.message])
    study_text: StudyText | None = None
    study_text_error: str | None = None
    try:
        study_text = extract_study_text(text)
    except ValidationError as exc:
        study_text_error = str(exc)
    document = parse_document(text)
    validation = validate_text(text, strict=False)
    return ParsedLesson(
        md=md,
        md_hash=sha256_hex(read.data),
        stamp=read.stamp,
        text=text,
        front_matter=document.front_matter,
        meta=validation.meta,
        body=document.body,
        study_text=study_text,
        study_text_error=study_text_error,
        validation=validation,
    )


def read_and_parse(source: LessonSource, reader: LessonReader) -> ParsedLesson:
    """The job's one read of its lesson, parsed."""
    return parse_lesson(source.md, reader.fetch(source))


def checked_lesson(
    lesson: ParsedLesson, source: LessonSource, reader: LessonReader
) -> ParsedLesson:
    """``lesson``, after making sure the source still holds the same lesson (see the module
    docstring); raises ``ValidationError`` when it was edited since the job read it. A lesson
    whose stamp moved without a change of content comes back with the new stamp."""
    if reader.stamp(source) == lesson.stamp:
        return lesson
    try:
        again: LessonBytes | None = reader.fetch(source)
    except PipelineError as exc:
        if exc.transient:
            raise
        again = None
    if again is None or sha256_hex(again.data) != lesson.md_hash:
        now = "no longer readable" if again is None else f"now sha256 {sha256_hex(again.data)[:12]}"
        raise ValidationError(
            f"lesson {lesson.md} changed while the job ran (read with sha256 "
            f"{lesson.md_hash[:12]}, {now}); run the job again"
        )
    return lesson.model_copy(update={"stamp": again.stamp})
