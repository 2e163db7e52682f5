"""Rules F0, FM and HC1-HC3, each on a small inline lesson."""

import pytest

from esl_dagster.pipeline.lesson.extractor import extract_lesson
from esl_dagster.pipeline.lesson.models import ValidationResult
from esl_dagster.pipeline.lesson.validator import validate_text
from tests.lesson.lessons import (
    BODY,
    BODY_FILE_LINE,
    FRONT_MATTER,
    make_lesson,
    with_body,
    with_front_matter,
)


def codes(result: ValidationResult) -> list[str]:
    return [f.code for f in result.errors]


def messages(result: ValidationResult) -> list[str]:
    return [f.message for f in result.errors]


def test_minimal_lesson_is_valid_in_strict_mode() -> None:
    result = validate_text(make_lesson(), strict=True)
    assert result.ok
    assert result.errors == result.warnings == []


# F0 -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [make_lesson(fenced=False), "```markdown title\n---\ntitle: x\n---\n```\n"],
    ids=["no-fence", "info-with-space"],
)
def test_f0_missing_fence_is_the_only_error(text: str) -> None:
    result = validate_text(text)
    assert codes(result) == ["fence.missing"]
    assert messages(result)[0].startswith("No fenced code block found. Wrap the entire")
    assert result.warnings == [] and result.meta is None


def test_f0_text_around_the_fence_is_ignored() -> None:
    text = "Here is your lesson:\n" + make_lesson() + "Thanks!\n"
    assert validate_text(text, strict=True).ok


def test_crlf_and_bom_are_tolerated() -> None:
    assert validate_text("\ufeff" + make_lesson().replace("\n", "\r\n"), strict=True).ok


# FM -----------------------------------------------------------------------------------------


def test_fm_missing_field_points_at_the_opening_dashes() -> None:
    result = validate_text(with_front_matter(title=None))
    assert messages(result) == [
        "Front matter: title - Invalid input: expected string, received undefined"
    ]
    assert result.errors[0].code == "front_matter.field"
    assert result.errors[0].line == 2
    assert result.meta is None


def test_fm_wrong_type_points_at_the_key_line() -> None:
    result = validate_text(with_front_matter(level="2"))
    assert messages(result) == [
        "Front matter: level - Invalid input: expected string, received number"
    ]
    assert result.errors[0].line == 5


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"title": '""'},
            "Front matter: title - Too small: expected string to have >=1 characters",
        ),
        (
            {"title": "2025-01-02"},
            "Front matter: title - Invalid input: expected string, received Date",
        ),
        (
            {"student": "null"},
            "Front matter: student - Invalid input: expected string, received null",
        ),
        (
            {"topic": "[]"},
            "Front matter: topic - Too small: expected string to have >=1 characters",
        ),
        (
            {"speaker_labels": "Ann"},
            "Front matter: speaker_labels - Invalid input: expected array, received string",
        ),
        (
            {"speaker_labels": "[Ann, 5]"},
            "Front matter: speaker_labels.1 - Invalid input: expected string, received number",
        ),
        (
            {"speaker_profiles": "[x]"},
            "Front matter: speaker_profiles.0 - Invalid input: expected object, received string",
        ),
        ({"icon": '"📚 Book"'}, "Front matter: icon - Invalid emoji"),
        ({"icon": "5"}, "Front matter: icon - Invalid input: expected string, received number"),
        ({"cover": "not a url"}, "Front matter: cover - Invalid URL"),
        (
            {"properties": "[a]"},
            "Front matter: properties - Invalid input: expected record, received array",
        ),
    ],
)
def test_fm_field_problems(fields: dict[str, str], message: str) -> None:
    result = validate_text(with_front_matter(**fields))
    assert messages(result) == [message]
    assert result.meta is None


def test_fm_reports_every_failing_field_in_schema_order() -> None:
    result = validate_text(with_front_matter(title=None, level="3", icon="x"))
    assert [m.split(" - ")[0] for m in messages(result)] == [
        "Front matter: title",
        "Front matter: level",
        "Front matter: icon",
    ]


@pytest.mark.parametrize("icon", ["🎯", "🇬🇧", "👨‍🏫", "📚📖", '"5"'])
def test_fm_icon_accepts_emoji_sequences(icon: str) -> None:
    result = validate_text(with_front_matter(icon=icon))
    assert result.ok, result.errors


@pytest.mark.parametrize(
    ("cover", "ok"),
    [
        ("https://example.org/a.jpg", True),
        ("ftp://files.example.org/x", True),
        ("mailto:teacher@example.org", True),
        ("http://localhost", True),
        ("https:/a", True),
        ('" https://example.org/padded.jpg "', True),
        ("example.com", False),
        ("//a.b/c", False),
        ("https://", False),
    ],
)
def test_fm_cover_must_be_an_absolute_url(cover: str, ok: bool) -> None:
    assert validate_text(with_front_matter(cover=cover)).ok is ok


def test_fm_topic_list_is_joined_and_yaml_12_booleans_apply() -> None:
    result = validate_text(with_front_matter(topic="[Housing, Requests]", student="No"))
    assert result.ok
    assert result.meta is not None
    assert result.meta.topic == "Housing, Requests"
    assert result.meta.student == "No"


def test_fm_unknown_keys_are_allowed_and_dropped_from_meta() -> None:
    result = validate_text(with_front_matter(homework_id="42"))
    assert result.ok
    assert result.meta is not None
    assert "homework_id" not in result.meta.model_dump()


def test_fm_malformed_yaml_is_a_finding_not_an_exception() -> None:
    result = validate_text(make_lesson(front_matter='title: "unclosed\nstudent: [a'))
    assert codes(result)[0] == "front_matter.yaml"
    assert messages(result)[0].startswith("Front matter: YAML parse error: ")
    # The line where YAML stopped (front-matter line 2 = file line 4), not the opening "---".
    assert result.errors[0].line == 4
    assert result.meta is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-02-30", "cannot read '2026-02-30' as a timestamp (day is out of range for month)"),
        ("2026-13-01", "cannot read '2026-13-01' as a timestamp (month must be in 1..12)"),
        ("2026-01-01 25:00:00", "as a timestamp (hour must be in 0..23)"),
        ("!!int abc", "cannot read 'abc' as an int"),
        ("!!float abc", "cannot read 'abc' as a float"),
        ("!!timestamp soon", "cannot read 'soon' as a timestamp"),
        ("0x_", "cannot read '0x_' as an int"),
        ("9" * 5000, "cannot read '9999999999"),
    ],
)
def test_fm_values_yaml_cannot_convert_are_findings_on_their_line(
    value: str, expected: str
) -> None:
    front_matter = FRONT_MATTER.replace("level: A1", f"level: A1\nwritten: {value}")
    result = validate_text(make_lesson(front_matter=front_matter))
    (error,) = result.errors
    assert error.code == "front_matter.yaml"
    assert expected in error.message and len(error.message) < 300
    written_line = 2 + front_matter.split("\n").index(f"written: {value}") + 1
    assert error.line == written_line
    assert extract_lesson(make_lesson(front_matter=front_matter)).meta is None


def test_fm_non_mapping_front_matter() -> None:
    result = validate_text(make_lesson(front_matter="- a\n- b"))
    assert codes(result)[0] == "front_matter.type"
    assert messages(result)[0] == "Front matter:  - Invalid input: expected object, received array"


def test_fm_absent_front_matter_reports_the_five_required_fields() -> None:
    result = validate_text(make_lesson(front_matter=None))
    paths = [m.split(" - ")[0] for m in messages(result) if m.startswith("Front matter")]
    assert paths == [
        f"Front matter: {k}" for k in ("title", "student", "level", "topic", "input_type")
    ]


def test_fm_failure_discards_meta_and_skips_speaker_checks() -> None:
    text = make_lesson(
        front_matter=FRONT_MATTER.replace("level: A1", "level: 1"),
        body=BODY.replace("Barista: Hi!", "Stranger: Hi!"),
    )
    result = validate_text(text)
    assert codes(result) == ["front_matter.field"]
    assert [w.code for w in result.warnings] == ["study_text.short"]


# HC1-HC3 ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "found"),
    [
        ("## 7. Why This Mission Helps You\n", "", 8),
        ("## 1. This Week's", "# 1. This Week's", 8),
        ("Order a drink politely.", "Order a drink politely.\n---", 10),
        ("Order a drink politely.", "Order a drink politely.\n## Extra", 10),
    ],
    ids=["removed", "h1-instead", "setext", "extra"],
)
def test_hc1_counts_top_level_h2(old: str, new: str, found: int) -> None:
    result = validate_text(with_body(old, new))
    assert messages(result) == [f"Expected 9 H2 sections, found {found}."]
    assert codes(result) == ["headings.count"]


def test_hc1_ignores_h2_inside_lists_and_quotes() -> None:
    text = with_body("Order a drink politely.", "- item\n\n  ## nested\n\n> ## quoted")
    assert validate_text(text).ok


def test_hc2_reports_a_mismatch_with_its_file_line() -> None:
    result = validate_text(with_body("## 1. This Week's", "## 1. This Week’s"))
    assert messages(result) == ['H2 #1 mismatch. Found: "1. this week’s mission briefing"']
    assert result.errors[0].code == "headings.order"
    assert result.errors[0].line == BODY_FILE_LINE + 1


def test_hc2_normalisation_ignores_emoji_bold_case_and_punctuation() -> None:
    text = with_body(
        "## 6. Your Turn: Complete the Mission!", "## 6. ✅ **Your Turn**: complete the MISSION?!"
    )
    text = text.replace(
        "## 7. Why This Mission Helps You", "## 7. Why This Mission Helps You (почему)"
    )
    assert validate_text(text).ok


def test_hc3_input_material_prefix() -> None:
    ok = with_body("## 3. Input Material: The Source", "## 3. 🎧 Input Materials for week 2")
    assert validate_text(ok).ok
    bad = validate_text(with_body("## 3. Input Material: The Source", "## 3. Listening Material"))
    assert messages(bad) == [
        'H2 #3 mismatch. Expected to start with "3. input material", found: "3. listening material"'
    ]
    assert codes(bad) == ["headings.input_material"]
