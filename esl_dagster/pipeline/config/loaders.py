"""Read and validate the config files into the typed models of ``config.models``.

Two layers: ``parse_*`` functions validate already-read content and label every error with a
``source`` (a file path or a URL), so the local and the remote provider share them; ``load_*``
functions read a file and call the matching parser. Every failure is a ``ConfigurationError``
whose message names the source and the field, e.g.
``presets.json: preset "x" field h2: 'yelow' is not a Notion colour (one of default, ...)``.
Unlike the original, a broken file is never skipped silently.
"""

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, get_args

import pydantic
import yaml

from esl_dagster.pipeline.config.models import (
    NotionColor,
    Preset,
    StudentProfile,
    VoiceCatalog,
    VoicesMap,
)
from esl_dagster.pipeline.errors import ConfigurationError
from esl_dagster.pipeline.lesson.document import load_yaml

DEFAULT_STUDENT_NAME = "Default"
DEFAULT_PRESET_NAME = "b1-default"

_NOTION_COLORS: tuple[str, ...] = get_args(NotionColor)
_VOICES_RESERVED_KEYS = ("auto", "default")


def default_student_profile() -> StudentProfile:
    """The built-in profile used when no profile is named ``Default`` (as in the original)."""
    return StudentProfile(student=DEFAULT_STUDENT_NAME, color_preset=DEFAULT_PRESET_NAME)


# ##### error formatting


def _describe_error(error: Any) -> str:
    """One pydantic error entry as ``field <path>: <reason>`` (path in the file's own key names)."""
    location = ".".join(str(part) for part in error["loc"])
    value = error.get("input")
    if error["type"] == "literal_error" and "'yellow_background'" in error["ctx"]["expected"]:
        reason = f"{value!r} is not a Notion colour (one of {', '.join(_NOTION_COLORS)})"
    elif error["type"] == "missing":
        reason = "is required"
    else:
        reason = str(error["msg"])
        if value is not None and not isinstance(value, dict | list):
            reason = f"{reason} (got {value!r})"
    return f"field {location}: {reason}" if location else reason


def _validation_message(source: str, subject: str, exc: pydantic.ValidationError) -> str:
    details = "; ".join(_describe_error(error) for error in exc.errors())
    prefix = f"{source}: {subject} " if subject else f"{source}: "
    return f"{prefix}{details}"


@contextmanager
def os_errors_as_configuration(path: Path, *, missing: str | None = None) -> Iterator[None]:
    """Turn an OSError about ``path`` into a ConfigurationError naming it: ``missing`` when the
    path does not exist (if given), else the reason the OS gives for not reading it."""
    try:
        yield
    except OSError as exc:
        if missing is not None and isinstance(exc, FileNotFoundError):
            raise ConfigurationError(f"{path}: {missing}") from exc
        raise ConfigurationError(f"{path}: cannot be read ({exc.strerror or exc})") from exc


def _read_text(path: Path) -> str:
    with os_errors_as_configuration(path, missing="file not found"):
        try:
            return path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigurationError(f"{path}: not UTF-8 text ({exc.reason})") from exc


def parse_json(text: str, source: str) -> Any:
    """Decode JSON, naming the source and the position of a syntax error."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigurationError(
            f"{source}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from exc


def _type_name(value: object) -> str:
    return "null" if value is None else type(value).__name__


# ##### presets.json


def parse_presets(data: object, source: str) -> dict[str, Preset]:
    """Validate a decoded ``presets.json``: an object of preset name -> preset object."""
    if not isinstance(data, dict):
        raise ConfigurationError(
            f"{source}: expected a JSON object of presets, got {_type_name(data)}"
        )
    presets: dict[str, Preset] = {}
    for name, body in data.items():
        if not isinstance(body, dict):
            raise ConfigurationError(
                f'{source}: preset "{name}" must be a JSON object, got {_type_name(body)}'
            )
        try:
            presets[name] = Preset.model_validate(body)
        except pydantic.ValidationError as exc:
            raise ConfigurationError(_validation_message(source, f'preset "{name}"', exc)) from exc
    return presets


def load_presets(path: Path) -> dict[str, Preset]:
    """Load ``presets.json`` (preset name -> Preset)."""
    return parse_presets(parse_json(_read_text(path), str(path)), str(path))


# ##### students/*.json


def parse_student_profile(data: object, source: str) -> StudentProfile:
    """Validate one student profile object; the name is trimmed and must not be empty."""
    if not isinstance(data, dict):
        raise ConfigurationError(
            f"{source}: expected a JSON object (a student profile), got {_type_name(data)}"
        )
    name = data.get("student")
    if isinstance(name, str):
        data = {**data, "student": name.strip()}
    try:
        return StudentProfile.model_validate(data)
    except pydantic.ValidationError as exc:
        raise ConfigurationError(_validation_message(source, "", exc)) from exc


def finalize_student_profiles(
    profiles: Iterable[tuple[str, StudentProfile]],
) -> list[StudentProfile]:
    """Reject duplicate names, add the built-in ``Default`` when missing, sort by name.

    Names are compared case-insensitively because ``find_student`` matches that way, so two
    profiles differing only in case would make a lookup ambiguous.
    """
    seen: dict[str, str] = {}
    result: list[StudentProfile] = []
    for source, profile in profiles:
        key = profile.student.casefold()
        if key in seen:
            raise ConfigurationError(
                f'{source}: student "{profile.student}" is already defined in {seen[key]}'
            )
        seen[key] = source
        result.append(profile)
    if DEFAULT_STUDENT_NAME.casefold() not in seen:
        result.append(default_student_profile())
    return sorted(result, key=lambda profile: (profile.student.casefold(), profile.student))


def parse_student_profiles_array(data: object, source: str) -> list[StudentProfile]:
    """Validate a JSON array of profiles (the remote ``students.json``)."""
    if not isinstance(data, list):
        raise ConfigurationError(
            f"{source}: expected a JSON array of student profiles, got {_type_name(data)}"
        )
    labelled = [
        (f"{source}[{index}]", parse_student_profile(item, f"{source}[{index}]"))
        for index, item in enumerate(data)
    ]
    return finalize_student_profiles(labelled)


def student_profile_files(directory: Path) -> list[Path]:
    """The ``*.json`` files (any case, not recursive) of a students folder, sorted by name."""
    with os_errors_as_configuration(directory, missing="students folder not found"):
        try:
            entries = list(directory.iterdir())
        except NotADirectoryError as exc:
            raise ConfigurationError(f"{directory}: students path is not a folder") from exc
    return sorted(
        (entry for entry in entries if entry.suffix.lower() == ".json" and entry.is_file()),
        key=lambda entry: entry.name,
    )


def load_student_profiles(directory: Path) -> list[StudentProfile]:
    """Load every profile of a students folder, plus the built-in ``Default``, sorted by name."""
    labelled = []
    for path in student_profile_files(directory):
        data = parse_json(_read_text(path), str(path))
        labelled.append((str(path), parse_student_profile(data, str(path))))
    return finalize_student_profiles(labelled)


# ##### voices.yml


def _parse_auto(value: object, source: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "false"}:
        return value.strip().lower() == "true"
    raise ConfigurationError(f"{source}: field auto: expected true or false, got {value!r}")


def _parse_voice(key: str, value: object, source: str) -> str:
    if isinstance(value, dict | list):
        raise ConfigurationError(
            f'{source}: field "{key}": nested values are not supported; write a flat '
            f'"{key}: <voice name or id>" line'
        )
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(
            f'{source}: field "{key}": expected a voice name or id (a string), got {value!r}'
        )
    return value.strip()


def parse_voices_map(text: str, source: str) -> VoicesMap:
    """Validate ``voices.yml`` text: a flat mapping of ``auto``, ``default`` and speakers."""
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigurationError(f"{source}: invalid YAML{where}: {problem}") from exc
    if data is None:
        return VoicesMap()
    if not isinstance(data, dict):
        raise ConfigurationError(
            f"{source}: expected a mapping of speaker -> voice, got {_type_name(data)}"
        )
    auto = True
    default: str | None = None
    speakers: dict[str, str] = {}
    for key, value in data.items():
        if not isinstance(key, str):
            raise ConfigurationError(f"{source}: key {key!r} must be a speaker name (a string)")
        if key == "auto":
            auto = _parse_auto(value, source)
        elif key == "default":
            default = None if value is None else _parse_voice(key, value, source)
        else:
            speakers[key] = _parse_voice(key, value, source)
    return VoicesMap(auto=auto, default=default, speakers=speakers)


def load_voices_map(path: Path) -> VoicesMap:
    """Load ``voices.yml``."""
    return parse_voices_map(_read_text(path), str(path))


# ##### elevenlabs.voices.json


def parse_voice_catalog(data: object, source: str) -> VoiceCatalog:
    """Validate a decoded voice catalog ``{"voices": [...]}``."""
    if not isinstance(data, dict):
        raise ConfigurationError(
            f'{source}: expected a JSON object with a "voices" array, got {_type_name(data)}'
        )
    try:
        return VoiceCatalog.model_validate(data)
    except pydantic.ValidationError as exc:
        raise ConfigurationError(_validation_message(source, "", exc)) from exc


def load_voice_catalog(path: Path) -> VoiceCatalog:
    """Load ``elevenlabs.voices.json``."""
    return parse_voice_catalog(parse_json(_read_text(path), str(path)), str(path))


__all__ = [
    "DEFAULT_PRESET_NAME",
    "DEFAULT_STUDENT_NAME",
    "default_student_profile",
    "finalize_student_profiles",
    "load_presets",
    "load_student_profiles",
    "load_voice_catalog",
    "load_voices_map",
    "os_errors_as_configuration",
    "parse_json",
    "parse_presets",
    "parse_student_profile",
    "parse_student_profiles_array",
    "parse_voice_catalog",
    "parse_voices_map",
    "student_profile_files",
]
