"""Every sample lesson: the validator and extractor results the reference (§7) gives."""

from pathlib import Path

import pytest

from esl_dagster.pipeline.lesson.extractor import extract_lesson
from esl_dagster.pipeline.lesson.validator import validate_file
from tests.conftest import INVALID_LESSON, LESSONS_DIR, VALID_LESSONS

# file name -> (study text type, number of study lines), from each file's comment.
EXPECTED_STUDY = {
    "01-monologue-narrator-fish-market.md": ("monologue", 4),
    "02-monologue-single-host-podcast.md": ("monologue", 4),
    "03-dialogue-two-speakers-flat-viewing.md": ("dialogue", 8),
    "04-dialogue-three-speakers-camping.md": ("dialogue", 6),
    "05-full-feature-showcase-interview.md": ("dialogue", 8),
    "06-invalid-weather-many-errors.md": ("dialogue", 7),
}

# What the leading comment of sample 06 lists, in report order: (code, message, file line).
EXPECTED_06_ERRORS = [
    (
        "headings.input_material",
        'H2 #3 mismatch. Expected to start with "3. input material", '
        'found: "3. listening material: weather report"',
        54,
    ),
    ("headings.order", 'H2 #9 mismatch. Found: "9. teacher’s follow-up plan"', 115),
    (
        "marker.answer_key",
        'Missing marker: ":::toggle-heading Answer Key" or ":::toggle-h2 Answer Key"',
        None,
    ),
    (
        "dialogue.missing_speaker",
        'study-text line 1: expected "Speaker: text" or continuation, got '
        '"It is Friday evening and two friends are looking at their phones.".',
        56,
    ),
    (
        "dialogue.unknown_speaker",
        'study-text line 4: unknown speaker "Grandpa". Allowed: [Mia, Leo].',
        59,
    ),
    (
        "dialogue.unknown_speaker",
        'study-text line 6: unknown speaker "The app says". Allowed: [Mia, Leo].',
        61,
    ),
    (
        "callout.icon",
        'callout starting at line 3 must provide an emoji/icon after ":::callout".',
        47,
    ),
    (
        "column_list.empty_column",
        "column-list starting at line 23 has an empty column #2; add content or remove it.",
        67,
    ),
    (
        "synced_block.empty",
        "synced-block starting at line 31 must include content when no source block id is "
        "provided.",
        75,
    ),
    (
        "table.columns",
        "Table starting at line 35 has inconsistent column counts (row 4 differs). "
        "Make all rows the same length.",
        79,
    ),
]
EXPECTED_06_WARNINGS = [
    ("practice.item_count", "Controlled Practice has 6 items (recommended 8–10).", 85),
    ("comprehension.item_count", "Comprehension Check has 1 item(s) (recommended 2–3).", 93),
    ("front_matter.input_type", 'input_type "mixed" is not one of "generate"|"authentic".', 42),
]


def test_the_sample_set_is_complete() -> None:
    assert sorted(p.name for p in LESSONS_DIR.glob("*.md")) == sorted(EXPECTED_STUDY)
    assert len(VALID_LESSONS) == 5


@pytest.mark.parametrize("path", VALID_LESSONS, ids=lambda p: p.name)
@pytest.mark.parametrize("strict", [False, True], ids=["relaxed", "strict"])
def test_valid_samples_pass(path: Path, strict: bool) -> None:
    result = validate_file(path, strict=strict)
    assert result.ok, result.error_summary()
    assert result.errors == []
    assert result.warnings == []
    assert result.meta is not None
    assert result.meta.title.startswith("Homework Assignment: ")


@pytest.mark.parametrize("path", sorted(LESSONS_DIR.glob("*.md")), ids=lambda p: p.name)
def test_extractor_type_and_line_count(path: Path) -> None:
    extraction = extract_lesson(path.read_text(encoding="utf-8"))
    assert extraction.study_text is not None
    kind, count = EXPECTED_STUDY[path.name]
    assert extraction.study_text.type == kind
    assert len(extraction.study_text.lines) == count
    assert [s.title[:2] for s in extraction.sections if s.depth == 2] == [
        f"{n}." for n in range(1, 10)
    ]
    assert extraction.teacher_notes


def test_invalid_sample_reports_exactly_the_listed_findings() -> None:
    result = validate_file(INVALID_LESSON)
    assert not result.ok
    assert [(f.code, f.message, f.line) for f in result.errors] == EXPECTED_06_ERRORS
    assert [(f.code, f.message, f.line) for f in result.warnings] == EXPECTED_06_WARNINGS
    assert {f.severity for f in result.errors} == {"error"}
    assert {f.severity for f in result.warnings} == {"warning"}


def test_invalid_sample_in_strict_mode_keeps_warnings_out_of_errors() -> None:
    result = validate_file(INVALID_LESSON, strict=True)
    assert len(result.errors) == len(EXPECTED_06_ERRORS)
    assert len(result.warnings) == len(EXPECTED_06_WARNINGS)


def test_invalid_sample_extraction_matches_its_comment() -> None:
    extraction = extract_lesson(INVALID_LESSON.read_text(encoding="utf-8"))
    assert extraction.answer_key is None
    assert extraction.teacher_notes is not None
    assert extraction.teacher_notes.startswith("* **Warm-up Idea:**")
