"""The job resource's results: request options, links, attempts and per-stage steps, read from the
fake Dagster's run configs, step stats and op output events; monotonic states over a job's runs."""

import uuid
from typing import Any

from fastapi.testclient import TestClient

from tests.api.conftest import MISSION
from tests.fakes.dagster_graphql import FakeDagster

OPS = {
    "validate": "validate_lesson",
    "import": "import_to_notion",
    "colorize": "colorize_page",
    "tts": "synthesize_audio",
    "upload": "upload_audio",
    "add-audio": "attach_audio",
    "manifest": "write_manifest",
}
PAGE = "https://www.notion.so/Mission-0123456789abcdef0123456789abcdef"
AUDIO = "https://bucket.s3.us-east-1.amazonaws.com/audio/mission.mp3"
T0 = 1_738_315_300.0


def _submit(client: TestClient, **extra: object) -> str:
    response = client.post("/jobs", json={"md": MISSION, **extra})
    assert response.status_code == 202, response.text
    return str(response.json()["jobId"])


def _run_id(fake: FakeDagster, job_id: str, index: int = -1) -> str:
    return str(fake.runs_for_job(job_id)[index]["runId"])


def _succeed_stage(fake: FakeDagster, run_id: str, stage: str, start: float, **meta: Any) -> None:
    fake.set_step(run_id, OPS[stage], "SUCCESS", start_time=start, end_time=start + 1)
    fake.add_output(run_id, OPS[stage], {"status": ("text", "success"), **meta})


def _skip_stage(fake: FakeDagster, run_id: str, stage: str, start: float, reason: str) -> None:
    fake.set_step(run_id, OPS[stage], "SUCCESS", start_time=start, end_time=start + 1)
    fake.add_output(run_id, OPS[stage], {"status": ("text", "skipped"), "reason": ("text", reason)})


def _steps(body: dict[str, Any]) -> dict[str, tuple[str, str | None]]:
    return {step["name"]: (step["status"], step["message"]) for step in body["steps"]}


def test_a_queued_job_tells_its_options_in_one_round_trip(
    client: TestClient, fake: FakeDagster
) -> None:
    job_id = _submit(
        client,
        preset="b1-default",
        withTts=True,
        voiceId="Rachel",
        voiceAccent="british",
        forceTts=True,
        notionDatabase="db-1",
        mode="dialogue",
        upload="s3",
    )
    before = len(fake.requests)

    body = client.get(f"/jobs/{job_id}").json()

    assert fake.operations()[before:] == ["runsOrError"]
    assert body["md"].endswith("/lessons/mission.md")
    assert {key: body[key] for key in ("preset", "withTts", "voiceId", "voiceAccent")} == {
        "preset": "b1-default",
        "withTts": True,
        "voiceId": "Rachel",
        "voiceAccent": "british",
    }
    assert (body["forceTts"], body["notionDatabase"], body["mode"], body["upload"]) == (
        True,
        "db-1",
        "dialogue",
        "s3",
    )
    assert (body["notionUrl"], body["audioUrl"], body["attempts"], body["canceled"]) == (
        None,
        None,
        1,
        False,
    )
    assert [step["name"] for step in body["steps"]] == list(OPS)
    assert {step["status"] for step in body["steps"]} == {"pending"}


def test_a_finished_job_tells_its_page_audio_and_stages(
    client: TestClient, fake: FakeDagster
) -> None:
    job_id = _submit(client, withTts=True)
    run_id = _run_id(fake, job_id)
    fake.update_run(run_id, status="STARTED", start_time=T0)
    _succeed_stage(fake, run_id, "validate", T0)
    _succeed_stage(fake, run_id, "import", T0 + 1, notion_page=("url", PAGE))
    _skip_stage(fake, run_id, "colorize", T0 + 2, "no preset selected")
    _succeed_stage(fake, run_id, "tts", T0 + 3, audio_path=("path", "/data/mission.mp3"))
    _succeed_stage(fake, run_id, "upload", T0 + 4, audio_url=("url", AUDIO))
    _succeed_stage(
        fake, run_id, "add-audio", T0 + 5, notion_page=("url", PAGE), audio_url=("url", AUDIO)
    )
    fake.set_step(run_id, OPS["manifest"], "IN_PROGRESS", start_time=T0 + 6)
    before = len(fake.requests)

    running = client.get(f"/jobs/{job_id}").json()

    assert fake.operations()[before:] == ["runsOrError", "logsForRun"]
    assert running["state"] == "running"
    assert running["steps"][-1] == {
        "name": "manifest",
        "status": "running",
        "startedAt": "2025-01-31T09:21:46.000Z",
        "finishedAt": None,
        "message": None,
    }

    _succeed_stage(fake, run_id, "manifest", T0 + 6)
    fake.update_run(run_id, status="SUCCESS", end_time=T0 + 8)
    body = client.get(f"/jobs/{job_id}").json()

    assert body["state"] == "succeeded"
    assert body["notionUrl"] == PAGE
    assert body["audioUrl"] == AUDIO
    assert _steps(body) == {
        "validate": ("succeeded", None),
        "import": ("succeeded", None),
        "colorize": ("skipped", "no preset selected"),
        "tts": ("succeeded", None),
        "upload": ("succeeded", None),
        "add-audio": ("succeeded", None),
        "manifest": ("succeeded", None),
    }
    assert body["steps"][1]["startedAt"] == "2025-01-31T09:21:41.000Z"
    assert body["steps"][1]["finishedAt"] == "2025-01-31T09:21:42.000Z"


def test_preview_mode_has_no_notion_url_and_the_local_audio_path(
    client: TestClient, fake: FakeDagster
) -> None:
    job_id = _submit(client, withTts=True)
    run_id = _run_id(fake, job_id)
    detail = {"imported": False, "previewPath": "/data/mission.preview.json"}
    _succeed_stage(
        fake, run_id, "import", T0, detail=("json", detail), notion_page=("url", "https://old")
    )
    _succeed_stage(fake, run_id, "tts", T0 + 1, audio_path=("path", "/data/mission.mp3"))
    _skip_stage(fake, run_id, "upload", T0 + 2, "upload disabled")
    fake.update_run(run_id, status="SUCCESS", start_time=T0, end_time=T0 + 3)

    body = client.get(f"/jobs/{job_id}").json()

    assert body["notionUrl"] is None
    assert body["audioUrl"] == "/data/mission.mp3"


def test_a_failed_stage_tells_why_and_later_stages_were_not_run(
    client: TestClient, fake: FakeDagster
) -> None:
    job_id = _submit(client)
    run_id = _run_id(fake, job_id)
    _succeed_stage(fake, run_id, "validate", T0)
    fake.set_step(run_id, OPS["import"], "FAILURE", start_time=T0 + 1, end_time=T0 + 2)
    for stage in ("colorize", "tts", "upload", "add-audio", "manifest"):
        fake.set_step(run_id, OPS[stage], "SKIPPED")
    fake.add_event(
        run_id,
        {
            "__typename": "ExecutionStepFailureEvent",
            "runId": run_id,
            "message": "step failed",
            "timestamp": "1",
            "stepKey": OPS["import"],
            "error": {"message": "dagster Failure", "stack": []},
            "failureMetadata": {"description": "Notion 400: database not shared"},
        },
    )
    fake.update_run(run_id, status="FAILURE", start_time=T0, end_time=T0 + 3)

    body = client.get(f"/jobs/{job_id}").json()

    assert body["state"] == "failed"
    assert body["error"] == "Notion 400: database not shared"
    steps = _steps(body)
    assert steps["validate"] == ("succeeded", None)
    assert steps["import"] == ("failed", "Notion 400: database not shared")
    assert steps["manifest"][0] == "skipped"


def test_a_stage_cut_off_by_a_killed_run_reads_failed(
    client: TestClient, fake: FakeDagster
) -> None:
    job_id = _submit(client)
    run_id = _run_id(fake, job_id)
    fake.set_step(run_id, OPS["validate"], "IN_PROGRESS", start_time=T0)
    fake.update_run(run_id, status="FAILURE", start_time=T0, end_time=T0 + 5)
    assert _steps(client.get(f"/jobs/{job_id}").json())["validate"][0] == "failed"


def test_a_retried_job_never_reads_queued_again_and_keeps_its_first_start(
    client: TestClient, fake: FakeDagster
) -> None:
    """A daemon retry from failure (same job id tag, new run queued) after a killed worker."""
    job_id = _submit(client, withTts=True)
    first = _run_id(fake, job_id)
    created = client.get(f"/jobs/{job_id}").json()["createdAt"]
    fake.update_run(first, status="STARTED", start_time=T0)
    _succeed_stage(fake, first, "validate", T0)
    _succeed_stage(fake, first, "import", T0 + 1, notion_page=("url", PAGE))
    fake.set_step(first, OPS["colorize"], "IN_PROGRESS", start_time=T0 + 2)
    fake.update_run(first, status="FAILURE", end_time=T0 + 3, tags={"dagster/will_retry": "true"})
    tags = {t["key"]: t["value"] for t in fake.runs_for_job(job_id)[0]["tags"]}
    tags = {k: v for k, v in tags.items() if k != "dagster/will_retry"}
    retry = fake.add_run(
        job_id=None, status="QUEUED", tags={**tags, "dagster/parent_run_id": first}
    )
    states = [client.get(f"/jobs/{job_id}").json()]

    fake.update_run(retry["runId"], status="STARTED", start_time=T0 + 10)
    fake.set_step(retry["runId"], OPS["colorize"], "IN_PROGRESS", start_time=T0 + 10)
    states.append(client.get(f"/jobs/{job_id}").json())

    assert [body["state"] for body in states] == ["running", "running"]
    for body in states:
        assert body["runId"] == retry["runId"]
        assert body["startedAt"] == "2025-01-31T09:21:40.000Z"
        assert body["createdAt"] == created
        assert body["attempts"] == 2
        assert body["notionUrl"] == PAGE
    assert _steps(states[0])["colorize"] == (
        "pending",
        "to be retried after: interrupted: the run ended while this stage ran",
    )
    assert _steps(states[1])["colorize"] == ("running", None)
    assert _steps(states[1])["import"] == ("succeeded", None)


def test_a_job_that_never_started_reads_queued_over_several_runs(
    client: TestClient, fake: FakeDagster
) -> None:
    job_id = str(uuid.uuid4())
    fake.add_run(job_id=job_id, status="CANCELED", creation_time=T0)
    fake.update_run(_run_id(fake, job_id), end_time=T0 + 1)
    fake.add_run(job_id=job_id, status="QUEUED", creation_time=T0 + 2)

    body = client.get(f"/jobs/{job_id}").json()

    assert (body["state"], body["startedAt"], body["attempts"]) == ("queued", None, 2)
    assert body["createdAt"] == "2025-01-31T09:21:40.000Z"


def test_list_items_carry_the_results_in_bounded_round_trips(
    client: TestClient, fake: FakeDagster
) -> None:
    job_ids = [_submit(client, withTts=True) for _ in range(3)]
    for job_id in job_ids:
        run_id = _run_id(fake, job_id)
        _succeed_stage(fake, run_id, "import", T0, notion_page=("url", PAGE))
        fake.update_run(run_id, status="SUCCESS", start_time=T0, end_time=T0 + 1)
    before = len(fake.requests)

    items = client.get("/jobs", params={"limit": 10}).json()["items"]

    assert fake.operations()[before:] == ["runsOrError", "runsOrError", "logsForRun"]
    assert [item["jobId"] for item in items] == job_ids[::-1]
    assert {item["notionUrl"] for item in items} == {PAGE}
    by_id = {item["jobId"]: item for item in items}
    assert by_id[job_ids[0]] == client.get(f"/jobs/{job_ids[0]}").json()


def test_a_queued_job_after_a_started_run_is_listed_as_running(
    client: TestClient, fake: FakeDagster
) -> None:
    job_id = _submit(client)
    fake.update_run(_run_id(fake, job_id), status="SUCCESS", start_time=T0, end_time=T0 + 1)
    fake.add_run(job_id=job_id, status="QUEUED")

    running = client.get("/jobs", params={"state": "running"}).json()["items"]
    queued = client.get("/jobs", params={"state": "queued"}).json()["items"]

    assert [item["jobId"] for item in running] == [job_id]
    assert queued == []
