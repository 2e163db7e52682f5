"""The validator, the extractor and the Notion block builder read a ``:::study-text`` opener
the same way: all three use the one definition in ``lesson/directives.py``; the validator and the
extractor also share the openers of the Answer Key and Teacher's Follow-up Plan toggles.

One difference is deliberate: an indented opener is refused by the validator (its own finding)
and is a paragraph to the block builder, while the extractor keeps the original's tolerance and
reads it (a validated lesson never reaches it with one)."""

from collections.abc import Callable

import pytest

from esl_dagster.pipeline.errors import ValidationError
from esl_dagster.pipeline.lesson.directives import BodyLines, StudyBlock, locate_study_text
from esl_dagster.pipeline.lesson.extractor import (
    extract_answer_key,
    extract_study_text,
    extract_teacher_notes,
)
from esl_dagster.pipeline.lesson.findings import Code
from esl_dagster.pipeline.lesson.models import Finding
from esl_dagster.pipeline.lesson.validator import validate_text
from esl_dagster.pipeline.notion.blocks import markdown_to_blocks
from esl_dagster.pipeline.notion.rich_text import plain
from tests.lesson.lessons import with_body

OPENERS = {
    ":::study-text": True,
    ":::Study-Text": True,
    ":::STUDY-TEXT Transcript": True,
    ":::study-text  extra": True,
    ":::study-textual": False,
    ":::study-text-x": False,
    ":::study-text_2": False,
}
INDENTED = ("  :::study-text", "\t:::study-text")


def body_with(opener: str) -> str:
    """A body whose second line is ``opener`` (a first line keeps an indented opener indented)."""
    return f"Listen first.\n{opener}\nBarista: Hi!\nIt takes a minute.\n:::\n"


def validator_opens(body: str) -> bool:
    return isinstance(locate_study_text(BodyLines(body, 1)), StudyBlock)


def extractor_opens(body: str) -> bool:
    try:
        extract_study_text(body)
    except ValidationError:
        return False
    return True


def blocks_open(body: str) -> bool:
    second = markdown_to_blocks(body)[1]
    return second["type"] == "toggle" and second["toggle"]["rich_text"] == plain("study-text")


@pytest.mark.parametrize(("opener", "opens"), OPENERS.items())
def test_the_three_readers_agree_on_an_opener(opener: str, opens: bool) -> None:
    body = body_with(opener)
    assert (validator_opens(body), extractor_opens(body), blocks_open(body)) == (opens,) * 3


def test_the_inline_label_is_what_follows_the_opener() -> None:
    study = extract_study_text(body_with(":::study-text  Barista: Hi!"))
    assert [line.text for line in study.lines] == ["It takes a minute."]


@pytest.mark.parametrize("opener", INDENTED)
def test_an_indented_opener_is_refused_and_only_the_extractor_tolerates_it(opener: str) -> None:
    body = body_with(opener)
    located = locate_study_text(BodyLines(body, 1))
    assert isinstance(located, Finding) and located.code == Code.STUDY_TEXT_INDENTED_MARKER
    assert (extractor_opens(body), blocks_open(body)) == (True, False)


@pytest.mark.parametrize(
    ("opener", "extract"),
    [
        (":::toggle-h2 Answer  Key", extract_answer_key),
        (":::toggle-heading ANSWER\tkey", extract_answer_key),
        (":::toggle-h3 Teacher\u2019s  Follow-up   Plan", extract_teacher_notes),
    ],
)
def test_a_toggle_the_validator_accepts_is_one_the_extractor_reads(
    opener: str, extract: Callable[[str], str]
) -> None:
    old = (
        ":::toggle-h2 Answer Key"
        if extract is extract_answer_key
        else ":::toggle-h2 Teacher's Follow-up Plan"
    )
    lesson = with_body(old, opener)
    marker_codes = {Code.MARKER_ANSWER_KEY, Code.MARKER_TEACHER_PLAN}
    assert not marker_codes & {item.code for item in validate_text(lesson).errors}
    assert extract(lesson)


# Containers whose names the block builder reads in any case, with what the validator must find
# in each (as it finds in the lower-case spelling).
CONTAINER_CASES = [
    (":::COLUMN-LIST\n:::Column\nLeft\n:::\n", Code.COLUMN_LIST_UNCLOSED),
    (":::Column-List\n:::\n", Code.COLUMN_LIST_NO_COLUMN),
    (":::Column-List\n:::COLUMN\n:::\n:::\n", Code.COLUMN_LIST_EMPTY_COLUMN),
    (":::CALLOUT\nText\n:::\n", Code.CALLOUT_ICON),
    (":::Callout 💡\n:::\n", Code.CALLOUT_EMPTY),
    (":::SYNCED-BLOCK\n:::\n", Code.SYNCED_BLOCK_EMPTY),
]


def lower_directives(text: str) -> str:
    return "\n".join(line.lower() if line.startswith(":::") else line for line in text.split("\n"))


def built(text: str) -> object:
    """The blocks of ``text``, or the builder's refusal."""
    try:
        return markdown_to_blocks(text)
    except ValidationError as exc:
        return str(exc)


def lesson_with(container: str) -> str:
    return with_body("Could I have...?\n", f"Could I have...?\n\n{container}")


@pytest.mark.parametrize(("container", "code"), CONTAINER_CASES)
def test_a_container_in_any_case_is_checked_as_the_block_builder_reads_it(
    container: str, code: Code
) -> None:
    found = validate_text(lesson_with(container)).errors
    assert code in {item.code for item in found}
    assert found == validate_text(lesson_with(lower_directives(container))).errors
    assert built(container) == built(lower_directives(container))


def test_a_well_formed_container_in_any_case_validates_and_converts() -> None:
    container = ":::COLUMN-LIST\n:::Column\nLeft\n:::\n:::COLUMN\nRight\n:::\n:::\n"
    lesson = with_body("Could I have...?\n", f"Could I have...?\n\n{container}")
    assert validate_text(lesson).ok
    (columns,) = markdown_to_blocks(container)
    assert columns["type"] == "column_list"
    assert len(columns["column_list"]["children"]) == 2
