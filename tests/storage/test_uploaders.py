"""Uploads to a moto S3 server on 127.0.0.1 and to a local folder."""

from pathlib import Path
from typing import Any

import httpx
import pytest

from esl_dagster.pipeline.errors import ConfigurationError, ServiceError
from esl_dagster.pipeline.settings import S3Settings
from esl_dagster.pipeline.storage import LocalUploader, S3Uploader, object_key, sanitize_prefix
from tests.fakes.moto_s3 import s3_client
from tests.fakes.s3_acl_proxy import AclRefusingProxy


def raw_client(endpoint: str) -> Any:  # an S3 client for checks
    return s3_client(endpoint)


def s3_settings(bucket: str, endpoint_url: str | None, region: str = "us-east-1") -> S3Settings:
    """Settings as the settings package makes them (an endpoint implies path-style)."""
    return S3Settings(
        bucket=bucket,
        prefix="",
        region=region,
        endpoint_url=endpoint_url,
        access_key_id="test",
        secret_access_key="test",
        force_path_style=endpoint_url is not None,
    )


@pytest.fixture
def mp3(tmp_path: Path) -> Path:
    path = tmp_path / "leonie-abc123.mp3"
    path.write_bytes(b"ID3" + bytes(200))
    return path


def test_upload_sets_content_type_and_returns_url(moto_url: str, bucket: str, mp3: Path) -> None:
    uploader = S3Uploader(s3_settings(bucket, moto_url), prefix="/audio/assignments/")
    result = uploader.upload(mp3)
    assert result.key == "audio/assignments/leonie-abc123.mp3"
    assert result.url == f"{moto_url}/{bucket}/audio/assignments/leonie-abc123.mp3"
    assert result.location == f"s3://{bucket}/{result.key}" and not result.reused
    head = raw_client(moto_url).head_object(Bucket=bucket, Key=result.key)
    assert head["ContentType"] == "audio/mpeg" and head["ETag"] == result.etag
    assert httpx.get(result.url).status_code == 403  # private unless public_read


def test_reupload_is_a_noop_and_changes_overwrite_the_same_key(
    moto_url: str, bucket: str, mp3: Path
) -> None:
    uploader = S3Uploader(s3_settings(bucket, moto_url))
    first = uploader.upload(mp3, key_prefix="lessons")
    second = uploader.upload(mp3, key_prefix="lessons")
    assert second.reused and second.key == first.key and second.etag == first.etag
    mp3.write_bytes(b"ID3" + bytes(300))
    third = uploader.upload(mp3, key_prefix="lessons")
    assert not third.reused and third.key == first.key and third.etag != first.etag
    listing = raw_client(moto_url).list_objects_v2(Bucket=bucket)
    assert [o["Key"] for o in listing["Contents"]] == ["lessons/leonie-abc123.mp3"]
    assert listing["Contents"][0]["Size"] == 303


def test_public_read_sets_the_acl(moto_url: str, bucket: str, mp3: Path) -> None:
    result = S3Uploader(s3_settings(bucket, moto_url)).upload(mp3, public_read=True)
    grants = raw_client(moto_url).get_object_acl(Bucket=bucket, Key=result.key)["Grants"]
    assert any(g["Grantee"].get("URI", "").endswith("/global/AllUsers") for g in grants)
    assert httpx.get(result.url).content == mp3.read_bytes()


def test_public_read_falls_back_when_the_bucket_refuses_acls(
    moto_url: str, bucket: str, mp3: Path
) -> None:
    with AclRefusingProxy(moto_url) as proxy:
        uploader = S3Uploader(s3_settings(bucket, proxy.endpoint_url))
        result = uploader.upload(mp3, public_read=True)
        puts = [(method, acl) for method, _, acl in proxy.seen if method == "PUT"]
    assert puts == [("PUT", "public-read"), ("PUT", None)]
    assert raw_client(moto_url).head_object(Bucket=bucket, Key=result.key)["ContentLength"] == 203


def test_presigned_url_with_expiry(moto_url: str, bucket: str, mp3: Path) -> None:
    result = S3Uploader(s3_settings(bucket, moto_url)).upload(mp3, presign_seconds=600)
    assert "X-Amz-Expires=600" in result.url and "X-Amz-Signature=" in result.url
    assert httpx.get(result.url).content == mp3.read_bytes()
    with pytest.raises(ConfigurationError):
        S3Uploader(s3_settings(bucket, moto_url)).upload(mp3, presign_seconds=0)


def test_missing_bucket_is_a_permanent_service_error(moto_url: str, mp3: Path) -> None:
    with pytest.raises(ServiceError, match="NoSuchBucket") as caught:
        S3Uploader(s3_settings("no-such-bucket", moto_url)).upload(mp3)
    assert not caught.value.transient


def test_unreachable_endpoint_is_transient(mp3: Path) -> None:
    uploader = S3Uploader(s3_settings("b", "http://127.0.0.1:9"))
    with pytest.raises(ServiceError) as caught:
        uploader.upload(mp3)
    assert caught.value.transient


def test_aws_url_form_and_config_errors(mp3: Path) -> None:
    uploader = S3Uploader(s3_settings("esl-audio", None, region="eu-west-1"))
    assert (
        uploader.public_url("a b/c.mp3")
        == "https://esl-audio.s3.eu-west-1.amazonaws.com/a%20b/c.mp3"
    )
    with pytest.raises(ConfigurationError, match="bucket"):
        S3Uploader(s3_settings(" ", None))


def test_prefix_cannot_escape() -> None:
    assert sanitize_prefix("../../etc/./x\\..\\y/") == "etc/x/y"
    assert object_key(Path("/tmp/a.mp3"), "/audio/", "../..", "student") == "audio/student/a.mp3"
    with pytest.raises(ConfigurationError):
        sanitize_prefix("bad\nprefix")


def test_local_uploader_copies_once(tmp_path: Path, mp3: Path) -> None:
    target = tmp_path / "public"
    uploader = LocalUploader(target, prefix="audio")
    first = uploader.upload(mp3, key_prefix="../../outside")
    assert first.key == "audio/outside/leonie-abc123.mp3"
    stored = target / "audio" / "outside" / "leonie-abc123.mp3"
    assert stored.read_bytes() == mp3.read_bytes() and first.url == stored.resolve().as_uri()
    assert uploader.upload(mp3, key_prefix="../../outside").reused
    mp3.write_bytes(b"changed")
    assert not uploader.upload(mp3, key_prefix="../../outside").reused
    assert stored.read_bytes() == b"changed"
    assert [p.name for p in stored.parent.iterdir()] == ["leonie-abc123.mp3"]
    served = LocalUploader(target, base_url="http://files.local/media/").upload(mp3)
    assert served.url == "http://files.local/media/leonie-abc123.mp3"
