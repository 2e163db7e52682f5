"""Lesson body (Markdown) -> Notion block payloads.

The block structure is line-based, as in the original importer (reference notion.md §2.8): one
block per non-blank line, ``:::`` directives for toggles, callouts, columns, synced blocks, table of
contents, audio and video, the study-text toggle titled ``study-text``. Inline text goes through
:mod:`rich_text`. The result is the complete tree; :mod:`batching` later splits it into requests
that respect the API's per-request limits (100 children, two levels of nesting, 1,000 blocks).

Fixes over the original: rich text is split at 2,000 characters; indentation inside directive
bodies is kept (bodies are dedented, not trimmed line by line, so nested lists survive in toggles);
table rows are padded or cut to the header width; a column list with fewer than two non-empty
columns becomes ordinary blocks (Notion requires two); a callout icon is the first word of the
opener and the rest of the line becomes the callout text; code languages are mapped to Notion's
names; non-http(s) media URLs and links are kept as text instead of being sent and rejected;
a column list or a synced-block reference that is never closed is an error naming its line (the
original silently dropped everything after it); other unclosed containers keep their content.
"""

import re
import textwrap
from typing import Any

from esl_dagster.pipeline.errors import ValidationError
from esl_dagster.pipeline.lesson.directives import NESTING_OPENERS, study_text_label
from esl_dagster.pipeline.notion.block_payloads import (
    CODE_LANGUAGES,
    Block,
    append_child,
    external,
    text_block,
)
from esl_dagster.pipeline.notion.rich_text import parse_inline, plain

_DIRECTIVE_RE = re.compile(r"^:::([A-Za-z][A-Za-z0-9-]*)(.*)$")
_HEADING_RE = re.compile(r"^(#{1,3})\s+(.*)$")
_BULLET_RE = re.compile(r"^([ \t]*)[-*]\s+(.*)$")
_NUMBERED_RE = re.compile(r"^([ \t]*)\d+\.\s+(.*)$")
_IMAGE_RE = re.compile(r"^!\[([^\]]*)\]\((\S+?)\)$")
_DIVIDER_LINES = frozenset({"---", "***", "___"})
_SEPARATOR_CELL_RE = re.compile(r"^:?-+:?$")
_MEDIA_SCHEMES = ("http://", "https://")


def markdown_to_blocks(body: str) -> list[Block]:
    """Convert a lesson body (front matter already removed, or still present) to blocks.

    Raises ``ValidationError`` for a container whose content would otherwise be lost (an unclosed
    column list or synced-block reference); line numbers in it count lines of ``body``.
    """
    all_lines = body.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    lines = _strip_front_matter(all_lines)
    return _Parser(lines, top_level=True, first_line=len(all_lines) - len(lines) + 1).parse()


def _strip_front_matter(lines: list[str]) -> list[str]:
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None or lines[first].strip() != "---":
        return lines
    for end in range(first + 1, len(lines)):
        if lines[end].strip() == "---":
            return lines[end + 1 :]
    return lines


def _collect_body(
    lines: list[str], start: int, *, nested: bool = True
) -> tuple[list[str], int, bool]:
    """Lines of a container body starting at ``start``, the index after its closer, and whether
    a closer was found (an unclosed body runs to the end)."""
    depth = 1
    for index in range(start, len(lines)):
        stripped = lines[index].strip()
        if stripped == ":::":
            depth -= 1
            if depth == 0:
                return lines[start:index], index + 1, True
        elif nested and stripped.lower().startswith(NESTING_OPENERS):
            depth += 1
    return lines[start:], len(lines), False


def _dedent(lines: list[str]) -> list[str]:
    return textwrap.dedent("\n".join(line.expandtabs(4) for line in lines)).split("\n")


def _indent_width(prefix: str) -> int:
    return len(prefix.expandtabs(4))


class _Parser:
    """Blocks of ``lines``; ``first_line`` is the body line number of ``lines[0]``."""

    def __init__(self, lines: list[str], *, top_level: bool, first_line: int = 1) -> None:
        self.lines = lines
        self.top_level = top_level
        self.first_line = first_line
        self.blocks: list[Block] = []
        self.list_stack: list[tuple[int, Block]] = []

    def parse(self) -> list[Block]:
        index = 0
        while index < len(self.lines):
            index = self._line(index)
        return self.blocks

    def _add(self, block: Block) -> None:
        self.list_stack.clear()
        self.blocks.append(block)

    def _line(self, index: int) -> int:
        """One line (or the container, code block or table starting there); the next index.

        The first character of the stripped line picks the only kinds of block it can start,
        so a plain paragraph, most lines, costs no pattern match.
        """
        line = self.lines[index]
        stripped = line.strip()
        if not stripped:
            self.list_stack.clear()
            return index + 1
        first = stripped[0]
        if first == ":":
            candidate = line if self.top_level else line.lstrip()
            handled = (
                self._directive(candidate.rstrip(), index) if candidate.startswith(":::") else None
            )
            if handled is not None:
                return handled
        elif first == "`" and stripped.startswith("```"):
            return self._code(index)
        elif first == "|":
            return self._table(index)
        elif first == ">":
            self._add(text_block("quote", parse_inline(stripped[1:].strip())))
            return index + 1
        elif first in "-*_" and stripped in _DIVIDER_LINES and not line[0].isspace():
            self._add({"type": "divider", "divider": {}})
            return index + 1
        elif first == "!" and self._image(stripped):
            return index + 1
        elif first == "#" and self._heading(line):
            return index + 1
        elif first in "-*" and self._list_line(_BULLET_RE, "bulleted_list_item", line):
            return index + 1
        elif first.isdigit() and self._list_line(_NUMBERED_RE, "numbered_list_item", line):
            return index + 1
        self._paragraph(line, stripped)
        return index + 1

    def _image(self, stripped: str) -> bool:
        image = _IMAGE_RE.match(stripped)
        if image is None or not image.group(2).startswith(_MEDIA_SCHEMES):
            return False
        self._add(external("image", image.group(2), parse_inline(image.group(1))))
        return True

    def _heading(self, line: str) -> bool:
        heading = _HEADING_RE.match(line)
        if heading is None:
            return False
        level = len(heading.group(1))
        self._add(text_block(f"heading_{level}", parse_inline(heading.group(2).strip())))
        return True

    def _list_line(self, pattern: re.Pattern[str], kind: str, line: str) -> bool:
        item = pattern.match(line)
        if item is None:
            return False
        block = text_block(kind, parse_inline(item.group(2).strip()))
        self._list_item(_indent_width(item.group(1)), block)
        return True

    def _paragraph(self, line: str, stripped: str) -> None:
        indent = _indent_width(line[: len(line) - len(line.lstrip())])
        parent = self._list_parent(indent)
        paragraph = text_block("paragraph", parse_inline(stripped))
        if indent > 0 and parent is not None:
            append_child(parent, paragraph)
        else:
            self._add(paragraph)

    def _list_parent(self, indent: int) -> Block | None:
        while self.list_stack and self.list_stack[-1][0] >= indent:
            self.list_stack.pop()
        return self.list_stack[-1][1] if self.list_stack else None

    def _list_item(self, indent: int, block: Block) -> None:
        parent = self._list_parent(indent)
        if parent is None:
            self.blocks.append(block)
        else:
            append_child(parent, block)
        self.list_stack.append((indent, block))

    def _directive(self, line: str, index: int) -> int | None:
        if study_text_label(line) is not None:
            body, after, _ = _collect_body(self.lines, index + 1, nested=False)
            inner = self.first_line + index + 1
            self._add(text_block("toggle", plain("study-text"), _parse_body(body, inner)))
            return after
        match = _DIRECTIVE_RE.match(line)
        if match is None:
            return None
        name, arg = match.group(1).lower(), match.group(2).strip()
        if name == "toc" and not arg:
            self._add({"type": "table_of_contents", "table_of_contents": {"color": "default"}})
            return index + 1
        if name in ("audio", "video"):
            if arg.startswith(_MEDIA_SCHEMES):
                self._add(external(name, arg))
                return index + 1
            return index + 1 if not arg else None
        if name not in (
            "callout",
            "column-list",
            "synced-block",
            "toggle-heading",
            "toggle-h1",
            "toggle-h2",
            "toggle-h3",
        ):
            return None
        body, after, closed = _collect_body(self.lines, index + 1)
        inner = self.first_line + index + 1
        if not closed and (name == "column-list" or (name == "synced-block" and arg)):
            raise ValidationError(
                f'{name} starting at line {inner - 1} is missing a closing ":::"; '
                "everything after it would be lost. Close it."
            )
        if name == "callout":
            self._add(_callout(arg, body, inner))
        elif name == "column-list":
            for block in _column_list(body, inner):
                self._add(block)
        elif name == "synced-block":
            self._add(_synced_block(arg, body, inner))
        elif name == "toggle-heading":
            self._add(text_block("toggle", parse_inline(arg), _parse_body(body, inner)))
        else:
            heading = text_block(f"heading_{name[-1]}", parse_inline(arg), _parse_body(body, inner))
            heading[heading["type"]]["is_toggleable"] = True
            self._add(heading)
        return after

    def _code(self, index: int) -> int:
        opener = self.lines[index].strip()
        language = CODE_LANGUAGES.get(opener[3:].strip().lower(), "plain text")
        end = index + 1
        while end < len(self.lines) and not self.lines[end].strip().startswith("```"):
            end += 1
        content = "\n".join(self.lines[index + 1 : end])
        self._add({"type": "code", "code": {"rich_text": plain(content), "language": language}})
        return end + 1

    def _table(self, index: int) -> int:
        end = index
        while end < len(self.lines) and self.lines[end].strip().startswith("|"):
            end += 1
        rows = [_cells(line) for line in self.lines[index:end]]
        has_header = (
            len(rows) >= 2 and all(_SEPARATOR_CELL_RE.match(c) for c in rows[1]) and bool(rows[1])
        )
        if has_header:
            rows.pop(1)
        width = max(1, len(rows[0]))
        table_rows = [
            {
                "type": "table_row",
                "table_row": {"cells": [parse_inline(c) for c in (row + [""] * width)[:width]]},
            }
            for row in rows
        ]
        self._add(
            {
                "type": "table",
                "table": {
                    "table_width": width,
                    "has_column_header": has_header,
                    "has_row_header": False,
                    "children": table_rows,
                },
            }
        )
        return end


def _parse_body(lines: list[str], first_line: int) -> list[Block]:
    return _Parser(_dedent(lines), top_level=False, first_line=first_line).parse()


def _cells(line: str) -> list[str]:
    cells = line.strip().split("|")
    if cells and not cells[0].strip():
        cells = cells[1:]
    if cells and not cells[-1].strip():
        cells = cells[:-1]
    return [cell.strip() for cell in cells]


def _callout(arg: str, body: list[str], first_line: int) -> Block:
    icon, _, rest = arg.partition(" ")
    payload: dict[str, Any] = {"rich_text": [], "color": "default"}
    if icon and not re.search(r"[A-Za-z0-9]", icon):
        payload["icon"] = {"type": "emoji", "emoji": icon}
    else:
        rest = arg
    children = _parse_body(body, first_line)
    if rest.strip():
        payload["rich_text"] = parse_inline(rest.strip())
    elif (
        children
        and children[0]["type"] == "paragraph"
        and "children" not in children[0]["paragraph"]
    ):
        payload["rich_text"] = children.pop(0)["paragraph"]["rich_text"]
    if children:
        payload["children"] = children
    return {"type": "callout", "callout": payload}


def _column_list(body: list[str], first_line: int) -> list[Block]:
    lines = _dedent(body)
    columns: list[list[Block]] = []
    saw_column = False
    index = 0
    while index < len(lines):
        if lines[index].strip().lower() == ":::column":
            saw_column = True
            column_body, after, _ = _collect_body(lines, index + 1)
            content = _parse_body(column_body, first_line + index + 1)
            index = after
            if content:
                columns.append(content)
        else:
            index += 1
    if not saw_column:
        return _parse_body(body, first_line)
    if len(columns) < 2:
        return [block for column in columns for block in column]
    return [
        {
            "type": "column_list",
            "column_list": {
                "children": [{"type": "column", "column": {"children": c}} for c in columns]
            },
        }
    ]


def _synced_block(arg: str, body: list[str], first_line: int) -> Block:
    if arg:
        return {"type": "synced_block", "synced_block": {"synced_from": {"block_id": arg}}}
    payload: dict[str, Any] = {"synced_from": None}
    children = _parse_body(body, first_line)
    if children:
        payload["children"] = children
    return {"type": "synced_block", "synced_block": payload}
