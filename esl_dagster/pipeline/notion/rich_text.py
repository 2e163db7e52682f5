"""Inline Markdown -> Notion rich-text items, within the API's limits.

The grammar is the original importer's light tokenizer (reference notion.md §2.8), which is what
teachers write for: ``**bold**``, ``*italic*``, ``~~strike~~``, `` `code` ``, ``[text](url)``,
``![alt](url)`` and backslash escapes of ``*_`~[]!``; underscores never format (``______`` gaps,
``snake_case``). Bold opens wherever a ``**`` is followed by a non-space, so ``I**'ve been**``
is bold as the original makes it; a single ``*`` opens only when the character before it is not
a letter or digit (``a*b*c`` stays literal).

Deliberate improvements, each pinned by a test: a marker is only formatting when it has a partner
(the original opened bold on any later ``**``, even one inside a code span, and then ran to the end
of the line); ``***x***`` is bold and italic (the original showed a stray ``*``); italic may also
open after quotes and punctuation (``"*word*"``; the original showed the asterisks); a marker
preceded by a space that could open does not close (``*a *b* c*``); runs of four or more
asterisks stay literal (the original swallowed ``****``); a link inside bold text is bold too (the
original dropped the surrounding emphasis); URLs may hold balanced parentheses; a code span
closes on a backtick run of the same length.

The tokenizer is linear in the line length: plain text is skipped with one regex search,
partner lookups for brackets and backticks are cached, and emphasis is matched with one stack per
marker. Every item is split so that its content stays within 2,000 UTF-16 code units (Notion
counts like JavaScript), links are only emitted for absolute URLs (Notion rejects relative ones),
and no item has empty content.
"""

from typing import Any

from esl_dagster.pipeline.errors import ValidationError
from esl_dagster.pipeline.notion.inline import has_markup, inline_runs

RichText = dict[str, Any]

MAX_TEXT_UNITS = 2000
MAX_ITEMS = 100
_LINK_SCHEMES = ("http://", "https://", "mailto:")


def text_item(
    content: str,
    *,
    bold: bool = False,
    italic: bool = False,
    strikethrough: bool = False,
    code: bool = False,
    color: str = "default",
    link: str | None = None,
) -> RichText:
    """One rich-text item in the full shape the original emits."""
    return {
        "type": "text",
        "text": {"content": content, "link": {"url": link} if link else None},
        "annotations": {
            "bold": bold,
            "italic": italic,
            "strikethrough": strikethrough,
            "underline": False,
            "code": code,
            "color": color,
        },
    }


def plain(text: str) -> list[RichText]:
    """Literal text (no Markdown), split to the API limits; ``[]`` for empty text."""
    return [text_item(chunk) for chunk in split_content(text)] if text else []


def parse_inline(text: str) -> list[RichText]:
    """Parse one line of inline Markdown into API-valid rich-text items."""
    if not text:
        return []
    if not has_markup(text):  # most lines: one plain item, no tokenizer pass
        return plain(text)
    # Runs are merged while they are still tuples; each dict is built once.
    merged: list[tuple[str, tuple[bool, bool, bool, bool, str | None]]] = []
    for run in inline_runs(text):
        if not run.content:
            continue
        link = _absolute(run.link) if run.link else None
        style = (run.bold, run.italic, run.strikethrough, run.code, link)
        if merged and merged[-1][1] == style:
            merged[-1] = (merged[-1][0] + run.content, style)
        else:
            merged.append((run.content, style))
    return _capped(
        [
            text_item(chunk, bold=b, italic=i, strikethrough=s, code=c, color=_color(c), link=url)
            for content, (b, i, s, c, url) in merged
            for chunk in split_content(content)
        ]
    )


def plain_text_of(items: list[RichText]) -> str:
    """The concatenated text of request or response rich text."""
    parts = []
    for item in items:
        if "plain_text" in item:
            parts.append(str(item["plain_text"]))
        else:
            parts.append(str(item.get("text", {}).get("content", "")))
    return "".join(parts)


def utf16_len(text: str) -> int:
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def split_content(text: str, limit: int = MAX_TEXT_UNITS) -> list[str]:
    """Split ``text`` into chunks of at most ``limit`` UTF-16 units, never inside a code point."""
    if len(text) * 2 <= limit or utf16_len(text) <= limit:
        return [text]
    chunks: list[str] = []
    start, units = 0, 0
    for index, ch in enumerate(text):
        width = 2 if ord(ch) > 0xFFFF else 1
        if units + width > limit:
            chunks.append(text[start:index])
            start, units = index, 0
        units += width
    chunks.append(text[start:])
    return chunks


def _capped(fitted: list[RichText]) -> list[RichText]:
    if len(fitted) > MAX_ITEMS:
        raise ValidationError(
            f"A line has {len(fitted)} differently formatted text runs; Notion accepts at most "
            f"{MAX_ITEMS} per block. Split the line or simplify its formatting."
        )
    return fitted


def _color(code: bool) -> str:
    return "red" if code else "default"  # inline code is shown red, as the original does


def _absolute(url: str) -> str | None:
    fits = len(url) <= MAX_TEXT_UNITS and not any(ch.isspace() for ch in url)
    return url if url.startswith(_LINK_SCHEMES) and fits else None
