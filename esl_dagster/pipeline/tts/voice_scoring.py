"""How well a catalog voice fits a speaker: the speaker's needs (gender, role, age, accent,
style, from the profile or guessed from the name) and the points a voice scores against them.
"""

from dataclasses import dataclass

from esl_dagster.pipeline.config.models import CatalogVoice, VoiceCatalog
from esl_dagster.pipeline.lesson.models import SpeakerProfile, StudyTextType

_FEMALE_ENDINGS = ("anna", "maria", "olga", "mara", "sofia", "eva", "lisa", "emma")
_MALE_ENDINGS = ("alex", "john", "mike", "jack", "dan", "peter", "paul", "martin")
_ROLE_HINTS: dict[str, tuple[str, ...]] = {
    "narrator": ("narration", "narrative", "audiobook", "news"),
    "teacher": ("narration", "news", "conversational", "audiobook"),
    "student": ("conversational", "social", "social_media", "characters", "dialogue"),
    "system": ("narration", "news", "conversational"),
}
_STYLE_HINTS: dict[str, tuple[str, ...]] = {
    "professional": ("professional", "narration", "news"),
    "social": ("social", "conversational", "casual"),
    "calm": ("calm", "relaxed", "soothing"),
    "energetic": ("energetic", "hyped", "excited"),
    "creative": ("creative", "expressive"),
    "practical": ("practical", "clear", "confident"),
    "thoughtful": ("thoughtful", "calm", "narration"),
}


@dataclass(frozen=True)
class VoiceNeed:
    """What a speaker's voice should sound like (all values lower-case)."""

    gender: str | None = None
    role: str | None = None
    age: str | None = None
    accent: str | None = None
    style: str | None = None


def folded(value: str | None) -> str:
    """``value`` trimmed and lower-cased ("" for None)."""
    return (value or "").strip().lower()


def guess_gender(name: str) -> str:
    """Gender guessed from a speaker name, used for scoring when no profile gives one.

    Male name endings are checked before the generic ``-a``/``-e`` rule (the original checked
    them after it, which made "Mike" female).
    """
    lowered = folded(name)
    if lowered.endswith(_MALE_ENDINGS):
        return "male"
    if lowered.endswith(("a", "e")) or lowered.endswith(_FEMALE_ENDINGS):
        return "female"
    return "neutral"


def score_voice(voice: CatalogVoice, need: VoiceNeed) -> int:
    """Points for how well ``voice`` fits ``need`` (weights of the original, §1.6)."""
    labels = voice.labels
    use_case = folded(labels.use_case)
    category = folded(voice.category)
    descriptive = folded(labels.descriptive)
    accent = folded(labels.accent)
    score = 0
    if need.gender:
        gender = folded(labels.gender)
        score += 5 if not gender else (40 if gender == need.gender else -15)
    if need.age and labels.age:
        score += 20 if folded(labels.age) == need.age else -5
    if need.accent and accent:
        score += 20 if accent == need.accent else -5
    if need.role == "narrator":
        if "narration" in use_case or "narration" in category:
            score += 30
        elif "news" in use_case:
            score += 10
    elif need.role == "teacher":
        if any(hint in use_case for hint in ("narration", "news", "conversation")):
            score += 20
    elif need.role == "student":
        if "conversation" in use_case:
            score += 10
        elif "social" in use_case:
            score += 5
    if accent:
        score += 3
    hints = _ROLE_HINTS.get(need.role or "")
    if hints and any(hint in use_case for hint in hints):
        score += 10
    if need.style:
        if descriptive == need.style:
            score += 15
        elif descriptive and need.style in descriptive:
            score += 10
        elif any(
            hint in descriptive or hint in use_case for hint in _STYLE_HINTS.get(need.style, ())
        ):
            score += 8
    return score


def pick_voice(
    catalog: VoiceCatalog, need: VoiceNeed, used: set[str], *, speaker: str, strict_gender: bool
) -> tuple[CatalogVoice, int] | None:
    """The best-scoring unused voice (ties keep catalog order), or None."""
    unused = [voice for voice in catalog.voices if voice.id not in used]
    scoring_need = VoiceNeed(
        gender=need.gender or guess_gender(speaker),
        role=need.role or ("narrator" if folded(speaker) == "narrator" else None),
        age=need.age,
        accent=need.accent,
        style=need.style,
    )
    pools = [unused]
    if strict_gender and need.gender:
        pools = [
            [v for v in unused if folded(v.labels.gender) == need.gender],
            [v for v in unused if folded(v.labels.gender) == "neutral"],
            unused,
        ]
    for pool in pools:
        best: tuple[CatalogVoice, int] | None = None
        for voice in pool:
            points = score_voice(voice, scoring_need)
            if best is None or points > best[1]:
                best = (voice, points)
        if best is not None:
            return best
    return None


def need_for(
    speaker: str,
    profile: SpeakerProfile | None,
    content_type: StudyTextType,
    default_accent: str | None,
) -> VoiceNeed:
    name = folded(speaker)
    role = folded(profile.role if profile else None)
    if not role:
        if name == "narrator":
            role = "narrator"
        elif "teacher" in name:
            role = "teacher"
        else:
            role = "narrator" if content_type == "monologue" else "student"
    age = folded(profile.age if profile else None)
    return VoiceNeed(
        gender=folded(profile.gender if profile else None) or None,
        role=role,
        age=None if age in ("", "universal") else age,
        accent=folded(profile.accent if profile else None) or folded(default_accent) or None,
        style=folded(profile.style if profile else None) or None,
    )
