"""Inline Markdown -> Notion rich-text items, within the API's limits.

markdown-it-py parses the inline grammar (bold, italic, strike-through, code, links, images,
backslash escapes). Underscore emphasis is turned back into literal text: lessons use ``______``
gaps and ``snake_case`` words that must never format (lesson-format §1.7). Every item is split so
that its content stays within 2,000 UTF-16 code units (Notion counts like JavaScript), links are
only emitted for absolute URLs (Notion rejects relative ones), and no item has empty content.
"""

from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token

from esl_dagster.pipeline.errors import ValidationError

RichText = dict[str, Any]

MAX_TEXT_UNITS = 2000
MAX_ITEMS = 100
_LINK_SCHEMES = ("http://", "https://", "mailto:")

_INLINE = MarkdownIt("zero").enable(
    ["emphasis", "strikethrough", "backticks", "link", "image", "escape"]
)


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
    return fit_items([text_item(text)]) if text else []


def parse_inline(text: str) -> list[RichText]:
    """Parse one line of inline Markdown into API-valid rich-text items."""
    if not text:
        return []
    tokens = _INLINE.parseInline(text)[0].children or []
    builder = _Builder()
    builder.walk(tokens)
    return fit_items(builder.items)


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


def fit_items(items: list[RichText]) -> list[RichText]:
    """Merge equal neighbours, drop empty items, split long ones, and cap the array at 100."""
    merged: list[RichText] = []
    for item in items:
        content = item["text"]["content"]
        if not content:
            continue
        if merged and _same_style(merged[-1], item):
            previous = merged[-1]
            merged[-1] = {
                **previous,
                "text": {**previous["text"], "content": previous["text"]["content"] + content},
            }
        else:
            merged.append(item)
    fitted = [
        {**item, "text": {**item["text"], "content": chunk}}
        for item in merged
        for chunk in split_content(item["text"]["content"])
    ]
    if len(fitted) > MAX_ITEMS:
        raise ValidationError(
            f"A line has {len(fitted)} differently formatted text runs; Notion accepts at most "
            f"{MAX_ITEMS} per block. Split the line or simplify its formatting."
        )
    return fitted


def _same_style(a: RichText, b: RichText) -> bool:
    return bool(a["annotations"] == b["annotations"] and a["text"]["link"] == b["text"]["link"])


class _Builder:
    """Walks markdown-it inline tokens, tracking the active annotations and link."""

    def __init__(self) -> None:
        self.items: list[RichText] = []
        self.bold = 0
        self.italic = 0
        self.strike = 0
        self.links: list[str | None] = []

    def emit(self, content: str, *, code: bool = False, link: str | None = None) -> None:
        active_link = link or next((url for url in reversed(self.links) if url), None)
        self.items.append(
            text_item(
                content,
                bold=self.bold > 0 and not code,
                italic=self.italic > 0 and not code,
                strikethrough=self.strike > 0,
                code=code,
                color="red" if code else "default",
                link=active_link,
            )
        )

    def walk(self, tokens: list[Token]) -> None:
        for token in tokens:
            kind = token.type
            if kind in ("text", "text_special"):
                self.emit(token.content)
            elif kind == "code_inline":
                self.emit(token.content, code=True)
            elif kind in ("strong_open", "strong_close", "em_open", "em_close"):
                self._emphasis(token)
            elif kind == "s_open":
                self.strike += 1
            elif kind == "s_close":
                self.strike -= 1
            elif kind == "link_open":
                self.links.append(_absolute(str(token.attrs.get("href", ""))))
            elif kind == "link_close":
                self.links.pop()
            elif kind == "image":
                self.emit(token.content or "Image", link=_absolute(str(token.attrs.get("src", ""))))
            elif kind in ("softbreak", "hardbreak"):
                self.emit(" ")
            else:
                self.emit(token.content)

    def _emphasis(self, token: Token) -> None:
        if "_" in token.markup:
            self.emit(token.markup)
            return
        step = 1 if token.type.endswith("_open") else -1
        if token.type.startswith("strong"):
            self.bold += step
        else:
            self.italic += step


def _absolute(url: str) -> str | None:
    return url if url.startswith(_LINK_SCHEMES) and len(url) <= MAX_TEXT_UNITS else None
