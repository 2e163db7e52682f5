"""The contract's time format: ISO-8601 UTC with milliseconds and `Z`."""

from datetime import UTC, datetime


def format_timestamp(epoch_seconds: float) -> str:
    """E.g. `2025-01-31T09:15:02.123Z`."""
    moment = datetime.fromtimestamp(epoch_seconds, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def format_optional(epoch_seconds: float | None) -> str | None:
    return format_timestamp(epoch_seconds) if epoch_seconds is not None else None
