"""Where finished audio goes: S3/MinIO (boto3, imported lazily), Notion itself, or a folder."""

from esl_dagster.pipeline.storage.base import Uploader, UploadResult, object_key, sanitize_prefix
from esl_dagster.pipeline.storage.local_uploads import LocalUploader
from esl_dagster.pipeline.storage.notion_uploads import NotionUploader
from esl_dagster.pipeline.storage.s3_uploads import S3Uploader

__all__ = [
    "LocalUploader",
    "NotionUploader",
    "S3Uploader",
    "UploadResult",
    "Uploader",
    "object_key",
    "sanitize_prefix",
]
