"""Typed results of reading a lesson. Every other stage consumes these, never raw dicts."""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Severity = Literal["error", "warning"]
StudyTextType = Literal["monologue", "dialogue"]


class Finding(BaseModel):
    """One validator finding. ``code`` is stable (see ``lesson/findings.py``); ``line`` is 1-based."""

    model_config = ConfigDict(frozen=True)

    code: str
    message: str
    line: int | None = None
    severity: Severity = "error"


class SpeakerProfile(BaseModel):
    """A ``speaker_profiles`` entry of the front matter: voice-casting hints for one speaker."""

    model_config = ConfigDict(extra="allow")

    id: str | None = None
    display_name: str | None = None
    role: str | None = None
    gender: str | None = None
    age: str | None = None
    accent: str | None = None
    style: str | None = None
    voice: str | None = None


class LessonMeta(BaseModel):
    """Front matter that passed the schema. ``topic`` is always a string (lists joined by ", ")."""

    title: str
    student: str
    level: str
    topic: str
    input_type: str
    speaker_labels: list[str] | None = None
    speaker_profiles: list[SpeakerProfile] | None = None
    icon: str | None = None
    cover: str | None = None
    properties: dict[str, Any] | None = None


class ValidationResult(BaseModel):
    ok: bool
    errors: list[Finding] = Field(default_factory=list)
    warnings: list[Finding] = Field(default_factory=list)
    meta: LessonMeta | None = None

    def error_summary(self) -> str:
        """The pipeline's abort message: a header and one ``- <error>`` line per error."""
        lines = ["Validation failed:"]
        lines.extend(f"- {f.message}" for f in self.errors)
        return "\n".join(lines)


class StudyLine(BaseModel):
    """One spoken line of the study text.

    ``speaker`` is the normalised name (``[Ann]``/``**Ann:**`` -> ``Ann``) or None for prose with no
    speaker yet; ``text`` is what is spoken (speaker prefix and inline Markdown removed); ``raw`` is
    the trimmed source line.
    """

    speaker: str | None
    text: str
    raw: str


class StudyText(BaseModel):
    type: StudyTextType
    lines: list[StudyLine]

    def speakers(self) -> list[str]:
        """Distinct speakers in order of first appearance."""
        seen: dict[str, None] = {}
        for line in self.lines:
            if line.speaker:
                seen.setdefault(line.speaker, None)
        return list(seen)


class Section(BaseModel):
    depth: Literal[2, 3]
    title: str
    content: str
    line: int


class Extraction(BaseModel):
    """Everything ``esl extract`` reports about a lesson."""

    front_matter: dict[str, Any]
    meta: LessonMeta | None
    study_text: StudyText | None
    sections: list[Section]
    answer_key: str | None
    teacher_notes: str | None
