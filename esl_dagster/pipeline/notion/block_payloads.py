"""Notion block payloads: the constructors and accessors every Markdown -> block step and every
later step (batching, preview, audio) build and read blocks with, and the code-language names."""

from typing import Any

from esl_dagster.pipeline.notion.rich_text import RichText

Block = dict[str, Any]

CODE_LANGUAGES: dict[str, str] = {
    "": "plain text",
    "text": "plain text",
    "txt": "plain text",
    "md": "markdown",
    "markdown": "markdown",
    "py": "python",
    "python": "python",
    "js": "javascript",
    "javascript": "javascript",
    "ts": "typescript",
    "typescript": "typescript",
    "json": "json",
    "sh": "shell",
    "shell": "shell",
    "bash": "bash",
    "html": "html",
    "css": "css",
    "sql": "sql",
    "yaml": "yaml",
    "yml": "yaml",
    "java": "java",
    "c": "c",
    "cpp": "c++",
    "c++": "c++",
    "cs": "c#",
    "c#": "c#",
    "go": "go",
    "rust": "rust",
}


def children_of(block: Block) -> list[Block]:
    children: list[Block] = block[block["type"]].get("children", [])
    return children


def with_children(block: Block, children: list[Block]) -> Block:
    """A shallow copy of ``block`` with ``children`` replaced (removed when empty)."""
    kind = block["type"]
    payload = {k: v for k, v in block[kind].items() if k != "children"}
    if children:
        payload["children"] = children
    return {"type": kind, kind: payload}


def text_block(kind: str, rich_text: list[RichText], children: list[Block] | None = None) -> Block:
    payload: dict[str, Any] = {"rich_text": rich_text}
    if kind.startswith("heading_"):
        payload["is_toggleable"] = False
    if children:
        payload["children"] = children
    return {"type": kind, kind: payload}


def external(kind: str, url: str, caption: list[RichText] | None = None) -> Block:
    payload: dict[str, Any] = {"type": "external", "external": {"url": url}}
    if caption:
        payload["caption"] = caption
    return {"type": kind, kind: payload}


def append_child(parent: Block, child: Block) -> None:
    parent[parent["type"]].setdefault("children", []).append(child)
