"""What every stage shares: the decision types, the run's lesson, input hashing, the skip test."""

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from esl_dagster.pipeline.lesson.parsed import ParsedLesson, checked_lesson
from esl_dagster.pipeline.lesson.source import LessonSource, locate_lesson
from esl_dagster.pipeline.manifest import sha256_hex
from esl_dagster.pipeline.run_state import RunState
from esl_dagster.pipeline.services import Services

UNCHANGED_REASON = "inputs unchanged since the last successful run"


@dataclass
class Skip:
    """A decision not to act. ``token`` is pushed to ``steps`` (explicit skip flags, unchanged)."""

    reason: str
    token: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def unchanged(cls, stage: str, **detail: Any) -> "Skip":
        """``stage``'s inputs hash as at its last success: skipped, ``unchanged:<stage>``."""
        return cls(UNCHANGED_REASON, token=f"unchanged:{stage}", detail=detail)


@dataclass
class Outcome:
    """What an acting stage did. ``outputs`` go into the stage's manifest record."""

    detail: dict[str, Any] = field(default_factory=dict)
    tokens: list[str] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)


Decide = Callable[[RunState, Services], "Skip | str"]
Act = Callable[[RunState, Services], Outcome]


def lesson_source(state: RunState, services: Services) -> LessonSource:
    """The lesson this run read: ``options.md`` (a resolved path or an ``s3://`` URI)."""
    return locate_lesson(state.options.md, services.settings)


def current_lesson(state: RunState, services: Services) -> ParsedLesson:
    """The run's parsed lesson, once its source is seen to hold it still (a lesson edited while
    the job runs fails the run: its stages would mix two versions); see
    :func:`~esl_dagster.pipeline.lesson.parsed.checked_lesson`."""
    lesson = checked_lesson(state.lesson, lesson_source(state, services), services.lesson_reader())
    if lesson.stamp != state.lesson.stamp:
        state.lesson = lesson
    return lesson


def input_hash(stage: str, **parts: Any) -> str:
    """The hash of everything that shapes ``stage``'s effect."""
    return sha256_hex(json.dumps({"stage": stage, **parts}, sort_keys=True, default=str))


def unchanged(state: RunState, stage: str, digest: str) -> bool:
    """True when the manifest records a success of ``stage`` with inputs hashing to ``digest``."""
    if state.options.force:
        return False
    record = state.previous_record(stage)
    return record is not None and record.input_hash == digest


def one_line(exc: BaseException) -> str:
    """An error as one line: its lines joined with ``; `` (validation lists become one line)."""
    lines = [line.strip().removeprefix("- ") for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    head, rest = lines[0], lines[1:]
    if head.endswith(":") and rest:
        return f"{head} {'; '.join(rest)}"
    return "; ".join(lines)
