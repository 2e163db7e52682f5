"""A linear tokenizer for the inline Markdown teachers write (the grammar is described in
:mod:`esl_dagster.pipeline.notion.rich_text`).

:func:`inline_runs` turns one line into :class:`Run` values: text with its emphasis flags, code
flag and link. It works in two steps over a flat token list: scanning (plain text, escapes, code
spans, links and images, marker runs of ``*`` and ``~``) with markers matched into pairs, one stack
per marker kind while scanning, so the cost stays linear however many markers or brackets a line
holds; openers never closed stay literal text.
"""

import re
from typing import NamedTuple

ESCAPABLE = frozenset("*_`~[]!\\")
MAX_URL_CHARS = 2000  # Notion's limit for a link URL

_SPECIAL_RE = re.compile(r"[\\`*~\[!]")
_SPECIAL_NO_LINK_RE = re.compile(r"[\\`*~]")  # once no "]" is left, brackets are plain text
_BACKTICKS_RE = re.compile(r"`+")


class Run(NamedTuple):
    """A piece of text with one style. ``link`` is the raw target (checked by the caller)."""

    content: str
    bold: bool = False
    italic: bool = False
    strikethrough: bool = False
    code: bool = False
    link: str | None = None


class _Marker:
    """A run of ``*`` or ``~~``: the ``kinds`` it may stand for and how it was matched."""

    __slots__ = ("closes", "kinds", "opens", "text")

    def __init__(self, text: str, kinds: tuple[str, ...], closes: list[str]) -> None:
        self.text = text
        self.kinds = kinds
        self.opens: list[str] = []
        self.closes = closes


class _Link(NamedTuple):
    """``[label](url)``; an image's label is its alt text, shown literally."""

    label: str
    url: str
    image: bool


_Token = str | _Marker | _Link | Run


def has_markup(text: str) -> bool:
    """True when ``text`` holds a character that may start markup (else it is one plain run)."""
    return _SPECIAL_RE.search(text) is not None


def inline_runs(
    text: str, *, bold: int = 0, italic: int = 0, strike: int = 0, link: str | None = None
) -> list[Run]:
    """The styled runs of one line; the keyword arguments are the style the line starts in."""
    tokens = _Scanner(text, link).scan()
    return _render(tokens, {"bold": bold, "italic": italic, "strike": strike}, link)


class _Scanner:
    def __init__(self, text: str, link: str | None) -> None:
        self.text = text
        self.link = link
        self.tokens: list[_Token] = []
        self.buffer: list[str] = []
        self.next_bracket = -1  # cached position of the first "]" at or after the scan point
        self.next_paren = -1  # the same for ")"
        self.backticks: _BacktickRuns | None = None  # built at the first backtick
        # Openers waiting for a closer, one stack per kind; a closer takes the latest opener.
        self.stacks: dict[str, list[_Marker]] = {"bold": [], "italic": [], "strike": []}

    def scan(self) -> list[_Token]:
        text, pos = self.text, 0
        while pos < len(text):
            pattern = _SPECIAL_RE if self.next_bracket != -2 else _SPECIAL_NO_LINK_RE
            special = pattern.search(text, pos)
            if special is None:
                self.buffer.append(text[pos:])
                break
            start = special.start()
            self.buffer.append(text[pos:start])
            pos = self._special(start)
        self._flush()
        return self.tokens

    def _flush(self) -> None:
        if self.buffer:
            joined = "".join(self.buffer)
            if joined:
                self.tokens.append(joined)
            self.buffer = []

    def _special(self, pos: int) -> int:
        """Handle the special character at ``pos``; return where scanning continues."""
        text = self.text
        char = text[pos]
        if char == "\\":
            following = text[pos + 1 : pos + 2]
            if following and following in ESCAPABLE:
                self.buffer.append(following)
                return pos + 2
            self.buffer.append(char)
            return pos + 1
        if char == "`":
            return self._code(pos)
        if char == "[" or (char == "!" and text.startswith("[", pos + 1)):
            end = self._link(pos)
            if end is not None:
                return end
            self.buffer.append(char)
            return pos + 1
        if char in "*~":
            return self._marker(pos)
        self.buffer.append(char)
        return pos + 1

    def _code(self, pos: int) -> int:
        if self.backticks is None:
            self.backticks = _backtick_runs(self.text)
        length, closing = self.backticks.closing(pos)
        if closing is None:
            self.buffer.append("`" * length)
            return pos + length
        self._flush()
        self.tokens.append(Run(self.text[pos + length : closing], code=True, link=self.link))
        return closing + length

    def _link(self, pos: int) -> int | None:
        """``[text](url)`` or ``![alt](url)`` at ``pos``; None when it is not one."""
        text = self.text
        image = text[pos] == "!"
        open_at = pos + 1 if image else pos
        if self.next_bracket <= open_at and self.next_bracket != -2:
            found = text.find("]", open_at + 1)
            self.next_bracket = found if found != -1 else -2  # -2: no "]" left in the line
        close = self.next_bracket
        if close < 0 or not text.startswith("(", close + 1):
            return None
        url_end = _url_end(text, close + 2, self._first_paren(close + 2))
        if url_end is None:
            return None
        label, url = text[open_at + 1 : close], text[close + 2 : url_end]
        self._flush()
        self.tokens.append(_Link(label, url, image))
        return url_end + 1

    def _first_paren(self, start: int) -> int:
        """The first ")" at or after ``start`` (cached: starts only grow), -2 when none."""
        if self.next_paren < start and self.next_paren != -2:
            found = self.text.find(")", start)
            self.next_paren = found if found != -1 else -2
        return self.next_paren

    def _marker(self, pos: int) -> int:
        text = self.text
        char = text[pos]
        end = pos
        while end < len(text) and text[end] == char:
            end += 1
        run = text[pos:end]
        kinds = _MARKER_KINDS.get(run, ())
        if not kinds:
            self.buffer.append(run)
            return end
        before = text[pos - 1] if pos > 0 else " "
        after = text[end] if end < len(text) else " "
        can_open = not after.isspace()
        if run == "*" and before.isalnum():
            can_open = False
        can_close = not before.isspace() or not can_open
        closes = [kind for kind in kinds if can_close and self.stacks[kind]]
        pending = [kind for kind in kinds if kind not in closes] if can_open else []
        if not closes and not pending:
            self.buffer.append(run)
            return end
        self._flush()
        marker = _Marker(run, kinds, closes)
        for kind in closes:
            self.stacks[kind].pop().opens.append(kind)
        for kind in pending:
            self.stacks[kind].append(marker)
        self.tokens.append(marker)
        return end


_MARKER_KINDS: dict[str, tuple[str, ...]] = {
    "*": ("italic",),
    "**": ("bold",),
    "***": ("bold", "italic"),
    "~~": ("strike",),
}


class _BacktickRuns:
    """Every run of backticks in a line, to find a code span's closing run in linear total time."""

    def __init__(self, runs: list[tuple[int, int]]) -> None:
        self.length_at = dict(runs)
        self.by_length: dict[int, list[int]] = {}
        for start, length in runs:
            self.by_length.setdefault(length, []).append(start)
        self.cursor: dict[int, int] = {}

    def closing(self, pos: int) -> tuple[int, int | None]:
        """The length of the run at ``pos`` and the start of the next run of that length."""
        length = self.length_at.get(pos, 1)
        starts = self.by_length.get(length, [])
        index = self.cursor.get(length, 0)
        while index < len(starts) and starts[index] <= pos:
            index += 1
        self.cursor[length] = index
        return length, starts[index] if index < len(starts) else None


def _backtick_runs(text: str) -> _BacktickRuns:
    return _BacktickRuns([(m.start(), len(m.group())) for m in _BACKTICKS_RE.finditer(text)])


def _url_end(text: str, start: int, first_close: int) -> int | None:
    """The index of the ``)`` ending a URL that starts at ``start`` (parentheses may nest);
    ``first_close`` is the first ``)`` at or after ``start``. Only C-speed searches, bounded by
    ``MAX_URL_CHARS``."""
    limit = start + MAX_URL_CHARS
    if first_close < 0 or first_close > limit:
        return None
    end = first_close
    depth = text.count("(", start, end)
    while depth:
        following = text.find(")", end + 1, limit)
        if following == -1:
            return None
        depth += text.count("(", end + 1, following) - 1
        end = following
    return end


def _render(tokens: list[_Token], depth: dict[str, int], link: str | None) -> list[Run]:
    runs: list[Run] = []
    for token in tokens:
        if type(token) is str:  # the common token first: exact type test, no isinstance chain
            runs.append(_styled(token, depth, link))
        elif isinstance(token, _Marker):
            _apply_marker(token, depth, runs, link)
        elif isinstance(token, Run):
            runs.append(token)
        elif isinstance(token, _Link) and token.image:
            runs.append(_styled(token.label or "Image", depth, token.url))
        elif isinstance(token, _Link):
            runs.extend(
                inline_runs(
                    token.label,
                    bold=depth["bold"],
                    italic=depth["italic"],
                    strike=depth["strike"],
                    link=token.url,
                )
            )
    return runs


def _apply_marker(
    marker: _Marker, depth: dict[str, int], runs: list[Run], link: str | None
) -> None:
    used = len(marker.opens) + len(marker.closes)
    for kind in marker.closes:
        depth[kind] -= 1
    for kind in marker.opens:
        depth[kind] += 1
    if used == 0:
        runs.append(_styled(marker.text, depth, link))
    elif used < len(marker.kinds):
        # ``***`` used for one kind only: the unused asterisk(s) are text.
        runs.append(_styled("*" * (len(marker.text) - _width(marker)), depth, link))


def _width(marker: _Marker) -> int:
    return sum(2 if kind == "bold" else 1 for kind in marker.opens + marker.closes)


def _styled(content: str, depth: dict[str, int], link: str | None) -> Run:
    # Positional: (content, bold, italic, strikethrough, code, link).
    return Run(content, depth["bold"] > 0, depth["italic"] > 0, depth["strike"] > 0, False, link)
