"""The per-lesson manifest: what was produced, and the input hash of every stage that produced it.

Schema version 2 is the original's version 1 (same camelCase keys, same meaning) plus optional
fields for real incremental runs: ``runId``, ``jobId``, ``stages`` (per-stage input hash and
outputs) and ``notion`` (import mode, preview location, resumable import progress). A version-1
manifest (or one without ``schemaVersion``) reads as-is and is written back as version 2. Unknown
keys are kept, so a newer writer's fields survive a round trip.

Two stores: :class:`FilesystemManifestStore` (``<lesson>.manifest.json`` next to the lesson) and
:class:`S3ManifestStore` (the original's key rules, except that a key never leaves its prefix).
Both also hold the Notion preview payloads of the embedded default next to the manifest.
"""

import hashlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from esl_dagster.pipeline.errors import ManifestError, ServiceError, is_transient_status
from esl_dagster.pipeline.files import atomic_write_text

MANIFEST_SCHEMA_VERSION = 2
MANIFEST_SUFFIX = ".manifest.json"
PREVIEW_SUFFIX = ".notion-preview.json"


class ManifestAudio(BaseModel):
    """``audio``: the MP3 as built (path, content hash, voices) and as uploaded (url, key)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    path: str | None = None
    url: str | None = None
    hash: str | None = None
    voices: list[dict[str, Any]] | None = None
    key: str | None = None


class StageRecord(BaseModel):
    """The last success of one stage: the hash of everything that shaped it, and what it made."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    input_hash: str = Field(alias="inputHash")
    completed_at: str = Field(alias="completedAt")
    run_id: str | None = Field(default=None, alias="runId")
    outputs: dict[str, Any] = Field(default_factory=dict)


class NotionRecord(BaseModel):
    """How the lesson reached Notion: ``imported`` False means preview payloads only."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    imported: bool
    preview_path: str | None = Field(default=None, alias="previewPath")
    progress: dict[str, Any] | None = None
    create_started: str | None = Field(
        default=None,
        alias="createStarted",
        description="When a page create was sent whose page id is not recorded yet.",
    )


class Manifest(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    schema_version: int = Field(default=1, alias="schemaVersion")
    md_hash: str = Field(alias="mdHash")
    page_id: str | None = Field(default=None, alias="pageId")
    page_url: str | None = Field(default=None, alias="pageUrl")
    audio: ManifestAudio | None = None
    preset: str | None = None
    tts_mode: str | None = Field(default=None, alias="ttsMode")
    dialogue_language: str | None = Field(default=None, alias="dialogueLanguage")
    dialogue_stability: float | None = Field(default=None, alias="dialogueStability")
    dialogue_seed: int | None = Field(default=None, alias="dialogueSeed")
    timestamp: str = ""
    run_id: str | None = Field(default=None, alias="runId")
    job_id: str | None = Field(default=None, alias="jobId")
    stages: dict[str, StageRecord] = Field(default_factory=dict)
    notion: NotionRecord | None = None

    def to_json(self) -> str:
        """The stored form: camelCase keys, 2-space indent, unset keys absent, no final newline."""
        data = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        if not data.get("stages"):
            data.pop("stages", None)
        return json.dumps(data, indent=2, ensure_ascii=False)

    def content_fingerprint(self) -> str:
        """Hash of the content that matters, ignoring when and by which run it was written."""
        data = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        for key in ("timestamp", "runId", "jobId", "schemaVersion"):
            data.pop(key, None)
        for record in data.get("stages", {}).values():
            record.pop("completedAt", None)
            record.pop("runId", None)
        return sha256_hex(json.dumps(data, sort_keys=True))


def sha256_hex(text: str | bytes) -> str:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()


def utc_timestamp() -> str:
    """ISO-8601 UTC with milliseconds and ``Z``, like JavaScript's ``toISOString``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_manifest(raw: str | bytes, source: str) -> Manifest:
    """Read any manifest version; raises :class:`ManifestError` naming ``source`` when unusable."""
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ManifestError(
            f"manifest {source} is not valid JSON ({exc}); move it away to start fresh"
        ) from exc
    if not isinstance(data, dict):
        raise ManifestError(f"manifest {source} is not a JSON object; move it away to start fresh")
    version = data.get("schemaVersion", 1)
    if not isinstance(version, int) or version > MANIFEST_SCHEMA_VERSION:
        raise ManifestError(
            f"manifest {source} has schemaVersion {version!r}; this version reads 1 to "
            f"{MANIFEST_SCHEMA_VERSION}"
        )
    try:
        return Manifest.model_validate(data)
    except PydanticValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ManifestError(f"manifest {source}: field {where}: {first['msg']}") from exc


def _strip_last_extension(name: str) -> str:
    """The original's ``basename without its last extension`` (``.hidden`` -> ``""``)."""
    dot = name.rfind(".")
    return name[:dot] if dot >= 0 else name


class ManifestStore(Protocol):
    """Where manifests (and the preview payloads next to them) live."""

    def manifest_path_for(self, md_path: str) -> str: ...

    def read_manifest(self, md_path: str) -> Manifest | None: ...

    def write_manifest(self, md_path: str, manifest: Manifest) -> str: ...

    def preview_path_for(self, md_path: str) -> str: ...

    def write_preview(self, md_path: str, payload: dict[str, Any]) -> str: ...


class FilesystemManifestStore:
    """``dirname(md)/<basename without last extension>.manifest.json`` (the original's rule)."""

    def _sibling(self, md_path: str, suffix: str) -> Path:
        md = Path(md_path)
        return md.parent / f"{_strip_last_extension(md.name)}{suffix}"

    def manifest_path_for(self, md_path: str) -> str:
        return str(self._sibling(md_path, MANIFEST_SUFFIX))

    def preview_path_for(self, md_path: str) -> str:
        return str(self._sibling(md_path, PREVIEW_SUFFIX))

    def read_manifest(self, md_path: str) -> Manifest | None:
        path = self._sibling(md_path, MANIFEST_SUFFIX)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ManifestError(f"cannot read manifest {path}: {exc.strerror}") from exc
        return parse_manifest(raw, str(path))

    def write_manifest(self, md_path: str, manifest: Manifest) -> str:
        path = self._sibling(md_path, MANIFEST_SUFFIX)
        try:
            atomic_write_text(path, manifest.to_json())
        except OSError as exc:
            raise ManifestError(f"cannot write manifest {path}: {exc.strerror}") from exc
        return str(path)

    def write_preview(self, md_path: str, payload: dict[str, Any]) -> str:
        path = self._sibling(md_path, PREVIEW_SUFFIX)
        try:
            atomic_write_text(path, json.dumps(payload, indent=2, ensure_ascii=False))
        except OSError as exc:
            raise ManifestError(f"cannot write Notion preview {path}: {exc.strerror}") from exc
        return str(path)


def _clamped_posix_normalize(path: str) -> str:
    """Resolve ``.`` and ``..`` segments without ever climbing above the start (``a/../../b`` -> ``b``)."""
    parts: list[str] = []
    for segment in path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if parts:
                parts.pop()
            continue
        parts.append(segment)
    return "/".join(parts)


def s3_manifest_key(md_path: str, *, prefix: str | None = None, root_dir: str | None = None) -> str:
    """The object key of a lesson's manifest: the original's derivation, except that ``..``
    segments are resolved inside the key, so the key never escapes the prefix."""
    return _s3_key(md_path, MANIFEST_SUFFIX, prefix=prefix, root_dir=root_dir)


def _s3_key(md_path: str, suffix: str, *, prefix: str | None, root_dir: str | None) -> str:
    source = md_path
    if root_dir and os.path.isabs(md_path):
        rel = os.path.relpath(md_path, root_dir)
        source = os.path.basename(md_path) if rel in ("", ".") or rel.startswith("..") else rel
    head, _, name = source.replace("\\", "/").rpartition("/")
    stem = f"{head}/{_strip_last_extension(name)}" if head else _strip_last_extension(name)
    stem = stem.lstrip("./").replace(":", "_")
    key = _clamped_posix_normalize(stem)
    if not key:
        key = _clamped_posix_normalize(_strip_last_extension(os.path.basename(md_path)))
    key = f"{key}{suffix}"
    clean_prefix = _clamped_posix_normalize((prefix or "").replace("\\", "/"))
    return f"{clean_prefix}/{key}" if clean_prefix else key


class S3ManifestStore:
    """Manifests as S3 objects ``s3://<bucket>/[<prefix>/]<key>.manifest.json``.

    ``client`` is a boto3 S3 client (the caller chooses endpoint, region and credentials).
    """

    def __init__(
        self,
        client: Any,
        bucket: str,
        *,
        prefix: str | None = None,
        root_dir: str | None = None,
    ) -> None:
        self._client = client
        self.bucket = bucket
        self.prefix = prefix
        self.root_dir = root_dir

    def _key(self, md_path: str, suffix: str) -> str:
        return _s3_key(md_path, suffix, prefix=self.prefix, root_dir=self.root_dir)

    def manifest_path_for(self, md_path: str) -> str:
        return f"s3://{self.bucket}/{self._key(md_path, MANIFEST_SUFFIX)}"

    def preview_path_for(self, md_path: str) -> str:
        return f"s3://{self.bucket}/{self._key(md_path, PREVIEW_SUFFIX)}"

    def read_manifest(self, md_path: str) -> Manifest | None:
        key = self._key(md_path, MANIFEST_SUFFIX)
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=key)
            raw = response["Body"].read()
        except Exception as exc:
            status, code = _s3_error(exc)
            if code in ("NoSuchKey", "404") or status == 404:
                return None
            raise _s3_service_error("read", self.bucket, key, exc) from exc
        return parse_manifest(raw, f"s3://{self.bucket}/{key}")

    def write_manifest(self, md_path: str, manifest: Manifest) -> str:
        key = self._key(md_path, MANIFEST_SUFFIX)
        self._put(key, manifest.to_json())
        return f"s3://{self.bucket}/{key}"

    def write_preview(self, md_path: str, payload: dict[str, Any]) -> str:
        key = self._key(md_path, PREVIEW_SUFFIX)
        self._put(key, json.dumps(payload, indent=2, ensure_ascii=False))
        return f"s3://{self.bucket}/{key}"

    def _put(self, key: str, text: str) -> None:
        try:
            self._client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=text.encode("utf-8"),
                ContentType="application/json",
            )
        except Exception as exc:
            raise _s3_service_error("write", self.bucket, key, exc) from exc


def _s3_error(exc: Exception) -> tuple[int | None, str | None]:
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None, None
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    code = response.get("Error", {}).get("Code")
    return (status if isinstance(status, int) else None), (code if isinstance(code, str) else None)


def _s3_service_error(action: str, bucket: str, key: str, exc: Exception) -> ServiceError:
    """The shared error for a failed manifest read or write. A transient fault reaches here after
    the S3 client's own retries, so it is marked ``retried`` (the op does not retry it again)."""
    status, code = _s3_error(exc)
    if status is None and code is None:
        # No HTTP answer: a connection fault or timeout (already retried by the client).
        return ServiceError(
            "s3",
            f"cannot {action} manifest s3://{bucket}/{key}: {exc}",
            transient=True,
            retried=True,
        )
    transient = status is not None and is_transient_status(status)
    return ServiceError(
        "s3",
        f"cannot {action} manifest s3://{bucket}/{key}: {code or status}",
        status=status,
        transient=transient,
        retried=transient,
    )
