"""Markdown -> Notion blocks: converter throughput on the validator's corpus, and inline parsing
of marker-heavy lines.

Baselines, measured in the same run on the same bodies:

- the previous converter: the same block parser with inline text parsed by one markdown-it-py
  ``parseInline`` call per line (CommonMark inline rules); it is rebuilt here, for the benchmark
  only, from markdown-it's tokens;
- markdown-it-py rendering the same bodies to HTML (one CommonMark pass over the text).

Conversions alternate chunk by chunk so load from other processes hits all three alike.

Against the original: set ``ESL_BENCH_ORIGINAL_CONVERTER`` to the original importer's
``mdToBlocks`` compiled to a CommonJS file (``tsc --module commonjs mdToBlocks.ts``); with ``node``
on the PATH, both converters then take the same 1,100 corpus bodies in a warm process, and the
row compares process CPU seconds per pass (best of five; CPU time, so other load on the machine
counts less than in wall time). A second row measures CPython's floor: building the converter's
output trees, dict by dict, with no parsing at all; no pure-Python converter of this output is
faster than that. Nothing of the original is part of this repository.

The inline rows time one line of markers as long as the reader accepts (20,000 characters) against
its first half: a linear tokenizer takes about twice as long for the whole line, a quadratic one
four times.
"""

import time
from collections.abc import Callable
from typing import Any
from unittest import mock

from markdown_it import MarkdownIt

from bench.common import BenchRow
from bench.lesson import generate_corpus
from bench.original import best_cpu_seconds, original_cpu_seconds, original_file, rate_row
from esl_dagster.pipeline.lesson.document import parse_document
from esl_dagster.pipeline.lesson.reader import MAX_LINE_CHARS
from esl_dagster.pipeline.notion import blocks
from esl_dagster.pipeline.notion.batching import count_blocks
from esl_dagster.pipeline.notion.inline import inline_runs
from esl_dagster.pipeline.notion.rich_text import RichText, split_content, text_item

CORPUS_SIZE = 400
ORIGINAL_CORPUS_SIZE = 1100
ORIGINAL_ENV = "ESL_BENCH_ORIGINAL_CONVERTER"
PASSES = 5
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


def fit_items(items: list[RichText]) -> list[RichText]:
    """The previous converter's last step: merge equal neighbours, drop empty items, split long
    ones (the converter now merges runs before it builds any item)."""
    merged: list[RichText] = []
    for item in items:
        content = item["text"]["content"]
        if not content:
            continue
        previous = merged[-1] if merged else None
        if previous is not None and (previous["annotations"], previous["text"]["link"]) == (
            item["annotations"],
            item["text"]["link"],
        ):
            text = {**previous["text"], "content": previous["text"]["content"] + content}
            merged[-1] = {**previous, "text": text}
        else:
            merged.append(item)
    return [
        {**item, "text": {**item["text"], "content": chunk}}
        for item in merged
        for chunk in split_content(item["text"]["content"])
    ]


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
        ),
        BenchRow(
            f"{label}: lessons/s vs markdown-it HTML rendering",
            rate,
            "lessons/s",
            baseline=len(bodies) / html,
            ratio=html / ours,
        ),
        *_original_rows(),
        *_inline_rows(),
    ]


def _original_rows() -> list[BenchRow]:
    converter = original_file(ORIGINAL_ENV, "compiled mdToBlocks.js")
    if converter is None:
        return []
    bodies = [parse_document(text).body for text in generate_corpus(ORIGINAL_CORPUS_SIZE)]
    original = original_cpu_seconds(converter, "mdToBlocks", bodies, PASSES)
    outputs = [blocks.markdown_to_blocks(body) for body in bodies]  # warm, as the original is
    ours = best_cpu_seconds(blocks.markdown_to_blocks, bodies, PASSES)
    floor = best_cpu_seconds(_rebuilt, outputs, PASSES)
    label = f"notion.convert ({len(bodies)} corpus lessons): lessons/CPU-s"
    return [
        rate_row(
            f"{label} vs the original's mdToBlocks (node)", len(bodies), ours, original, ">= 1.0x"
        ),
        rate_row(
            f"{label}, CPython's floor: building the same block trees without parsing, "
            "vs the original",
            len(bodies),
            floor,
            original,
            "a converter cannot beat it",
        ),
    ]


def _rebuilt(value: Any) -> Any:
    """A copy of a converter output built dict by dict and list by list, as a converter builds
    it: the least work any pure-Python converter does for this output."""
    if isinstance(value, dict):
        return {key: _rebuilt(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_rebuilt(item) for item in value]
    return value


def _inline_rows() -> list[BenchRow]:
    rows = []
    for unit in ("[", "**a", "*a", "`a", "[a](", "~~a"):
        half = unit * (LINE_CHARS // 2 // len(unit))
        half_s = min(_timed(inline_runs, [half]) for _ in range(3))
        full_s = min(_timed(inline_runs, [half + half]) for _ in range(3))
        rows.append(
            BenchRow(
                f"inline tokenizer, a {LINE_CHARS:,}-char line of {unit!r} vs half that line",
                full_s * 1000,
                "ms",
                baseline=half_s * 1000,
                ratio=full_s / half_s,
                target="~2 (linear; quadratic ~4)",
            )
        )
    return rows
