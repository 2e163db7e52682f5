"""POST /jobs: validation codes, lesson path confinement, run config and tags, failure modes."""

import hashlib
import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import MISSION, ClientFactory
from tests.fakes.dagster_graphql import FakeDagster


def _tags(launch: dict[str, Any]) -> dict[str, str]:
    return {t["key"]: t["value"] for t in launch["executionMetadata"]["tags"]}


def test_accepts_the_seed_request_and_launches_one_run(
    client: TestClient, fake: FakeDagster, lesson_cwd: Path
) -> None:
    response = client.post("/jobs", json={"md": MISSION, "preset": "b1-default", "withTts": True})

    assert response.status_code == 202
    assert list(response.json()) == ["jobId"]
    job_id = response.json()["jobId"]
    assert uuid.UUID(job_id).version == 4
    assert response.headers["location"] == f"/jobs/{job_id}"
    assert len(fake.launches) == 1
    launch = fake.launches[0]
    assert launch["selector"] == {
        "repositoryLocationName": "esl_dagster",
        "repositoryName": "__repository__",
        "jobName": "lesson_job",
    }
    resolved = (lesson_cwd / "lessons" / "mission.md").resolve()
    assert launch["runConfigData"] == {
        "ops": {
            "validate_lesson": {
                "config": {"md": str(resolved), "preset": "b1-default", "with_tts": True}
            }
        }
    }
    tags = _tags(launch)
    assert tags["esl/job_id"] == job_id
    assert (
        tags[".dagster/esl.lesson_key"] == hashlib.sha256(str(resolved).encode()).hexdigest()[:16]
    )
    assert tags["esl/source"] == "api"
    assert tags[".dagster/esl.tts"] == "true"
    assert tags[".dagster/esl.request_id"] == response.headers["x-request-id"]


def test_maps_every_optional_field_to_job_options(client: TestClient, fake: FakeDagster) -> None:
    body = {
        "md": MISSION,
        "preset": "a2-calm",
        "withTts": False,
        "upload": "s3",
        "student": "Anna",
        "mode": "dialogue",
        "voiceId": "v1",
        "voiceAccent": "british",
        "force": True,
        "forceTts": True,
        "dryRun": True,
        "notionDatabase": "db-1",
        "notionDataSource": "ds-1",
        "unknownField": "ignored like the original",
    }
    assert client.post("/jobs", json=body).status_code == 202

    config = fake.launches[0]["runConfigData"]["ops"]["validate_lesson"]["config"]
    assert {k: v for k, v in config.items() if k != "md"} == {
        "preset": "a2-calm",
        "with_tts": False,
        "upload": "s3",
        "student": "Anna",
        "tts_mode": "dialogue",
        "voice_id": "v1",
        "accent": "british",
        "force": True,
        "redo_tts": True,
        "dry_run": True,
        "db_id": "db-1",
        "data_source_id": "ds-1",
    }
    assert ".dagster/esl.tts" not in _tags(fake.launches[0])


def test_without_with_tts_the_run_builds_no_audio(client: TestClient, fake: FakeDagster) -> None:
    """`withTts` absent means no TTS (the original orchestrator's default), whatever the engine's
    own default: the run config says `with_tts: false` and the run is not counted as TTS-heavy."""
    assert client.post("/jobs", json={"md": MISSION}).status_code == 202
    assert client.post("/jobs", json={"md": MISSION, "withTts": None}).status_code == 202

    for launch in fake.launches:
        assert launch["runConfigData"]["ops"]["validate_lesson"]["config"]["with_tts"] is False
        assert "esl/tts" not in _tags(launch)


@pytest.mark.parametrize("upload", ["s3", "auto", "local", "none"])
def test_known_upload_values_are_forwarded(
    client: TestClient, fake: FakeDagster, upload: str
) -> None:
    assert client.post("/jobs", json={"md": MISSION, "upload": upload}).status_code == 202
    assert fake.launches[0]["runConfigData"]["ops"]["validate_lesson"]["config"]["upload"] == upload


@pytest.mark.parametrize("body", [{"upload": "ftp"}, {"upload": ""}, {"upload": "S3"}])
def test_other_upload_strings_are_accepted_without_an_upload_override(
    client: TestClient, fake: FakeDagster, body: dict[str, str]
) -> None:
    """The `/jobs` contract (docs/design.md): `upload` is free text; only "s3" forces an S3 upload, and any other
    value means no explicit upload override (the deployment default applies)."""
    response = client.post("/jobs", json={"md": MISSION, **body})

    assert response.status_code == 202
    assert "upload" not in fake.launches[0]["runConfigData"]["ops"]["validate_lesson"]["config"]


def test_an_empty_preset_string_means_no_preset(client: TestClient, fake: FakeDagster) -> None:
    """`preset?: string` in the contract: "" is a valid string and, as in the original, no preset."""
    response = client.post("/jobs", json={"md": MISSION, "preset": ""})

    assert response.status_code == 202
    assert "preset" not in fake.launches[0]["runConfigData"]["ops"]["validate_lesson"]["config"]


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"json": {"md": ""}}, "md_required"),
        ({"json": {"preset": "x"}}, "md_required"),
        ({"json": {"md": 42}}, "invalid_md"),
        ({"json": {"md": None}}, "invalid_md"),
        ({"json": {"md": MISSION, "withTts": "yes"}}, "invalid_with_tts"),
        ({"json": {"md": MISSION, "withTts": 1}}, "invalid_with_tts"),
        ({"json": {"md": MISSION, "upload": 3}}, "invalid_upload"),
        ({"json": {"md": MISSION, "preset": 7}}, "invalid_preset"),
        ({"json": {"md": MISSION, "mode": "choir"}}, "invalid_mode"),
        ({"json": {"md": MISSION, "voiceId": ["a"]}}, "invalid_voice_id"),
        ({"json": {"md": MISSION, "dryRun": "true"}}, "invalid_dry_run"),
        ({"json": {"md": MISSION, "notionDatabase": 5}}, "invalid_notion_database"),
        ({"json": ["md"]}, "invalid_body"),
        ({"json": "md"}, "invalid_body"),
        ({}, "invalid_body"),
        (
            {"content": b"{not json", "headers": {"content-type": "application/json"}},
            "invalid_json",
        ),
        ({"content": b"md=x", "headers": {"content-type": "text/plain"}}, "invalid_body"),
    ],
)
def test_invalid_bodies_are_400_with_a_specific_code(
    client: TestClient, fake: FakeDagster, kwargs: dict[str, Any], code: str
) -> None:
    response = client.post("/jobs", **kwargs)

    assert response.status_code == 400
    body = response.json()
    assert list(body) == ["error", "message", "code"]
    assert body["error"] == "validation_failed"
    assert body["code"] == code
    assert body["message"]
    assert fake.launches == []


@pytest.mark.parametrize(
    ("md", "code"),
    [
        ("./lessons/missing.md", "md_not_found"),
        ("./lessons/notes.txt", "md_not_markdown"),
        ("./lessons/folder.md", "md_not_found"),
        ("./outside/secret.md", "md_outside_roots"),
        ("./lessons/../outside/secret.md", "md_outside_roots"),
        ("lessons/../../cwd/outside/secret.md", "md_outside_roots"),
        ("./lessons/escape.md", "md_outside_roots"),
        ("/etc/passwd", "md_outside_roots"),
        ("/etc/hostname.md", "md_outside_roots"),
        ("./lessons/mission.md\x00.txt", "md_invalid"),
    ],
)
def test_md_outside_roots_missing_or_not_markdown_is_400_and_nothing_launches(
    client: TestClient, fake: FakeDagster, md: str, code: str
) -> None:
    response = client.post("/jobs", json={"md": md})

    assert response.status_code == 400
    assert response.json()["code"] == code
    assert fake.requests == []


def test_md_resolution_follows_symlinks_inside_roots_and_accepts_absolute_paths(
    client: TestClient, fake: FakeDagster, lesson_cwd: Path
) -> None:
    real = (lesson_cwd / "lessons" / "mission.md").resolve()
    for md in ("./lessons/linked.md", str(real), "lessons/unit1/../mission.md"):
        assert client.post("/jobs", json={"md": md}).status_code == 202
    mds = [
        launch["runConfigData"]["ops"]["validate_lesson"]["config"]["md"]
        for launch in fake.launches
    ]
    assert mds == [str(real)] * 3


def test_configured_lesson_roots_replace_the_default(
    make_client: ClientFactory, fake: FakeDagster, lesson_cwd: Path
) -> None:
    client = make_client(lesson_roots=[lesson_cwd / "lessons" / "unit1"])

    assert client.post("/jobs", json={"md": MISSION}).json()["code"] == "md_outside_roots"
    assert client.post("/jobs", json={"md": "./lessons/unit1/podcast.md"}).status_code == 202
    assert len(fake.launches) == 1


def test_body_over_the_size_limit_is_400(make_client: ClientFactory, fake: FakeDagster) -> None:
    client = make_client(max_body_bytes=200)
    big = {"md": MISSION, "preset": "x" * 250}

    response = client.post("/jobs", json=big)
    assert response.status_code == 400
    assert response.json()["code"] == "payload_too_large"

    def chunks():  # no Content-Length: the streamed body is counted
        yield b'{"md": "./lessons/mission.md", "preset": "'
        yield b"y" * 300
        yield b'"}'

    streamed = client.post("/jobs", content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 400
    assert streamed.json()["code"] == "payload_too_large"
    assert fake.launches == []


def test_dagster_down_is_503_with_retry_after(client: TestClient, fake: FakeDagster) -> None:
    with fake.down():
        response = client.post("/jobs", json={"md": MISSION})
        status = client.get(f"/jobs/{uuid.uuid4()}")

    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.json()["code"] == "dagster_unavailable"
    assert status.status_code == 503
    assert status.headers["retry-after"] == "5"


def test_dagster_http_5xx_is_503(client: TestClient, fake: FakeDagster) -> None:
    fake.http_status = 502
    assert client.post("/jobs", json={"md": MISSION}).status_code == 503


def test_job_not_loaded_is_503(client: TestClient, fake: FakeDagster) -> None:
    fake.job_loaded = False
    response = client.post("/jobs", json={"md": MISSION})
    assert response.status_code == 503
    assert "lesson_job" not in response.text  # details go to the log, not to the client


@pytest.mark.parametrize(
    "result",
    [
        {
            "__typename": "RunConfigValidationInvalid",
            "pipelineName": "lesson_job",
            "errors": [
                {
                    "__typename": "FieldNotDefinedConfigError",
                    "message": 'Received unexpected config entry "voice_id"',
                    "path": ["ops", "validate_lesson", "config"],
                    "reason": "FIELD_NOT_DEFINED",
                    "fieldName": "voice_id",
                }
            ],
        },
        {"__typename": "PythonError", "message": "boom", "className": "Exception", "stack": ["x"]},
        {"__typename": "RunConflict", "message": "conflict"},
    ],
)
def test_launch_rejections_are_500_without_detail(
    client: TestClient, fake: FakeDagster, result: dict[str, Any]
) -> None:
    fake.launch_result = result
    response = client.post("/jobs", json={"md": MISSION})
    assert response.status_code == 500
    assert response.json() == {"error": "internal_error"}


def test_non_graphql_answer_is_500(client: TestClient, fake: FakeDagster) -> None:
    fake.garbage = True
    response = client.post("/jobs", json={"md": MISSION})
    assert response.status_code == 500
    assert response.text == '{"error":"internal_error"}'


def test_lost_launch_answer_is_reconciled_by_job_tag(
    make_client: ClientFactory, fake: FakeDagster
) -> None:
    client = make_client(launch_budget_s=1.0)
    fake.launch_delay_s = 1.5  # the run is recorded, then the answer comes too late

    response = client.post("/jobs", json={"md": MISSION})

    assert response.status_code == 202
    assert len(fake.launches) == 1
    assert _tags(fake.launches[0])["esl/job_id"] == response.json()["jobId"]


def test_request_id_is_taken_from_the_client_or_made(client: TestClient, fake: FakeDagster) -> None:
    given = client.post("/jobs", json={"md": MISSION}, headers={"X-Request-ID": "req-abc.1"})
    assert given.headers["x-request-id"] == "req-abc.1"
    assert _tags(fake.launches[0])[".dagster/esl.request_id"] == "req-abc.1"
    unsafe = client.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
    assert unsafe.headers["x-request-id"] != "bad id\twith spaces"
    assert len(unsafe.headers["x-request-id"]) == 32
