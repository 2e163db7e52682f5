"""TTS mode selection: the job option, else the configured default, else ``auto``.

``auto`` follows the lesson: dialogue content (two or more speaker lines) goes to the provider's
dialogue endpoint, monologue content is synthesised line by line.
"""

from typing import Literal, get_args

from esl_dagster.pipeline.errors import ConfigurationError
from esl_dagster.pipeline.lesson.models import StudyTextType

TtsMode = Literal["auto", "monologue", "dialogue"]
ResolvedMode = Literal["monologue", "dialogue"]
TTS_MODES: tuple[str, ...] = get_args(TtsMode)


def parse_mode(value: str | None) -> TtsMode | None:
    """A mode option (trimmed, case-insensitive); None or blank means "not given"."""
    if value is None or not value.strip():
        return None
    lowered = value.strip().lower()
    if lowered == "auto":
        return "auto"
    if lowered == "monologue":
        return "monologue"
    if lowered == "dialogue":
        return "dialogue"
    raise ConfigurationError(f"unknown TTS mode {value!r}; expected one of {', '.join(TTS_MODES)}")


def select_mode(
    option: str | None, content_type: StudyTextType, default: str | None = None
) -> ResolvedMode:
    """The mode a lesson is synthesised in."""
    mode = parse_mode(option) or parse_mode(default) or "auto"
    if mode == "auto":
        return content_type
    return mode
