"""``/jobs`` end to end on the real stack (Postgres, Dagster webserver + daemon, the shim).

Every sample lesson is submitted over HTTP and polled to a terminal state; the results are checked
in the body of the contract, the manifest, the uploaded MP3 and the fake Notion's pages. Then, one
scenario at a time: a transient Notion fault retried by the op, a relaunch from the UI's GraphQL
mutation seen by the same job id, and two submissions of one lesson that never overlap.
"""

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from esl_dagster.pipeline.lesson.validator import validate_text
from tests.conftest import INVALID_LESSON, VALID_LESSONS
from tests.e2e.conftest import BUCKET, Services
from tests.e2e.real_stack import (
    LAUNCH_RUN_REEXECUTION,
    STATE_RANK,
    JobTrace,
    RealStack,
    poll_jobs,
    processes_with_marker,
)
from tests.fakes.notion_server import Seeded, seed_homework

pytestmark = pytest.mark.integration

# Bounded waits: a run costs about 2 s of CPU, and at most five run at once on two cores.
BATCH_DEADLINE_S = 120.0
SINGLE_DEADLINE_S = 60.0
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
CONTRACT_FIELDS = {
    "jobId",
    "state",
    "createdAt",
    "updatedAt",
    "startedAt",
    "finishedAt",
    "error",
    "manifestPath",
}
MP3_SYNC = (b"ID3", b"\xff\xfb", b"\xff\xf3", b"\xff\xf2", b"\xff\xe3")


@dataclass
class Batch:
    """Every sample lesson submitted at once, polled until all are terminal."""

    traces: dict[str, JobTrace]


def submit(stack: RealStack, body: dict[str, Any]) -> JobTrace:
    """``POST /jobs``, then at once a first ``GET`` so the trace starts before the run does."""
    with httpx.Client(base_url=stack.api_url, timeout=30.0) as client:
        response = client.post("/jobs", json=body)
        assert response.status_code == 202, response.text
        job_id = str(response.json()["jobId"])
        assert response.headers["location"].endswith(f"/jobs/{job_id}")
        trace = JobTrace(job_id, [])
        first = client.get(f"/jobs/{job_id}")
        assert first.status_code == 200, first.text
        trace.record(first.json())
    return trace


def finished(stack: RealStack, trace: JobTrace) -> dict[str, Any]:
    """The terminal body of ``trace``, or a failure that says what the stack was doing."""
    if not trace.terminal:
        pytest.fail(
            f"job {trace.job_id} not terminal in time; observed {trace.states}\n"
            f"{stack.diagnose(trace.job_id)}"
        )
    return trace.final


def poll(stack: RealStack, *traces: JobTrace) -> None:
    poll_jobs(stack.api_url, list(traces), timeout=SINGLE_DEADLINE_S)


def copy_lesson(workdir: Path, lesson: Path, prefix: str) -> str:
    """A copy of ``lesson`` under another name (its own lesson key and manifest); its ``md``."""
    name = f"{prefix}-{lesson.name}"
    shutil.copyfile(lesson, workdir / "lessons" / name)
    return f"./lessons/{name}"


def block_text(block: dict[str, Any]) -> str:
    payload = block[block["type"]]
    return "".join(item["text"]["content"] for item in payload.get("rich_text", []))


def step_attempts(run: dict[str, Any], step: str) -> int:
    stats = next(stat for stat in run["stepStats"] if stat["stepKey"] == step)
    return len(stats["attempts"])


def tag(run: dict[str, Any], key: str) -> str | None:
    return next((item["value"] for item in run["tags"] if item["key"] == key), None)


@pytest.fixture(scope="module")
def sample_batch(stack: RealStack) -> Batch:
    """All six samples at once, into the default database (``NOTION_DATABASE_ID``)."""
    lessons = [*VALID_LESSONS, INVALID_LESSON]
    traces = {
        lesson.name: submit(stack, {"md": f"./lessons/{lesson.name}", "withTts": True})
        for lesson in lessons
    }
    poll_jobs(stack.api_url, list(traces.values()), timeout=BATCH_DEADLINE_S)
    return Batch(traces)


def check_contract_body(body: dict[str, Any], job_id: str) -> None:
    assert CONTRACT_FIELDS <= body.keys(), body
    assert body["jobId"] == job_id
    assert body["state"] in STATE_RANK
    for field in ("createdAt", "updatedAt"):
        assert TIMESTAMP.match(body[field]), (field, body[field])
    for field in ("startedAt", "finishedAt"):
        assert body[field] is None or TIMESTAMP.match(body[field]), (field, body[field])
    if body["state"] == "queued":
        assert body["startedAt"] is None and body["finishedAt"] is None
    if body["state"] == "running":
        assert body["finishedAt"] is None
    if body["state"] in ("succeeded", "failed"):
        assert body["startedAt"] is not None and body["finishedAt"] is not None
        # Fixed-width UTC timestamps order like the instants they name.
        assert body["createdAt"] <= body["startedAt"] <= body["finishedAt"] <= body["updatedAt"]


def check_trace(trace: JobTrace, expected_end: str, *, surely_queued: bool = False) -> None:
    """queued -> running -> end, never backwards, every body in the contract's shape.

    The first GET follows the 202 within milliseconds, but the daemon may dequeue the run in
    between, so ``queued`` is required only where the queue surely held the run at that moment.
    """
    full = ["queued", "running", expected_end]
    assert trace.states == full or (not surely_queued and trace.states == full[1:]), trace.states
    for body in trace.bodies:
        check_contract_body(body, trace.job_id)
    assert len({body["createdAt"] for body in trace.bodies}) == 1


@pytest.mark.parametrize("lesson", VALID_LESSONS, ids=lambda path: path.stem)
def test_every_sample_lesson_succeeds_with_manifest_audio_and_page(
    lesson: Path, sample_batch: Batch, stack: RealStack, services: Services, workdir: Path
) -> None:
    body = finished(stack, sample_batch.traces[lesson.name])
    check_trace(sample_batch.traces[lesson.name], "succeeded")
    assert body["error"] is None

    manifest_path = Path(body["manifestPath"])
    assert manifest_path == workdir / "lessons" / f"{lesson.stem}.manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    assert manifest["jobId"] == body["jobId"] and manifest["runId"] == body["runId"]

    audio = manifest["audio"]
    mp3 = Path(audio["path"])
    data = mp3.read_bytes()
    assert mp3.suffix == ".mp3" and len(data) > 1000 and data.startswith(MP3_SYNC)
    uploaded = services.s3().get_object(Bucket=BUCKET, Key=audio["key"])["Body"].read()
    assert uploaded == data
    assert audio["url"] == f"{services.s3_url}/{BUCKET}/{audio['key']}"

    page = services.notion.page(manifest["pageId"])
    assert page["parent"]["data_source_id"] == services.default_seed.homework_ds
    blocks = services.notion.page_tree(manifest["pageId"])
    toggles = [
        i for i, b in enumerate(blocks) if b["type"] == "toggle" and block_text(b) == "study-text"
    ]
    assert len(toggles) == 1
    above = blocks[toggles[0] - 1]
    assert above["type"] == "audio" and above["audio"]["external"]["url"] == audio["url"]
    # The job resource tells the same results, read from Dagster's step stats and op metadata.
    assert body["md"] == str(workdir / "lessons" / lesson.name)
    assert (body["notionUrl"], body["audioUrl"]) == (manifest["pageUrl"], audio["url"])
    assert (body["attempts"], body["canceled"]) == (1, False)
    steps = {step["name"]: step["status"] for step in body["steps"]}
    assert steps == dict.fromkeys(steps, "succeeded"), steps
    # Ours is the only block carrying the lesson's MP3 (sample 05 also embeds other audio).
    ours = [
        b
        for b in blocks
        if b["type"] == "audio" and b["audio"]["external"] == above["audio"]["external"]
    ]
    assert ours == [above]


def test_the_batch_made_exactly_one_page_per_lesson(
    sample_batch: Batch, stack: RealStack, services: Services
) -> None:
    page_ids = set()
    for lesson in VALID_LESSONS:
        body = finished(stack, sample_batch.traces[lesson.name])
        manifest = json.loads(Path(body["manifestPath"]).read_text("utf-8"))
        page_ids.add(manifest["pageId"])
    assert len(page_ids) == len(VALID_LESSONS)
    assert services.notion.page_count(services.default_seed.homework_ds) == len(VALID_LESSONS)


def test_invalid_sample_fails_with_the_validator_message(
    sample_batch: Batch, stack: RealStack, services: Services, workdir: Path
) -> None:
    trace = sample_batch.traces[INVALID_LESSON.name]
    body = finished(stack, trace)
    check_trace(trace, "failed")
    # Exactly the validator's summary: "Validation failed:" and one "- <error>" line per error.
    expected = validate_text(INVALID_LESSON.read_text(encoding="utf-8"), strict=False)
    assert expected.errors and body["error"] == expected.error_summary()
    assert body["manifestPath"] is None
    assert not (workdir / "lessons" / f"{INVALID_LESSON.stem}.manifest.json").exists()
    (run,) = stack.runs_for_job(body["jobId"])
    assert run["status"] == "FAILURE"
    assert step_attempts(run, "validate_lesson") == 1  # an invalid lesson is never retried


@pytest.fixture
def own_database(stack: RealStack, services: Services) -> Seeded:
    """A fresh homework database, and a stack with no run in flight (faults are shared)."""
    stack.wait_idle(timeout=BATCH_DEADLINE_S)
    return seed_homework(services.notion)


def test_transient_notion_failures_are_retried_by_the_op(
    own_database: Seeded, stack: RealStack, services: Services, workdir: Path
) -> None:
    # NOTION_MAX_RETRIES=0 in the stack: the two 502s reach the op, whose RetryPolicy retries.
    fault = services.notion.add_fault(
        "bad_gateway", method="POST", path_regex="^/v1/pages$", times=2
    )
    md = copy_lesson(workdir, VALID_LESSONS[0], "retry")
    trace = submit(stack, {"md": md, "withTts": False, "notionDatabase": own_database.homework_db})
    poll(stack, trace)
    body = finished(stack, trace)
    check_trace(trace, "succeeded")
    assert fault.fired == 2
    (run,) = stack.runs_for_job(trace.job_id)
    assert step_attempts(run, "import_to_notion") == 3
    assert services.notion.page_count(own_database.homework_ds) == 1
    assert body["manifestPath"] is not None


def test_relaunch_from_the_ui_mutation_is_the_same_job(
    own_database: Seeded, stack: RealStack, services: Services, workdir: Path
) -> None:
    md = copy_lesson(workdir, VALID_LESSONS[1], "relaunch")
    submitted = submit(
        stack, {"md": md, "withTts": False, "notionDatabase": own_database.homework_db}
    )
    poll(stack, submitted)
    first = finished(stack, submitted)
    assert first["state"] == "succeeded"
    job_id = submitted.job_id

    result = stack.graphql(
        LAUNCH_RUN_REEXECUTION, {"parentRunId": first["runId"], "strategy": "ALL_STEPS"}
    )["launchRunReexecution"]
    assert result["__typename"] == "LaunchRunSuccess", result
    new_run_id = result["run"]["runId"]
    assert new_run_id != first["runId"]

    trace = JobTrace(job_id, [])
    poll(stack, trace)
    body = finished(stack, trace)
    assert body["runId"] == new_run_id and body["state"] == "succeeded"
    ranks = [STATE_RANK[state] for state in trace.states]
    assert ranks == sorted(ranks), trace.states
    for seen in trace.bodies:
        check_contract_body(seen, job_id)
        assert seen["runId"] == new_run_id
    # One job: its first start, and both runs counted.
    assert body["startedAt"] == first["startedAt"] and body["attempts"] == 2
    relaunched, original = stack.runs_for_job(job_id)
    assert [relaunched["runId"], original["runId"]] == [new_run_id, first["runId"]]
    # Re-executed by hand: the run list says so, and its outcome tag is marked as its own.
    assert tag(relaunched, "esl/source") == "ui" and tag(original, "esl/source") == "api"
    assert tag(relaunched, "esl/outcome_run_id") == new_run_id
    assert tag(original, "esl/outcome_run_id") is None
    # The relaunch updated the page recorded in the manifest instead of creating another.
    assert services.notion.page_count(own_database.homework_ds) == 1


def test_two_submissions_of_one_lesson_never_run_at_once(
    own_database: Seeded, stack: RealStack, services: Services, workdir: Path
) -> None:
    md = copy_lesson(workdir, VALID_LESSONS[2], "twice")
    body = {"md": md, "withTts": False, "notionDatabase": own_database.homework_db}
    traces = [submit(stack, body), submit(stack, body)]
    poll(stack, *traces)
    for trace in traces:
        finished(stack, trace)
    runs = [stack.runs_for_job(trace.job_id)[0] for trace in traces]
    # The lesson key that serializes them is hidden from GraphQL; the lesson tag is visible.
    assert tag(runs[0], "esl/lesson") == tag(runs[1], "esl/lesson") == md.removeprefix("./")
    assert tag(runs[0], ".dagster/esl.lesson_key") is None  # hidden by Dagster's convention
    (earlier, earlier_trace), (later, later_trace) = sorted(
        zip(runs, traces, strict=True), key=lambda pair: pair[0]["startTime"]
    )
    assert earlier["endTime"] <= later["startTime"], (earlier, later)
    check_trace(earlier_trace, "succeeded")
    # The later run waited in the queue for the whole earlier run: it was surely seen queued.
    check_trace(later_trace, "succeeded", surely_queued=True)
    assert services.notion.page_count(own_database.homework_ds) == 1


def test_a_job_canceled_in_the_queue_never_started(
    own_database: Seeded, stack: RealStack, workdir: Path
) -> None:
    """The second submission of a lesson waits in the queue (one run per lesson at a time)."""
    md = copy_lesson(workdir, VALID_LESSONS[0], "cancel")
    body = {"md": md, "withTts": False, "notionDatabase": own_database.homework_db}
    first, second = submit(stack, body), submit(stack, body)
    with httpx.Client(base_url=stack.api_url, timeout=30.0) as client:
        response = client.post(f"/jobs/{second.job_id}/cancel")
        assert response.status_code == 202, response.text
        poll(stack, first, second)
        canceled = client.get(f"/jobs/{second.job_id}").json()
    assert finished(stack, first)["state"] == "succeeded"
    assert (canceled["state"], canceled["canceled"], canceled["error"]) == (
        "failed",
        True,
        "canceled",
    )
    assert canceled["startedAt"] is None and canceled["finishedAt"] is not None
    assert {step["status"] for step in canceled["steps"]} == {"skipped"}


def test_the_orphan_check_sees_every_stack_process(stack: RealStack) -> None:
    """The stop's orphan check finds processes by the marker: here the webserver, the daemon,
    their code servers and uvicorn (so an empty list after the stop means none survived)."""
    pids = processes_with_marker(stack.marker)
    leaders = {proc.process.pid for proc in stack.procs if proc.process is not None}
    assert leaders <= set(pids) and len(pids) >= len(leaders) + 2, (pids, leaders)
