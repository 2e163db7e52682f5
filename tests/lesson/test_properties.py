"""Property tests: parsing, validating and extracting never raise, whatever the text.

Every test is derandomized (a fixed sequence of examples, no example database), so a CI run is
reproducible and costs the same each time.
"""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from esl_dagster.pipeline.errors import ValidationError
from esl_dagster.pipeline.lesson.document import parse_document
from esl_dagster.pipeline.lesson.extractor import (
    extract_answer_key,
    extract_lesson,
    extract_study_text,
    extract_teacher_notes,
)
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
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
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
    for extract in (extract_study_text, extract_answer_key, extract_teacher_notes):
        try:
            extract(text)
        except ValidationError as exc:  # the documented error for a missing part
            assert str(exc)


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


# YAML scalars PyYAML resolves to a type and may fail to convert (dates, ints, floats, tags).
YAML_SCALARS = st.one_of(
    st.sampled_from(
        [
            "2026-02-30",
            "2026-13-01",
            "2026-01-01 25:61:00",
            "!!int abc",
            "!!float x",
            "!!timestamp soon",
            "!!binary '@@'",
            "!!set [1]",
            "!!python/object:os.system x",
            "0x_",
            "-0b_",
            "0o9",
            "1_000",
            "190:20:30",
            "9" * 5000,
            "[a, {b: c}]",
            "&a [*a]",
            "*undefined",
            "'unclosed",
            "{",
            "~",
            ".nan",
            "-.inf",
            "No",
        ]
    ),
    st.from_regex(r"-?[0-9_]{1,6}(?:[-:.][0-9_]{1,4}){0,3}", fullmatch=True),
    st.text(alphabet="0123456789-:._xob+eE !&*[]{}'\"", max_size=16),
)
KEYS = st.sampled_from(["title", "student", "level", "topic", "input_type", "icon", "extra"])
LINE_EDIT = st.tuples(st.sampled_from(["insert", "delete", "duplicate", "char"]), st.integers(0))


def with_yaml_values(sample: str, values: list[tuple[str, str]]) -> str:
    """``sample`` with ``key: value`` lines added at the top of its front matter."""
    lines = sample.split("\n")
    opening = next((i for i, line in enumerate(lines) if line.strip() == "---"), 0)
    for key, value in values:
        lines.insert(opening + 1, f"{key}: {value}")
    return "\n".join(lines)


def edit_lines(text: str, edits: list[tuple[str, int]], filler: str) -> str:
    """Insert, delete or duplicate whole lines, or insert ``filler`` inside one."""
    lines = text.split("\n")
    for action, position in edits:
        at = position % len(lines)
        if action == "insert":
            lines.insert(at, filler)
        elif action == "delete" and len(lines) > 1:
            del lines[at]
        elif action == "duplicate":
            lines.insert(at, lines[at])
        else:
            line = lines[at]
            cut = position % (len(line) + 1)
            lines[at] = line[:cut] + filler + line[cut:]
    return "\n".join(lines)


@settings(PROPERTY_SETTINGS, max_examples=200)
@given(
    st.sampled_from(SAMPLES),
    st.lists(st.tuples(KEYS, YAML_SCALARS), min_size=1, max_size=3),
    st.lists(LINE_EDIT, max_size=6),
    st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=12)),
)
def test_mutated_lessons_with_odd_yaml_scalars_never_raise(
    sample: str, values: list[tuple[str, str]], edits: list[tuple[str, int]], filler: str
) -> None:
    text = edit_lines(with_yaml_values(sample, values), edits, filler)
    check_all(text)
    result = validate_text(text)
    yaml_errors = [f for f in result.errors if f.code == "front_matter.yaml"]
    assert all(f.line is not None and len(f.message) < 400 for f in yaml_errors)
