"""POST /jobs/{jobId}/cancel (terminateRun) and POST /jobs/{jobId}/rerun (rerun_steps)."""

import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import MISSION
from tests.fakes.dagster_graphql import FakeDagster


def _submit(client: TestClient, **extra: object) -> str:
    response = client.post("/jobs", json={"md": MISSION, **extra})
    assert response.status_code == 202
    return str(response.json()["jobId"])


def _run_id(fake: FakeDagster, job_id: str, index: int = -1) -> str:
    return str(fake.runs_for_job(job_id)[index]["runId"])


def test_cancel_a_queued_job(client: TestClient, fake: FakeDagster) -> None:
    job_id = _submit(client)

    response = client.post(f"/jobs/{job_id}/cancel")

    assert response.status_code == 202
    body = response.json()
    assert (body["state"], body["canceled"], body["error"]) == ("failed", True, "canceled")
    # Dagster answers a run canceled in the queue with startTime == endTime: it never started.
    assert body["startedAt"] is None
    assert body["finishedAt"] is not None
    assert [step["status"] for step in body["steps"]] == ["skipped"] * 7
    assert client.get(f"/jobs/{job_id}").json() == body
    assert fake.runs_for_job(job_id)[0]["status"] == "CANCELED"


def test_cancel_a_running_job_reads_running_until_dagster_stops_it(
    client: TestClient, fake: FakeDagster
) -> None:
    job_id = _submit(client)
    fake.update_run(_run_id(fake, job_id), status="STARTED", start_time=1.0e9)

    response = client.post(f"/jobs/{job_id}/cancel")

    assert response.status_code == 202
    assert response.json()["state"] == "running"
    assert fake.runs_for_job(job_id)[0]["status"] == "CANCELING"


def test_cancel_a_finished_job_is_409(client: TestClient, fake: FakeDagster) -> None:
    job_id = _submit(client)
    fake.update_run(_run_id(fake, job_id), status="SUCCESS")

    response = client.post(f"/jobs/{job_id}/cancel")

    assert response.status_code == 409
    assert response.json()["code"] == "job_finished"
    assert "terminateRun" not in fake.operations()


def test_cancel_refused_by_dagster_is_409(client: TestClient, fake: FakeDagster) -> None:
    job_id = str(uuid.uuid4())
    fake.add_run(job_id=job_id, status="FAILURE", tags={"dagster/will_retry": "true"})
    response = client.post(f"/jobs/{job_id}/cancel")
    assert response.status_code == 409
    assert response.json()["code"] == "cancel_refused"


@pytest.mark.parametrize("job_id", ["bad", str(uuid.uuid4())])
def test_cancel_unknown_job_is_404(client: TestClient, job_id: str) -> None:
    response = client.post(f"/jobs/{job_id}/cancel")
    assert response.status_code == 404
    assert response.json() == {"error": "not_found"}


def test_rerun_launches_rerun_mode_under_the_same_job_id(
    client: TestClient, fake: FakeDagster, lesson_cwd: Path
) -> None:
    job_id = _submit(client, preset="b1-default", withTts=True)
    first = fake.runs_for_job(job_id)[0]
    fake.update_run(first["runId"], status="SUCCESS", tags={"esl/manifest_path": "/m.json"})

    response = client.post(f"/jobs/{job_id}/rerun", json={"steps": ["tts", "upload"]})

    assert response.status_code == 202
    assert response.json() == {"jobId": job_id}
    assert response.headers["location"] == f"/jobs/{job_id}"
    assert len(fake.launches) == 2
    config = fake.launches[1]["runConfigData"]["ops"]["validate_lesson"]["config"]
    assert config == {
        "md": str((lesson_cwd / "lessons" / "mission.md").resolve()),
        "preset": "b1-default",
        "with_tts": True,
        "rerun_steps": ["tts", "upload"],
    }
    tags = {t["key"]: t["value"] for t in fake.launches[1]["executionMetadata"]["tags"]}
    first_tags = {t["key"]: t["value"] for t in first["tags"]}
    for key in ("esl/job_id", ".dagster/esl.lesson_key", ".dagster/esl.tts", "esl/submitted_at"):
        assert tags[key] == first_tags[key]
    assert tags[".dagster/esl.rerun_steps"] == "tts,upload"
    body = client.get(f"/jobs/{job_id}").json()
    assert body["state"] == "queued"
    assert body["runId"] == _run_id(fake, job_id)


def test_rerun_of_an_active_job_is_409(client: TestClient, fake: FakeDagster) -> None:
    job_id = _submit(client)
    response = client.post(f"/jobs/{job_id}/rerun", json={"steps": ["tts"]})
    assert response.status_code == 409
    assert response.json()["code"] == "job_active"
    assert len(fake.launches) == 1


def test_rerun_of_a_run_without_lesson_options_is_409(
    client: TestClient, fake: FakeDagster
) -> None:
    job_id = str(uuid.uuid4())
    fake.add_run(job_id=job_id, status="SUCCESS", run_config={})
    response = client.post(f"/jobs/{job_id}/rerun", json={"steps": ["tts"]})
    assert response.status_code == 409
    assert response.json()["code"] == "not_rerunnable"


def test_rerun_rechecks_the_lesson_path(client: TestClient, fake: FakeDagster) -> None:
    job_id = str(uuid.uuid4())
    config = {"ops": {"validate_lesson": {"config": {"md": "/etc/passwd"}}}}
    fake.add_run(job_id=job_id, status="FAILURE", run_config=config, tags={"esl/error": "bad"})
    response = client.post(f"/jobs/{job_id}/rerun", json={"steps": ["upload"]})
    assert response.status_code == 400
    assert response.json()["code"] == "md_outside_roots"
    assert fake.launches == []


@pytest.mark.parametrize(
    "body",
    [{}, {"steps": []}, {"steps": ["import"]}, {"steps": "tts"}, {"steps": ["tts", "tts"]}],
)
def test_rerun_validates_steps(client: TestClient, fake: FakeDagster, body: dict[str, Any]) -> None:
    job_id = _submit(client)
    fake.update_run(_run_id(fake, job_id), status="SUCCESS")
    response = client.post(f"/jobs/{job_id}/rerun", json=body)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_steps"
    assert len(fake.launches) == 1


def test_rerun_unknown_job_is_404(client: TestClient) -> None:
    response = client.post(f"/jobs/{uuid.uuid4()}/rerun", json={"steps": ["tts"]})
    assert response.status_code == 404
