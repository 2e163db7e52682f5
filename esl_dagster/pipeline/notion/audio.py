"""Put the lesson's MP3 directly above the study-text toggle, replacing our previous audio block.

"Ours" is the audio block whose id the manifest recorded (``previous_block_id``) plus any audio
blocks directly above the toggle (and, for pages made by the original, audio at the start of the
toggle). An ``:::audio`` embed elsewhere in the lesson is left alone. The new block is inserted
first (``position: after_block`` of the block preceding the toggle, or ``position: start`` when
the toggle is the first block, which the original got wrong by appending at the page end) and the
old ones are deleted afterwards, so a failure never leaves the page without audio. When the
existing block already has the same URL in the right place nothing is written.
"""

from dataclasses import dataclass, field

from esl_dagster.pipeline.errors import ValidationError
from esl_dagster.pipeline.notion.blocks import external
from esl_dagster.pipeline.notion.client import JSON, NotionClient
from esl_dagster.pipeline.notion.rich_text import plain_text_of

STUDY_TEXT_TITLE = "study-text"


@dataclass
class AudioResult:
    block_id: str
    appended: bool
    replaced: list[str] = field(default_factory=list)


def find_study_text(blocks: list[JSON]) -> int | None:
    for index, block in enumerate(blocks):
        if (
            block["type"] == "toggle"
            and plain_text_of(block["toggle"].get("rich_text", [])).strip() == STUDY_TEXT_TITLE
        ):
            return index
    return None


def insert_position(anchor: str | None) -> JSON:
    """Where the audio block goes: right after ``anchor`` (the block before the toggle, or before
    our audio blocks above it), or at the start of the page when the toggle comes first."""
    if anchor is None:
        return {"type": "start"}
    return {"type": "after_block", "after_block": {"id": anchor}}


def add_or_replace_audio(
    client: NotionClient, page_id: str, url: str, *, previous_block_id: str | None = None
) -> AudioResult:
    if not page_id.strip():
        raise ValidationError("pageId is required")
    if not url.strip():
        raise ValidationError("url is required")
    blocks = list(client.iter_block_children(page_id))
    index = find_study_text(blocks)
    if index is None:
        raise ValidationError("study-text toggle not found on page")
    toggle = blocks[index]
    start = index
    while start > 0 and blocks[start - 1]["type"] == "audio":
        start -= 1
    ours = blocks[start:index]
    ours += [
        b for b in blocks if b["id"] == previous_block_id and b["type"] == "audio" and b not in ours
    ]
    if toggle.get("has_children"):
        inner = list(client.iter_block_children(toggle["id"]))
        ours += [b for b in inner[:1] if b["type"] == "audio"]
    if len(ours) == 1 and start == index - 1 and _url(ours[0]) == url:
        return AudioResult(block_id=ours[0]["id"], appended=False)
    position = insert_position(blocks[start - 1]["id"] if start > 0 else None)
    new_block = external("audio", url)

    def recover() -> JSON | None:
        current = list(client.iter_block_children(page_id))
        old_ids = {b["id"] for b in ours}
        at = find_study_text(current) or 0
        for block in current[:at]:
            if block["type"] == "audio" and _url(block) == url and block["id"] not in old_ids:
                return {"results": [block]}
        return None

    created = client.append_block_children(page_id, [new_block], position=position, recover=recover)
    for block in ours:
        client.delete_block(block["id"])
    return AudioResult(
        block_id=str(created["results"][0]["id"]), appended=True, replaced=[b["id"] for b in ours]
    )


def _url(block: JSON) -> str | None:
    media = block.get("audio") or {}
    return (media.get("external") or {}).get("url")
