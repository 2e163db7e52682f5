"""The contract's time format: ISO-8601 UTC with milliseconds and `Z`."""

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Final

SUBMITTED_AT_TAG: Final = "esl/submitted_at"


def format_timestamp(epoch_seconds: float) -> str:
    """E.g. `2025-01-31T09:15:02.123Z`."""
    moment = datetime.fromtimestamp(epoch_seconds, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def format_optional(epoch_seconds: float | None) -> str | None:
    return format_timestamp(epoch_seconds) if epoch_seconds is not None else None


def submitted_at(tags: Mapping[str, str], fallback: float) -> float:
    """When the job was submitted: the shim's `esl/submitted_at` tag (ISO-8601; epoch seconds on
    runs launched by earlier versions; it survives retries and relaunches), else `fallback` (the
    run's creation time)."""
    text = tags.get(SUBMITTED_AT_TAG)
    if not text:
        return fallback
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return fallback
