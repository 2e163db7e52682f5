"""Put the lesson's MP3 directly above the study-text toggle, replacing our previous audio block.

"Ours" is the audio block whose id the manifest recorded (``previous_block_id``) plus any audio
blocks directly above the toggle (and, for pages made by the original, audio at the start of the
toggle). An ``:::audio`` embed elsewhere in the lesson is left alone. The new block is inserted
first (``position: after_block`` of the block preceding the toggle, or ``position: start`` when
the toggle is the first block, which the original got wrong by appending at the page end) and the
old ones are deleted afterwards, so a failure never leaves the page without audio. When the
existing block already has the same URL in the right place nothing is written.

``url`` is either a link (an ``external`` audio block) or the reference of a Notion file upload
(``notion://file_uploads/<id>``, see :mod:`file_uploads`), attached as a ``file_upload`` block.
Notion reads such a block back as type ``file`` with a short-lived signed URL, so it cannot be
compared with the reference: the block is replaced whenever this step runs, and the step runs
only when its inputs changed, on ``--force`` or when a rerun names it. Should the append's answer
be lost, the audio block that appeared above the toggle is taken as the result, so a retried
attach never leaves two blocks.
"""

from dataclasses import dataclass, field

from esl_dagster.pipeline.errors import ValidationError
from esl_dagster.pipeline.notion.block_payloads import external
from esl_dagster.pipeline.notion.client import JSON, NotionAPIError, NotionClient, Recover
from esl_dagster.pipeline.notion.file_uploads import file_upload_id_of
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
    seen = {b["id"] for b in blocks}

    def recover() -> JSON | None:
        current = list(client.iter_block_children(page_id))
        at = find_study_text(current) or 0
        for block in current[:at]:
            if block["type"] == "audio" and block["id"] not in seen and _is_ours(block, url):
                return {"results": [block]}
        return None

    created = _append(client, page_id, audio_block(url), position, recover)
    for block in ours:
        client.delete_block(block["id"])
    return AudioResult(
        block_id=str(created["results"][0]["id"]), appended=True, replaced=[b["id"] for b in ours]
    )


def audio_block(url: str) -> JSON:
    """The audio block for a link, or for a Notion file upload reference."""
    file_upload_id = file_upload_id_of(url)
    if file_upload_id is None:
        return external("audio", url)
    return {
        "type": "audio",
        "audio": {"type": "file_upload", "file_upload": {"id": file_upload_id}},
    }


def _append(
    client: NotionClient, page_id: str, block: JSON, position: JSON, recover: Recover
) -> JSON:
    try:
        return client.append_block_children(page_id, [block], position=position, recover=recover)
    except NotionAPIError as error:
        if error.status != 400 or block["audio"]["type"] != "file_upload":
            raise
        raise ValidationError(
            f"Notion refused to attach the uploaded audio ({error.args[0]}); an upload expires "
            "an hour after it is made unless attached: rerun with --steps upload,add-audio"
        ) from error


def _is_ours(block: JSON, url: str) -> bool:
    """Whether a new audio block holds ``url`` (a file upload reads back as type ``file``)."""
    if file_upload_id_of(url) is not None:
        return bool(block["audio"].get("type") == "file")
    return _url(block) == url


def _url(block: JSON) -> str | None:
    media = block.get("audio") or {}
    return (media.get("external") or {}).get("url")
