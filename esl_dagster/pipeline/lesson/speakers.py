"""The study-text speaker-line grammar, shared by the validator and the extractor.

A speaker line (checked on a trimmed line) is a prefix, optional blanks, a colon, optional ``**``,
at least one blank and some text. The prefix is either
``[any name]`` or a plain name of 1-32 characters from ASCII letters, digits, space, ``_ . -`` and
the basic Cyrillic alphabet, optionally wrapped in ``**``. So ``Emma: Hi``, ``[Emma]: Hi``,
``**Emma:** Hi`` and ``**Emma**: Hi`` all name Emma; ``José: hola`` does not match (use brackets).
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass

_SPEAKER_LINE_RE = re.compile(
    r"(?:\[(?P<bracket>[^\]]+)\]|(?:\*\*)?(?P<plain>[A-Za-z0-9 _.\-\u0401\u0410-\u044f\u0451]{1,32})(?:\*\*)?)"
    r"\s*:(?:\*\*)?\s+(?P<text>.+)"
)

NARRATOR = "narrator"


@dataclass(frozen=True)
class SpeakerLine:
    """A matched speaker line: ``name`` is trimmed with ``**`` removed (may be empty for ``[ ]``)."""

    name: str
    text: str


def match_speaker_line(line: str) -> SpeakerLine | None:
    """Parse a trimmed study-text line; None when it is not a speaker line."""
    match = _SPEAKER_LINE_RE.fullmatch(line)
    if match is None:
        return None
    raw_name = match.group("bracket")
    if raw_name is None:
        raw_name = match.group("plain")
    return SpeakerLine(name=raw_name.replace("**", "").strip(), text=match.group("text"))


def label_set(labels: Iterable[str]) -> set[str]:
    """Labels as compared against speaker names: trimmed, lower-cased, de-duplicated."""
    return {label.strip().lower() for label in labels}


def speakers_enforced(labels: Iterable[str] | None) -> bool:
    """True when ``speaker_labels`` require "Speaker: text" lines.

    That is the case when there is at least one label and the labels are not just "Narrator":
    a narrator-only list means free prose.
    """
    if labels is None:
        return False
    normalised = label_set(labels)
    return bool(normalised) and normalised != {NARRATOR}


def default_speaker(labels: list[str]) -> str | None:
    """Who speaks prose that comes before any speaker line: the only label, else the first
    non-narrator label (the original TTS stage's rule), else None."""
    names = [label.strip() for label in labels if label.strip()]
    if len(names) == 1:
        return names[0]
    for name in names:
        if name.lower() != NARRATOR:
            return name
    return names[0] if names else None
