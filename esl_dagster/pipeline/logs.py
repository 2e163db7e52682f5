"""The engine's logs: standard ``logging`` under the ``esl`` logger, one JSON object per line.

Engine code logs events through an ``EventLogger``: the message is the original's event name
(``stage.tts.success``, ``pipeline.newAssignment.start``, ...) and the structured fields
(``event``, ``run_id``, ``job_id``, ``stage``, ``detail``) travel as the record's ``extra``.
``JsonFormatter`` renders a record as ``timestamp`` (ISO-8601 UTC), ``level``, ``logger``,
``message``, then the extra fields, then ``trace_id`` and ``span_id`` while a span is current
(the API shim's formatter produces the same keys).

Inside a Dagster run the ``esl`` logger is one of the instance's managed Python loggers
(``python_logs`` in ``dagster.yaml``): Dagster stores ``record.getMessage()``, which for an event
is the JSON of the event name and its fields (``EventMessage``), so the run's log shows JSON.
Secrets are never logged: ``detail`` values under secret-looking keys are masked.
"""

import json
import logging
import re
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol, TextIO, runtime_checkable

from esl_dagster.pipeline.tracing import trace_fields

if TYPE_CHECKING:  # the settings model is heavy; this module is imported by every process
    from esl_dagster.pipeline.settings import Settings

ROOT_LOGGER = "esl"
EVENT_LOGGER = "esl.pipeline"

Level = Literal["debug", "info", "warn", "error"]

_LEVELS: dict[str, int] = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
_SECRET_KEY = re.compile(r"token|secret|password|passwd|api[_-]?key|authorization|credential", re.I)
# Attributes every LogRecord has; anything else on a record came from ``extra``.
_RECORD_ATTRIBUTES = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def level_number(level: str) -> int:
    """The ``logging`` level of ``debug``/``info``/``warn``/``warning``/``error``."""
    try:
        return _LEVELS[level.lower()]
    except KeyError:
        raise ValueError(f"unknown log level {level!r}") from None


def mask_secret(value: object) -> str:
    """A loggable stand-in for a secret: ``***`` plus the last 4 characters of long values."""
    text = "" if value is None else str(value)
    if not text:
        return ""
    return f"***{text[-4:]}" if len(text) >= 16 else "***"


def redact(value: Any) -> Any:
    """Copy of ``value`` with every entry under a secret-looking key masked."""
    if isinstance(value, Mapping):
        return {
            str(key): mask_secret(item) if _SECRET_KEY.search(str(key)) else redact(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    return value


def _dumps(payload: Mapping[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False, default=str, separators=(",", ":"))


class EventMessage:
    """A record's message for an event: ``str()`` is the JSON of the event and its fields.

    Handlers that only read ``record.getMessage()`` (Dagster's managed-logger handler) store that
    JSON; ``JsonFormatter`` uses ``event`` as the message and reads the fields from ``extra``.
    """

    def __init__(self, event: str, fields: Mapping[str, Any]) -> None:
        self.event = event
        self.fields = dict(fields)

    def __str__(self) -> str:
        return _dumps({"event": self.event, **self.fields})


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


def _timestamp(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def record_payload(record: logging.LogRecord, exception: str | None) -> dict[str, Any]:
    """The JSON object of one record: the four standard keys, then the extra fields."""
    message = record.msg.event if isinstance(record.msg, EventMessage) else record.getMessage()
    payload: dict[str, Any] = {
        "timestamp": _timestamp(record),
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
    """One JSON object per record (see ``record_payload``)."""

    def format(self, record: logging.LogRecord) -> str:
        exception = self.formatException(record.exc_info) if record.exc_info else None
        return _dumps(record_payload(record, exception))


def _text_value(value: Any) -> str:
    if isinstance(value, Mapping | list):
        return json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":"))
    return str(value)


class TextFormatter(logging.Formatter):
    """``<timestamp> <LEVEL> <message> key=value ...`` for a terminal (``ESL_LOG_FORMAT=text``)."""

    def format(self, record: logging.LogRecord) -> str:
        exception = self.formatException(record.exc_info) if record.exc_info else None
        payload = record_payload(record, exception)
        head = [payload.pop("timestamp"), payload.pop("level").upper(), payload.pop("message")]
        payload.pop("logger")
        payload.pop("event", None)
        tail = [
            f"{key}={_text_value(value)}" for key, value in payload.items() if value is not None
        ]
        return " ".join(str(part) for part in [*head, *tail])


def configure_logging(
    level: str = "info", log_format: str = "json", stream: TextIO | None = None
) -> logging.Handler:
    """Write the ``esl`` logger tree to ``stream`` (default stderr) as JSON (or text).

    Replaces the handler a previous call installed, so calling it again changes the output.
    """
    logger = logging.getLogger(ROOT_LOGGER)
    for handler in list(logger.handlers):
        if isinstance(handler.formatter, JsonFormatter | TextFormatter):
            logger.removeHandler(handler)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(TextFormatter() if log_format == "text" else JsonFormatter())
    logger.addHandler(handler)
    logger.setLevel(level_number(level))
    logger.propagate = False
    return handler


def logger_from_settings(settings: "Settings", stream: TextIO | None = None) -> "EventLogger":
    """The engine's event logger, its output set as ESL_LOG_LEVEL and ESL_LOG_FORMAT ask."""
    configure_logging(settings.general.log_level, settings.general.log_format, stream)
    return EventLogger()


@runtime_checkable
class PipelineLogger(Protocol):
    def log(
        self,
        level: str,
        message: str,
        *,
        stage: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None: ...

    def bind(self, **fields: Any) -> "PipelineLogger":
        """A logger adding ``fields`` (e.g. ``run_id``, ``job_id``) to every event."""
        ...


class EventLogger:
    """Logs engine events to a standard logger (default ``esl.pipeline``), fields as ``extra``."""

    def __init__(
        self, logger: logging.Logger | None = None, fields: Mapping[str, Any] | None = None
    ) -> None:
        self.logger = logger if logger is not None else logging.getLogger(EVENT_LOGGER)
        self.fields: dict[str, Any] = dict(fields or {})

    def bind(self, **fields: Any) -> "EventLogger":
        return EventLogger(self.logger, {**self.fields, **fields})

    def log(
        self,
        level: str,
        message: str,
        *,
        stage: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        number = level_number(level)
        if not self.logger.isEnabledFor(number):
            return
        fields: dict[str, Any] = {"event": message, **redact(self.fields), **trace_fields()}
        if stage is not None:
            fields["stage"] = stage
        if detail is not None:
            fields["detail"] = redact(detail)
        self.logger.log(number, EventMessage(message, fields), extra=fields)


class NoopLogger(EventLogger):
    """Discards everything (tests and benchmarks that do not look at logs): an ``EventLogger``
    whose logger is disabled and known to no logging configuration, so nothing re-enables it."""

    def __init__(self) -> None:
        discard = logging.Logger("esl.discard")
        discard.disabled = True
        super().__init__(discard)

    def bind(self, **fields: Any) -> "NoopLogger":  # noqa: ARG002
        return self


__all__ = [
    "EVENT_LOGGER",
    "ROOT_LOGGER",
    "EventLogger",
    "EventMessage",
    "JsonFormatter",
    "Level",
    "NoopLogger",
    "PipelineLogger",
    "TextFormatter",
    "configure_logging",
    "extra_fields",
    "level_number",
    "logger_from_settings",
    "mask_secret",
    "record_payload",
    "redact",
]
