"""`GET /jobs/events` against the fake Dagster GraphQL endpoint, served by a real uvicorn.

Replay is checked across app instances (a restarted shim or another replica): the id alone must
say what was delivered, because the events are re-derived from Dagster's run records."""

import functools
import signal
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from graphql import build_schema, parse, validate

from api_shim.core.config import Settings
from api_shim.dagster_gateway import DagsterRun
from api_shim.event_source import RECENT_RUNS, job_histories_document
from api_shim.job_events import StreamPosition, job_events
from api_shim.main import create_app
from tests.api.sse import SseEvent, read_events, serve, shim_process, take_events
from tests.fakes.dagster_graphql import SDL, FakeDagster


@pytest.fixture
def settings(fake: FakeDagster, tmp_path: Any) -> Settings:
    return Settings(
        dagster_graphql_url=fake.url,
        pipeline_cwd=tmp_path,
        idempotency_db=tmp_path / "idempotency.sqlite3",
        api_keys=[],
        lesson_roots=[],
        events_poll_s=0.05,
        events_heartbeat_s=5.0,
    )


@pytest.fixture
def base_url(settings: Settings) -> Iterator[str]:
    with serve(create_app(settings)) as url:
        yield url


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=httpx.Timeout(10.0), trust_env=False) as client:
        yield client


def _finished_job(fake: FakeDagster) -> str:
    """A job whose run started, ran validate and import, and succeeded (7 events in all)."""
    job_id = str(uuid.uuid4())
    t = time.time() - 60
    run = fake.add_run(job_id=job_id, status="SUCCESS", creation_time=t)
    fake.set_step(run["runId"], "validate_lesson", "SUCCESS", start_time=t + 2, end_time=t + 3)
    fake.set_step(run["runId"], "import_to_notion", "SUCCESS", start_time=t + 3, end_time=t + 5)
    fake.update_run(run["runId"], start_time=t + 1, end_time=t + 6)
    return job_id


def _summary(events: list[SseEvent]) -> list[tuple[str, str, str | None, str | None]]:
    return [
        (
            e.kind,
            e.data["change"]["state"],
            e.data["change"]["step"],
            e.data["change"]["stepStatus"],
        )
        for e in events
    ]


def test_a_job_history_then_live_changes(
    fake: FakeDagster, base_url: str, http: httpx.Client
) -> None:
    job_id = str(uuid.uuid4())
    t = time.time()
    run = fake.add_run(job_id=job_id, status="STARTED", creation_time=t - 2)
    fake.update_run(run["runId"], start_time=t - 1)
    fake.set_step(run["runId"], "validate_lesson", "IN_PROGRESS", start_time=t - 0.5)
    url = f"{base_url}/jobs/events?jobId={job_id}"
    with http.stream("GET", url) as response:
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-cache"
        events = read_events(response.iter_lines())
        first = [next(events) for _ in range(3)]
        fake.set_step(run["runId"], "validate_lesson", "SUCCESS", start_time=t - 0.5, end_time=t)
        fake.update_run(run["runId"], status="SUCCESS", end_time=t + 0.1)
        rest = [next(events) for _ in range(2)]
    assert _summary(first + rest) == [
        ("job_created", "queued", None, None),
        ("job_state_changed", "running", None, None),
        ("job_step_changed", "running", "validate", "running"),
        ("job_step_changed", "running", "validate", "succeeded"),
        ("job_state_changed", "succeeded", None, None),
    ]
    assert all(e.data["jobId"] == job_id for e in first + rest)
    assert rest[-1].data["state"] == "succeeded"  # data is the job resource as of delivery
    assert len({e.event_id for e in first + rest}) == 5


def test_a_stream_survives_dagster_going_away(
    fake: FakeDagster, base_url: str, http: httpx.Client
) -> None:
    job_id = str(uuid.uuid4())
    run = fake.add_run(job_id=job_id, status="QUEUED")
    with http.stream("GET", f"{base_url}/jobs/events?jobId={job_id}") as response:
        events = read_events(response.iter_lines())
        assert next(events).kind == "job_created"
        with fake.down():
            time.sleep(0.3)  # several failed polls
            fake.update_run(run["runId"], status="STARTED", start_time=time.time())
        resumed = next(events)
    assert (resumed.kind, resumed.data["state"]) == ("job_state_changed", "running")


def test_last_event_id_replays_exactly_the_missed_events_on_another_instance(
    fake: FakeDagster, settings: Settings, base_url: str, http: httpx.Client
) -> None:
    jobs = [_finished_job(fake), _finished_job(fake)]
    url = f"{base_url}/jobs/events?jobId={','.join(jobs)}"
    full = take_events(http, url, 14)
    assert sorted(e.data["jobId"] for e in full) == sorted(jobs * 7)
    with serve(create_app(settings)) as other:
        for cut in (1, 6, 13):
            header = {"Last-Event-ID": str(full[cut - 1].event_id)}
            replay = take_events(
                http, f"{other}/jobs/events?jobId={','.join(jobs)}", 14 - cut, headers=header
            )
            assert [e.event_id for e in replay] == [e.event_id for e in full[cut:]]
        query = f"{other}/jobs/events?jobId={','.join(jobs)}&lastEventId={full[9].event_id}"
        assert [e.event_id for e in take_events(http, query, 4)] == [e.event_id for e in full[10:]]


def test_a_star_stream_sees_new_jobs_only(
    fake: FakeDagster, base_url: str, http: httpx.Client
) -> None:
    _finished_job(fake)
    with http.stream("GET", f"{base_url}/jobs/events?jobId=*") as response:
        events = read_events(response.iter_lines())
        time.sleep(0.3)
        job_id = str(uuid.uuid4())
        fake.add_run(job_id=job_id, status="QUEUED")
        created = next(events)
    assert created.kind == "job_created"
    assert created.data["jobId"] == job_id
    assert created.data["state"] == "queued"


def test_a_star_stream_resumes_on_another_instance(
    fake: FakeDagster, settings: Settings, base_url: str, http: httpx.Client
) -> None:
    with http.stream("GET", f"{base_url}/jobs/events?jobId=*") as response:
        events = read_events(response.iter_lines())
        time.sleep(0.3)
        first_job = str(uuid.uuid4())
        run = fake.add_run(job_id=first_job, status="QUEUED")
        seen = next(events)
    assert (seen.kind, seen.data["jobId"]) == ("job_created", first_job)
    # While the client is away: the first job starts, a second job is created.
    fake.update_run(run["runId"], status="STARTED", start_time=time.time())
    second_job = str(uuid.uuid4())
    fake.add_run(job_id=second_job, status="QUEUED")
    with serve(create_app(settings)) as other:
        missed = take_events(
            http, f"{other}/jobs/events?jobId=*", 2, headers={"Last-Event-ID": str(seen.event_id)}
        )
    assert [(e.kind, e.data["jobId"]) for e in missed] == [
        ("job_state_changed", first_job),
        ("job_created", second_job),
    ]


def test_a_heartbeat_comment_when_nothing_happens(
    fake: FakeDagster, settings: Settings, http: httpx.Client
) -> None:
    quiet = settings.model_copy(update={"events_heartbeat_s": 0.2})
    comments: list[str] = []
    with serve(create_app(quiet)) as url:
        job_id = _finished_job(fake)
        take_events(http, f"{url}/jobs/events?jobId={job_id}", 7, comments=comments)
        with http.stream("GET", f"{url}/jobs/events?jobId=*") as response:
            lines = response.iter_lines()
            while "heartbeat" not in comments:
                line = next(lines)
                if line.startswith(":"):
                    comments.append(line[1:].strip())
    assert "heartbeat" in comments


def test_bad_requests_get_specific_codes(base_url: str, http: httpx.Client) -> None:
    job = str(uuid.uuid4())
    cases = {
        f"/jobs/events?jobId={job},nope": "invalid_job_id",
        "/jobs/events?jobId=" + ",".join(str(uuid.uuid4()) for _ in range(51)): "too_many_job_ids",
        f"/jobs/events?jobId={job}&lastEventId=v2.x": "invalid_last_event_id",
        "/jobs/events": "invalid_job_id",
    }
    for path, code in cases.items():
        response = http.get(base_url + path)
        assert (response.status_code, response.json()["code"]) == (400, code), path


def test_streams_beyond_the_cap_get_503(
    fake: FakeDagster, settings: Settings, http: httpx.Client
) -> None:
    capped = settings.model_copy(update={"events_max_streams": 1})
    job_id = _finished_job(fake)
    with serve(create_app(capped)) as url:
        with http.stream("GET", f"{url}/jobs/events?jobId={job_id}") as first:
            assert first.status_code == 200
            second = http.get(f"{url}/jobs/events?jobId={job_id}")
            assert (second.status_code, second.json()["code"]) == (503, "too_many_streams")
            assert second.headers["retry-after"]
        # The closed stream's slot is free again (the server notices the disconnect).
        deadline = time.monotonic() + 10
        while (status := _status(http, f"{url}/jobs/events?jobId={job_id}")) == 503:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert status == 200


def _status(http: httpx.Client, url: str) -> int:
    with http.stream("GET", url) as response:
        return response.status_code


def test_the_key_goes_in_the_header_or_access_token(
    fake: FakeDagster, settings: Settings, http: httpx.Client
) -> None:
    keyed = settings.model_copy(update={"api_keys": ["k-events-123"]})
    job_id = _finished_job(fake)
    with serve(create_app(keyed)) as url:
        stream = f"{url}/jobs/events?jobId={job_id}"
        assert http.get(stream).status_code == 401
        assert http.get(stream + "&access_token=wrong").status_code == 401
        assert len(take_events(http, stream + "&access_token=k-events-123", 1)) == 1
        header = {"Authorization": "Bearer k-events-123"}
        assert len(take_events(http, stream, 1, headers=header)) == 1


def test_sigterm_ends_open_streams_so_the_server_stops(fake: FakeDagster, tmp_path: Any) -> None:
    job_id = _finished_job(fake)
    # A long poll interval: the stream must end on the signal, not on the next poll.
    with shim_process(fake.url, tmp_path, {"ESL_EVENTS_POLL_INTERVAL": "60"}) as (base, process):
        with httpx.stream("GET", f"{base}/jobs/events?jobId={job_id}", timeout=10.0) as response:
            lines = response.iter_lines()
            assert next(read_events(lines)).kind == "job_created"
            process.send_signal(signal.SIGTERM)
            # The server ends the stream at once (else this read runs into the 10 s timeout).
            list(lines)
        # uvicorn shuts down gracefully, then re-raises the signal it caught.
        assert process.wait(timeout=20) in (0, -signal.SIGTERM)


def test_position_ids_round_trip_and_forget_old_jobs() -> None:
    jobs = [str(uuid.uuid4()) for _ in range(3)]
    position = StreamPosition(1_700_000_000_000, {jobs[0]: 3, jobs[1]: 12})
    assert StreamPosition.decode(position.encode()) == position
    with pytest.raises(ValueError):
        StreamPosition.decode(position.encode() + ".x")


def _run(status: str, created: float, **fields: Any) -> DagsterRun:
    tags = [{"key": k, "value": v} for k, v in fields.pop("tags", {}).items()]
    raw = {"runId": str(uuid.uuid4()), "status": status, "creationTime": created, "tags": tags}
    steps = fields.pop("steps", [])
    return DagsterRun.model_validate(raw | fields | {"stepStats": steps})


def test_a_retried_job_reads_running_until_its_retry_ends() -> None:
    failed = _run(
        "FAILURE",
        100.0,
        startTime=101.0,
        endTime=104.0,
        tags={"dagster/will_retry": "true"},
        steps=[
            {
                "stepKey": "validate_lesson",
                "status": "FAILURE",
                "startTime": 102.0,
                "endTime": 103.0,
            }
        ],
    )
    retry = _run("SUCCESS", 110.0, startTime=111.0, endTime=115.0)
    kinds = [(e.kind, e.state, e.step, e.step_status) for e in job_events([retry, failed])]
    assert kinds == [
        ("job_created", "queued", None, None),
        ("job_state_changed", "running", None, None),
        ("job_step_changed", "running", "validate", "running"),
        ("job_step_changed", "running", "validate", "failed"),
        ("job_state_changed", "queued", None, None),
        ("job_state_changed", "running", None, None),
        ("job_state_changed", "succeeded", None, None),
    ]


def test_a_star_position_forgets_jobs_below_its_watermark() -> None:
    old, recent = str(uuid.uuid4()), str(uuid.uuid4())
    histories = {
        old: job_events([_run("SUCCESS", 10.0, startTime=11.0, endTime=12.0)]),
        recent: job_events([_run("STARTED", 50.0, startTime=51.0)]),
    }
    position = StreamPosition(5_000, {old: 3, recent: 2})
    position.advance(40_000, histories)
    assert position == StreamPosition(40_000, {recent: 2})
    assert position.owed_from(old, histories[old]) == 3  # nothing at or after the watermark


@functools.cache
def _real_schema() -> Any:
    from dagster_graphql.schema import create_schema  # tests may import dagster; the shim may not

    return build_schema(str(create_schema()))


@pytest.mark.parametrize("document", [RECENT_RUNS, job_histories_document(2)])
def test_documents_are_valid_for_real_dagster_and_the_fake(document: str) -> None:
    assert validate(_real_schema(), parse(document)) == []
    assert validate(build_schema(SDL), parse(document)) == []
