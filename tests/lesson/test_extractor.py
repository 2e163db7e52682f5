"""The extractor: study text, sections, answer key and teacher notes, with the original's quirks
fixed."""

import pytest

from esl_dagster.pipeline.errors import ValidationError
from esl_dagster.pipeline.lesson.extractor import (
    extract_answer_key,
    extract_lesson,
    extract_study_text,
    extract_teacher_notes,
)
from esl_dagster.pipeline.lesson.validator import validate_text
from tests.lesson.lessons import (
    BODY,
    BODY_FILE_LINE,
    FRONT_MATTER,
    make_lesson,
    monologue_front_matter,
    with_body,
    with_study_text,
)


def test_speakers_are_normalised_and_continuations_inherit() -> None:
    study = (
        ":::study-text\n[Barista]: Hi! **What** can I get you?\n**ines:** A `latte`, please.\n"
        "**Barista**: [Sure](https://example.org).\nIt takes a minute.\n:::"
    )
    text = extract_study_text(with_study_text(study))
    assert text.type == "dialogue"
    assert [(line.speaker, line.text) for line in text.lines] == [
        ("Barista", "Hi! What can I get you?"),
        ("Ines", "A latte, please."),
        ("Barista", "Sure."),
        ("Barista", "It takes a minute."),
    ]
    assert text.lines[1].raw == "**ines:** A `latte`, please."
    assert text.speakers() == ["Barista", "Ines"]


def test_prose_before_any_speaker_goes_to_the_first_non_narrator_label() -> None:
    fm = FRONT_MATTER.replace("[Barista, Ines]", "[Narrator, Ines]")
    study = extract_study_text(
        with_study_text(
            ":::study-text\nIt is morning.\nNarrator: Ines waits.\n:::", front_matter=fm
        )
    )
    assert [line.speaker for line in study.lines] == ["Ines", "Narrator"]
    assert study.type == "monologue"


def test_without_labels_prose_has_no_speaker() -> None:
    study = extract_study_text(
        with_study_text(":::study-text\nJust prose.\n:::", front_matter=monologue_front_matter())
    )
    assert [(line.speaker, line.text) for line in study.lines] == [(None, "Just prose.")]


def test_a_name_outside_the_labels_is_a_continuation() -> None:
    study = extract_study_text(
        with_study_text(":::study-text\nBarista: Look.\nThe app says: rain.\nInes: Oh no.\n:::")
    )
    assert [line.speaker for line in study.lines] == ["Barista", "Barista", "Ines"]
    assert study.lines[1].text == "The app says: rain."
    assert study.type == "dialogue"


def test_inline_label_repeated_on_the_first_line_is_dropped() -> None:
    fm = monologue_front_matter()
    study = extract_study_text(
        with_study_text(
            ":::study-text Market Column\nmarket column\nThe text.\n:::", front_matter=fm
        )
    )
    assert [line.text for line in study.lines] == ["The text."]


def test_empty_block_is_empty_instead_of_swallowing_later_text() -> None:
    text = with_study_text(":::study-text\n:::\nlater\n:::")
    with pytest.raises(ValidationError, match="is empty"):
        extract_study_text(text)
    assert extract_lesson(text).study_text is None


def test_missing_study_text_raises() -> None:
    with pytest.raises(ValidationError, match="study-text block not found"):
        extract_study_text(with_study_text("no block"))


def test_answer_key_and_teacher_notes_are_returned_or_raise_like_the_study_text() -> None:
    text = make_lesson()
    assert extract_answer_key(text) == extract_lesson(text).answer_key
    assert extract_teacher_notes(text) == extract_lesson(text).teacher_notes
    without = text.replace(":::toggle-h2 Answer Key", ":::toggle-h2 Solutions")
    with pytest.raises(ValidationError, match=r"^Answer Key toggle not found$"):
        extract_answer_key(without)
    assert extract_lesson(without).answer_key is None
    plan = text.replace("Teacher's Follow-up Plan\n", "Plan\n")
    with pytest.raises(ValidationError, match=r"^Teacher's Follow-up Plan toggle not found$"):
        extract_teacher_notes(plan)


def test_unclosed_answer_key_raises_with_its_line() -> None:
    text = with_body(":::toggle-h2 Answer Key\n1. ...\n:::", ":::toggle-h2 Answer Key\n1. ...")
    line = BODY.split("\n").index(":::toggle-h2 Answer Key") + 1
    expected = f'Answer Key toggle starting at line {line} is missing its closing ":::"'
    with pytest.raises(ValidationError, match=expected):
        extract_answer_key(text)


def test_text_over_the_shape_limits_is_refused_with_validation_error() -> None:
    with pytest.raises(ValidationError, match="lines"):
        extract_lesson("```markdown\n" + "a\n" * 3000 + "```")
    with pytest.raises(ValidationError, match="characters"):
        extract_study_text("x" * 30_000)


def test_indented_marker_and_closer_are_accepted() -> None:
    study = extract_study_text(with_study_text("  :::study-text\n  Barista: Hi!\n  :::"))
    assert [line.text for line in study.lines] == ["Hi!"]


def test_sections_end_before_the_next_heading_and_carry_file_lines() -> None:
    extraction = extract_lesson(make_lesson())
    first, second = extraction.sections[:2]
    assert (first.depth, first.title, first.content) == (
        2,
        "1. This Week's Mission Briefing",
        "Order a drink politely.",
    )
    assert first.line == BODY_FILE_LINE + 1
    assert second.content == "Steps 3 to 6."
    assert extraction.sections[-1].content.endswith("Role-play at a cafe.\n:::")
    depths = [s.depth for s in extraction.sections]
    assert depths.count(3) == 2 and depths.count(2) == 9


def test_answer_key_tracks_nested_containers() -> None:
    text = with_body("1. ...\n:::", "1. ...\n:::callout 💡\nTip\n:::\n2. more\n:::")
    extraction = extract_lesson(text)
    assert extraction.answer_key == "1. ...\n:::callout 💡\nTip\n:::\n2. more"
    assert extraction.teacher_notes == "Role-play at a cafe."


def test_front_matter_and_meta_from_a_fenced_file() -> None:
    extraction = extract_lesson(make_lesson(front_matter=FRONT_MATTER + "\ndue: 2025-01-02\n1: x"))
    assert extraction.front_matter["due"] == "2025-01-02"
    assert extraction.front_matter["1"] == "x"
    assert extraction.meta is not None
    assert extraction.meta.speaker_labels == ["Barista", "Ines"]
    extraction.model_dump_json()


def test_speaker_profiles_with_odd_values_still_build_meta() -> None:
    fm = FRONT_MATTER + "\nspeaker_profiles:\n  - id: 5\n    voice: [a]\n    extra: {k: v}"
    meta = extract_lesson(make_lesson(front_matter=fm)).meta
    assert meta is not None and meta.speaker_profiles is not None
    profile = meta.speaker_profiles[0]
    assert (profile.id, profile.voice) == ("5", "a")


def test_anchor_bombs_stay_bounded() -> None:
    levels = ['a0: &a0 ["x","x","x","x","x","x","x","x","x","x"]']
    levels += [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 10)}]" for n in range(1, 9)]
    fm = FRONT_MATTER.replace("topic: Polite requests", "\n".join(levels) + "\ntopic: *a8")
    text = make_lesson(front_matter=fm)
    extraction = extract_lesson(text)
    assert len(extraction.model_dump_json()) < 1_000_000
    assert validate_text(text).ok


def test_cyclic_front_matter_is_handled() -> None:
    cyclic = "\nloop: &loop [*loop]\nspeaker_profiles: [&p {id: A, me: *p}]"
    text = make_lesson(front_matter=FRONT_MATTER + cyclic)
    assert extract_lesson(text).model_dump_json()
    assert validate_text(text).ok
