"""Files hosted by Notion: the File Upload API (create, send, complete) and references to it.

A file of up to 20 MB goes in one ``single_part`` upload: create, then send the bytes. A larger
one is a ``multi_part`` upload: create with ``number_of_parts``, send each part (5 to 20 MB, the
last may be smaller) with its ``part_number``, then complete. The result has status ``uploaded``
and is attached to a block by its id; Notion expires an upload an hour after its creation unless
it is attached by then (``expiry_time`` becomes null once attached) and allows attaching one
upload to several blocks.

:func:`upload_file` reuses a previous upload that is still usable (attached, or uploaded and far
from its expiry) and creates a new one otherwise (expired, failed, pending, or gone). A retried
send or complete whose answer was lost looks at the upload's state before sending again.

The pipeline keeps an upload as a reference string ``notion://file_uploads/<id>`` where other
targets keep a URL, so the add-audio step can tell a Notion-hosted file from a link.
"""

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from esl_dagster.pipeline.errors import InfrastructureError, ServiceError
from esl_dagster.pipeline.notion.client import JSON, SERVICE, NotionAPIError, NotionClient

MEBIBYTE = 1024 * 1024
SINGLE_PART_LIMIT = 20 * MEBIBYTE
DEFAULT_PART_SIZE = 10 * MEBIBYTE
# An uploaded but unattached upload closer than this to its expiry is not reused: the attach
# that follows must happen before Notion expires it.
EXPIRY_MARGIN = timedelta(minutes=10)
REFERENCE_PREFIX = "notion://file_uploads/"


def file_upload_reference(file_upload_id: str) -> str:
    return f"{REFERENCE_PREFIX}{file_upload_id}"


def file_upload_id_of(reference: str | None) -> str | None:
    """The upload id of a ``notion://file_uploads/<id>`` reference; None for anything else."""
    if reference and reference.startswith(REFERENCE_PREFIX):
        found = reference.removeprefix(REFERENCE_PREFIX).strip("/")
        return found or None
    return None


@dataclass(frozen=True)
class UploadedFile:
    """A Notion file upload with status ``uploaded``. ``parts`` is how many parts were sent (0
    when the previous upload was reused); ``expiry_time`` is None once it is attached."""

    id: str
    status: str
    expiry_time: str | None
    parts: int
    reused: bool


@dataclass(frozen=True)
class PartPlan:
    """How a file is sent: Notion's single-part limit and the multi-part part size."""

    single_part_limit: int = SINGLE_PART_LIMIT
    part_size: int = DEFAULT_PART_SIZE

    def parts_for(self, size: int) -> int:
        """1 for a single-part upload, else the number of parts."""
        if size <= self.single_part_limit:
            return 1
        return math.ceil(size / self.part_size)


def upload_file(
    client: NotionClient,
    path: Path,
    *,
    content_type: str,
    previous_id: str | None = None,
    plan: PartPlan | None = None,
    now: datetime | None = None,
) -> UploadedFile:
    """Upload ``path`` to Notion, or reuse ``previous_id`` when it is still usable."""
    if previous_id:
        previous = usable_upload(client, previous_id, now)
        if previous is not None:
            return previous
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InfrastructureError(f"cannot read {path} for the Notion upload: {exc}") from exc
    plan = plan or PartPlan()
    parts = plan.parts_for(len(data))
    if parts == 1:
        created = client.create_file_upload(
            {"mode": "single_part", "filename": path.name, "content_type": content_type}
        )
        final = _send(client, created["id"], data, path.name, content_type, None)
    else:
        created = client.create_file_upload(
            {
                "mode": "multi_part",
                "filename": path.name,
                "content_type": content_type,
                "number_of_parts": parts,
            }
        )
        for number in range(1, parts + 1):
            chunk = data[(number - 1) * plan.part_size : number * plan.part_size]
            _send(client, created["id"], chunk, path.name, content_type, number)
        final = client.complete_file_upload(
            created["id"], recover=lambda: _if_uploaded(client, created["id"])
        )
    return _uploaded(final, parts=parts, reused=False)


def _send(
    client: NotionClient,
    file_upload_id: str,
    chunk: bytes,
    filename: str,
    content_type: str,
    part_number: int | None,
) -> JSON:
    def recover() -> JSON | None:
        # A single part that arrived made the upload ``uploaded``; a multi-part part may be sent
        # again (Notion keeps the last copy of a part number).
        return _if_uploaded(client, file_upload_id) if part_number is None else None

    return client.send_file_upload(
        file_upload_id,
        chunk,
        filename=filename,
        content_type=content_type,
        part_number=part_number,
        recover=recover,
    )


def _if_uploaded(client: NotionClient, file_upload_id: str) -> JSON | None:
    current = client.retrieve_file_upload(file_upload_id)
    return current if current.get("status") == "uploaded" else None


def usable_upload(
    client: NotionClient, file_upload_id: str, now: datetime | None = None
) -> UploadedFile | None:
    """The upload when it can still be attached (attached already, or uploaded and not close to
    its expiry); None when a new one is needed."""
    now = now or datetime.now(UTC)
    try:
        current = client.retrieve_file_upload(file_upload_id)
    except NotionAPIError as error:
        if error.status in (400, 404):
            return None  # unknown to this workspace (or token): upload again
        raise
    if current.get("status") != "uploaded":
        return None  # pending (never finished), expired or failed
    expiry = current.get("expiry_time")
    if expiry is not None and _parse_time(expiry) - now < EXPIRY_MARGIN:
        return None
    return _uploaded(current, parts=0, reused=True)


def _uploaded(answer: JSON, *, parts: int, reused: bool) -> UploadedFile:
    status = str(answer.get("status"))
    if status != "uploaded":
        raise ServiceError(
            SERVICE,
            f"file upload {answer.get('id')} ended with status {status!r}, not 'uploaded'",
            transient=True,
        )
    return UploadedFile(
        id=str(answer["id"]),
        status=status,
        expiry_time=answer.get("expiry_time"),
        parts=parts,
        reused=reused,
    )


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
