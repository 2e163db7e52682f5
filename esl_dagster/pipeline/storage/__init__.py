"""Where finished audio goes: S3/MinIO (boto3, imported lazily), Notion itself, or a folder."""

from esl_dagster.pipeline.storage.base import (
    KeyedUploader,
    UploadResult,
    object_key,
    sanitize_prefix,
)
from esl_dagster.pipeline.storage.local_uploads import LocalUploader
from esl_dagster.pipeline.storage.notion_uploads import NotionUploader
from esl_dagster.pipeline.storage.s3_uploads import S3Uploader

Uploader = KeyedUploader | NotionUploader
"""An upload target: one that keys the file itself (S3, a folder: key prefix, ACL and presigning
apply) or Notion's File Upload API (an earlier upload of the same audio is reused instead)."""

__all__ = [
    "KeyedUploader",
    "LocalUploader",
    "NotionUploader",
    "S3Uploader",
    "UploadResult",
    "Uploader",
    "object_key",
    "sanitize_prefix",
]
