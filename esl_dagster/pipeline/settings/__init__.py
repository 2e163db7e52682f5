"""The one typed settings object: environment variables (and an optional ``.env``) -> values.

Engine modules never read ``os.environ``; callers build a ``Settings`` here and pass explicit
values down. The environment is read once (:func:`load_settings`); the Dagster resources bind the
same variable names as ``dg.EnvVar`` and build the same object with
:func:`settings_from_variables`. The variable names, the seed's aliases included, are mapped in
one table (:mod:`esl_dagster.pipeline.settings_variables`); the fields, defaults and meanings
live in small sections (Notion, speech, storage, MinIO, manifests, config files, Postgres, API),
so ``settings_table()`` produces the README's configuration table from this package alone.
"""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pydantic
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

from esl_dagster.pipeline.errors import ConfigurationError
from esl_dagster.pipeline.settings.environment import nest, read_environment
from esl_dagster.pipeline.settings.model import Settings
from esl_dagster.pipeline.settings.platform import ConfigProviderKind, LogLevel
from esl_dagster.pipeline.settings.services import TtsMode
from esl_dagster.pipeline.settings.storage import ManifestStoreKind, S3Settings
from esl_dagster.pipeline.settings_variables import (
    UNUSED,
    VARIABLES,
    accepted_variables,
    preferred_variable,
)


def _field(path: str) -> FieldInfo:
    section, _, name = path.partition(".")
    model = Settings.model_fields[section].default_factory
    assert isinstance(model, type) and issubclass(model, BaseModel)
    return model.model_fields[name]


def _default_text(value: object) -> str:
    return "" if value is None or isinstance(value, SecretStr) else str(value)


def settings_table() -> list[tuple[str, str, str]]:
    """``(variables, default, meaning)`` rows for the README's configuration table.

    ``variables`` lists the preferred name first and the accepted aliases after it.
    """
    rows = [
        (
            " / ".join(row.names),
            _default_text(_field(row.field).default),
            _field(row.field).description or "",
        )
        for row in VARIABLES
    ]
    rows += [
        (" / ".join(names), "", f"Accepted, unused: {reason}.") for names, reason in UNUSED.items()
    ]
    return rows


def variable_for(field: str) -> str:
    """The preferred environment variable of a settings field (``"section.name"``)."""
    return preferred_variable(field)


def settings_from_variables(variables: Mapping[str, Any]) -> Settings:
    """``Settings`` from variable name -> value (names of the table, any case; empty = unset).

    A malformed value (e.g. ``ESL_LOG_FORMAT=xml``) becomes a ``ConfigurationError`` naming the
    variable instead of a pydantic traceback; a secret's value is never echoed.
    """
    sections, unused = nest(variables)
    try:
        return Settings.model_validate({**sections, "unused_variables": tuple(unused)})
    except pydantic.ValidationError as exc:
        messages = []
        for error in exc.errors():
            path = ".".join(str(part) for part in error["loc"][:2])
            known = any(row.field == path for row in VARIABLES)
            variable = variable_for(path) if known else path
            secret = known and "SecretStr" in str(_field(path).annotation)
            shown = "***" if secret else repr(error.get("input"))
            messages.append(f"{variable}: {error['msg']} (got {shown})")
        raise ConfigurationError("invalid configuration: " + "; ".join(messages)) from exc


def load_settings(env_file: Path | str | None = ".env", **variables: Any) -> Settings:
    """Read the settings from the environment (and ``env_file`` when it exists), once.

    ``variables`` (by variable name, e.g. ``PIPELINE_CWD=...``) win over the environment.
    """
    return settings_from_variables({**read_environment(env_file), **variables})


__all__ = [
    "ConfigProviderKind",
    "LogLevel",
    "ManifestStoreKind",
    "S3Settings",
    "Settings",
    "TtsMode",
    "accepted_variables",
    "load_settings",
    "settings_from_variables",
    "settings_table",
    "variable_for",
]
