"""The lesson envelope: the outer code fence and the YAML front matter.

Both are line-oriented by nature, so they are found with small regexes here; the body itself is
parsed with markdown-it-py by the validator and the Notion converter. Nothing here raises on bad
input: problems come back as fields of :class:`LessonDocument` for the validator to report.
"""

import re
from dataclasses import dataclass
from typing import Any

import yaml

# Three backticks, an optional info word (no spaces), optional blanks, a line break; the content
# runs to the very next three backticks anywhere (the original's rule, see lesson-format §1.1).
_FENCE_RE = re.compile(r"```([A-Za-z0-9_-]*)[ \t]*\n(.*?)```", re.DOTALL)
_FRONT_OPEN_RE = re.compile(r"---(?!-)[A-Za-z0-9_-]*[ \t]*(?:\n|$)")


def normalize_text(text: str) -> str:
    """Drop a leading BOM and turn CRLF / CR line endings into LF."""
    if text.startswith("\ufeff"):
        text = text[1:]
    return text.replace("\r\n", "\n").replace("\r", "\n")


class _Yaml12Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """SafeLoader with YAML 1.2 core booleans: only true/false are bools (``student: No`` stays text).

    A scalar that resolves to a type but cannot be converted (``2026-02-30``, ``!!int abc``,
    ``0x_``, an integer longer than Python's digit limit) makes PyYAML's constructors raise
    plain ``ValueError``/``AttributeError``; here every such failure becomes a
    ``ConstructorError`` at the node's position, so callers only ever handle ``YAMLError``.
    """

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (yaml.YAMLError, RecursionError):
            raise
        except Exception as exc:
            value = node.value if isinstance(node, yaml.ScalarNode) else type(node).__name__
            reason = f" ({exc})" if isinstance(exc, ValueError) else ""
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"cannot read {_shorten(str(value))} as {_tag_name(node.tag)}{reason}",
                node.start_mark,
            ) from exc


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


def _shorten(text: str, limit: int = 40) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _tag_name(tag: str) -> str:
    """``tag:yaml.org,2002:timestamp`` -> ``a timestamp``."""
    name = tag.rsplit(":", 1)[-1]
    return f"an {name}" if name[:1] in "aeiou" else f"a {name}"


def load_yaml(text: str) -> Any:
    """Parse YAML with 1.2-core booleans. Raises ``yaml.YAMLError`` on malformed input."""
    return yaml.load(text, Loader=_Yaml12Loader)  # a SafeLoader subclass


@dataclass(frozen=True)
class LessonDocument:
    """A lesson file split into its parts.

    ``fenced`` is False when no qualifying outer fence exists (rule F0); then ``content`` is the
    whole text. ``front_matter`` is the parsed mapping (``{}`` when absent or empty) unless
    ``front_matter_error`` says why it could not be parsed (``front_matter_error_line`` is then
    the 1-based line inside the front matter where YAML stopped, when known);
    ``front_matter_value`` keeps whatever YAML produced (it may be a list or a scalar). ``body_start_line`` is the 1-based line of the
    file on which body line 1 sits, so body-relative numbers can be mapped to editor lines.
    """

    text: str
    fenced: bool
    content: str
    has_front_matter: bool
    front_matter_raw: str | None
    front_matter_value: Any
    front_matter_error: str | None
    front_matter_error_line: int | None
    body: str
    body_start_line: int

    @property
    def front_matter(self) -> dict[str, Any]:
        value = self.front_matter_value
        return value if isinstance(value, dict) else {}


def find_fence(text: str) -> tuple[str, int] | None:
    """Return the trimmed fenced content and the 1-based file line where it starts, or None."""
    match = _FENCE_RE.search(text)
    if match is None:
        return None
    inner = match.group(2)
    stripped_lead = len(inner) - len(inner.lstrip())
    start_offset = match.start(2) + stripped_lead
    return inner.strip(), text.count("\n", 0, start_offset) + 1


def split_front_matter(content: str) -> tuple[str | None, str, int]:
    """Split trimmed content into (front matter YAML or None, body, body's 0-based line offset)."""
    opening = _FRONT_OPEN_RE.match(content)
    if opening is None:
        return None, content, 0
    rest = content[opening.end() :]
    close = rest.find("\n---") if opening.group(0).endswith("\n") else -1
    if close == -1 and rest.startswith("---"):
        # Empty block: the closing dashes directly follow the opening line.
        close_at, raw = 0, ""
    elif close == -1:
        return rest, "", content.count("\n") + 1
    else:
        close_at, raw = close + 1, rest[:close]
    body_at = opening.end() + close_at + 3
    if content.startswith("\n", body_at):
        body_at += 1
    return raw, content[body_at:], content.count("\n", 0, body_at)


def parse_document(text: str) -> LessonDocument:
    """Split a lesson's text (already decoded) into fence, front matter and body. Never raises."""
    text = normalize_text(text)
    fence = find_fence(text)
    if fence is None:
        content, content_line = text.strip(), 1
    else:
        content, content_line = fence
    raw, body, body_offset = split_front_matter(content)
    value: Any = {}
    error: str | None = None
    error_line: int | None = None
    if raw is not None and raw.strip():
        try:
            value = load_yaml(raw)
        except yaml.YAMLError as exc:
            error, error_line = _yaml_error_text(exc)
            value = None
        except RecursionError:
            # PyYAML composes recursively: thousands of nested brackets exhaust the stack.
            error = "the YAML is nested too deeply"
            value = None
        if value is None and error is None:
            value = {}
    return LessonDocument(
        text=text,
        fenced=fence is not None,
        content=content,
        has_front_matter=raw is not None,
        front_matter_raw=raw,
        front_matter_value=value,
        front_matter_error=error,
        front_matter_error_line=error_line,
        body=body,
        body_start_line=content_line + body_offset,
    )


def _yaml_error_text(exc: yaml.YAMLError) -> tuple[str, int | None]:
    """The problem in one line and the 1-based front-matter line where it is, when known."""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    mark = getattr(exc, "problem_mark", None)
    if mark is not None:
        where = f"front matter line {mark.line + 1}, column {mark.column + 1}"
        return f"{problem} ({where})", mark.line + 1
    return str(problem), None
