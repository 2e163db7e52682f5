"""Structured JSON logs: one object per line, for the shim's loggers and uvicorn's.

Every line has ``timestamp`` (ISO-8601 UTC), ``level``, ``logger`` and ``message``, then the
fields the call passed as ``extra`` (``extra={"fields": {...}}`` adds each entry as a key), then
``trace_id`` and ``span_id`` while a span is current: the same keys as the engine's formatter
(``esl_dagster.pipeline.logs``), which the shim cannot import.
``log_config()`` is the ``logging.config.dictConfig`` dictionary for uvicorn's ``log_config``.
"""

import json
import logging
import logging.config
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from api_shim.tracing import trace_fields

LOGGER_NAME = "api_shim"
ACCESS_LOGGER_NAME = "api_shim.access"
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")

# Attributes every LogRecord has; anything else on a record came from ``extra``.
_RECORD_ATTRIBUTES = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def _extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in record.__dict__.items():
        if key in _RECORD_ATTRIBUTES or key == "color_message":  # uvicorn's ANSI copy
            continue
        if key == "fields" and isinstance(value, Mapping):
            found.update(value)
        else:
            found[key] = value
    return found


class JsonFormatter(logging.Formatter):
    """Render a record as one JSON object (see the module docstring for its keys)."""

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created, UTC)
        payload: dict[str, Any] = {
            "timestamp": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in _extra_fields(record).items():
            payload.setdefault(key, value)
        for key, value in trace_fields().items():
            payload.setdefault(key, value)
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, ensure_ascii=False, default=str, separators=(",", ":"))


def log_config(level: int = logging.INFO) -> dict[str, Any]:
    """One JSON handler on stderr for the shim's logger tree and uvicorn's loggers."""
    level_name = logging.getLevelName(level)
    own = {"handlers": ["json"], "level": level_name, "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {
            "json": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            LOGGER_NAME: own,
            "uvicorn": own,
            "uvicorn.error": {"level": level_name},  # propagates to "uvicorn"
            "uvicorn.access": own,
        },
    }


def configure_logging(level: int = logging.INFO) -> None:
    """Apply ``log_config``: however uvicorn was started, its lines become JSON from here on."""
    logging.config.dictConfig(log_config(level))
