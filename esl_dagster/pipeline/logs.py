"""The engine's logs: standard ``logging`` under the ``esl`` logger, one JSON object per line.

Engine code logs events through an ``EventLogger``: the message is the original's event name
(``stage.tts.success``, ``pipeline.newAssignment.start``, ...) and the structured fields
(``event``, ``run_id``, ``job_id``, ``stage``, ``detail``) travel as the record's ``extra``.
``JsonFormatter`` renders a record as ``timestamp`` (ISO-8601 UTC), ``level``, ``logger``,
``message``, then the extra fields, then ``trace_id`` and ``span_id`` while a span is current:
:mod:`esl_common.json_logs`'s lines, the API shim's too, with the event name as the message.

Inside a Dagster run the ``esl`` logger is one of the instance's managed Python loggers
(``python_logs`` in ``dagster.yaml``): Dagster stores ``record.getMessage()``, which for an event
is the JSON of the event name and its fields (``EventMessage``), so the run's log shows JSON.
Secrets are never logged: ``detail`` values under secret-looking keys are masked.
"""

import logging
import re
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, TextIO

from esl_common import json_logs
from esl_common.json_logs import dumps
from esl_common.tracing import trace_fields

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


class EventMessage:
    """A record's message for an event: ``str()`` is the JSON of the event and its fields.

    Handlers that only read ``record.getMessage()`` (Dagster's managed-logger handler) store that
    JSON; ``JsonFormatter`` uses ``event`` as the message and reads the fields from ``extra``.
    """

    def __init__(self, event: str, fields: Mapping[str, Any]) -> None:
        self.event = event
        self.fields = dict(fields)

    def __str__(self) -> str:
        return dumps({"event": self.event, **self.fields})


def _message(record: logging.LogRecord) -> str:
    """A record's ``message`` key: an event's name, else the formatted message."""
    return record.msg.event if isinstance(record.msg, EventMessage) else record.getMessage()


def record_payload(record: logging.LogRecord, exception: str | None) -> dict[str, Any]:
    """The JSON object of one record (see :func:`esl_common.json_logs.record_payload`)."""
    return json_logs.record_payload(record, _message(record), exception)


class JsonFormatter(json_logs.JsonFormatter):
    """One JSON object per record (see ``record_payload``)."""

    def message(self, record: logging.LogRecord) -> str:
        return _message(record)


def _text_value(value: Any) -> str:
    return dumps(value) if isinstance(value, Mapping | list) else str(value)


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


class EventLogger:
    """Logs engine events to a standard logger (default ``esl.pipeline``), fields as ``extra``."""

    def __init__(
        self, logger: logging.Logger | None = None, fields: Mapping[str, Any] | None = None
    ) -> None:
        self.logger = logger if logger is not None else logging.getLogger(EVENT_LOGGER)
        self.fields: dict[str, Any] = dict(fields or {})

    def bind(self, **fields: Any) -> "EventLogger":
        """A logger adding ``fields`` (e.g. ``run_id``, ``job_id``) to every event."""
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
    "TextFormatter",
    "configure_logging",
    "level_number",
    "logger_from_settings",
    "mask_secret",
    "record_payload",
    "redact",
]
