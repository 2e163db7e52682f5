"""From study-text lines to spoken segments and the ordered speaker list used for casting."""

from collections.abc import Sequence
from dataclasses import dataclass

from esl_dagster.pipeline.lesson.models import SpeakerProfile, StudyText
from esl_dagster.pipeline.lesson.speakers import default_speaker

NARRATOR = "Narrator"


@dataclass(frozen=True)
class Segment:
    """One line to speak: ``speaker`` is the canonical speaker name (None: no speaker known)."""

    speaker: str | None
    text: str


def plan_segments(study_text: StudyText, speaker_labels: Sequence[str] = ()) -> list[Segment]:
    """Speakable segments in order.

    Speaker names are matched case-insensitively and spelled as in ``speaker_labels`` (else as
    first seen), so ``agent:`` and ``Agent:`` are one speaker with one voice. A line without a
    speaker inherits the previous line's speaker (or the default speaker for leading prose).
    Lines with no speakable text are dropped.
    """
    canonical = {label.strip().lower(): label.strip() for label in speaker_labels if label.strip()}
    previous = default_speaker(list(speaker_labels))
    segments: list[Segment] = []
    for line in study_text.lines:
        text = " ".join(line.text.split())
        if not text:
            continue
        speaker = line.speaker.strip() if line.speaker and line.speaker.strip() else None
        if speaker is not None:
            speaker = canonical.setdefault(speaker.lower(), speaker)
            previous = speaker
        segments.append(Segment(speaker or previous, text))
    return segments


def order_speakers(
    segments: Sequence[Segment],
    speaker_labels: Sequence[str] = (),
    profiles: Sequence[SpeakerProfile] = (),
) -> list[str]:
    """Speakers in casting order: the segments' speakers by first appearance, then unused
    labels (a "narrator" label only when the narrator speaks or nobody is named), then the first
    profile's id, then ``Narrator``."""
    ordered: dict[str, str] = {}
    for segment in segments:
        if segment.speaker:
            ordered.setdefault(segment.speaker.lower(), segment.speaker)
    named = bool(ordered)
    for label in speaker_labels:
        key = label.strip().lower()
        if not key or key in ordered:
            continue
        if key == "narrator" and named and "narrator" not in ordered:
            continue
        ordered[key] = label.strip()
    if not ordered:
        first_id = next((p.id.strip() for p in profiles if p.id and p.id.strip()), None)
        ordered["_"] = first_id or NARRATOR
    return list(ordered.values())
