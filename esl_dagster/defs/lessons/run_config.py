"""The ``validate_lesson`` run config: the engine's ``JobOptions`` fields as a typed ``dg.Config``.

The class is generated from ``JobOptions`` so the fields exist in one place. Dagster config has no
``Literal`` type, so each ``Literal`` becomes an ``Enum`` of the same values (a dropdown in the UI
launchpad, checked when a run is launched); range and pattern checks stay with ``JobOptions``,
which :meth:`LessonConfigBase.to_options` applies.
"""

import enum
import types
import typing
from typing import TYPE_CHECKING, Any, Literal

import dagster as dg
import pydantic

from esl_dagster.pipeline.options import JobOptions


class LessonConfigBase(dg.Config):
    """What every generated lesson config offers: conversion to the engine's options."""

    def to_options(self) -> JobOptions:
        """The validated engine options (raises ``pydantic.ValidationError`` when out of range)."""
        values = {
            name: value.value if isinstance(value, enum.Enum) else value
            for name, value in self.model_dump().items()
        }
        if values.get("rerun_steps") is not None:
            values["rerun_steps"] = [
                step.value if isinstance(step, enum.Enum) else step
                for step in values["rerun_steps"]
            ]
        return JobOptions.model_validate(values)


def options_to_run_config(options: JobOptions) -> dict[str, Any]:
    """``validate_lesson``'s config block for ``options`` (defaults left out, JSON-ready)."""
    return options.model_dump(mode="json", exclude_defaults=True)


def _config_type(annotation: Any, name: str) -> Any:
    """``annotation`` with every ``Literal`` replaced by an ``Enum`` Dagster config understands."""
    origin = typing.get_origin(annotation)
    if origin is Literal:
        values = typing.get_args(annotation)
        return enum.Enum(name, {str(value): value for value in values})
    if origin in (typing.Union, types.UnionType):
        args = tuple(_config_type(arg, name) for arg in typing.get_args(annotation))
        return typing.Union[args]  # noqa: UP007 - built from a runtime tuple
    if origin is list:
        (item,) = typing.get_args(annotation)
        return list[_config_type(item, name)]  # type: ignore[misc]
    return annotation


def _build_lesson_config() -> type[LessonConfigBase]:
    fields: dict[str, Any] = {}
    for field_name, info in JobOptions.model_fields.items():
        enum_name = "".join(part.title() for part in field_name.split("_"))
        default = ... if info.is_required() else info.default
        fields[field_name] = (
            _config_type(info.annotation, enum_name),
            pydantic.Field(default=default, description=info.description),
        )
    model: type[LessonConfigBase] = pydantic.create_model(
        "LessonRunConfig", __base__=LessonConfigBase, __module__=__name__, **fields
    )
    return model


if TYPE_CHECKING:
    LessonRunConfig = LessonConfigBase
else:
    LessonRunConfig = _build_lesson_config()
