"""The File Upload API of the fake Notion server (``tests/fakes/notion_server.py``).

Routes: ``POST /v1/file_uploads`` (create: ``single_part`` or ``multi_part`` with
``number_of_parts``), ``POST /v1/file_uploads/{id}/send`` (multipart/form-data, the bytes under
``file``, ``part_number`` in multi-part mode), ``POST /v1/file_uploads/{id}/complete`` and
``GET /v1/file_uploads/{id}``. Notion's rules: statuses ``pending`` -> ``uploaded``, and
``expired`` once ``expiry_time`` (an hour after creation) passes before the upload is attached;
a single part holds at most 20 MiB; multi-part parts hold 5 to 20 MiB except the last; the part's
content type must match the upload's and be one Notion accepts; only ``uploaded`` uploads attach.
An attached upload has no expiry and reads back in its block as type ``file`` with a signed URL.
The limits are attributes so tests can shrink them; :meth:`FakeFileUploads.expire` ages one.
The body of a send is parsed as real multipart (stdlib ``email`` parser), not trusted.
"""

import hashlib
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

JSON = dict[str, Any]
MEBIBYTE = 1024 * 1024
LIFETIME_SECONDS = 3600.0
ACCEPTED_TYPES = frozenset(
    {
        "audio/mpeg",
        "audio/mp4",
        "audio/wav",
        "audio/ogg",
        "audio/aac",
        "image/png",
        "image/jpeg",
        "application/pdf",
        "text/plain",
    }
)
EXTENSION_TYPES = {".mp3": "audio/mpeg", ".wav": "audio/wav", ".png": "image/png"}
SIGNED_HOST = "https://prod-files-secure.fake-notion.test"


class UploadError(Exception):
    """A 4xx answer: (status, Notion code, message)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _invalid(message: str) -> UploadError:
    return UploadError(400, "validation_error", message)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class FakeFileUploads:
    """The uploads of one fake workspace. Callers hold the fake server's lock."""

    def __init__(self, new_id: Callable[[], str], clock: Callable[[], float] = time.time) -> None:
        self.new_id = new_id
        self.clock = clock
        self.single_part_limit = 20 * MEBIBYTE
        self.min_part = 5 * MEBIBYTE
        self.max_part = 20 * MEBIBYTE
        self.uploads: dict[str, JSON] = {}

    # -- test helpers -------------------------------------------------------------------------

    def expire(self, file_upload_id: str) -> None:
        """Move the upload's expiry into the past (it expires unless already attached)."""
        self.uploads[file_upload_id]["expires_at"] = self.clock() - 1

    def content(self, file_upload_id: str) -> bytes:
        upload = self.uploads[file_upload_id]
        return bytes(upload["data"]) if upload["data"] is not None else b""

    def id_in_url(self, url: str) -> str | None:
        """The upload id a signed URL (as read back from a block) serves."""
        if not url.startswith(SIGNED_HOST + "/"):
            return None
        return url.removeprefix(SIGNED_HOST + "/").split("/", 1)[0]

    # -- routes -------------------------------------------------------------------------------

    def route(
        self, method: str, parts: list[str], body: JSON, form: tuple[str, bytes] | None
    ) -> JSON | None:
        """Answer ``/v1/file_uploads[/...]`` or return None for an unknown route."""
        if method == "POST" and not parts:
            return self.create(body)
        if method == "GET" and len(parts) == 1:
            return self.retrieve(parts[0])
        if method == "POST" and len(parts) == 2 and parts[1] == "send":
            if form is None:
                raise _invalid("Content-Type must be multipart/form-data for this endpoint.")
            return self.send(parts[0], *form)
        if method == "POST" and len(parts) == 2 and parts[1] == "complete":
            return self.complete(parts[0])
        return None

    def create(self, body: JSON) -> JSON:
        mode = body.get("mode", "single_part")
        if mode not in ("single_part", "multi_part"):
            raise _invalid(f"body failed validation: body.mode `{mode}` is not supported here.")
        filename = body.get("filename")
        content_type = body.get("content_type")
        if filename is not None and len(str(filename).encode()) > 900:
            raise _invalid("body failed validation: body.filename.length should be ≤ 900 bytes.")
        if content_type is not None:
            self._check_type(str(content_type), filename)
        parts = body.get("number_of_parts")
        if mode == "multi_part":
            if not filename or not isinstance(parts, int) or not 1 <= parts <= 1000:
                raise _invalid(
                    "body failed validation: multi_part needs filename and number_of_parts "
                    "between 1 and 1000."
                )
        elif parts is not None:
            raise _invalid("body failed validation: number_of_parts is only for multi_part.")
        now = self.clock()
        file_upload_id = self.new_id()
        self.uploads[file_upload_id] = {
            "id": file_upload_id,
            "mode": mode,
            "created": now,
            "expires_at": now + LIFETIME_SECONDS,
            "attached": False,
            "status": "pending",
            "filename": filename,
            "content_type": content_type,
            "number_of_parts": parts,
            "parts": {},
            "data": None,
        }
        return self._json(self.uploads[file_upload_id])

    def retrieve(self, raw_id: str) -> JSON:
        return self._json(self._get(raw_id))

    def send(self, raw_id: str, content_type_header: str, raw: bytes) -> JSON:
        upload = self._get(raw_id)
        if self._status(upload) != "pending":
            raise _invalid(
                f"File upload {upload['id']} has status `{self._status(upload)}`; "
                "only pending uploads accept file contents."
            )
        fields, file_part = _parse_form(content_type_header, raw)
        filename = file_part.get_filename()
        data = file_part.get_payload(decode=True)
        if not isinstance(data, bytes) or not filename:
            raise _invalid("body failed validation: body.file should be a file with a filename.")
        part_type = file_part.get_content_type()
        if upload["content_type"] and part_type != upload["content_type"]:
            raise _invalid(
                f"The content type of the file ({part_type}) does not match the content type "
                f"of the file upload ({upload['content_type']})."
            )
        self._check_type(part_type, filename)
        if upload["mode"] == "single_part":
            self._send_single(upload, fields, data, filename, part_type)
        else:
            self._send_part(upload, fields, data)
        return self._json(upload)

    def complete(self, raw_id: str) -> JSON:
        upload = self._get(raw_id)
        if upload["mode"] != "multi_part":
            raise _invalid("Only multi_part file uploads can be completed.")
        if self._status(upload) != "pending":
            raise _invalid(f"File upload {upload['id']} has status `{self._status(upload)}`.")
        expected = upload["number_of_parts"]
        if sorted(upload["parts"]) != list(range(1, expected + 1)):
            raise _invalid(
                f"Expected {expected} parts but received {len(upload['parts'])} before complete."
            )
        upload["data"] = b"".join(upload["parts"][n] for n in range(1, expected + 1))
        upload["status"] = "uploaded"
        return self._json(upload)

    # -- attaching ----------------------------------------------------------------------------

    def check_attachable(self, payload: JSON, where: str) -> None:
        """Reject a ``file_upload`` media payload whose upload is unknown or not uploaded."""
        raw_id = str((payload.get("file_upload") or {}).get("id") or "")
        upload = self.uploads.get(raw_id)
        if upload is None:
            raise _invalid(f"body failed validation: {where}.file_upload.id `{raw_id}` not found.")
        status = self._status(upload)
        if status != "uploaded":
            raise _invalid(
                f"File upload {raw_id} has status `{status}` and cannot be attached; "
                "only uploaded file uploads can be attached."
            )

    def hosted_payload(self, payload: JSON) -> JSON:
        """The stored payload of a new media block: an attached upload becomes a ``file``."""
        if payload.get("type") != "file_upload":
            return payload
        upload = self.uploads[str(payload["file_upload"]["id"])]
        upload["attached"] = True
        expires = self.clock() + LIFETIME_SECONDS
        signature = hashlib.sha256(f"{upload['id']}{expires}".encode()).hexdigest()[:32]
        url = (
            f"{SIGNED_HOST}/{upload['id']}/{upload['filename']}"
            f"?X-Amz-Expires=3600&X-Amz-Signature={signature}"
        )
        hosted = {k: v for k, v in payload.items() if k not in ("type", "file_upload")}
        hosted.setdefault("caption", [])
        return {**hosted, "type": "file", "file": {"url": url, "expiry_time": _iso(expires)}}

    # -- internals ----------------------------------------------------------------------------

    def _send_single(
        self, upload: JSON, fields: dict[str, str], data: bytes, filename: str, part_type: str
    ) -> None:
        if "part_number" in fields:
            raise _invalid("part_number is only accepted for multi_part file uploads.")
        if len(data) > self.single_part_limit:
            raise _invalid(
                f"The file is {len(data)} bytes, over the single_part limit of "
                f"{self.single_part_limit} bytes: use mode multi_part."
            )
        upload["data"] = data
        upload["filename"] = upload["filename"] or filename
        upload["content_type"] = upload["content_type"] or part_type
        upload["status"] = "uploaded"

    def _send_part(self, upload: JSON, fields: dict[str, str], data: bytes) -> None:
        raw_number = fields.get("part_number", "")
        if not raw_number.isdigit() or not 1 <= int(raw_number) <= upload["number_of_parts"]:
            raise _invalid(
                f"part_number should be between 1 and {upload['number_of_parts']}, "
                f"instead was `{raw_number}`."
            )
        number = int(raw_number)
        last = number == upload["number_of_parts"]
        if len(data) > self.max_part or (len(data) < self.min_part and not last):
            raise _invalid(
                f"Part {number} is {len(data)} bytes; parts must hold {self.min_part} to "
                f"{self.max_part} bytes (only the last may be smaller)."
            )
        upload["parts"][number] = data

    def _check_type(self, content_type: str, filename: Any) -> None:
        if content_type not in ACCEPTED_TYPES:
            raise _invalid(f"Content type `{content_type}` is not supported for file uploads.")
        extension = "." + str(filename).rsplit(".", 1)[-1].lower() if filename else ""
        expected = EXTENSION_TYPES.get(extension)
        if expected is not None and expected != content_type:
            raise _invalid(
                f"The file extension {extension} does not match the content type {content_type}."
            )

    def _get(self, raw_id: str) -> JSON:
        upload = self.uploads.get(raw_id)
        if upload is None:
            raise UploadError(
                404,
                "object_not_found",
                f"Could not find file_upload with ID: {raw_id}.",
            )
        return upload

    def _status(self, upload: JSON) -> str:
        if not upload["attached"] and self.clock() >= upload["expires_at"]:
            return "expired"
        return str(upload["status"])

    def _json(self, upload: JSON) -> JSON:
        answer: JSON = {
            "object": "file_upload",
            "id": upload["id"],
            "created_time": _iso(upload["created"]),
            "last_edited_time": _iso(upload["created"]),
            "expiry_time": None if upload["attached"] else _iso(upload["expires_at"]),
            "upload_url": f"https://api.notion.com/v1/file_uploads/{upload['id']}/send",
            "archived": False,
            "status": self._status(upload),
            "filename": upload["filename"],
            "content_type": upload["content_type"],
            "content_length": len(upload["data"]) if upload["data"] is not None else None,
        }
        if upload["mode"] == "multi_part":
            answer["number_of_parts"] = {
                "total": upload["number_of_parts"],
                "sent": len(upload["parts"]),
            }
        return answer


def _parse_form(content_type_header: str, raw: bytes) -> tuple[dict[str, str], Message]:
    """The text fields and the ``file`` part of a multipart/form-data body."""
    head = f"Content-Type: {content_type_header}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = BytesParser(EmailMessage, policy=HTTP).parsebytes(head + raw)
    if not message.is_multipart() or message.get_content_type() != "multipart/form-data":
        raise _invalid("Content-Type must be multipart/form-data with a boundary.")
    fields: dict[str, str] = {}
    file_part: Message | None = None
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name == "file":
            file_part = part
        elif isinstance(name, str):
            payload = part.get_payload(decode=True)
            fields[name] = payload.decode() if isinstance(payload, bytes) else ""
    if file_part is None:
        raise _invalid("body failed validation: body.file should be defined.")
    return fields, file_part
