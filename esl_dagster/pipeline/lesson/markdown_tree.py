"""The lesson body as CommonMark, reduced to what the validator needs.

The body is parsed once with markdown-it-py's "commonmark" preset (the original used micromark,
which it matches closely). Only top-level blocks matter: H2/H3
headings (ATX and setext), lists with their direct items, paragraphs and code blocks. Lines in
:class:`Block` are 0-based body lines; callers convert them.

The block pass skips inline parsing (about half of markdown-it's time): the validator needs the
inline text of only a few headings and paragraphs, which :attr:`Block.text` parses on demand.

markdown-it's inline parser is quadratic on some lines (each unmatched ``[``, backtick run or
``<`` rescans the rest of the line, so one heading of 1,000 ``[`` costs ~50 ms). Text without
inline markup is taken as it is; short text with little markup goes through markdown-it; longer or
markup-heavy text goes through the Notion converter's linear tokenizer, whose output agrees with
CommonMark on everything lessons normally hold (it keeps ``_underscores_`` and entities literal).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import regex
from markdown_it import MarkdownIt
from markdown_it.token import Token

from esl_dagster.pipeline.notion.inline import inline_runs

BlockKind = Literal["heading", "list", "paragraph", "code"]

_BLOCK_PARSER = MarkdownIt("commonmark").disable("inline")
_INLINE_PARSER = MarkdownIt("commonmark")

# Normalisation of heading text, applied in this order.
_EMOJI_RE = regex.compile(r"[\p{Emoji_Presentation}\p{Extended_Pictographic}]")
_INVISIBLE_RE = regex.compile("[\u200b\u200c\u200d\u2060\ufe0e\ufe0f]")
_WHITESPACE_RE = regex.compile(r"[\s\ufeff]+")
_DISALLOWED_RE = regex.compile(r"[^A-Za-z0-9_\s.\-&:'\u2019]")

MAX_HEAD_CHARS = 200
# Inline text worth markdown-it's exact parse: at most this long, with at most this much markup.
MAX_PARSED_CHARS = 500
MAX_PARSED_MARKUP = 12
_MARKUP_RE = regex.compile(r"[\\`*_~\[\]<>&!\n]")

# Lines shorter than this are left to markdown-it as they are (see shorten_marker_lines).
MARKER_LINE_MIN = 64

# Paragraphs that look like list items still count as one item each (W3/W4).
_ITEM_LIKE_RE = regex.compile(r"\d+\)|- |\* ")


@dataclass(frozen=True)
class Block:
    """One top-level block of the body.

    ``level`` is the heading level (0 for non-headings), ``source`` the raw inline Markdown of a
    heading or paragraph, ``items`` the number of direct items of a list.
    """

    kind: BlockKind
    line: int
    level: int = 0
    source: str = ""
    items: int = 0

    @property
    def text(self) -> str:
        """The plain inline text of ``source`` (see :func:`plain_inline_text`)."""
        return plain_inline_text(self.source)

    @property
    def head_text(self) -> str:
        """The plain text of the first ``MAX_HEAD_CHARS`` characters of the first line: all the
        rules need of a heading or paragraph (titles are short, item markers come first)."""
        return plain_inline_text(self.source.split("\n", 1)[0][:MAX_HEAD_CHARS])


def plain_inline_text(source: str) -> str:
    """Inline Markdown as plain text, in time linear in its length (see the module docstring)."""
    markup = len(_MARKUP_RE.findall(source))
    if markup == 0:
        return source
    if markup > MAX_PARSED_MARKUP or len(source) > MAX_PARSED_CHARS:
        return "\n".join(
            "".join(run.content for run in inline_runs(line)) for line in source.split("\n")
        )
    tokens = _INLINE_PARSER.parseInline(source)
    return inline_text(tokens[0].children if tokens else None)


def inline_text(children: Sequence[Token] | None) -> str:
    """Plain text of inline tokens: text, code and the text inside emphasis and links.

    Images contribute nothing and raw inline HTML its literal tags (as in the original).
    """
    parts: list[str] = []
    for child in children or ():
        if child.type in ("text", "text_special", "code_inline", "html_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append("\n")
    return "".join(parts)


def markdown_inline_to_text(source: str) -> str:
    """Render one line of inline Markdown as plain text (bold, links, escapes removed)."""
    return Block("paragraph", 0, source=source).text.strip()


def normalize_heading(text: str) -> str:
    """Heading text as the validator compares it: no emoji, ASCII-ish, collapsed, lower case."""
    text = _EMOJI_RE.sub("", text)
    text = _INVISIBLE_RE.sub("", text)
    text = _WHITESPACE_RE.sub(" ", text)
    text = _DISALLOWED_RE.sub("", text)
    return text.strip().lower()


def shorten_marker_lines(body: str) -> str:
    """``body`` with every long line made of one repeated marker (``- - - ...``, ``=====``)
    replaced by a short line of the same kind, so line numbers and block structure stay as
    they were.

    markdown-it checks such lines (thematic breaks, setext underlines) one character at a time
    in Python; a few thousand characters long they dominate the parse.
    """
    lines = body.split("\n")
    for index, line in enumerate(lines):
        if len(line) >= MARKER_LINE_MIN:
            short = _short_marker_line(line)
            if short is not None:
                lines[index] = short
    return "\n".join(lines)


def _short_marker_line(line: str) -> str | None:
    """The short form of a marker line (indent of at most 3 spaces kept), else None."""
    content = line.lstrip(" ")
    indent = line[: len(line) - len(content)]
    marker = content[:1]
    if len(indent) > 3 or marker not in ("-", "*", "_", "="):
        return None
    if content.strip(marker + " \t") or content.count(marker) < 3:
        return None
    body = content.rstrip()
    spaced = " " in body or "\t" in body
    return indent + (f"{marker} {marker} {marker}" if spaced else marker * 3)


def parse_outline(body: str) -> list[Block]:
    """The top-level headings, paragraphs, lists and code blocks of ``body`` in order."""
    tokens = _BLOCK_PARSER.parse(shorten_marker_lines(body))
    blocks: list[Block] = []
    index = 0
    count = len(tokens)
    while index < count:
        token = tokens[index]
        line = token.map[0] if token.map else 0
        if token.level != 0:
            index += 1
            continue
        if token.type == "heading_open":
            blocks.append(
                Block(
                    "heading", line, level=int(token.tag[1:]), source=_inline_after(tokens, index)
                )
            )
        elif token.type == "paragraph_open":
            blocks.append(Block("paragraph", line, source=_inline_after(tokens, index)))
        elif token.type in ("bullet_list_open", "ordered_list_open"):
            index, items = _count_items(tokens, index)
            blocks.append(Block("list", line, items=items))
        elif token.type in ("code_block", "fence"):
            blocks.append(Block("code", line))
        index += 1
    return blocks


def count_items_under(blocks: Sequence[Block], start: int) -> int:
    """Items in the blocks after ``blocks[start]`` up to the next heading of level 1-3.

    Each list adds its direct items; each paragraph that starts like an item (``1)``, ``- ``,
    ``* ``) adds one.
    """
    total = 0
    for block in blocks[start + 1 :]:
        if block.kind == "heading" and block.level <= 3:
            break
        if block.kind == "list":
            total += block.items
        elif block.kind == "paragraph" and _ITEM_LIKE_RE.match(block.head_text):
            total += 1
    return total


def _inline_after(tokens: Sequence[Token], index: int) -> str:
    following = tokens[index + 1] if index + 1 < len(tokens) else None
    if following is None or following.type != "inline":
        return ""
    return following.content


def _count_items(tokens: Sequence[Token], index: int) -> tuple[int, int]:
    """Count the direct items of the list opened at ``index``; return (closing index, items)."""
    opening = tokens[index]
    close_type = opening.type.replace("_open", "_close")
    items = 0
    position = index + 1
    while position < len(tokens):
        token = tokens[position]
        if token.level == opening.level and token.type == close_type:
            break
        if token.type == "list_item_open" and token.level == opening.level + 1:
            items += 1
        position += 1
    return position, items
