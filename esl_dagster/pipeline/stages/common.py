"""What every stage shares: the decision types, the lesson read, input hashing, the skip test."""

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from esl_dagster.pipeline.errors import ConfigurationError, ValidationError
from esl_dagster.pipeline.lesson.models import Finding
from esl_dagster.pipeline.lesson.reader import read_lesson_bytes
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


@dataclass
class Outcome:
    """What an acting stage did. ``outputs`` go into the stage's manifest record."""

    detail: dict[str, Any] = field(default_factory=dict)
    tokens: list[str] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)


Decide = Callable[[RunState, Services], "Skip | str"]
Act = Callable[[RunState, Services], Outcome]


def resolve_lesson_path(md: str) -> Path:
    """The lesson path as runs and manifests know it: ``~`` expanded, absolute, links resolved."""
    return Path(md).expanduser().resolve()


def read_lesson(md_path: Path) -> tuple[str, str]:
    """The lesson's text and the SHA-256 of its bytes (the manifest's ``mdHash``)."""
    try:
        data = md_path.read_bytes()
    except FileNotFoundError:
        raise ConfigurationError(f"lesson file not found: {md_path}") from None
    except OSError as exc:
        raise ConfigurationError(f"cannot read lesson {md_path}: {exc.strerror}") from exc
    text = read_lesson_bytes(data)
    if isinstance(text, Finding):
        raise ValidationError(f"Validation failed: {text.message}", [text.message])
    return text, sha256_hex(data)


def lesson_text(state: RunState) -> str:
    """The lesson text this run started with (a changed file fails the run: it would mix inputs)."""
    text, md_hash = read_lesson(Path(state.md_path))
    if md_hash != state.md_hash:
        raise ValidationError(
            f"lesson {state.md_path} changed while the job ran; run the job again",
        )
    return text


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
