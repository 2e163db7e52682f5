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
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict

from esl_dagster.pipeline.config.models import VoiceCatalog, VoicesMap
from esl_dagster.pipeline.errors import ConfigurationError
from esl_dagster.pipeline.lesson.models import SpeakerProfile, StudyTextType
from esl_dagster.pipeline.tts.voice_scoring import VoiceNeed, folded, need_for, pick_voice

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
class VoicePreference:
    """A run's forced default voice (catalog id or raw token) and accent preference."""

    voice: str | None
    accent: str | None


def find_profile(speaker: str, profiles: Sequence[SpeakerProfile]) -> SpeakerProfile | None:
    """The profile whose id equals ``speaker`` exactly, else case-insensitively."""
    for profile in profiles:
        if profile.id is not None and profile.id.strip() == speaker.strip():
            return profile
    lowered = folded(speaker)
    for profile in profiles:
        if profile.id is not None and folded(profile.id) == lowered:
            return profile
    return None


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


class _Tokens:
    """Voice tokens (catalog ids or names) to voice ids, remembering the ones the provider
    cannot use (see :func:`assign_voices`)."""

    def __init__(self, catalog: VoiceCatalog, accept_unknown: bool) -> None:
        self._catalog = catalog
        self._accept_unknown = accept_unknown
        self._missed: list[tuple[str, VoiceRequest]] = []

    def resolve(self, token: str | None, origin: VoiceRequest) -> str | None:
        if not token or not token.strip():
            return None
        match = self._catalog.find(token)
        if match is not None:
            return match.id
        if self._accept_unknown:
            return token.strip()
        self._missed.append((token.strip(), origin))
        return None

    def take_missed(self) -> list[tuple[str, VoiceRequest]]:
        """The unusable tokens since the last call."""
        missed, self._missed = self._missed, []
        return missed


def _explicit_voice(
    speaker: str, profile: SpeakerProfile | None, voices_map: VoicesMap, tokens: _Tokens
) -> tuple[str | None, VoiceSource]:
    """The voice asked for this speaker: its profile's, else its voices.yml entry's."""
    if profile and profile.voice:
        voice_id = tokens.resolve(profile.voice, "profile")
        if voice_id is not None:
            return voice_id, "profile"
    return tokens.resolve(voices_map.speakers.get(speaker), "voiceMap"), "voiceMap"


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
    tokens = _Tokens(catalog, accept_unknown_tokens)
    default_id = tokens.resolve(
        default_voice or voices_map.default, "voiceId" if default_voice else "default"
    )
    missed_default = tokens.take_missed()
    unusable: list[UnusableVoice] = []
    pool = _Pool(catalog, default_id, voices_map.auto)
    result: list[VoiceAssignment] = []
    for speaker in speakers:
        profile = find_profile(speaker, profiles)
        explicit = _explicit_voice(speaker, profile, voices_map, tokens)
        need = need_for(speaker, profile, content_type, default_accent)
        chosen = pool.cast(speaker, profile, explicit, need)
        missed = tokens.take_missed()
        if explicit[0] is None or explicit[0] in pool.used:
            # The default (or forced) voice would have gone to this speaker: report it here.
            missed, missed_default = missed_default + missed, []
        unusable.extend(UnusableVoice(token, origin, speaker, chosen) for token, origin in missed)
        pool.used.add(chosen.voice_id)
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


@dataclass
class _Pool:
    """What one casting picks from: the catalog, the default (or forced) voice, whether
    unmatched speakers are scored against the catalog (``auto``), and the voices already given."""

    catalog: VoiceCatalog
    default_id: str | None
    auto: bool
    used: set[str] = field(default_factory=set)

    def cast(
        self,
        speaker: str,
        profile: SpeakerProfile | None,
        explicit: tuple[str | None, VoiceSource],
        need: VoiceNeed,
    ) -> VoiceAssignment:
        """The voice for ``speaker`` (the order of the module docstring)."""
        catalog, used = self.catalog, self.used
        explicit_id, explicit_source = explicit
        for candidate, source in ((explicit_id, explicit_source), (self.default_id, "default")):
            if candidate is not None and candidate not in used:
                return _assignment(speaker, candidate, source, catalog)
        if self.auto or profile is not None:
            strict = bool(need.gender) and need.gender != "neutral"
            picked = pick_voice(catalog, need, used, speaker=speaker, strict_gender=strict)
            if picked is not None:
                return _assignment(speaker, picked[0].id, "auto", catalog, float(picked[1]))
        unused = [voice for voice in catalog.voices if voice.id not in used]
        for name in FALLBACK_PRIORITY:
            for voice in unused:
                if folded(voice.name) == name:
                    return _assignment(speaker, voice.id, "fallback", catalog)
        if unused:
            return _assignment(speaker, unused[0].id, "fallback", catalog)
        reuse = self.default_id or explicit_id
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
