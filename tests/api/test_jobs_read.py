"""GET /jobs/{jobId} and GET /jobs: state mapping (D8), newest run wins (D7), times, errors."""

import re
import time
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api_shim.job_view import FAILURE_SETTLE_S
from tests.api.conftest import MISSION
from tests.fakes.dagster_graphql import FakeDagster

TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
CONTRACT_FIELDS = [
    "jobId",
    "state",
    "createdAt",
    "updatedAt",
    "startedAt",
    "finishedAt",
    "error",
    "manifestPath",
]


def _submit(client: TestClient) -> str:
    response = client.post("/jobs", json={"md": MISSION})
    assert response.status_code == 202
    return str(response.json()["jobId"])


def _only_run(fake: FakeDagster, job_id: str) -> str:
    (run,) = fake.runs_for_job(job_id)
    return str(run["runId"])


def test_a_new_job_reads_queued_with_nulls(client: TestClient, fake: FakeDagster) -> None:
    job_id = _submit(client)

    response = client.get(f"/jobs/{job_id}")

    assert response.status_code == 200
    body = response.json()
    assert list(body)[:8] == CONTRACT_FIELDS
    assert body["jobId"] == job_id
    assert body["state"] == "queued"
    assert TIME.match(body["createdAt"]) and TIME.match(body["updatedAt"])
    assert body["startedAt"] is None and body["finishedAt"] is None
    assert body["error"] is None and body["manifestPath"] is None
    assert body["runId"] == _only_run(fake, job_id)


def test_one_graphql_round_trip_per_get(client: TestClient, fake: FakeDagster) -> None:
    job_id = _submit(client)
    before = len(fake.requests)
    client.get(f"/jobs/{job_id}")
    assert fake.operations()[before:] == ["runsOrError"]


@pytest.mark.parametrize(
    ("status", "tags", "state"),
    [
        ("QUEUED", {}, "queued"),
        ("NOT_STARTED", {}, "queued"),
        ("MANAGED", {}, "queued"),
        ("STARTING", {}, "running"),
        ("STARTED", {}, "running"),
        ("CANCELING", {}, "running"),
        ("SUSPENDED", {}, "running"),
        ("SUCCESS", {}, "succeeded"),
        ("FAILURE", {}, "failed"),
        ("CANCELED", {}, "failed"),
        ("FAILURE", {"dagster/will_retry": "true"}, "running"),
        ("FAILURE", {"dagster/will_retry": "false"}, "failed"),
    ],
)
def test_state_mapping(
    client: TestClient, fake: FakeDagster, status: str, tags: dict[str, str], state: str
) -> None:
    job_id = str(uuid.uuid4())
    fake.add_run(job_id=job_id, status=status, tags={"esl/error": "boom", **tags})

    body = client.get(f"/jobs/{job_id}").json()

    assert body["state"] == state
    expected_error = "canceled" if status == "CANCELED" else "boom"
    assert body["error"] == (expected_error if state == "failed" else None)
    assert body["canceled"] is (status in ("CANCELED", "CANCELING"))


def test_times_are_utc_milliseconds_with_z(client: TestClient, fake: FakeDagster) -> None:
    job_id = str(uuid.uuid4())
    run = fake.add_run(job_id=job_id, status="STARTED", creation_time=1738315302.1234)
    fake.update_run(run["runId"], start_time=1738315303.5, status="SUCCESS", end_time=1738315310.0)

    body = client.get(f"/jobs/{job_id}").json()

    assert body["createdAt"] == "2025-01-31T09:21:42.123Z"
    assert body["startedAt"] == "2025-01-31T09:21:43.500Z"
    assert body["finishedAt"] == "2025-01-31T09:21:50.000Z"
    assert TIME.match(body["updatedAt"])
    assert body["updatedAt"] >= body["finishedAt"]


def test_success_reports_the_manifest_path(client: TestClient, fake: FakeDagster) -> None:
    job_id = _submit(client)
    fake.update_run(
        _only_run(fake, job_id),
        status="SUCCESS",
        start_time=1.0e9,
        end_time=1.0e9 + 5,
        tags={"esl/manifest_path": "/data/lessons/mission.manifest.json"},
    )

    body = client.get(f"/jobs/{job_id}").json()

    assert body["state"] == "succeeded"
    assert body["manifestPath"] == "/data/lessons/mission.manifest.json"
    assert body["error"] is None


def test_failure_without_error_tag_reads_the_step_failure_event(
    client: TestClient, fake: FakeDagster
) -> None:
    job_id = _submit(client)
    run_id = _only_run(fake, job_id)
    # Settled: failed without its own `esl/error` longer ago than the relaunch window.
    fake.update_run(run_id, status="FAILURE", end_time=time.time() - FAILURE_SETTLE_S - 1)
    fake.add_event(
        run_id,
        {"__typename": "LogMessageEvent", "runId": run_id, "message": "hi", "timestamp": "1"},
    )
    fake.add_event(
        run_id,
        {
            "__typename": "ExecutionStepFailureEvent",
            "runId": run_id,
            "message": "step failed",
            "timestamp": "2",
            "stepKey": "synthesize_audio",
            "error": {
                "message": "Exceeded max_retries of 4",
                "className": "RetryRequestedFromPolicy",
                "stack": [],
                "cause": {
                    "message": "ServiceError: ElevenLabs 503",
                    "className": "ServiceError",
                    "stack": [],
                },
            },
            "failureMetadata": None,
        },
    )
    fake.add_event(
        run_id,
        {
            "__typename": "RunFailureEvent",
            "runId": run_id,
            "message": "Execution failed",
            "timestamp": "3",
            "pipelineName": "lesson_job",
        },
    )

    body = client.get(f"/jobs/{job_id}").json()

    assert body["state"] == "failed"
    assert body["error"] == "ServiceError: ElevenLabs 503"


def test_failure_description_wins_and_tag_wins_over_events(
    client: TestClient, fake: FakeDagster
) -> None:
    job_id = _submit(client)
    run_id = _only_run(fake, job_id)
    # Settled: failed without its own `esl/error` longer ago than the relaunch window.
    fake.update_run(run_id, status="FAILURE", end_time=time.time() - FAILURE_SETTLE_S - 1)
    fake.add_event(
        run_id,
        {
            "__typename": "ExecutionStepFailureEvent",
            "runId": run_id,
            "message": "x",
            "timestamp": "1",
            "error": {"message": "dagster Failure", "stack": []},
            "failureMetadata": {"description": "Validation failed: 3 errors"},
        },
    )
    assert client.get(f"/jobs/{job_id}").json()["error"] == "Validation failed: 3 errors"

    fake.update_run(run_id, tags={"esl/error": "Validation failed: line 4: missing title"})
    before = len(fake.requests)
    assert (
        client.get(f"/jobs/{job_id}").json()["error"] == "Validation failed: line 4: missing title"
    )
    assert fake.operations()[before:] == ["runsOrError"]


def test_a_canceled_run_reads_failed_and_canceled(client: TestClient, fake: FakeDagster) -> None:
    job_id = str(uuid.uuid4())
    fake.add_run(job_id=job_id, status="CANCELED")
    body = client.get(f"/jobs/{job_id}").json()
    assert (body["state"], body["canceled"], body["error"]) == ("failed", True, "canceled")


def test_newest_run_of_a_job_wins_and_created_at_stays(
    client: TestClient, fake: FakeDagster
) -> None:
    job_id = _submit(client)
    first = _only_run(fake, job_id)
    created = client.get(f"/jobs/{job_id}").json()["createdAt"]
    fake.update_run(
        first, status="FAILURE", tags={"dagster/will_retry": "true", "esl/error": "crash"}
    )
    assert client.get(f"/jobs/{job_id}").json()["state"] == "running"

    # The daemon's retry (or a UI re-execution) copies the tags into a new run.
    tags = {t["key"]: t["value"] for t in fake.runs_for_job(job_id)[0]["tags"]}
    tags = {k: v for k, v in tags.items() if k not in ("dagster/will_retry", "esl/error")}
    retry = fake.add_run(
        job_id=None, status="STARTED", tags={**tags, "dagster/parent_run_id": first}
    )

    body = client.get(f"/jobs/{job_id}").json()
    assert body["runId"] == retry["runId"]
    assert body["state"] == "running"
    assert body["createdAt"] == created
    assert body["error"] is None


@pytest.mark.parametrize("job_id", ["nope", "123", str(uuid.uuid4()).replace("-", "")[:-1], "../x"])
def test_malformed_job_id_is_404_without_asking_dagster(
    client: TestClient, fake: FakeDagster, job_id: str
) -> None:
    response = client.get(f"/jobs/{job_id}")
    assert response.status_code == 404
    assert response.json() == {"error": "not_found"}
    assert fake.requests == []


def test_unknown_job_id_is_404(client: TestClient) -> None:
    response = client.get(f"/jobs/{uuid.uuid4()}")
    assert response.status_code == 404
    assert response.text == '{"error":"not_found"}'


def test_unknown_route_is_404_in_the_contract_shape(client: TestClient) -> None:
    assert client.get("/nothing-here").json() == {"error": "not_found"}


def test_an_unexpected_error_is_500_without_traceback(
    client: TestClient, fake: FakeDagster
) -> None:
    job_id = str(uuid.uuid4())
    fake.add_run(job_id=job_id, status="STARTED", creation_time=1e20)  # year out of range

    response = client.get(f"/jobs/{job_id}")

    assert response.status_code == 500
    assert response.text == '{"error":"internal_error"}'
    assert response.headers["x-request-id"]


def test_malformed_run_shape_is_500(client: TestClient, fake: FakeDagster) -> None:
    fake.garbage = True
    response = client.get(f"/jobs/{uuid.uuid4()}")
    assert response.status_code == 500
    assert response.json() == {"error": "internal_error"}


# ----- GET /jobs ---------------------------------------------------------------------------------


def _all_pages(client: TestClient, **params: object) -> tuple[list[dict[str, Any]], int]:
    items: list[dict[str, Any]] = []
    cursor = None
    pages = 0
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = client.get("/jobs", params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        items.extend(body["items"])
        pages += 1
        cursor = body["nextCursor"]
        if cursor is None or pages > 20:
            return items, pages


def test_list_pages_through_every_job_once_newest_first(
    client: TestClient, fake: FakeDagster
) -> None:
    job_ids = [_submit(client) for _ in range(5)]
    # job 1 was re-executed: its newest run is now the newest run overall.
    old = fake.runs_for_job(job_ids[1])[0]
    fake.update_run(old["runId"], status="FAILURE")
    rerun = fake.add_run(job_id=job_ids[1], status="STARTED")
    fake.add_run(job_id=None, status="SUCCESS")  # a UI run without a job id is not a job

    items, pages = _all_pages(client, limit=2)

    assert [i["jobId"] for i in items] == [
        job_ids[1],
        job_ids[4],
        job_ids[3],
        job_ids[2],
        job_ids[0],
    ]
    assert items[0]["runId"] == rerun["runId"]
    assert items[0]["state"] == "running"
    assert pages == 3


def test_list_filters_by_state_using_the_job_view(client: TestClient, fake: FakeDagster) -> None:
    done, retrying, failed, queued = (_submit(client) for _ in range(4))
    fake.update_run(_only_run(fake, done), status="SUCCESS")
    fake.update_run(
        _only_run(fake, retrying), status="FAILURE", tags={"dagster/will_retry": "true"}
    )
    fake.update_run(_only_run(fake, failed), status="FAILURE", tags={"esl/error": "bad lesson"})

    def ids(state: str) -> list[str]:
        return [i["jobId"] for i in _all_pages(client, state=state, limit=1)[0]]

    assert ids("succeeded") == [done]
    assert ids("running") == [retrying]
    assert ids("failed") == [failed]
    assert ids("queued") == [queued]
    failed_item = _all_pages(client, state="failed")[0][0]
    assert failed_item["error"] == "bad lesson"


def test_list_of_nothing_is_empty(client: TestClient) -> None:
    assert client.get("/jobs").json() == {"items": [], "nextCursor": None}


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"state": "done"}, "invalid_state"),
        ({"limit": 0}, "invalid_limit"),
        ({"limit": 101}, "invalid_limit"),
        ({"limit": "x"}, "invalid_limit"),
        ({"cursor": "%%%"}, "invalid_cursor"),
        ({"cursor": "bm90LWEtcnVu"}, "invalid_cursor"),
        ({"cursor": "0"}, "invalid_cursor"),
        ({"cursor": str(uuid.uuid4()).upper()}, "invalid_cursor"),
        ({"stat": "queued"}, "unknown_query_parameter"),
    ],
)
def test_list_rejects_bad_parameters(client: TestClient, params: dict[str, Any], code: str) -> None:
    response = client.get("/jobs", params=params)
    assert response.status_code == 400
    assert response.json()["code"] == code


def test_the_cursor_of_a_run_that_no_longer_exists_ends_the_list(
    client: TestClient, fake: FakeDagster
) -> None:
    _submit(client)
    response = client.get("/jobs", params={"cursor": str(uuid.uuid4())})
    assert response.status_code == 200
    assert response.json() == {"items": [], "nextCursor": None}


def test_outcome_tags_inherited_from_a_parent_run_are_ignored(
    client: TestClient, fake: FakeDagster
) -> None:
    """A UI re-execution inherits the parent's tags; canceled before writing its own outcome, it
    must not report the parent's error or manifest."""
    job_id = str(uuid.uuid4())
    parent = fake.add_run(
        job_id=job_id,
        status="FAILURE",
        tags={"esl/error": "parent failure", "esl/manifest_path": "/old.manifest.json"},
        creation_time=time.time() - 60,
    )
    fake.add_run(
        job_id=job_id,
        status="CANCELED",
        tags={
            "esl/error": "parent failure",
            "esl/manifest_path": "/old.manifest.json",
            "esl/outcome_run_id": parent["runId"],
        },
    )
    body = client.get(f"/jobs/{job_id}").json()
    assert body["state"] == "failed"
    assert body["error"] == "canceled"
    assert body["manifestPath"] is None


def test_a_failure_without_its_own_error_reads_running_until_it_settles(
    client: TestClient, fake: FakeDagster
) -> None:
    """An infrastructure failure (no `esl/error` written by the run) is on its way to a retry or
    a relaunch: the job never reads `failed` and then `running` again, nor `queued` after
    `running`."""
    job_id = _submit(client)
    first = _only_run(fake, job_id)
    fake.update_run(first, status="STARTED", start_time=time.time() - 5)
    fake.update_run(first, status="FAILURE", end_time=time.time())
    assert client.get(f"/jobs/{job_id}").json()["state"] == "running"

    relaunch = fake.add_run(job_id=job_id, status="QUEUED")
    body = client.get(f"/jobs/{job_id}").json()
    assert (body["runId"], body["state"], body["attempts"]) == (relaunch["runId"], "running", 2)

    fake.update_run(relaunch["runId"], status="FAILURE", end_time=time.time() - FAILURE_SETTLE_S)
    body = client.get(f"/jobs/{job_id}").json()
    assert body["state"] == "failed"


def test_a_queued_retry_of_a_run_that_never_started_reads_running(
    client: TestClient, fake: FakeDagster
) -> None:
    """A run that failed before starting (lost at dequeue) read `running` while pending; its
    queued successor keeps reading `running`."""
    job_id = _submit(client)
    first = _only_run(fake, job_id)
    fake.update_run(first, status="FAILURE", end_time=time.time())
    assert client.get(f"/jobs/{job_id}").json()["state"] == "running"
    fake.add_run(job_id=job_id, status="QUEUED")
    assert client.get(f"/jobs/{job_id}").json()["state"] == "running"
