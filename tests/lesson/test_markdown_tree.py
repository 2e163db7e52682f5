"""Bounded inline text and long marker lines keep the outline the validator sees."""

import pytest

from esl_dagster.pipeline.lesson.markdown_tree import (
    MARKER_LINE_MIN,
    parse_outline,
    plain_inline_text,
    shorten_marker_lines,
)


@pytest.mark.parametrize(
    "line",
    ["- - -", "***", "---", "===", "-- x", "    ---", " _ _ _", "= = ="],
)
def test_long_marker_lines_keep_their_meaning(line: str) -> None:
    """A marker line made long parses like the short one (heading, break, list, code, text)."""
    marker = line.strip()[0]
    long_line = line + (f" {marker}" if " " in line.strip() else marker) * MARKER_LINE_MIN
    if "x" in line:
        long_line = line + " x" * MARKER_LINE_MIN
    body = f"Some text\n{line}\n\n- a\n{line}\nend"
    long_body = body.replace(f"\n{line}\n", f"\n{long_line}\n")
    short, long = parse_outline(body), parse_outline(long_body)
    assert [(b.kind, b.line, b.level, b.items) for b in long] == [
        (b.kind, b.line, b.level, b.items) for b in short
    ]
    assert shorten_marker_lines(long_body).count("\n") == long_body.count("\n")


@pytest.mark.parametrize(
    ("source", "text"),
    [
        ("Plain title", "Plain title"),
        ("**A.** Controlled _Practice_", "A. Controlled Practice"),
        ("[A. Controlled](https://x.example) Practice &amp; more", "A. Controlled Practice & more"),
        ("x " + "*a" * 300, "x aa" + "*a" * 298),
        ("[" * 5000, "[" * 5000),
    ],
)
def test_plain_inline_text_is_exact_for_short_text_and_linear_for_long(
    source: str, text: str
) -> None:
    assert plain_inline_text(source) == text
