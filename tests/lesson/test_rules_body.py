"""Rules M, S, D, W, L, C, Y, T and strict mode on small inline lessons."""

import pytest

from esl_dagster.pipeline.lesson.models import Finding, ValidationResult
from esl_dagster.pipeline.lesson.validator import validate_text
from tests.lesson.lessons import (
    BODY_FILE_LINE,
    FRONT_MATTER,
    make_lesson,
    monologue_front_matter,
    with_body,
    with_front_matter,
    with_study_text,
)

# Body line 3 holds "Order a drink politely."; directives inserted after it start on body line 4.
INSERT_AT = "Order a drink politely."
INSERTED_BODY_LINE = 4
PRACTICE = "1. a\n2. b\n3. c\n4. d\n5. e\n6. f\n7. g\n8. h"
STUDY_MARKER_BODY_LINE = 9


def insert(block: str) -> str:
    return with_body(INSERT_AT, f"{INSERT_AT}\n{block}")


def only(result: ValidationResult) -> Finding:
    assert len(result.errors) == 1, result.errors
    return result.errors[0]


def warning_codes(result: ValidationResult) -> list[str]:
    return [f.code for f in result.warnings]


# M1, M2 -------------------------------------------------------------------------------------


def test_m1_answer_key_marker() -> None:
    result = validate_text(with_body(":::toggle-h2 Answer Key", ":::toggle-h3 Answer Key"))
    error = only(result)
    assert error.code == "marker.answer_key"
    assert error.message == (
        'Missing marker: ":::toggle-heading Answer Key" or ":::toggle-h2 Answer Key"'
    )
    relaxed = with_body(":::toggle-h2 Answer Key", ":::TOGGLE-heading   answer KEY & Sample")
    assert validate_text(relaxed).ok


def test_m2_teacher_plan_marker() -> None:
    bad = with_body(":::toggle-h2 Teacher's", ":::toggle-h1 Teacher's")
    assert only(validate_text(bad)).code == "marker.teacher_plan"
    for apostrophe in ("‘", "’"):
        variant = with_body(":::toggle-h2 Teacher's", f":::toggle-h3 Teacher{apostrophe}s")
        assert validate_text(variant).ok


# S1-S5 --------------------------------------------------------------------------------------


def test_s1_missing_study_text() -> None:
    error = only(validate_text(with_study_text("Barista: Hi!")))
    assert (error.code, error.message) == (
        "study_text.missing",
        'Missing ":::study-text ... :::" block.',
    )


def test_s2_indented_marker() -> None:
    error = only(validate_text(with_study_text("  :::study-text\nBarista: Hi!\n:::")))
    assert error.code == "study_text.indented_marker"
    assert error.message == (
        f'Line {STUDY_MARKER_BODY_LINE}: study-text marker must start at column 1 with ":::study-text".'
    )
    assert error.line == BODY_FILE_LINE + STUDY_MARKER_BODY_LINE - 1


@pytest.mark.parametrize("marker", [":::study-texts", "Text :::study-text"])
def test_s3_malformed_marker(marker: str) -> None:
    error = only(validate_text(with_study_text(f"{marker}\nBarista: Hi!\n:::")))
    assert error.code == "study_text.malformed_marker"
    assert error.message.startswith(f"Line {STUDY_MARKER_BODY_LINE}: malformed study-text marker.")


def test_s3_allows_case_and_an_inline_label() -> None:
    assert validate_text(with_study_text(":::Study-Text Transcript\nBarista: Hi!\n:::")).ok


def test_s4_indented_closer() -> None:
    error = only(validate_text(with_study_text(":::study-text\nBarista: Hi!\n  :::")))
    assert error.code == "study_text.indented_closer"
    assert error.message == (
        'Line 11: study-text closing marker must be ":::" with no leading spaces.'
    )


def test_s5_unclosed_study_text() -> None:
    text = make_lesson(
        front_matter=monologue_front_matter(),
        body="\n:::study-text\nOne line only.",
    )
    result = validate_text(text)
    unclosed = [f for f in result.errors if f.code == "study_text.unclosed"]
    assert [f.message for f in unclosed] == [
        'study-text block starting at line 2 is missing a closing ":::" on its own line.'
    ]


# D1-D3 --------------------------------------------------------------------------------------


def test_d1_empty_bracket_speaker() -> None:
    error = only(validate_text(with_study_text(":::study-text\n[ ]: hi\nBarista: Hi!\n:::")))
    assert error.code == "dialogue.empty_speaker"
    assert error.message == 'study-text line 1: could not extract speaker from line: "[ ]: hi".'


def test_d2_unknown_speaker_with_study_line_and_file_line() -> None:
    study = ":::study-text\n\nBarista: Hi!\n\n- Ines: hello\n:::"
    error = only(validate_text(with_study_text(study)))
    assert error.code == "dialogue.unknown_speaker"
    assert error.message == 'study-text line 3: unknown speaker "- Ines". Allowed: [Barista, Ines].'
    assert error.line == BODY_FILE_LINE + STUDY_MARKER_BODY_LINE - 1 + 4


def test_d2_label_match_is_case_insensitive_and_accepts_every_prefix_form() -> None:
    study = ":::study-text\nbarista: Hi\n[Ines]: Hello\n**Barista:** Latte?\n**Ines**: Yes\n:::"
    assert validate_text(with_study_text(study)).ok


def test_d3_prose_before_the_first_speaker() -> None:
    error = only(validate_text(with_study_text(":::study-text\nIt is morning.\nBarista: Hi!\n:::")))
    assert error.code == "dialogue.missing_speaker"
    assert error.message == (
        'study-text line 1: expected "Speaker: text" or continuation, got "It is morning.".'
    )


def test_continuations_and_single_label_enforcement() -> None:
    fm = FRONT_MATTER.replace("[Barista, Ines]", "[Host]")
    ok = with_study_text(":::study-text\n**Host:** Welcome.\nMore prose.\n:::", front_matter=fm)
    assert validate_text(ok).ok
    bad = with_study_text(":::study-text\nWelcome.\n:::", front_matter=fm)
    assert only(validate_text(bad)).code == "dialogue.missing_speaker"


def test_narrator_only_labels_mean_free_prose() -> None:
    fm = FRONT_MATTER.replace("[Barista, Ines]", "[Narrator, narrator]")
    text = with_study_text(":::study-text\nThe catch is: money.\n:::", front_matter=fm)
    result = validate_text(text)
    assert result.errors == []
    assert warning_codes(result) == ["study_text.short"]


# W1-W6 --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("study", "short"),
    [
        ("One paragraph.\nStill one.", True),
        ("P1.\n\nP2.\n\nP3.", False),
        ("\n".join(f"Line {n}." for n in range(10)), False),
        ("\n".join(f"Line {n}." for n in range(9)), True),
    ],
    ids=["short", "three-paragraphs", "ten-lines", "nine-lines"],
)
def test_w1_short_monologue(study: str, short: bool) -> None:
    text = with_study_text(f":::study-text\n{study}\n:::", front_matter=monologue_front_matter())
    result = validate_text(text)
    assert result.ok
    assert warning_codes(result) == (["study_text.short"] if short else [])
    if short:
        assert result.warnings[0].message == (
            "study-text looks short. Aim for 3–5 paragraphs or 10–15 lines."
        )


def test_w2_controlled_practice_heading_must_match_exactly() -> None:
    result = validate_text(
        with_body("### A. Controlled Practice", "### A. Controlled Practice (Find the Mistake)")
    )
    assert result.ok
    assert [w.message for w in result.warnings] == [
        'No "### A. Controlled Practice" section found under H2 #5.'
    ]
    assert warning_codes(result) == ["practice.missing"]


@pytest.mark.parametrize(
    ("items", "warned"),
    [
        ("1. a\n2. b\n3. c\n4. d\n5. e\n6. f\n7. g", 7),
        ("\n".join(f"- x{n}" for n in range(13)), 13),
        ("\n".join(f"{n}) x" for n in range(1, 13)), None),
        ("Intro paragraph only.", None),
        ("1. a\n   - nested\n   - nested\n2. b\n3. c\n4. d\n5. e\n6. f\n7. g", 7),
        # A new bullet character or delimiter starts a new list: 4 + 3 + 1 = 8 items, no warning.
        ("- a\n- b\n- c\n- d\n* e\n* f\n* g\n\n4) h", None),
        ("- a\n- b\n- c\n* d\n* e\n\n4) h", 6),
        # Paragraphs whose text starts like an item count one each (here escaped bullets).
        ("\n\n".join(f"\\- x{n}" for n in range(7)), 7),
    ],
    ids=[
        "seven",
        "thirteen",
        "paren-twelve",
        "none",
        "nested-not-counted",
        "mixed-8",
        "mixed-6",
        "item-like-paragraphs",
    ],
)
def test_w3_controlled_practice_item_count(items: str, warned: int | None) -> None:
    result = validate_text(with_body(PRACTICE, items))
    expected = [f"Controlled Practice has {warned} items (recommended 8–10)."] if warned else []
    assert [w.message for w in result.warnings] == expected
    if warned:
        assert result.warnings[0].code == "practice.item_count"


def test_w4_comprehension_check_with_one_item() -> None:
    one = validate_text(with_body("1. What does Ines order?\n2. What size is it?", "1. Only one?"))
    assert [(w.code, w.message) for w in one.warnings] == [
        ("comprehension.item_count", "Comprehension Check has 1 item(s) (recommended 2–3).")
    ]
    none = validate_text(with_body("1. What does Ines order?\n2. What size is it?", "Discuss."))
    assert none.warnings == []


@pytest.mark.parametrize("block", ["~~~\ncode\n~~~", "\n    indented code"])
def test_w5_code_blocks(block: str) -> None:
    result = validate_text(insert(block))
    assert result.ok
    assert warning_codes(result) == ["body.code_block"]
    assert result.warnings[0].message == (
        "Found code block(s) inside the main document. Avoid nested ``` blocks."
    )


def test_w6_input_type() -> None:
    result = validate_text(with_front_matter(input_type="mixed"))
    assert result.ok
    assert [(w.code, w.message, w.line) for w in result.warnings] == [
        ("front_matter.input_type", 'input_type "mixed" is not one of "generate"|"authentic".', 7)
    ]


# Strict mode --------------------------------------------------------------------------------


def test_strict_copies_warnings_into_errors_when_there_are_no_errors() -> None:
    text = with_front_matter(input_type="mixed")
    result = validate_text(text, strict=True)
    assert not result.ok
    assert [f.code for f in result.errors] == ["front_matter.input_type"]
    assert result.errors[0].severity == "error"
    assert [f.code for f in result.warnings] == ["front_matter.input_type"]


def test_strict_does_not_copy_warnings_next_to_real_errors() -> None:
    text = with_front_matter(input_type="mixed").replace(":::toggle-h2 Answer Key", "")
    result = validate_text(text, strict=True)
    assert [f.code for f in result.errors] == ["marker.answer_key"]
    assert warning_codes(result) == ["front_matter.input_type"]


# L, C, Y ------------------------------------------------------------------------------------


def test_l1_unclosed_column_list_is_reported_once() -> None:
    error = only(validate_text(insert(":::column-list\n:::column\ntext\n:::")))
    assert error.code == "column_list.unclosed"
    assert error.message == (
        f'column-list starting at line {INSERTED_BODY_LINE} is missing a closing ":::" after '
        "its contents."
    )
    assert error.line == BODY_FILE_LINE + INSERTED_BODY_LINE - 1


def test_l2_column_list_without_columns() -> None:
    error = only(validate_text(insert(":::column-list\ntext\n:::")))
    assert error.code == "column_list.no_column"
    assert 'must contain at least one ":::column" section' in error.message


def test_l4_empty_column() -> None:
    error = only(
        validate_text(
            insert(":::column-list\n    :::column\n    a\n    :::\n:::column\n\n:::\n:::")
        )
    )
    assert error.code == "column_list.empty_column"
    assert error.message == (
        f"column-list starting at line {INSERTED_BODY_LINE} has an empty column #2; "
        "add content or remove it."
    )


def test_valid_column_list() -> None:
    assert validate_text(insert(":::column-list\n:::column\na\n:::\n:::column\nb\n:::\n:::")).ok


def test_c1_unclosed_callout() -> None:
    error = only(validate_text(insert(":::callout 💡\ntext")))
    assert error.code == "callout.unclosed"
    assert error.message == (
        f'callout starting at line {INSERTED_BODY_LINE} is missing a closing ":::" after its '
        "content."
    )


def test_c2_callout_without_icon() -> None:
    error = only(validate_text(insert(":::callout\ntext\n:::")))
    assert error.code == "callout.icon"
    assert error.message.endswith('must provide an emoji/icon after ":::callout".')


def test_c3_empty_callout() -> None:
    error = only(validate_text(insert(":::callout 💡\n\n:::")))
    assert error.code == "callout.empty"
    assert error.message.endswith('must contain content before the closing ":::" marker.')


def test_y1_unclosed_synced_block_even_with_an_id() -> None:
    error = only(validate_text(insert(":::synced-block 1f2e3d4c")))
    assert error.code == "synced_block.unclosed"
    assert "is missing a closing" in error.message


def test_y2_synced_block_needs_content_or_an_id() -> None:
    error = only(validate_text(insert(":::synced-block\n:::")))
    assert error.code == "synced_block.empty"
    assert error.message.endswith("must include content when no source block id is provided.")
    assert validate_text(insert(":::synced-block 1f2e3d4c\n:::")).ok
    assert validate_text(insert(":::synced-block\nShared text.\n:::")).ok


# T1-T3 --------------------------------------------------------------------------------------


def test_t1_table_without_columns() -> None:
    error = only(validate_text(insert("|\n| a |")))
    assert (error.code, error.message) == (
        "table.no_columns",
        f"Table starting at line {INSERTED_BODY_LINE} must have at least one column.",
    )


def test_t2_inconsistent_columns_counts_the_separator_row() -> None:
    error = only(validate_text(insert("| a | b |\n| --- | --- |\n| 1 | 2 |\n| 3 |")))
    assert error.code == "table.columns"
    assert "(row 4 differs)" in error.message


def test_t3_header_without_data() -> None:
    error = only(validate_text(insert("| a | b |\n| :--- | ---: |")))
    assert error.code == "table.no_data"
    assert error.message.endswith("must include at least one data row.")


def test_tables_inside_a_callout_are_not_checked_but_inside_toggles_they_are() -> None:
    assert validate_text(insert(":::callout 💡\n| a | b |\n| c |\n:::")).ok
    toggled = insert(":::toggle-heading Notes\n| a | b |\n| c |\n:::")
    assert only(validate_text(toggled)).code == "table.columns"


def test_single_row_table_is_valid() -> None:
    assert validate_text(insert("| just | one | row |")).ok
