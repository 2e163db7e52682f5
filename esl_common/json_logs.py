"""Log records as one JSON object per line, the same in every process (engine and shim).

An object has ``timestamp`` (ISO-8601 UTC), ``level``, ``logger`` and ``message``, then the
fields the call passed as ``extra`` (``extra={"fields": {...}}`` adds each entry as a key), then
``trace_id`` and ``span_id`` while a span is current, then ``exception`` when there is one.
"""

import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from esl_common.tracing import trace_fields

# Attributes every LogRecord has; anything else on a record came from ``extra``. uvicorn adds
# ``color_message``, an ANSI-coloured copy of the message, which a JSON line never wants.
_RECORD_ATTRIBUTES = frozenset(logging.makeLogRecord({}).__dict__) | {
    "message",
    "asctime",
    "color_message",
}


def dumps(value: object) -> str:
    """Compact JSON, non-ASCII kept, what JSON cannot hold as its ``str``."""
    return json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":"))


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The fields a log call passed as ``extra`` (a nested ``fields`` mapping is flattened)."""
    found: dict[str, Any] = {}
    for key, value in record.__dict__.items():
        if key in _RECORD_ATTRIBUTES:
            continue
        if key == "fields" and isinstance(value, Mapping):
            found.update(value)
        else:
            found[key] = value
    return found


def record_payload(
    record: logging.LogRecord, message: str, exception: str | None
) -> dict[str, Any]:
    """The JSON object of one record (see the module docstring for its keys)."""
    moment = datetime.fromtimestamp(record.created, UTC)
    payload: dict[str, Any] = {
        "timestamp": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "level": record.levelname.lower(),
        "logger": record.name,
        "message": message,
    }
    for key, value in extra_fields(record).items():
        payload.setdefault(key, value)
    for key, value in trace_fields().items():
        payload.setdefault(key, value)
    if exception:
        payload["exception"] = exception
    return payload


class JsonFormatter(logging.Formatter):
    """One JSON object per record; ``message`` says what a record's ``message`` key holds."""

    def message(self, record: logging.LogRecord) -> str:
        return record.getMessage()

    def format(self, record: logging.LogRecord) -> str:
        exception = self.formatException(record.exc_info) if record.exc_info else None
        return dumps(record_payload(record, self.message(record), exception))


__all__ = ["JsonFormatter", "dumps", "extra_fields", "record_payload"]
