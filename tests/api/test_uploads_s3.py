"""S3 mode (`ESL_LESSON_S3_URI`) against a moto server on 127.0.0.1: `POST /uploads` stores the
lesson under `<prefix>/.uploads/` and answers its `s3://` URI, which `POST /jobs` accepts only
under the prefix and only once S3 shows the object; when S3 does not answer, both are 503
`s3_unavailable` and nothing is launched."""

import hashlib
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import ClientFactory
from tests.conftest import INVALID_LESSON, VALID_LESSONS
from tests.fakes.dagster_graphql import FakeDagster
from tests.fakes.moto_s3 import TEST_KEY, running_moto, s3_client
from tests.fakes.s3_acl_proxy import AclRefusingProxy

PREFIX = "teachers/anna"
LESSON = VALID_LESSONS[0].read_bytes()


@pytest.fixture
def s3(moto_url: str) -> Any:
    return s3_client(moto_url)


def s3_mode(endpoint: str, bucket: str, **overrides: Any) -> dict[str, Any]:
    """Settings of a shim in S3 mode (field names; the environment names are tested apart)."""
    return {
        "lesson_s3_uri": f"s3://{bucket}/{PREFIX}",
        "s3_endpoint_url": endpoint,
        "aws_access_key_id": TEST_KEY,
        "aws_secret_access_key": TEST_KEY,
        "s3_connect_timeout_s": 1.0,
        "s3_read_timeout_s": 2.0,
        "s3_max_attempts": 2,
        **overrides,
    }


@pytest.fixture
def client(make_client: ClientFactory, moto_url: str, bucket: str) -> TestClient:
    return make_client(**s3_mode(moto_url, bucket))


def upload(client: TestClient, data: bytes, **params: str) -> httpx.Response:
    response: httpx.Response = client.post(
        "/uploads", files={"file": ("lesson.md", data, "text/markdown")}, params=params
    )
    return response


def keys(s3: Any, bucket: str) -> list[str]:
    listing = s3.list_objects_v2(Bucket=bucket)
    return [item["Key"] for item in listing.get("Contents", [])]


def uri_for(bucket: str, data: bytes) -> str:
    return f"s3://{bucket}/{PREFIX}/.uploads/{hashlib.sha256(data).hexdigest()}.md"


def tags_of(launch: dict[str, Any]) -> dict[str, str]:
    return {t["key"]: t["value"] for t in launch["executionMetadata"]["tags"]}


def code(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["code"]


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_an_upload_is_stored_under_the_prefix_and_runs_by_its_uri(
    client: TestClient, fake: FakeDagster, s3: Any, bucket: str
) -> None:
    response = upload(client, LESSON, strict="true")
    assert response.status_code == 201, response.text
    body = response.json()
    uri = uri_for(bucket, LESSON)
    assert body["md"] == uri
    assert body["sha256"] == hashlib.sha256(LESSON).hexdigest()
    assert body["bytes"] == len(LESSON)
    assert body["validation"] == {"ok": True, "errors": [], "warnings": []}
    key = uri.removeprefix(f"s3://{bucket}/")
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == LESSON

    submitted = client.post("/jobs", json={"md": uri, "withTts": True})
    assert submitted.status_code == 202, submitted.text
    (launch,) = fake.launches
    assert launch["runConfigData"]["ops"]["validate_lesson"]["config"] == {
        "md": uri,
        "with_tts": True,
    }
    tags = tags_of(launch)
    assert tags["esl/lesson"] == uri
    assert tags[".dagster/esl.lesson_key"] == hashlib.sha256(uri.encode()).hexdigest()[:16]


def test_the_same_bytes_twice_are_one_object_and_one_put(
    make_client: ClientFactory, moto_url: str, s3: Any, bucket: str
) -> None:
    with AclRefusingProxy(moto_url) as recorder:
        client = make_client(**s3_mode(recorder.endpoint_url, bucket))
        first = upload(client, LESSON).json()["md"]
        second = client.post(
            "/uploads", files={"file": ("renamed.md", LESSON, "text/markdown")}
        ).json()["md"]
        methods = [method for method, _path, _acl in recorder.seen]
    assert first == second == uri_for(bucket, LESSON)
    assert keys(s3, bucket) == [first.removeprefix(f"s3://{bucket}/")]
    assert methods == ["HEAD", "PUT", "HEAD"]  # the second HEAD finds it: no second PUT


def test_an_invalid_lesson_is_stored_and_strict_only_changes_the_answer(
    client: TestClient, s3: Any, bucket: str
) -> None:
    """As in local mode: stored first, then validated; `strict=true` answers 400 instead."""
    data = INVALID_LESSON.read_bytes()
    strict = upload(client, data, strict="true")
    assert code(strict) == (400, "lesson_invalid")
    assert strict.json()["details"]["errors"]
    key = uri_for(bucket, data).removeprefix(f"s3://{bucket}/")
    assert keys(s3, bucket) == [key]

    relaxed = upload(client, data)
    assert relaxed.status_code == 201
    assert relaxed.json()["md"] == uri_for(bucket, data)
    assert relaxed.json()["validation"]["ok"] is False
    assert keys(s3, bucket) == [key]


@pytest.mark.parametrize(
    ("md", "expected"),
    [
        ("s3://{other}/{prefix}/lesson.md", "md_outside_roots"),
        ("s3://{bucket}/teachers/other/lesson.md", "md_outside_roots"),
        ("s3://{bucket}/{prefix}-x/lesson.md", "md_outside_roots"),
        ("s3://{bucket}/{prefix}/../bob/lesson.md", "md_outside_roots"),
        ("s3://{bucket}/{prefix}//lesson.md", "md_outside_roots"),
        ("s3://{bucket}/{prefix}", "md_outside_roots"),
        ("s3://{bucket}/{prefix}/lesson.txt", "md_not_markdown"),
        ("s3://{bucket}/{prefix}/missing.md", "md_not_found"),
    ],
)
def test_jobs_take_only_existing_lessons_under_the_prefix(
    client: TestClient, fake: FakeDagster, s3: Any, bucket: str, md: str, expected: str
) -> None:
    s3.put_object(Bucket=bucket, Key="teachers/other/lesson.md", Body=LESSON)
    s3.put_object(Bucket=bucket, Key=f"{PREFIX}-x/lesson.md", Body=LESSON)
    s3.put_object(Bucket=bucket, Key=f"{PREFIX}/lesson.txt", Body=LESSON)
    request = md.format(bucket=bucket, other=f"{bucket}-other", prefix=PREFIX)
    response = client.post("/jobs", json={"md": request})
    assert code(response) == (400, expected)
    assert request in response.json()["message"]
    assert fake.launches == []


def test_without_s3_mode_an_s3_md_is_outside_the_roots(
    make_client: ClientFactory, fake: FakeDagster
) -> None:
    response = make_client().post("/jobs", json={"md": "s3://bucket/lessons/a.md"})
    assert code(response) == (400, "md_outside_roots")
    assert "ESL_LESSON_S3_URI" in response.json()["message"]
    assert fake.launches == []


def test_s3_down_is_503_and_nothing_is_stored_or_launched(
    make_client: ClientFactory, fake: FakeDagster, bucket: str
) -> None:
    with running_moto() as short_lived:
        s3_client(short_lived).create_bucket(Bucket=bucket)
        client = make_client(**s3_mode(short_lived, bucket))
        md = upload(client, LESSON).json()["md"]
    # The server is stopped: its port refuses connections.
    for response in (upload(client, LESSON), client.post("/jobs", json={"md": md})):
        assert code(response) == (503, "s3_unavailable")
        assert response.json()["error"] == "service_unavailable"
        assert response.headers["retry-after"] == "5"
    assert fake.launches == []

    never_up = make_client(**s3_mode(closed_port_url(), bucket))
    assert code(never_up.post("/jobs", json={"md": md})) == (503, "s3_unavailable")
    assert fake.launches == []


class _FailingS3(BaseHTTPRequestHandler):
    """An S3 endpoint that answers every request with 500 InternalError and records it."""

    server: "_FailingServer"

    def _fail(self) -> None:
        self.server.seen.append(self.command)
        body = b"" if self.command == "HEAD" else b"<Error><Code>InternalError</Code></Error>"
        self.send_response(500)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_HEAD = do_PUT = do_GET = _fail

    def log_message(self, format: str, *args: Any) -> None:
        return


class _FailingServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _FailingS3)
        self.seen: list[str] = []


@pytest.fixture
def failing_s3() -> Iterator[_FailingServer]:
    server = _FailingServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_s3_5xx_is_503_after_bounded_retries(
    make_client: ClientFactory, fake: FakeDagster, failing_s3: _FailingServer
) -> None:
    endpoint = f"http://127.0.0.1:{failing_s3.server_address[1]}"
    client = make_client(**s3_mode(endpoint, "lessons"))
    response = client.post("/jobs", json={"md": f"s3://lessons/{PREFIX}/a.md"})
    assert code(response) == (503, "s3_unavailable")
    assert failing_s3.seen == ["HEAD", "HEAD"]  # s3_max_attempts=2, then no more
    assert fake.launches == []
    assert code(upload(client, LESSON)) == (503, "s3_unavailable")
    assert failing_s3.seen[2:] == ["HEAD", "HEAD"]  # nothing is PUT without an answer


def test_a_rerun_of_an_s3_job_checks_the_object_again(
    client: TestClient, fake: FakeDagster, s3: Any, bucket: str
) -> None:
    md = upload(client, LESSON).json()["md"]
    job_id = client.post("/jobs", json={"md": md}).json()["jobId"]
    fake.update_run(fake.runs_for_job(job_id)[0]["runId"], status="SUCCESS")

    rerun = client.post(f"/jobs/{job_id}/rerun", json={"steps": ["upload"]})
    assert rerun.status_code == 202, rerun.text
    assert fake.launches[-1]["runConfigData"]["ops"]["validate_lesson"]["config"]["md"] == md

    s3.delete_object(Bucket=bucket, Key=md.removeprefix(f"s3://{bucket}/"))
    for run in fake.runs_for_job(job_id):
        fake.update_run(run["runId"], status="SUCCESS")
    gone = client.post(f"/jobs/{job_id}/rerun", json={"steps": ["upload"]})
    assert code(gone) == (400, "md_not_found")
    assert len(fake.launches) == 2


def test_boto3_is_loaded_only_once_s3_is_used(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from api_shim.core.config import Settings\n"
        "from api_shim.main import create_app\n"
        "create_app(Settings(lesson_s3_uri='s3://lessons-bucket/teachers'))\n"
        "assert 'boto3' not in sys.modules and 'botocore' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, cwd=tmp_path, timeout=60)
