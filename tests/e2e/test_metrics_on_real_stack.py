"""`/metrics` on the real stack: a job run by a separate run worker shows up in the shim's job and
stage metrics with the values Dagster and the fake ElevenLabs recorded.

The figures are cumulative over the stack's life, so the test compares a scrape taken while the
stack is idle with one taken after the job, and reads the expected differences from the run's
own records (its tags and step stats over GraphQL) and from the requests the fake received.
"""

import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import Services
from tests.e2e.real_stack import RealStack, poll_jobs
from tests.e2e.test_jobs_on_real_stack import finished, submit
from tests.fakes.elevenlabs_server import Fault

pytestmark = pytest.mark.integration

LESSON = "./lessons/03-dialogue-two-speakers-flat-viewing.md"
STAGES = {
    "validate_lesson": "validate",
    "import_to_notion": "import",
    "colorize_page": "colorize",
    "synthesize_audio": "tts",
    "upload_audio": "upload",
    "attach_audio": "add-audio",
    "write_manifest": "manifest",
}
RUN_RECORDS = """
query JobRun($value: String!) {
  runsOrError(filter: {tags: [{key: "esl/job_id", value: $value}]}) {
    ... on Runs {
      results {
        creationTime startTime endTime tags { key value }
        stepStats { stepKey status startTime endTime }
      }
    }
  }
}
"""
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def fresh_scrape(stack: RealStack, after: float, timeout: float = 30.0) -> Samples:
    """A scrape whose job metrics were refreshed from Dagster after `after` (Unix time)."""
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=stack.api_url, timeout=10.0) as client:
        while True:
            text = client.get("/metrics").text
            samples = {
                (s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(text)
                for s in family.samples
            }
            if samples.get(("esl_job_metrics_refresh_timestamp_seconds", ()), 0.0) > after:
                return samples
            if time.monotonic() > deadline:
                pytest.fail(f"job metrics not refreshed after {after}:\n{text[-2000:]}")
            time.sleep(0.5)


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


def unique_lesson(workdir: Path) -> str:
    """A copy of the dialogue lesson whose first study line is new, so its audio is a new object
    (an upload of bytes another test already stored is not counted as an upload)."""
    text = (workdir / LESSON).read_text(encoding="utf-8")
    start = text.index("\n", text.index(":::study-text")) + 1
    end = text.index("\n", start)
    token = uuid.uuid4().hex[:8]
    copy = f"./lessons/metrics-{token}.md"
    changed = f"{text[:end]} Reference {token}.{text[end:]}"
    (workdir / copy).write_text(changed, encoding="utf-8")
    return copy


def test_a_job_and_its_stages_appear_in_the_metrics(
    stack: RealStack, services: Services, workdir: Path
) -> None:
    lesson = unique_lesson(workdir)
    stack.wait_idle(90.0)
    before = fresh_scrape(stack, time.time())
    eleven = services.elevenlabs.state
    first_request = len(eleven.requests)
    services.elevenlabs.add_fault(
        Fault(status=429, times=1, retry_after="0", path_regex="^/v1/text-to")
    )
    trace = submit(stack, {"md": lesson, "withTts": True, "forceTts": True, "upload": "s3"})
    poll_jobs(stack.api_url, [trace], timeout=90.0)
    body = finished(stack, trace)
    assert body["state"] == "succeeded", body
    after = fresh_scrape(stack, time.time())

    (run,) = stack.graphql(RUN_RECORDS, {"value": trace.job_id})["runsOrError"]["results"]
    tags = {tag["key"]: tag["value"] for tag in run["tags"]}
    submitted = datetime.fromisoformat(tags["esl/submitted_at"]).timestamp()
    assert delta(before, after, "esl_job_duration_seconds_count", outcome="succeeded") == 1
    assert delta(before, after, "esl_job_duration_seconds_sum", outcome="succeeded") == (
        pytest.approx(run["endTime"] - submitted, abs=1e-3)
    )
    assert delta(before, after, "esl_job_queue_wait_seconds_sum") == pytest.approx(
        run["startTime"] - run["creationTime"], abs=1e-3
    )
    for step in run["stepStats"]:
        stage = STAGES[step["stepKey"]]
        counted = sum(
            delta(before, after, "esl_stage_duration_seconds_count", stage=stage, outcome=o)
            for o in ("success", "skipped")
        )
        assert counted == 1, stage
    tts_sum = delta(before, after, "esl_stage_duration_seconds_sum", stage="tts", outcome="success")
    (tts_step,) = [s for s in run["stepStats"] if s["stepKey"] == "synthesize_audio"]
    assert tts_sum == pytest.approx(tts_step["endTime"] - tts_step["startTime"], abs=1e-3)

    spoken = [r for r in eleven.requests[first_request:] if r.path.startswith("/v1/text-to")]
    assert len(spoken) >= 2  # the 429 and its retry at least
    characters = sum(_characters(r.body) for r in spoken[1:])  # the first one was refused
    assert delta(before, after, "esl_tts_characters_total", provider="elevenlabs") == characters
    assert (
        delta(before, after, "esl_external_requests_total", service="elevenlabs", status="429") == 1
    )
    assert (
        delta(before, after, "esl_external_requests_total", service="elevenlabs", status="200")
        == len(spoken) - 1
    )
    assert delta(before, after, "esl_external_retries_total", service="elevenlabs") == 1
    assert delta(before, after, "esl_uploads_total", target="s3") == 1
    assert delta(before, after, "esl_external_requests_total", service="notion", status="200") > 0
    assert after[("esl_jobs", (("state", "queued"),))] == 0


def _characters(body: Any) -> int:
    if "inputs" in body:
        return sum(len(item["text"]) for item in body["inputs"])
    return len(body["text"])
