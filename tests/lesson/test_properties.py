"""Property tests: parsing, validating and extracting never raise, whatever the text."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from esl_dagster.pipeline.lesson.document import parse_document
from esl_dagster.pipeline.lesson.extractor import extract_lesson
from esl_dagster.pipeline.lesson.models import ValidationResult
from esl_dagster.pipeline.lesson.validator import validate_text
from tests.conftest import LESSONS_DIR
from tests.lesson.lessons import make_lesson

SAMPLES = [p.read_text(encoding="utf-8") for p in sorted(LESSONS_DIR.glob("*.md"))] + [
    make_lesson()
]

# Fragments that steer random text towards the format's special cases.
FRAGMENTS = [
    "```",
    "```markdown\n",
    "---\n",
    "\n---",
    ":::",
    ":::study-text",
    ":::callout",
    ":::column-list",
    ":::column",
    ":::synced-block",
    ":::toggle-h2 Answer Key",
    "## ",
    "### ",
    "| a | b |",
    "|",
    "Ann: ",
    "[Ann]: ",
    "**Ann:** ",
    "\n",
    "\n\n",
    "    ",
    "~~~",
    "- ",
    "1) ",
    "title: ",
    "[",
    "{",
    "&a ",
    "*a",
    "!!binary ",
    "\ufeff",
    "\r\n",
    "\u00a0",
    "\u200b",
    "🎯",
    "é",
]

text_like = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=20)), max_size=60).map(
    "".join
)

PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def check_all(text: str) -> None:
    parse_document(text)
    for strict in (False, True):
        result = validate_text(text, strict=strict)
        assert isinstance(result, ValidationResult)
        assert result.ok == (not result.errors and not (strict and result.warnings))
        assert all(f.line is None or f.line >= 1 for f in result.errors + result.warnings)
    extraction = extract_lesson(text)
    extraction.model_dump_json()


@PROPERTY_SETTINGS
@given(st.text(max_size=400))
def test_arbitrary_text_never_raises(text: str) -> None:
    check_all(text)


@PROPERTY_SETTINGS
@given(text_like)
def test_format_like_text_never_raises(text: str) -> None:
    check_all("```markdown\n" + text + "\n```")


@PROPERTY_SETTINGS
@given(
    st.sampled_from(SAMPLES),
    st.lists(
        st.tuples(st.integers(min_value=0), st.integers(min_value=0, max_value=40), text_like),
        min_size=1,
        max_size=4,
    ),
)
def test_mutated_samples_never_raise(sample: str, edits: list[tuple[int, int, str]]) -> None:
    text = sample
    for position, length, replacement in edits:
        at = position % (len(text) + 1)
        text = text[:at] + replacement + text[at + length :]
    check_all(text)


@PROPERTY_SETTINGS
@given(st.sampled_from(SAMPLES), st.lists(st.integers(min_value=0), min_size=1, max_size=20))
def test_samples_with_dropped_lines_never_raise(sample: str, drops: list[int]) -> None:
    lines = sample.split("\n")
    for drop in drops:
        if lines:
            del lines[drop % len(lines)]
    check_all("\n".join(lines))
