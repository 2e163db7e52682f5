"""Reading the environment once, and placing variable values at their settings fields."""

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from esl_dagster.pipeline.settings_variables import UNUSED, VARIABLES


def _first_set(names: Iterable[str], values: Mapping[str, Any]) -> Any:
    for name in names:
        value = values.get(name)
        if value is not None and value != "":
            return value
    return None


def nest(variables: Mapping[str, Any]) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """``(sections, unused)``: the values of ``variables`` (name -> value, any case) placed at
    their fields, and the preferred names of the set unused variables."""
    upper = {name.upper(): value for name, value in variables.items()}
    sections: dict[str, dict[str, Any]] = {}
    for row in VARIABLES:
        value = _first_set(row.names, upper)
        if value is not None:
            sections.setdefault(row.section, {})[row.name] = value
    unused = [names[0] for names in UNUSED if _first_set(names, upper) is not None]
    return sections, unused


class _VariablesSource(PydanticBaseSettingsSource):
    """The process environment over the ``.env`` file, as read by pydantic-settings."""

    def __init__(self, settings_cls: type[BaseSettings], *layers: PydanticBaseSettingsSource):
        super().__init__(settings_cls)
        self._layers = layers

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # noqa: ARG002
        return None, field_name, False  # the whole mapping is returned by __call__

    def __call__(self) -> dict[str, Any]:
        merged: dict[str, str] = {}
        for layer in self._layers:
            env_vars = getattr(layer, "env_vars", {})
            merged.update({name.upper(): value for name, value in env_vars.items() if value})
        return {"values": merged}


class _Environment(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    values: dict[str, str] = {}

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,  # noqa: ARG003
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,  # noqa: ARG003
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (_VariablesSource(settings_cls, dotenv_settings, env_settings),)


def read_environment(env_file: Path | str | None = ".env") -> dict[str, str]:
    """Every non-empty variable of the process environment and ``env_file`` (the environment
    wins), names upper-cased."""
    return _Environment(_env_file=env_file).values
