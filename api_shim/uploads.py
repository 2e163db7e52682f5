"""Uploaded lessons: reading one `.md` file from a multipart body, storing it by content and
validating it with the engine's own validator.

Storage is content-addressed: `<upload dir>/<sha256>.md`, written atomically (temporary file +
rename), so the same bytes always give the same `md` and concurrent uploads of one lesson are
harmless. The default upload dir is the hidden `.uploads` folder of the first lesson root: it is
inside the roots, so `POST /jobs` accepts the path, and the lesson folder sensor skips hidden
folders, so an upload is processed only when a client submits it.

In S3 mode (`ESL_LESSON_S3_URI`) the bytes go to the S3 lesson prefix instead (see
`api_shim.s3_lessons`) and the validator reads a temporary copy.

Validation runs `esl validate --json <file>` (relaxed, i.e. without `--strict`) as a subprocess
with a timeout: the shim never imports the engine, and the `esl` command of the same installation
applies exactly the rules a run applies in its validate stage.
"""

import asyncio
import contextlib
import hashlib
import json
import os
import shutil
import signal
import sys
import tempfile
from collections import OrderedDict
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio.to_thread
from starlette.datastructures import Headers, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

FILE_FIELD = "file"
LESSON_SUFFIX = ".md"
# Room for the multipart envelope around the file (boundaries, part headers, small fields).
ENVELOPE_BYTES = 64 * 1024


@dataclass(frozen=True)
class UploadRejected(Exception):
    """An upload that cannot be accepted; `status` and `code` are the API's answer."""

    status: int
    code: str
    message: str


@dataclass(frozen=True)
class StoredLesson:
    path: Path
    sha256: str
    size: int


@dataclass(frozen=True)
class LessonValidation:
    ok: bool
    errors: list[dict[str, Any]]
    warnings: list[dict[str, Any]]


class ValidatorUnavailable(Exception):
    """`esl validate` could not be run or did not answer in time."""


def too_large(limit: int) -> UploadRejected:
    return UploadRejected(413, "upload_too_large", f"the lesson file exceeds {limit} bytes")


async def _limited(stream: AsyncIterator[bytes], limit: int) -> AsyncGenerator[bytes]:
    """The request body, aborted as soon as it grows past `limit` bytes."""
    received = 0
    async for chunk in stream:
        received += len(chunk)
        if received > limit:
            raise too_large(limit - ENVELOPE_BYTES)
        yield chunk


async def read_lesson_file(
    headers: Headers, stream: AsyncIterator[bytes], max_bytes: int
) -> tuple[str, bytes]:
    """(file name, bytes) of the single file under `file`; the size is checked while streaming."""
    content_type = headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        raise UploadRejected(
            400, "not_multipart", "send the lesson as multipart/form-data with a `file` field"
        )
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes + ENVELOPE_BYTES:
        raise too_large(max_bytes)
    parser = MultiPartParser(
        headers, _limited(stream, max_bytes + ENVELOPE_BYTES), max_files=2, max_fields=20
    )
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        if "too many files" in exc.message.lower():
            raise UploadRejected(400, "too_many_files", "send exactly one file per upload") from exc
        raise UploadRejected(400, "invalid_multipart", f"multipart body: {exc.message}") from exc
    try:
        files = [v for _, v in form.multi_items() if isinstance(v, UploadFile)]
        if len(files) > 1:
            raise UploadRejected(400, "too_many_files", "send exactly one file per upload")
        upload = form.get(FILE_FIELD)
        if not isinstance(upload, UploadFile):
            raise UploadRejected(400, "file_required", "the lesson must be the form field `file`")
        data = await upload.read(max_bytes + 1)
    finally:
        await form.close()
    if len(data) > max_bytes:
        raise too_large(max_bytes)
    return upload.filename or "", data


def check_lesson_bytes(filename: str, data: bytes) -> None:
    """A lesson is a non-empty UTF-8 text file named `*.md` (no NUL bytes: binary content)."""
    if not filename.lower().endswith(LESSON_SUFFIX):
        raise UploadRejected(400, "not_markdown", "the lesson file name must end in .md")
    if not data.strip():
        raise UploadRejected(400, "empty_file", "the lesson file is empty")
    if b"\x00" in data:
        raise UploadRejected(400, "not_markdown", "the file is binary (it contains NUL bytes)")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UploadRejected(
            400, "not_utf8", f"the lesson is not valid UTF-8 (byte {exc.start})"
        ) from exc


def store_lesson(data: bytes, folder: Path) -> StoredLesson:
    """Write `data` as `<folder>/<sha256>.md` unless that file already holds it."""
    digest = hashlib.sha256(data).hexdigest()
    target = folder / f"{digest}{LESSON_SUFFIX}"
    folder.mkdir(parents=True, exist_ok=True)
    if not (target.is_file() and target.stat().st_size == len(data)):
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            os.replace(temporary, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
    return StoredLesson(target, digest, len(data))


def validator_executable(command: str) -> str | None:
    """`command` as given if it is a path, else the one next to this Python, else on PATH."""
    if os.sep in command:
        return command if os.access(command, os.X_OK) else None
    sibling = Path(sys.executable).parent / command
    if sibling.is_file() and os.access(sibling, os.X_OK):
        return str(sibling)
    return shutil.which(command)


async def validate_lesson(path: Path, command: str, timeout_s: float) -> LessonValidation:
    """Run `esl validate --json` on `path`; exit 0 and 1 both carry a report."""
    executable = validator_executable(command)
    if executable is None:
        raise ValidatorUnavailable(f"validator command {command!r} not found")
    process = await asyncio.create_subprocess_exec(
        executable,
        "validate",
        "--json",
        str(path),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,  # its own process group: a timeout kills its children too
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout_s)
    except TimeoutError as exc:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()
        raise ValidatorUnavailable(f"validation took longer than {timeout_s:g} s") from exc
    if process.returncode not in (0, 1):
        detail = stderr.decode("utf-8", "replace").strip()[-300:]
        raise ValidatorUnavailable(f"validator exited {process.returncode}: {detail}")
    return _parse_report(stdout)


class LessonValidator:
    """`validate_lesson` with at most `concurrency` validators at once and findings cached per
    SHA-256 (bounded, oldest out), so re-uploading a lesson does not revalidate it."""

    def __init__(
        self, command: str, timeout_s: float, *, concurrency: int = 4, cache_size: int = 256
    ) -> None:
        self._command = command
        self._timeout_s = timeout_s
        self._slots = asyncio.Semaphore(concurrency)
        self._cache_size = cache_size
        self._cache: OrderedDict[str, LessonValidation] = OrderedDict()

    async def validate(self, lesson: StoredLesson) -> LessonValidation:
        cached = self._cache.get(lesson.sha256)
        if cached is not None:
            return cached
        async with self._slots:
            validation = await validate_lesson(lesson.path, self._command, self._timeout_s)
        self._cache[lesson.sha256] = validation
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return validation

    async def validate_bytes(self, data: bytes) -> LessonValidation:
        """`validate` on a temporary copy of `data` (S3 mode: the lesson is not on this disk)."""
        folder = Path(await anyio.to_thread.run_sync(_temporary_folder))
        try:
            copy = await anyio.to_thread.run_sync(store_lesson, data, folder)
            return await self.validate(copy)
        finally:
            await anyio.to_thread.run_sync(shutil.rmtree, folder, True)


def _temporary_folder() -> str:
    return tempfile.mkdtemp(prefix="esl-upload-")


def _parse_report(stdout: bytes) -> LessonValidation:
    try:
        reports = json.loads(stdout)
        report = reports[0]
        return LessonValidation(
            ok=bool(report["ok"]),
            errors=list(report["errors"]),
            warnings=list(report["warnings"]),
        )
    except (ValueError, LookupError, TypeError) as exc:
        raise ValidatorUnavailable("validator printed no JSON report") from exc
