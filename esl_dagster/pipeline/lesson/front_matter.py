"""The front-matter schema (rules FM) and safe conversions of YAML values.

The checks reproduce the original's zod schema and its messages: one problem per failing field,
reported as ``Front matter: <path> - <reason>`` in schema order. When any check fails there is no
:class:`LessonMeta` (the "any FM failure discards meta" coupling of §1.2).

YAML can build cyclic or exponentially shared structures with anchors and aliases, so every
conversion that walks a value here (joining a ``topic`` list, copying values into JSON-safe form)
has a node budget and a depth limit instead of recursing without bound.
"""

import datetime as dt
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import regex

from esl_dagster.pipeline.lesson.models import LessonMeta, SpeakerProfile

REQUIRED_FIELDS = ("title", "student", "level", "topic", "input_type")
KNOWN_INPUT_TYPES = ("generate", "authentic")
PROFILE_TEXT_FIELDS = ("id", "display_name", "role", "gender", "age", "accent", "style", "voice")

# Limits of one conversion (values visited, nesting depth); far above what a real lesson holds.
NODE_BUDGET = 10_000
MAX_DEPTH = 64

_EMOJI_ONLY_RE = regex.compile(r"[\p{Extended_Pictographic}\p{Emoji_Component}]+")
_SCHEME_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):(.*)", re.DOTALL)
# Schemes for which the WHATWG URL parser requires a host.
_HOST_SCHEMES = frozenset({"http", "https", "ftp", "ws", "wss"})
_HOST_END_RE = re.compile(r"[/?#\\]")


@dataclass(frozen=True)
class FieldProblem:
    """One failing field: ``path`` is the key with list indices appended (``speaker_labels.1``)."""

    path: str
    reason: str

    @property
    def message(self) -> str:
        return f"Front matter: {self.path} - {self.reason}"


def check_front_matter(value: Any) -> tuple[list[FieldProblem], LessonMeta | None]:
    """Run the schema over the parsed YAML value; meta is None unless every check passed."""
    if not isinstance(value, dict):
        return [FieldProblem("", _expected("object", value))], None
    problems: list[FieldProblem] = []
    for key in REQUIRED_FIELDS:
        field = value.get(key)
        if key == "topic" and isinstance(field, list):
            field = join_topic(field)
        problems.extend(_check_text(key, field, present=key in value))
    if "speaker_labels" in value:
        problems.extend(_check_labels(value["speaker_labels"]))
    if "speaker_profiles" in value:
        problems.extend(_check_profiles(value["speaker_profiles"]))
    if "icon" in value:
        problems.extend(_check_text("icon", value["icon"], present=True, rule=_emoji_reason))
    if "cover" in value:
        problems.extend(_check_text("cover", value["cover"], present=True, rule=_url_reason))
    if "properties" in value and not isinstance(value["properties"], dict):
        problems.append(FieldProblem("properties", _expected("record", value["properties"])))
    if problems:
        return problems, None
    return [], _build_meta(value)


def join_topic(items: list[Any]) -> str:
    """A ``topic`` list as one string: items joined with ", " (each as JavaScript prints it)."""
    walk = _Walk()
    return ", ".join(walk.text(item, 1) for item in items)


def js_string(value: Any) -> str:
    """``String(value)`` as JavaScript gives it (so nested lists join with ",")."""
    return _Walk().text(value)


def to_jsonable(value: Any) -> Any:
    """A JSON-safe copy of a YAML value: string keys, lists for sequences and sets, ISO dates,
    text for anything else. Values beyond the walk's limits become None (or "")."""
    return _Walk().jsonable(value)


def is_valid_url(text: str) -> bool:
    """Absolute URL check approximating WHATWG parsing (``cover``)."""
    match = _SCHEME_RE.fullmatch(text.strip())
    if match is None:
        return False
    scheme, rest = match.group(1).lower(), match.group(2)
    if scheme not in _HOST_SCHEMES:
        return True
    authority = _HOST_END_RE.split(rest.lstrip("/\\"), maxsplit=1)[0]
    host = authority.rpartition("@")[2]
    return bool(host) and not any(ch.isspace() for ch in host)


def _check_text(
    key: str,
    field: Any,
    *,
    present: bool,
    rule: Callable[[str], str | None] | None = None,
) -> list[FieldProblem]:
    if not present:
        return [FieldProblem(key, "Invalid input: expected string, received undefined")]
    if not isinstance(field, str):
        return [FieldProblem(key, _expected("string", field))]
    if rule is not None:
        reason = rule(field)
        return [FieldProblem(key, reason)] if reason else []
    if not field:
        return [FieldProblem(key, "Too small: expected string to have >=1 characters")]
    return []


def _emoji_reason(text: str) -> str | None:
    return None if _EMOJI_ONLY_RE.fullmatch(text) else "Invalid emoji"


def _url_reason(text: str) -> str | None:
    return None if is_valid_url(text) else "Invalid URL"


def _check_labels(labels: Any) -> list[FieldProblem]:
    if not isinstance(labels, list):
        return [FieldProblem("speaker_labels", _expected("array", labels))]
    problems: list[FieldProblem] = []
    for index, label in enumerate(labels):
        problems.extend(_check_text(f"speaker_labels.{index}", label, present=True))
    return problems


def _check_profiles(profiles: Any) -> list[FieldProblem]:
    if not isinstance(profiles, list):
        return [FieldProblem("speaker_profiles", _expected("array", profiles))]
    return [
        FieldProblem(f"speaker_profiles.{index}", _expected("object", profile))
        for index, profile in enumerate(profiles)
        if not isinstance(profile, dict)
    ]


def _build_meta(value: dict[Any, Any]) -> LessonMeta:
    topic = value["topic"]
    fields: dict[str, Any] = {key: value[key] for key in REQUIRED_FIELDS}
    fields["topic"] = join_topic(topic) if isinstance(topic, list) else topic
    for key in ("speaker_labels", "icon", "cover"):
        if key in value:
            fields[key] = value[key]
    if "speaker_profiles" in value:
        fields["speaker_profiles"] = [_profile(entry) for entry in value["speaker_profiles"]]
    if "properties" in value:
        fields["properties"] = to_jsonable(value["properties"])
    return LessonMeta(**fields)


def _profile(entry: dict[Any, Any]) -> SpeakerProfile:
    """A profile with text fields as text; other string keys are kept as JSON-safe extras."""
    known: dict[str, Any] = {}
    for key, item in entry.items():
        if not isinstance(key, str) or item is None:
            continue
        if key in PROFILE_TEXT_FIELDS:
            known[key] = item if isinstance(item, str) else js_string(item)
        else:
            known[key] = to_jsonable(item)
    return SpeakerProfile.model_validate(known)


def _expected(kind: str, value: Any) -> str:
    return f"Invalid input: expected {kind}, received {_type_name(value)}"


def _type_name(value: Any) -> str:
    """The type name zod reports for a parsed YAML value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dt.date):
        return "Date"
    return "object"


class _Walk:
    """A bounded walk over a YAML value: at most NODE_BUDGET values, MAX_DEPTH levels deep."""

    def __init__(self) -> None:
        self.budget = NODE_BUDGET

    def spend(self, depth: int) -> bool:
        """Count one visited value; False once the walk is over budget or too deep."""
        self.budget -= 1
        return self.budget >= 0 and depth <= MAX_DEPTH

    def text(self, value: Any, depth: int = 0) -> str:
        if not self.spend(depth) or value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        if isinstance(value, list):
            return ",".join(self.text(item, depth + 1) for item in value)
        if isinstance(value, dict):
            return "[object Object]"
        if isinstance(value, dt.date):
            return value.isoformat()
        return str(value)

    def jsonable(self, value: Any, depth: int = 0) -> Any:
        if not self.spend(depth):
            return None
        if value is None or isinstance(value, str | bool | int):
            return value
        if isinstance(value, float):
            return value if math.isfinite(value) else None
        if isinstance(value, dict):
            return {
                self.text(key, depth + 1): self.jsonable(item, depth + 1)
                for key, item in value.items()
            }
        if isinstance(value, list | tuple | set | frozenset):
            return [self.jsonable(item, depth + 1) for item in value]
        if isinstance(value, dt.date):
            return value.isoformat()
        if isinstance(value, bytes):
            return value.decode("utf-8", errors="replace")
        return str(value)
