"""Voice casting on the sample catalog (hand-computed with the reference's weights)."""

import pytest

from esl_dagster.pipeline.config.models import VoiceCatalog, VoicesMap
from esl_dagster.pipeline.errors import ConfigurationError
from esl_dagster.pipeline.lesson.models import SpeakerProfile
from esl_dagster.pipeline.tts.espeak import espeak_catalog
from esl_dagster.pipeline.tts.voice_scoring import guess_gender
from esl_dagster.pipeline.tts.voices import (
    VoiceAssignment,
    assign_voices,
    describe_unusable,
    resolve_voice_preferences,
    summarize_voice_selections,
)

AGENT = SpeakerProfile(
    id="Agent",
    role="teacher",
    gender="male",
    age="middle_aged",
    accent="british",
    style="professional",
)
LEONIE = SpeakerProfile(id="Leonie", role="student", gender="female", age="young", voice="Harriet")


def names(result: list[VoiceAssignment]) -> list[tuple[str, str | None, str]]:
    return [(a.speaker, a.voice_name, a.source) for a in result]


def test_profile_voice_beats_map_and_map_beats_default(
    catalog: VoiceCatalog, sample_voices_map: VoicesMap
) -> None:
    result = assign_voices(
        ["Agent", "Leonie"],
        profiles=[AGENT, LEONIE],
        voices_map=sample_voices_map,
        catalog=catalog,
        content_type="dialogue",
    ).assignments
    assert names(result) == [("Agent", "Fenwick", "voiceMap"), ("Leonie", "Harriet", "profile")]
    assert result[1].voice_id == "hR2tE6yU0iO4pA8sD1fG"
    assert (result[1].gender, result[1].accent, result[1].use_case) == (
        "female",
        "american",
        "social_media",
    )


def test_default_goes_to_first_unmapped_speaker_only(catalog: VoiceCatalog) -> None:
    result = assign_voices(
        ["Narrator", "Observer"],
        profiles=[],
        voices_map=VoicesMap(default="Quinn"),
        catalog=catalog,
        content_type="monologue",
    ).assignments
    assert result[0].voice_name == "Quinn" and result[0].source == "default"
    assert result[1].source == "auto" and result[1].voice_name != "Quinn"


def test_scoring_with_profile_uses_the_reference_weights(catalog: VoiceCatalog) -> None:
    result = assign_voices(
        ["Agent"],
        profiles=[AGENT],
        voices_map=VoicesMap(),
        catalog=catalog,
        content_type="dialogue",
    ).assignments
    # Fenwick: gender 40 + age 20 + accent 20 + teacher/conversation 20 + accent label 3 + hint 10
    assert names(result) == [("Agent", "Fenwick", "auto")]
    assert result[0].score == 113


def test_no_voice_is_reused_while_others_fit(catalog: VoiceCatalog) -> None:
    result = assign_voices(
        ["Alex", "Mara"],
        profiles=[],
        voices_map=VoicesMap(speakers={"Alex": "Tobias", "Mara": "Tobias"}),
        catalog=catalog,
        content_type="dialogue",
    ).assignments
    # Mara (guessed female, student): Imogen 40 + 10 + 3 + 10 = 63 beats Harriet 58.
    assert names(result) == [("Alex", "Tobias", "voiceMap"), ("Mara", "Imogen", "auto")]
    assert result[1].score == 63


def test_fallback_when_auto_is_off(catalog: VoiceCatalog) -> None:
    result = assign_voices(
        ["Alex", "Mara"],
        profiles=[],
        voices_map=VoicesMap(auto=False),
        catalog=catalog,
        content_type="dialogue",
    ).assignments
    assert names(result) == [("Alex", "Quinn", "fallback"), ("Mara", "Marlowe", "fallback")]


def test_fallback_priority_names_come_first() -> None:
    catalog = VoiceCatalog.model_validate(
        {
            "voices": [
                {"id": "x1", "name": "Zed"},
                {"id": "s1", "name": "Sarah"},
                {"id": "l1", "name": "Liam"},
            ]
        }
    )
    result = assign_voices(
        ["A", "B", "C"],
        profiles=[],
        voices_map=VoicesMap(auto=False),
        catalog=catalog,
        content_type="dialogue",
    ).assignments
    assert [a.voice_id for a in result] == ["l1", "s1", "x1"]


def test_reuse_only_when_every_voice_is_taken() -> None:
    catalog = VoiceCatalog.model_validate({"voices": [{"id": "only", "name": "Solo"}]})
    result = assign_voices(
        ["A", "B"],
        profiles=[],
        voices_map=VoicesMap(default="Solo"),
        catalog=catalog,
        content_type="dialogue",
    ).assignments
    assert [(a.voice_id, a.source) for a in result] == [("only", "default"), ("only", "reuse")]


def test_unresolvable_speaker_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match='speaker "A"'):
        assign_voices(
            ["A"],
            profiles=[],
            voices_map=VoicesMap(),
            catalog=VoiceCatalog(),
            content_type="dialogue",
        )


def test_student_accent_preference_changes_the_pick(catalog: VoiceCatalog) -> None:
    def pick(accent: str) -> str | None:
        return assign_voices(
            ["Mara"], profiles=[], voices_map=VoicesMap(), catalog=catalog,
            content_type="dialogue", default_accent=accent,
        ).assignments[0].voice_name  # fmt: skip

    assert pick("british") == "Imogen"  # 63 + 20
    assert pick("american") == "Harriet"  # 58 + 20 beats Imogen 63 - 5


def test_profile_accent_overrides_the_run_preference(catalog: VoiceCatalog) -> None:
    profile = SpeakerProfile(id="Mara", accent="american")
    result = assign_voices(
        ["Mara"], profiles=[profile], voices_map=VoicesMap(), catalog=catalog,
        content_type="dialogue", default_accent="british",
    ).assignments  # fmt: skip
    assert result[0].voice_name == "Harriet"


def test_forced_voice_and_voice_named_as_accent(catalog: VoiceCatalog) -> None:
    by_accent = resolve_voice_preferences(catalog, None, "harriet")
    assert by_accent.voice == "hR2tE6yU0iO4pA8sD1fG" and by_accent.accent == "american"
    by_voice = resolve_voice_preferences(catalog, "Fenwick", None)
    assert by_voice.voice == "fN4wC9kJ2tUa7Lp0Xe3M" and by_voice.accent == "british"
    assert resolve_voice_preferences(catalog, None, "british").accent == "british"
    result = assign_voices(
        ["Alex", "Mara"], profiles=[], voices_map=VoicesMap(default="Quinn"), catalog=catalog,
        content_type="dialogue", default_voice=by_accent.voice, default_accent=by_accent.accent,
    ).assignments  # fmt: skip
    assert result[0].voice_name == "Harriet" and result[0].source == "default"


def test_unknown_tokens_pass_through_or_are_ignored(catalog: VoiceCatalog) -> None:
    vmap = VoicesMap(speakers={"Alex": "raw_voice_id"})
    kept = assign_voices(
        ["Alex"], profiles=[], voices_map=vmap, catalog=catalog, content_type="dialogue"
    ).assignments
    assert (kept[0].voice_id, kept[0].source, kept[0].voice_name) == (
        "raw_voice_id",
        "voiceMap",
        None,
    )
    ignored = assign_voices(
        ["Alex"], profiles=[], voices_map=vmap, catalog=catalog, content_type="dialogue",
        accept_unknown_tokens=False,
    ).assignments  # fmt: skip
    assert ignored[0].source == "auto"


def test_espeak_catalog_gives_distinct_fitting_voices() -> None:
    profiles = [
        SpeakerProfile(id="Agent", gender="male", accent="british"),
        SpeakerProfile(id="Leonie", gender="female", accent="american"),
    ]
    result = assign_voices(
        ["Agent", "Leonie", "Nina", "Theo", "Aunt Rosa"], profiles=profiles,
        voices_map=VoicesMap(default="Quinn"), catalog=espeak_catalog(),
        content_type="dialogue", accept_unknown_tokens=False,
    ).assignments  # fmt: skip
    ids = [a.voice_id for a in result]
    assert len(set(ids)) == len(ids)
    assert ids[0].startswith("en-GB-x-rp+m") and ids[1].startswith("en-us+f")


def test_name_gender_guess() -> None:
    assert [guess_gender(n) for n in ("Mara", "Alice", "Mike", "Dan", "Narrator")] == [
        "female", "female", "male", "male", "neutral",
    ]  # fmt: skip


def test_summary_string(catalog: VoiceCatalog, sample_voices_map: VoicesMap) -> None:
    result = assign_voices(
        ["Agent", "Leonie", "Mara"], profiles=[AGENT, LEONIE], voices_map=VoicesMap(),
        catalog=catalog, content_type="dialogue",
    ).assignments  # fmt: skip
    assert summarize_voice_selections(result) == (
        "Agent→Fenwick (male, auto 113, british), Leonie→Harriet (female, profile, american), "
        "Mara→Imogen (female, auto 63, british)"
    )


def test_voices_outside_a_closed_catalog_are_reported_with_what_was_picked(
    catalog: VoiceCatalog,
) -> None:
    """espeak cannot speak ElevenLabs voices: each requested one is reported, not dropped."""
    vmap = VoicesMap(default="Quinn", speakers={"Agent": "Fenwick", "Nobody": "Cosmo"})
    casting = assign_voices(
        ["Agent", "Leonie", "Mara"], profiles=[AGENT, LEONIE], voices_map=vmap,
        catalog=espeak_catalog(), content_type="dialogue", default_voice="Harriet",
        accept_unknown_tokens=False,
    )  # fmt: skip
    agent, leonie, _ = casting.assignments
    # The forced voice replaces the map default (Quinn is never asked for) and is reported at the
    # first speaker it would have gone to; a map entry for an absent speaker is not reported.
    assert [(u.token, u.origin, u.speaker, u.instead) for u in casting.unusable] == [
        ("Harriet", "voiceId", "Agent", agent),
        ("Fenwick", "voiceMap", "Agent", agent),
        ("Harriet", "profile", "Leonie", leonie),
    ]
    lines = [describe_unusable(u, "espeak", catalog) for u in casting.unusable]
    assert lines[1] == (
        f"voice 'Fenwick' (voices.yml entry for Agent) is an ElevenLabs voice; "
        f"espeak picked {agent.voice_name} ({agent.voice_id}) for Agent"
    )
    unknown = describe_unusable(casting.unusable[0], "espeak", VoiceCatalog())
    assert unknown.startswith("voice 'Harriet' (--voice-id / voice_id) is not in the espeak")


def test_no_voice_warning_when_the_voice_is_usable_or_never_needed(catalog: VoiceCatalog) -> None:
    open_catalog = assign_voices(
        ["Agent", "Leonie"], profiles=[AGENT, LEONIE], voices_map=VoicesMap(speakers={"Agent": "x"}),
        catalog=catalog, content_type="dialogue", default_voice="raw-id",
    )  # fmt: skip
    assert open_catalog.unusable == []
    every_speaker_mapped = assign_voices(
        ["A"], profiles=[], voices_map=VoicesMap(speakers={"A": "Avery (US)"}),
        catalog=espeak_catalog(), content_type="dialogue", default_voice="Harriet",
        accept_unknown_tokens=False,
    )  # fmt: skip
    assert every_speaker_mapped.unusable == []
    assert every_speaker_mapped.assignments[0].voice_name == "Avery (US)"
