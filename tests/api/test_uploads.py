"""`POST /uploads`: a lesson sent by a remote client is stored by content inside the lesson roots,
validated by `esl validate` (a real subprocess), and its `md` is accepted by `POST /jobs`."""

import hashlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from api_shim.core.config import Settings
from tests.api.conftest import ClientFactory
from tests.conftest import INVALID_LESSON, VALID_LESSONS
from tests.fakes.dagster_graphql import FakeDagster


def _upload(
    client: TestClient, data: bytes, name: str = "lesson.md", **params: str
) -> httpx.Response:
    response: httpx.Response = client.post(
        "/uploads", files={"file": (name, data, "text/markdown")}, params=params
    )
    return response


def test_a_valid_lesson_is_stored_by_content_and_submittable(
    client: TestClient, fake: FakeDagster, lesson_cwd: Path
) -> None:
    data = VALID_LESSONS[0].read_bytes()
    response = client.post(
        "/uploads",
        params={"strict": "true"},
        files={"file": ("mission.md", data, "text/markdown")},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    digest = hashlib.sha256(data).hexdigest()
    assert body["sha256"] == digest
    assert body["bytes"] == len(data)
    assert body["md"] == f"lessons/.uploads/{digest}.md"
    assert body["validation"]["ok"] is True
    assert body["validation"]["errors"] == []
    assert (lesson_cwd / body["md"]).read_bytes() == data

    again = client.post("/uploads", files={"file": ("other-name.md", data, "text/markdown")})
    assert again.status_code == 201
    assert again.json()["md"] == body["md"]
    stored = list((lesson_cwd / "lessons" / ".uploads").iterdir())
    assert [path.name for path in stored] == [f"{digest}.md"]

    submitted = client.post("/jobs", json={"md": body["md"]})
    assert submitted.status_code == 202, submitted.text
    config = fake.launches[-1]["runConfigData"]["ops"]["validate_lesson"]["config"]
    assert config["md"] == str((lesson_cwd / body["md"]).resolve())


def test_an_invalid_lesson_is_stored_and_strict_only_changes_the_answer(
    client: TestClient, lesson_cwd: Path
) -> None:
    data = INVALID_LESSON.read_bytes()
    stored = lesson_cwd / "lessons" / ".uploads" / f"{hashlib.sha256(data).hexdigest()}.md"
    strict = client.post(
        "/uploads", params={"strict": "true"}, files={"file": ("bad.md", data, "text/markdown")}
    )
    assert strict.status_code == 400
    body = strict.json()
    assert body["error"] == "validation_failed"
    assert body["code"] == "lesson_invalid"
    assert stored.read_bytes() == data  # stored first, then validated (as in S3 mode)

    response = client.post("/uploads", files={"file": ("bad.md", data, "text/markdown")})
    assert response.status_code == 201, response.text
    validation = response.json()["validation"]
    assert validation["ok"] is False
    assert validation["errors"] and all("code" in item for item in validation["errors"])
    assert lesson_cwd / response.json()["md"] == stored
    assert body["details"]["errors"] == validation["errors"]


def _code(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["code"]


def test_bad_files_get_a_specific_code(client: TestClient) -> None:
    lesson = VALID_LESSONS[0].read_bytes()
    assert _code(_upload(client, "é".encode("latin-1") + lesson)) == (400, "not_utf8")
    assert _code(_upload(client, lesson, name="lesson.txt")) == (400, "not_markdown")
    assert _code(_upload(client, b"# title\x00\x01binary")) == (400, "not_markdown")
    assert _code(_upload(client, b"  \n")) == (400, "empty_file")


def test_the_form_must_hold_exactly_one_file_under_file(client: TestClient) -> None:
    lesson = VALID_LESSONS[0].read_bytes()
    other = client.post("/uploads", files={"lesson": ("a.md", lesson, "text/markdown")})
    assert _code(other) == (400, "file_required")
    empty = client.post("/uploads", data={"note": "no file"}, files={})
    assert _code(empty) == (400, "not_multipart")
    two = client.post(
        "/uploads",
        files=[("file", ("a.md", lesson, "text/markdown")), ("file", ("b.md", lesson, "text/md"))],
    )
    assert _code(two) == (400, "too_many_files")
    as_json = client.post("/uploads", json={"md": "x"})
    assert _code(as_json) == (400, "not_multipart")


def test_a_file_over_the_limit_is_refused_with_413(make_client: ClientFactory) -> None:
    client = make_client(max_upload_bytes=1000)
    response = _upload(client, b"# lesson\n" + b"x" * 1000)
    assert _code(response) == (413, "upload_too_large")
    assert response.json()["error"] == "payload_too_large"


def test_a_body_far_over_the_limit_is_cut_while_streaming(make_client: ClientFactory) -> None:
    client = make_client(max_upload_bytes=1000)

    def chunks() -> Iterator[bytes]:
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.md"\r\n\r\n'
        for _ in range(100):  # 6.4 MB without Content-Length
            yield b"x" * 64 * 1024

    response = client.post(
        "/uploads",
        content=chunks(),
        headers={"Content-Type": "multipart/form-data; boundary=b"},
    )
    assert _code(response) == (413, "upload_too_large")


def test_uploads_need_a_key_when_keys_are_set(make_client: ClientFactory) -> None:
    client = make_client(api_keys=["k-123456789"])
    data = VALID_LESSONS[0].read_bytes()
    assert _code(_upload(client, data)) == (401, "missing_api_key")
    # With the key the request gets past auth (to the file checks, which need no validator).
    response = client.post(
        "/uploads",
        files={"file": ("a.txt", data, "text/plain")},
        headers={"Authorization": "Bearer k-123456789"},
    )
    assert _code(response) == (400, "not_markdown")


def test_a_validator_that_hangs_answers_503(make_client: ClientFactory, tmp_path: Path) -> None:
    script = tmp_path / "slow-esl"
    script.write_text("#!/bin/sh\nsleep 30\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    client = make_client(validate_command=str(script), validate_timeout_s=0.5)
    response = _upload(client, VALID_LESSONS[0].read_bytes())
    assert _code(response) == (503, "validator_unavailable")


def test_a_missing_validator_answers_503(make_client: ClientFactory, tmp_path: Path) -> None:
    client = make_client(validate_command=os.fspath(tmp_path / "no-such-esl"))
    response = _upload(client, VALID_LESSONS[0].read_bytes())
    assert _code(response) == (503, "validator_unavailable")


def test_a_configured_upload_dir_is_used_and_must_lie_inside_a_root(
    make_client: ClientFactory, lesson_cwd: Path, tmp_path: Path
) -> None:
    validator = tmp_path / "ok-esl"
    validator.write_text(
        '#!/bin/sh\necho \'[{"path": "x", "ok": true, "errors": [], "warnings": []}]\'\n'
    )
    validator.chmod(validator.stat().st_mode | stat.S_IXUSR)
    client = make_client(upload_dir=Path("lessons/unit1/inbox"), validate_command=str(validator))
    response = _upload(client, b"# A lesson\n")
    assert response.status_code == 201
    md = response.json()["md"]
    assert md.startswith("lessons/unit1/inbox/")
    assert (lesson_cwd / md).read_bytes() == b"# A lesson\n"
    with pytest.raises(ValidationError, match="ESL_UPLOAD_DIR"):
        Settings(pipeline_cwd=lesson_cwd, upload_dir=lesson_cwd / "outside")
