"""Bearer API keys, /healthz, /readyz, /metrics and the JSON access log."""

import json
import logging
import uuid

import pytest
from fastapi.testclient import TestClient

from api_shim.core.config import Settings
from api_shim.core.logging import JsonFormatter
from tests.api.conftest import MISSION, ClientFactory
from tests.fakes.dagster_graphql import FakeDagster

KEYS = ["k-alpha-5c1e0f2b9d", "k-beta-8a7d6e5f4c"]


@pytest.fixture
def secured(make_client: ClientFactory) -> TestClient:
    return make_client(api_keys=KEYS)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/jobs"),
        ("get", "/jobs"),
        ("get", f"/jobs/{uuid.uuid4()}"),
        ("post", f"/jobs/{uuid.uuid4()}/cancel"),
        ("post", f"/jobs/{uuid.uuid4()}/rerun"),
    ],
)
@pytest.mark.parametrize(
    ("header", "code"),
    [
        (None, "missing_api_key"),
        ("Bearer wrong", "invalid_api_key"),
        ("Basic abc", "missing_api_key"),
    ],
)
def test_every_jobs_route_needs_a_key_when_keys_are_set(
    secured: TestClient, fake: FakeDagster, method: str, path: str, header: str | None, code: str
) -> None:
    headers = {"Authorization": header} if header else {}
    response = secured.request(method.upper(), path, headers=headers, json={"md": MISSION})
    assert response.status_code == 401
    assert response.json()["code"] == code
    assert response.headers["www-authenticate"] == "Bearer"
    assert fake.requests == []


def test_any_configured_key_is_accepted(secured: TestClient, fake: FakeDagster) -> None:
    for key in KEYS:
        response = secured.post(
            "/jobs", json={"md": MISSION}, headers={"Authorization": f"Bearer {key}"}
        )
        assert response.status_code == 202
    assert len(fake.launches) == 2


def test_auth_is_checked_before_the_body(secured: TestClient) -> None:
    assert secured.post("/jobs", json={"md": ""}).status_code == 401


def test_health_and_metrics_need_no_key(secured: TestClient) -> None:
    assert secured.get("/healthz").json() == {"status": "ok"}
    assert secured.get("/metrics").status_code == 200
    assert secured.get("/readyz").status_code == 200


def test_placeholder_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="placeholder"):
        Settings(api_keys=["changethis"])


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ESL_API_KEYS", "a-key-123456, b-key-123456")
    monkeypatch.setenv("ESL_LESSON_ROOTS", "lessons,/srv/lessons")
    monkeypatch.setenv("BATCH_BACKEND_HTTP_PORT", "9191")
    monkeypatch.setenv("PIPELINE_CWD", "/srv")
    settings = Settings()
    assert settings.api_keys == ["a-key-123456", "b-key-123456"]
    assert [str(p) for p in settings.lesson_roots] == ["lessons", "/srv/lessons"]
    assert settings.port == 9191
    assert settings.dagster_graphql_url == "http://127.0.0.1:3000/graphql"
    assert settings.host == "127.0.0.1"


def test_bare_platform_variables_do_not_leak_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "1234")
    monkeypatch.setenv("HOST", "0.0.0.0")
    monkeypatch.setenv("API_KEYS", "leaked-key-123456")
    settings = Settings(_env_file=None)
    assert (settings.port, settings.host, settings.api_keys) == (8080, "127.0.0.1", [])


def test_readyz_reports_each_way_of_not_being_ready(client: TestClient, fake: FakeDagster) -> None:
    assert client.get("/readyz").json() == {
        "status": "ready",
        "dagster": "ok",
        "codeLocation": "loaded",
        "job": "present",
    }
    fake.job_loaded = False
    missing_job = client.get("/readyz")
    assert missing_job.status_code == 503
    assert missing_job.json()["job"] == "missing"
    assert missing_job.headers["retry-after"] == "5"
    fake.job_loaded = True
    fake.load_status = "LOADING"
    assert client.get("/readyz").json()["codeLocation"] == "loading"
    fake.load_status = "LOADED"
    fake.location_error = "ImportError: no module named esl_dagster"
    assert client.get("/readyz").json()["codeLocation"] == "error"
    fake.location_error = None
    with fake.down():
        down = client.get("/readyz")
    assert down.status_code == 503
    assert down.json()["dagster"] == "unreachable"
    assert client.get("/healthz").status_code == 200


def test_readyz_with_another_location_name(make_client: ClientFactory) -> None:
    client = make_client(dagster_location="other")
    assert client.get("/readyz").json()["codeLocation"] == "missing"


def test_metrics_count_requests_per_route_launches_and_graphql_errors(
    client: TestClient, fake: FakeDagster
) -> None:
    client.post("/jobs", json={"md": MISSION})
    client.get(f"/jobs/{uuid.uuid4()}")
    client.get(f"/jobs/{uuid.uuid4()}")
    fake.http_status = 503
    client.post("/jobs", json={"md": MISSION})

    text = client.get("/metrics").text

    assert (
        'esl_api_http_requests_total{method="GET",route="/jobs/{jobId}",status="404"} 2.0' in text
    )
    assert 'esl_api_http_requests_total{method="POST",route="/jobs",status="202"} 1.0' in text
    assert 'esl_api_http_requests_total{method="POST",route="/jobs",status="503"} 1.0' in text
    assert 'esl_api_job_launches_total{kind="submit",outcome="launched"} 1.0' in text
    # An HTTP 503 to launchRun may hide a created run: the launch is abandoned in the ledger.
    assert 'esl_api_job_launches_total{kind="submit",outcome="abandoned"} 1.0' in text
    assert 'esl_api_dagster_graphql_errors_total{kind="http_503",operation="launchRun"} 1.0' in text
    assert "esl_api_http_request_duration_seconds_bucket" in text
    # Two GETs (one jobRuns query each), and the lookup that reconciles the launch whose 503 left
    # its outcome unknown.
    assert 'esl_api_dagster_graphql_duration_seconds_count{operation="jobRuns"} 2.0' in text
    assert 'esl_api_dagster_graphql_duration_seconds_count{operation="runs"} 1.0' in text


def test_access_log_is_json_with_the_request_id(client: TestClient) -> None:
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Collect()
    logger = logging.getLogger("api_shim.access")
    logger.addHandler(handler)
    try:
        client.get(f"/jobs/{uuid.uuid4()}", headers={"X-Request-ID": "trace-42"})
    finally:
        logger.removeHandler(handler)

    (record,) = records
    line = json.loads(JsonFormatter().format(record))
    assert line["request_id"] == "trace-42"
    assert line["route"] == "/jobs/{jobId}"
    assert line["status"] == 404
    assert line["level"] == "info"
    assert isinstance(line["duration_ms"], float)
