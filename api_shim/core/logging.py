"""Structured JSON logs: one object per line, for the shim's loggers and uvicorn's.

Lines are :mod:`esl_common.json_logs`'s (``timestamp``, ``level``, ``logger``, ``message``, the
``extra`` fields, ``trace_id`` and ``span_id``): the same formatter as the engine's.
``log_config()`` is the ``logging.config.dictConfig`` dictionary for uvicorn's ``log_config``.
"""

import logging
import logging.config
from typing import Any

from esl_common.json_logs import JsonFormatter

LOGGER_NAME = "api_shim"
ACCESS_LOGGER_NAME = "api_shim.access"
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


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


__all__ = [
    "ACCESS_LOGGER_NAME",
    "LOGGER_NAME",
    "UVICORN_LOGGERS",
    "JsonFormatter",
    "configure_logging",
    "log_config",
]
