"""Markdown -> Notion blocks: converter throughput on the validator's corpus, and inline parsing
of marker-heavy lines.

Baselines, measured in the same run on the same bodies:

- the previous converter: the same block parser with inline text parsed by one markdown-it-py
  ``parseInline`` call per line (CommonMark inline rules); it is rebuilt here, for the benchmark
  only, from markdown-it's tokens;
- markdown-it-py rendering the same bodies to HTML (one CommonMark pass over the text).

Conversions alternate chunk by chunk so load from other processes hits all three alike. The
inline rows time one line of markers as long as the reader accepts (20,000 characters) against a
plain line of the same length
(linear cost: a ratio near 1-20 is fine, quadratic would be thousands).
"""

import time
from collections.abc import Callable
from typing import Any
from unittest import mock

from markdown_it import MarkdownIt

from bench.common import BenchRow
from bench.lesson import generate_corpus
from esl_dagster.pipeline.lesson.document import parse_document
from esl_dagster.pipeline.lesson.reader import MAX_LINE_CHARS
from esl_dagster.pipeline.notion import blocks
from esl_dagster.pipeline.notion.batching import count_blocks
from esl_dagster.pipeline.notion.inline import inline_runs
from esl_dagster.pipeline.notion.rich_text import RichText, fit_items, text_item

CORPUS_SIZE = 400
CHUNK = 50
LINE_CHARS = MAX_LINE_CHARS
_INLINE = MarkdownIt("zero").enable(
    ["emphasis", "strikethrough", "backticks", "link", "image", "escape"]
)


def markdown_it_inline(text: str) -> list[RichText]:
    """The previous converter's inline step: markdown-it tokens -> rich-text items."""
    if not text:
        return []
    items: list[RichText] = []
    depth: dict[str, Any] = {"bold": 0, "italic": 0, "strike": 0, "links": []}
    for token in _INLINE.parseInline(text)[0].children or []:
        kind = token.type
        if kind.startswith(("strong_", "em_")) and "_" in token.markup:
            items.append(text_item(token.markup))  # underscores never format
        elif kind in ("strong_open", "strong_close", "em_open", "em_close", "s_open", "s_close"):
            key = {"strong": "bold", "em": "italic", "s": "strike"}[kind.split("_")[0]]
            depth[key] += 1 if kind.endswith("open") else -1
        elif kind == "link_open":
            depth["links"].append(str(token.attrs.get("href", "")))
        elif kind == "link_close":
            depth["links"].pop()
        else:
            code = kind == "code_inline"
            items.append(
                text_item(
                    token.content,
                    bold=depth["bold"] > 0 and not code,
                    italic=depth["italic"] > 0 and not code,
                    strikethrough=depth["strike"] > 0,
                    code=code,
                    link=depth["links"][-1] if depth["links"] else None,
                )
            )
    return fit_items(items)


def _previous_converter(body: str) -> list[dict[str, Any]]:
    with mock.patch.object(blocks, "parse_inline", markdown_it_inline):
        return blocks.markdown_to_blocks(body)


def _timed(fn: Callable[[str], object], texts: list[str]) -> float:
    start = time.perf_counter()
    for text in texts:
        fn(text)
    return time.perf_counter() - start


def conversion_rows() -> list[BenchRow]:
    bodies = [parse_document(text).body for text in generate_corpus(CORPUS_SIZE)]
    renderer = MarkdownIt("commonmark").enable("table").enable("strikethrough")
    block_count = sum(count_blocks(blocks.markdown_to_blocks(body)) for body in bodies)
    ours = previous = html = 0.0
    for offset in range(0, len(bodies), CHUNK):
        chunk = bodies[offset : offset + CHUNK]
        previous += _timed(_previous_converter, chunk)
        ours += _timed(blocks.markdown_to_blocks, chunk)
        html += _timed(renderer.render, chunk)
    rate = len(bodies) / ours
    label = f"notion.convert ({len(bodies)} corpus lessons)"
    return [
        BenchRow(f"{label}: blocks/s", block_count / ours, "blocks/s"),
        BenchRow(
            f"{label}: lessons/s vs previous converter (markdown-it inline per line)",
            rate,
            "lessons/s",
            baseline=len(bodies) / previous,
            ratio=previous / ours,
            target=">= 1.0x (the original's light tokenizer speed)",
        ),
        BenchRow(
            f"{label}: lessons/s vs markdown-it HTML rendering",
            rate,
            "lessons/s",
            baseline=len(bodies) / html,
            ratio=html / ours,
        ),
        *_inline_rows(),
    ]


def _inline_rows() -> list[BenchRow]:
    plain = _timed(inline_runs, ["Plain words in a very long line. " * (LINE_CHARS // 33)])
    rows = []
    for unit in ("[", "**a", "*a", "`a", "[a](", "~~a"):
        line = unit * (LINE_CHARS // len(unit))
        seconds = _timed(inline_runs, [line])
        rows.append(
            BenchRow(
                f"inline tokenizer, one {LINE_CHARS:,}-char line of {unit!r} vs plain text",
                seconds * 1000,
                "ms",
                baseline=plain * 1000,
                ratio=seconds / plain,
                target="linear (< 0.1 s)",
            )
        )
    return rows
