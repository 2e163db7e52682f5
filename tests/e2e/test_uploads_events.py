"""A remote client's path on the real stack: upload a lesson (`POST /uploads`), submit the returned
`md`, follow the job on `GET /jobs/events`, drop the connection mid-way and resume it with
`Last-Event-ID`: the resumed stream continues with exactly the next event (no gap, no duplicate),
as a fresh stream of the whole history confirms."""

import uuid
from pathlib import Path

import httpx
import pytest

from tests.api.sse import SseEvent, read_events, take_events
from tests.conftest import VALID_LESSONS
from tests.e2e.real_stack import RealStack

pytestmark = pytest.mark.integration

STREAM_TIMEOUT_S = 90.0
KEPT_BEFORE_DISCONNECT = 3
STAGES = ("validate", "import", "colorize", "tts", "upload", "add-audio", "manifest")


def _until_terminal(client: httpx.Client, url: str, headers: dict[str, str]) -> list[SseEvent]:
    events: list[SseEvent] = []
    with client.stream("GET", url, headers=headers) as response:
        assert response.status_code == 200, response.read()
        for event in read_events(response.iter_lines()):
            events.append(event)
            if event.kind == "job_state_changed" and event.data["change"]["state"] in (
                "succeeded",
                "failed",
            ):
                return events
    raise AssertionError(f"stream ended before the job did: {[e.kind for e in events]}")


def test_upload_submit_follow_and_resume(stack: RealStack, workdir: Path) -> None:
    lesson = VALID_LESSONS[1].read_bytes() + f"\n<!-- e2e upload {uuid.uuid4()} -->\n".encode()
    timeout = httpx.Timeout(STREAM_TIMEOUT_S, connect=10.0)
    with httpx.Client(base_url=stack.api_url, timeout=timeout, trust_env=False) as client:
        uploaded = client.post("/uploads", files={"file": ("podcast.md", lesson, "text/markdown")})
        assert uploaded.status_code == 201, uploaded.text
        body = uploaded.json()
        assert body["validation"]["ok"] is True
        assert (workdir / body["md"]).read_bytes() == lesson

        submitted = client.post("/jobs", json={"md": body["md"], "withTts": False})
        assert submitted.status_code == 202, submitted.text
        job_id = submitted.json()["jobId"]
        url = f"/jobs/events?jobId={job_id}"

        before = take_events(client, url, KEPT_BEFORE_DISCONNECT)
        resumed = _until_terminal(client, url, {"Last-Event-ID": str(before[-1].event_id)})
        history = _until_terminal(client, url, {})

    assert [e.event_id for e in before + resumed] == [e.event_id for e in history]
    assert history[0].kind == "job_created"
    final = history[-1].data
    assert (final["jobId"], final["state"], final["error"]) == (job_id, "succeeded", None)
    assert final["manifestPath"]
    finished_steps = [
        e.data["change"]["step"]
        for e in history
        if e.kind == "job_step_changed" and e.data["change"]["stepStatus"] == "succeeded"
    ]
    assert finished_steps == list(STAGES)
