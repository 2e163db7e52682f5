"""Speaker -> voice casting (reference tts-and-storage §1.6, pipeline-and-backend §1.8).

Per speaker, in order: the profile's ``voice`` (else the voices.yml entry), then the map's
``default`` (each only while no earlier speaker took it), then catalog scoring (when ``auto`` is
on or the speaker has a profile), then the first unused voice of a fixed priority list and then
any unused voice, and only then reuse of the default or the explicit voice. So no voice is reused
while another one fits.

A provider with a closed voice set (espeak) cannot use a requested voice outside its catalog: the
casting goes on without it and reports it as an :class:`UnusableVoice`, never silently.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict

from esl_dagster.pipeline.config.models import CatalogVoice, VoiceCatalog, VoicesMap
from esl_dagster.pipeline.errors import ConfigurationError
from esl_dagster.pipeline.lesson.models import SpeakerProfile, StudyTextType

VoiceSource = Literal["profile", "voiceMap", "default", "auto", "fallback", "reuse"]
VoiceRequest = Literal["profile", "voiceMap", "default", "voiceId"]
"""Where a requested voice came from: the speaker's profile, its voices.yml entry, the voices.yml
``default`` or the run's forced voice (``--voice-id`` / ``voice_id``)."""

FALLBACK_PRIORITY: tuple[str, ...] = (
    "liam",
    "sarah",
    "george",
    "alice",
    "charlie",
    "matilda",
    "bella",
    "river",
    "callum",
    "laura",
    "roger",
    "clyde",
    "harry",
)
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


class VoiceAssignment(BaseModel):
    """The voice chosen for one speaker and why (recorded in the manifest)."""

    model_config = ConfigDict(frozen=True)

    speaker: str
    voice_id: str
    source: VoiceSource
    score: float | None = None
    voice_name: str | None = None
    gender: str | None = None
    accent: str | None = None
    use_case: str | None = None


@dataclass(frozen=True)
class UnusableVoice:
    """A requested voice the active catalog lacks, and what ``speaker`` got instead (for a
    default or forced voice: the first speaker it would have gone to)."""

    token: str
    origin: VoiceRequest
    speaker: str
    instead: VoiceAssignment


@dataclass(frozen=True)
class VoiceCasting:
    """Every speaker's voice, and the requested voices that could not be used."""

    assignments: list[VoiceAssignment]
    unusable: list[UnusableVoice]


@dataclass(frozen=True)
class VoiceNeed:
    """What a speaker's voice should sound like (all values lower-case)."""

    gender: str | None = None
    role: str | None = None
    age: str | None = None
    accent: str | None = None
    style: str | None = None


@dataclass(frozen=True)
class VoicePreference:
    """A run's forced default voice (catalog id or raw token) and accent preference."""

    voice: str | None
    accent: str | None


def _lower(value: str | None) -> str:
    return (value or "").strip().lower()


def guess_gender(name: str) -> str:
    """Gender guessed from a speaker name, used for scoring when no profile gives one.

    Male name endings are checked before the generic ``-a``/``-e`` rule (the original checked
    them after it, which made "Mike" female).
    """
    lowered = _lower(name)
    if lowered.endswith(_MALE_ENDINGS):
        return "male"
    if lowered.endswith(("a", "e")) or lowered.endswith(_FEMALE_ENDINGS):
        return "female"
    return "neutral"


def score_voice(voice: CatalogVoice, need: VoiceNeed) -> int:
    """Points for how well ``voice`` fits ``need`` (weights of the original, §1.6)."""
    labels = voice.labels
    use_case = _lower(labels.use_case)
    category = _lower(voice.category)
    descriptive = _lower(labels.descriptive)
    accent = _lower(labels.accent)
    score = 0
    if need.gender:
        gender = _lower(labels.gender)
        score += 5 if not gender else (40 if gender == need.gender else -15)
    if need.age and labels.age:
        score += 20 if _lower(labels.age) == need.age else -5
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
        role=need.role or ("narrator" if _lower(speaker) == "narrator" else None),
        age=need.age,
        accent=need.accent,
        style=need.style,
    )
    pools = [unused]
    if strict_gender and need.gender:
        pools = [
            [v for v in unused if _lower(v.labels.gender) == need.gender],
            [v for v in unused if _lower(v.labels.gender) == "neutral"],
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


def find_profile(speaker: str, profiles: Sequence[SpeakerProfile]) -> SpeakerProfile | None:
    """The profile whose id equals ``speaker`` exactly, else case-insensitively."""
    for profile in profiles:
        if profile.id is not None and profile.id.strip() == speaker.strip():
            return profile
    lowered = _lower(speaker)
    for profile in profiles:
        if profile.id is not None and _lower(profile.id) == lowered:
            return profile
    return None


def _need_for(
    speaker: str,
    profile: SpeakerProfile | None,
    content_type: StudyTextType,
    default_accent: str | None,
) -> VoiceNeed:
    name = _lower(speaker)
    role = _lower(profile.role if profile else None)
    if not role:
        if name == "narrator":
            role = "narrator"
        elif "teacher" in name:
            role = "teacher"
        else:
            role = "narrator" if content_type == "monologue" else "student"
    age = _lower(profile.age if profile else None)
    return VoiceNeed(
        gender=_lower(profile.gender if profile else None) or None,
        role=role,
        age=None if age in ("", "universal") else age,
        accent=_lower(profile.accent if profile else None) or _lower(default_accent) or None,
        style=_lower(profile.style if profile else None) or None,
    )


def resolve_voice_preferences(
    catalog: VoiceCatalog, voice: str | None, accent: str | None
) -> VoicePreference:
    """Canonicalise a run's voice/accent options (pipeline-and-backend §1.8).

    A voice matching the catalog becomes its id and, without an accent, lends its accent label.
    Otherwise an "accent" that names a catalog voice selects that voice and its accent.
    """
    if voice and voice.strip():
        match = catalog.find(voice)
        if match is not None:
            return VoicePreference(match.id, accent or match.labels.accent or None)
        return VoicePreference(voice.strip(), accent)
    if accent and accent.strip():
        match = catalog.find(accent)
        if match is not None:
            return VoicePreference(match.id, match.labels.accent or None)
        return VoicePreference(None, accent.strip())
    return VoicePreference(None, None)


def _assignment(
    speaker: str,
    voice_id: str,
    source: VoiceSource,
    catalog: VoiceCatalog,
    score: float | None = None,
) -> VoiceAssignment:
    voice = catalog.find(voice_id)
    return VoiceAssignment(
        speaker=speaker,
        voice_id=voice_id,
        source=source,
        score=score,
        voice_name=voice.name if voice else None,
        gender=(voice.labels.gender or None) if voice else None,
        accent=(voice.labels.accent or None) if voice else None,
        use_case=(voice.labels.use_case or None) if voice else None,
    )


def assign_voices(
    speakers: Sequence[str],
    *,
    profiles: Sequence[SpeakerProfile],
    voices_map: VoicesMap,
    catalog: VoiceCatalog,
    content_type: StudyTextType,
    default_accent: str | None = None,
    default_voice: str | None = None,
    accept_unknown_tokens: bool = True,
) -> VoiceCasting:
    """Cast every speaker (see the module docstring).

    ``default_voice`` (the run's forced voice) overrides the map's ``default``. A voice token is a
    catalog id or name; one outside the catalog is used verbatim as a voice id when
    ``accept_unknown_tokens`` is True, otherwise it is skipped and reported in ``unusable``
    (providers with a closed voice set, such as espeak).
    """
    missed: list[tuple[str, VoiceRequest]] = []

    def resolve(token: str | None, origin: VoiceRequest) -> str | None:
        if not token or not token.strip():
            return None
        match = catalog.find(token)
        if match is not None:
            return match.id
        if accept_unknown_tokens:
            return token.strip()
        missed.append((token.strip(), origin))
        return None

    default_id = resolve(
        default_voice or voices_map.default, "voiceId" if default_voice else "default"
    )
    missed_default = missed[:]
    missed.clear()
    unusable: list[UnusableVoice] = []
    used: set[str] = set()
    result: list[VoiceAssignment] = []
    for speaker in speakers:
        profile = find_profile(speaker, profiles)
        explicit_source: VoiceSource = "profile"
        explicit_id = resolve(profile.voice, "profile") if profile and profile.voice else None
        if explicit_id is None:
            explicit_source = "voiceMap"
            explicit_id = resolve(voices_map.speakers.get(speaker), "voiceMap")
        chosen = _cast_one(
            speaker,
            profile=profile,
            explicit=(explicit_id, explicit_source),
            default_id=default_id,
            auto=voices_map.auto,
            catalog=catalog,
            used=used,
            need=_need_for(speaker, profile, content_type, default_accent),
        )
        if explicit_id is None or explicit_id in used:
            # The default (or forced) voice would have gone to this speaker: report it here.
            missed[:0] = missed_default
            missed_default = []
        unusable.extend(UnusableVoice(token, origin, speaker, chosen) for token, origin in missed)
        missed.clear()
        used.add(chosen.voice_id)
        result.append(chosen)
    return VoiceCasting(result, unusable)


def describe_unusable(item: UnusableVoice, provider: str, configured: VoiceCatalog) -> str:
    """One warning line: the voice, where it was asked for, why ``provider`` could not use it
    (``configured`` is the ElevenLabs catalog) and what it picked instead."""
    where = {
        "profile": f"speaker profile of {item.speaker}",
        "voiceMap": f"voices.yml entry for {item.speaker}",
        "default": "voices.yml default",
        "voiceId": "--voice-id / voice_id",
    }[item.origin]
    known = configured.find(item.token)
    why = "is an ElevenLabs voice" if known else f"is not in the {provider} voice catalog"
    instead = item.instead
    picked = instead.voice_id
    if instead.voice_name:
        picked = f"{instead.voice_name} ({instead.voice_id})"
    return f"voice {item.token!r} ({where}) {why}; {provider} picked {picked} for {item.speaker}"


def _cast_one(
    speaker: str,
    *,
    profile: SpeakerProfile | None,
    explicit: tuple[str | None, VoiceSource],
    default_id: str | None,
    auto: bool,
    catalog: VoiceCatalog,
    used: set[str],
    need: VoiceNeed,
) -> VoiceAssignment:
    explicit_id, explicit_source = explicit
    for candidate, source in ((explicit_id, explicit_source), (default_id, "default")):
        if candidate is not None and candidate not in used:
            return _assignment(speaker, candidate, source, catalog)
    if auto or profile is not None:
        strict = bool(need.gender) and need.gender != "neutral"
        picked = pick_voice(catalog, need, used, speaker=speaker, strict_gender=strict)
        if picked is not None:
            return _assignment(speaker, picked[0].id, "auto", catalog, float(picked[1]))
    unused = [voice for voice in catalog.voices if voice.id not in used]
    for name in FALLBACK_PRIORITY:
        for voice in unused:
            if _lower(voice.name) == name:
                return _assignment(speaker, voice.id, "fallback", catalog)
    if unused:
        return _assignment(speaker, unused[0].id, "fallback", catalog)
    reuse = default_id or explicit_id
    if reuse is not None:
        return _assignment(speaker, reuse, "reuse", catalog)
    raise ConfigurationError(f'Unable to resolve voice for speaker "{speaker}"')


_SOURCE_TAGS: dict[VoiceSource, str] = {
    "profile": "profile",
    "voiceMap": "map",
    "default": "default",
    "fallback": "fallback",
    "reuse": "reuse",
    "auto": "auto",
}


def summarize_voice_selections(assignments: Sequence[VoiceAssignment]) -> str:
    """``Speaker→VoiceName (gender, source[, accent])`` joined with ``, ``."""
    parts: list[str] = []
    for item in assignments:
        tags = [item.gender] if item.gender else []
        source_tag = _SOURCE_TAGS[item.source]
        if item.source == "auto" and item.score is not None:
            source_tag = f"auto {round(item.score)}"
        tags.append(source_tag)
        if item.accent and len(tags) < 3:
            tags.append(item.accent)
        parts.append(f"{item.speaker}→{item.voice_name or item.voice_id} ({', '.join(tags)})")
    return ", ".join(parts)
