"""The HTTP side of ``esl submit``: upload, submit, read and follow jobs of a remote ``/jobs`` API.

Speaks the API's contract only (no server code is imported):

- ``POST /uploads`` (multipart field ``file``) answers ``201 {"md", "sha256", "bytes",
  "validation"}``;
- ``POST /jobs {"md", "withTts"}`` answers ``202 {"jobId"}``;
- ``GET /jobs/{id}`` answers the job resource (``state``, ``steps``, ``notionUrl``, ``error``);
- ``GET /jobs/events?jobId=a,b`` is a ``text/event-stream`` of ``job_created``,
  ``job_state_changed`` and ``job_step_changed`` events whose ``data`` is the job resource and
  whose ``id`` resumes the stream (``Last-Event-ID``).
"""

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

JOB_EVENTS = frozenset({"job_created", "job_state_changed", "job_step_changed"})
# A stream route that is missing or not implemented: follow by polling instead.
NO_STREAM_STATUSES = frozenset({404, 405, 501})


class ApiError(Exception):
    """The API refused a request or could not be reached; ``str()`` is one line for the user."""


class StreamUnavailable(Exception):
    """The API has no event stream (``404``/``405``/``501``)."""


@dataclass(frozen=True)
class JobEvent:
    event_id: str | None
    kind: str
    job: dict[str, Any]


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    if isinstance(body, dict):
        detail = body.get("message") or body.get("error")
        code = body.get("code")
        if detail:
            return f"HTTP {response.status_code}: {detail}" + (f" ({code})" if code else "")
    return f"HTTP {response.status_code}"


class JobsApi:
    """A small synchronous client; every method raises `ApiError` with a one-line reason."""

    def __init__(self, base_url: str, *, api_key: str | None, timeout_s: float = 30.0) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=timeout_s, trust_env=False
        )

    def close(self) -> None:
        self._client.close()

    def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._client.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise ApiError(f"cannot reach the API at {self.base_url}: {exc}") from exc

    def upload(self, path: Path) -> str:
        """Upload one lesson; the server's ``md`` for it."""
        files = {"file": (path.name, path.read_bytes(), "text/markdown")}
        response = self._request("POST", "/uploads", files=files)
        if response.status_code != 201:
            raise ApiError(f"upload refused: {_error_text(response)}")
        return str(response.json()["md"])

    def submit(self, md: str, *, with_tts: bool) -> str:
        response = self._request("POST", "/jobs", json={"md": md, "withTts": with_tts})
        if response.status_code != 202:
            raise ApiError(f"submission refused: {_error_text(response)}")
        return str(response.json()["jobId"])

    def job(self, job_id: str) -> dict[str, Any]:
        response = self._request("GET", f"/jobs/{job_id}")
        if response.status_code != 200:
            raise ApiError(f"job {job_id}: {_error_text(response)}")
        body: dict[str, Any] = response.json()
        return body

    def events(self, job_ids: Sequence[str], last_event_id: str | None) -> Iterator[JobEvent]:
        """The job events after ``last_event_id``, until the server closes the stream.

        Raises `StreamUnavailable` when the API has no stream, `httpx.HTTPError` when the
        connection fails or breaks (the caller reconnects with the last id it saw).
        """
        headers = {"Accept": "text/event-stream"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        params = {"jobId": ",".join(job_ids)}
        timeout = httpx.Timeout(10.0, read=90.0)  # heartbeats come every 25 s
        with self._client.stream(
            "GET", "/jobs/events", params=params, headers=headers, timeout=timeout
        ) as response:
            if response.status_code in NO_STREAM_STATUSES:
                raise StreamUnavailable(str(response.status_code))
            if response.status_code != 200:
                response.read()
                raise ApiError(f"event stream refused: {_error_text(response)}")
            yield from parse_sse(response.iter_lines())


def parse_sse(lines: Iterator[str]) -> Iterator[JobEvent]:
    """Server-sent events (the WHATWG format) to job events; comments and others are skipped."""
    event_id: str | None = None
    kind = "message"
    data: list[str] = []
    for raw in lines:
        line = raw.rstrip("\r")
        if not line:
            if data and kind in JOB_EVENTS:
                yield JobEvent(event_id, kind, json.loads("\n".join(data)))
            kind, data = "message", []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "id":
            event_id = value
        elif field == "event":
            kind = value
        elif field == "data":
            data.append(value)
