"""The embedded default upload target: a folder on this machine."""

from pathlib import Path
from urllib.parse import quote

from esl_dagster.pipeline.errors import InfrastructureError
from esl_dagster.pipeline.files import atomic_copy
from esl_dagster.pipeline.storage.base import (
    KeyedUploader,
    UploadResult,
    file_md5,
    sanitize_prefix,
)


class LocalUploader(KeyedUploader):
    """Copies files into ``folder`` under ``<prefix>/<key prefix>/<name>``.

    The URL is ``base_url/<key>`` when a base URL is set (a static file server), else a
    ``file://`` URL. ACLs and presigning do not apply to a folder and are ignored.
    """

    def __init__(
        self, folder: Path, base_url: str | None = None, prefix: str | None = None
    ) -> None:
        self.folder = folder.resolve()
        self.base_url = base_url.rstrip("/") if base_url else None
        self.prefix = sanitize_prefix(prefix)

    def store(
        self, path: Path, key: str, *, public_read: bool, presign_seconds: int | None
    ) -> UploadResult:
        del public_read, presign_seconds  # meaningless for a folder (see the class docstring)
        target = self.folder.joinpath(*key.split("/"))
        if not target.resolve().is_relative_to(self.folder):
            raise InfrastructureError(f"refusing to write outside {self.folder}: {key}")
        md5 = file_md5(path)
        reused = (
            target.is_file()
            and target.stat().st_size == path.stat().st_size
            and file_md5(target) == md5
        )
        if not reused:
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                atomic_copy(path, target)
            except OSError as exc:
                raise InfrastructureError(f"cannot copy {path.name} to {target}: {exc}") from exc
        url = f"{self.base_url}/{quote(key)}" if self.base_url else target.as_uri()
        return UploadResult(
            url=url, key=key, bucket=None, location=str(target), etag=f'"{md5}"', reused=reused
        )
