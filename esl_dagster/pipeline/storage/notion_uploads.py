"""Audio hosted by Notion itself (File Upload API): the target for a live Notion without S3.

The result's ``url`` is the reference ``notion://file_uploads/<id>`` (the add-audio step attaches
the upload by that id) and ``key`` is the upload id. Key prefixes, ACLs and presigning do not
apply: Notion serves the file to the page's readers through short-lived signed URLs.
"""

from pathlib import Path

from esl_dagster.pipeline.notion.client import NotionClient
from esl_dagster.pipeline.notion.file_uploads import (
    PartPlan,
    file_upload_id_of,
    file_upload_reference,
    upload_file,
    usable_upload,
)
from esl_dagster.pipeline.storage.base import UploadResult, content_type_for, file_md5, upload_key


class NotionUploader:
    """Uploads files to the workspace of ``client``'s token."""

    def __init__(self, client: NotionClient, *, plan: PartPlan | None = None) -> None:
        self.client = client
        self.plan = plan or PartPlan()

    @property
    def workspace(self) -> str:
        """An opaque name of the API and token (a new token means a new upload)."""
        return self.client.cache_key[:16]

    def upload(self, path: Path, *, previous_url: str | None = None) -> UploadResult:
        """Upload ``path``; ``previous_url`` (the reference of an earlier upload of the same
        audio) is reused while Notion still holds it usable."""
        upload_key(path)  # a missing file fails here, before any request
        uploaded = upload_file(
            self.client,
            path,
            content_type=content_type_for(path),
            previous_id=file_upload_id_of(previous_url),
            plan=self.plan,
        )
        return UploadResult(
            url=file_upload_reference(uploaded.id),
            key=uploaded.id,
            bucket=None,
            location=f"notion file upload {uploaded.id}",
            etag=f'"{file_md5(path)}"',
            reused=uploaded.reused,
            status=uploaded.status,
            expiry_time=uploaded.expiry_time,
        )

    def still_usable(self, url: str) -> bool:
        """Whether the upload ``url`` refers to can still be attached (one request)."""
        file_upload_id = file_upload_id_of(url)
        return file_upload_id is not None and usable_upload(self.client, file_upload_id) is not None
