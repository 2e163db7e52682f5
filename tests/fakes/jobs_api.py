"""A fake `/jobs` API on 127.0.0.1 for testing API clients (`esl submit`) over real HTTP.

It speaks the API's contract: `POST /uploads` (multipart/form-data, one file under `file`) ->
`201 {"md", "sha256", "bytes", "validation"}`; `POST /jobs {"md", "withTts"}` -> `202 {"jobId"}`;
`GET /jobs/{id}` -> the job resource (`state`, `steps`, `notionUrl`, `error`, ...); and
`GET /jobs/events?jobId=a,b` -> `text/event-stream` with `job_created`, `job_state_changed` and
`job_step_changed` events (`id:` on each; `Last-Event-ID` header or `lastEventId` query replays
exactly the missed ones) and comment heartbeats. Bearer auth when `api_key` is set.

Jobs advance by themselves, one stage per `step_s`; a lesson whose name contains `fail` fails in
its import stage. Knobs: `events_status` (answer the stream route with this status, e.g. 404),
`drop_stream_after` (close the first stream abruptly after that many events); `events_status` 200
answers an empty stream.
"""

import contextlib
import copy
import hashlib
import json
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

STAGES = ("validate", "import", "colorize", "tts", "upload", "add-audio", "manifest")
TTS_STAGES = frozenset({"tts", "upload", "add-audio"})
HEARTBEAT_S = 0.2


@dataclass(frozen=True)
class Event:
    event_id: int
    kind: str
    job_id: str
    job: dict[str, Any]


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


class _Server(ThreadingHTTPServer):
    daemon_threads = True


class FakeJobsApi:
    """Thread-safe in-memory jobs with a real HTTP front; `start()`/`stop()` or a `with` block."""

    def __init__(self, *, api_key: str | None = None, step_s: float = 0.05) -> None:
        self.api_key = api_key
        self.step_s = step_s
        self.events_status: int | None = None
        self.drop_stream_after: int | None = None
        self.jobs: dict[str, dict[str, Any]] = {}
        self.uploads: dict[str, bytes] = {}
        self.events: list[Event] = []
        self.stream_requests: list[dict[str, str | None]] = []
        self.streamed_ids: list[int] = []  # every event id written to any stream, in order
        self.job_requests: list[str] = []
        self.submissions: list[dict[str, Any]] = []
        self._cond = threading.Condition()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._threads: list[threading.Thread] = []

    # ----- lifecycle -------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> "FakeJobsApi":
        self._server = _Server(("127.0.0.1", 0), self._handler_class())
        self._threads = [
            threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}),
            threading.Thread(target=self._advance_forever),
        ]
        for thread in self._threads:
            thread.daemon = True
            thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> "FakeJobsApi":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----- the job script ----------------------------------------------------------------------
    def _emit(self, kind: str, job: dict[str, Any]) -> None:
        """Record an event (caller holds the condition's lock)."""
        event = Event(len(self.events) + 1, kind, job["jobId"], copy.deepcopy(job))
        self.events.append(event)
        self._cond.notify_all()

    def _create(self, md: str, with_tts: bool) -> str:
        job_id = str(uuid.uuid4())
        steps = [
            {"name": name, "status": "pending", "startedAt": None, "finishedAt": None}
            for name in STAGES
        ]
        job = {
            "jobId": job_id,
            "state": "queued",
            "createdAt": _now(),
            "updatedAt": _now(),
            "startedAt": None,
            "finishedAt": None,
            "error": None,
            "manifestPath": None,
            "md": md,
            "withTts": with_tts,
            "notionUrl": None,
            "steps": steps,
        }
        with self._cond:
            self.jobs[job_id] = job
            self._emit("job_created", job)
        return job_id

    def _advance(self, job: dict[str, Any]) -> None:
        """One tick of one job: start it, or finish its running stage and start the next."""
        if job["state"] == "queued":
            job.update(state="running", startedAt=_now(), updatedAt=_now())
            self._emit("job_state_changed", job)
            return
        steps = job["steps"]
        running = next((s for s in steps if s["status"] == "running"), None)
        if running is not None:
            failing = running["name"] == "import" and "fail" in job["md"]
            running.update(status="failed" if failing else "succeeded", finishedAt=_now())
            if failing:
                job.update(state="failed", error="import: Notion answered 400 (fake)")
                job.update(finishedAt=_now(), updatedAt=_now())
                self._emit("job_state_changed", job)
                return
        upcoming = next((s for s in steps if s["status"] == "pending"), None)
        if upcoming is None:
            slug = hashlib.sha256(job["jobId"].encode()).hexdigest()[:32]
            job.update(state="succeeded", notionUrl=f"https://www.notion.so/{slug}")
            job.update(finishedAt=_now(), updatedAt=_now())
            self._emit("job_state_changed", job)
            return
        skipped = upcoming["name"] in TTS_STAGES and not job["withTts"]
        upcoming.update(status="skipped" if skipped else "running", startedAt=_now())
        job["updatedAt"] = _now()
        self._emit("job_step_changed", job)

    def _advance_forever(self) -> None:
        while not self._stopping.wait(self.step_s):
            with self._cond:
                for job in self.jobs.values():
                    if job["state"] not in ("succeeded", "failed"):
                        self._advance(job)

    # ----- HTTP --------------------------------------------------------------------------------
    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _send_json(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _authorized(self) -> bool:
                if fake.api_key is None:
                    return True
                if self.headers.get("Authorization") == f"Bearer {fake.api_key}":
                    return True
                self._send_json(401, {"error": "unauthorized", "code": "invalid_api_key"})
                return False

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if not self._authorized():
                    return
                path = urlsplit(self.path).path
                if path == "/uploads":
                    self._send_json(*fake.upload(self.headers.get("Content-Type", ""), body))
                elif path == "/jobs":
                    self._send_json(*fake.submit(body))
                else:
                    self._send_json(404, {"error": "not_found"})

            def do_GET(self) -> None:
                if not self._authorized():
                    return
                url = urlsplit(self.path)
                if url.path == "/jobs/events":
                    fake.stream(self, parse_qs(url.query))
                    return
                job_id = url.path.removeprefix("/jobs/")
                with fake._cond:
                    fake.job_requests.append(job_id)
                    job = copy.deepcopy(fake.jobs.get(job_id))
                if job is None:
                    self._send_json(404, {"error": "not_found"})
                else:
                    self._send_json(200, job)

        return Handler

    def upload(self, content_type: str, body: bytes) -> tuple[int, dict[str, Any]]:
        if not content_type.startswith("multipart/form-data"):
            return 400, {"error": "validation_failed", "code": "not_multipart", "message": "x"}
        message = BytesParser(policy=HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + body
        )
        parts = [
            part
            for part in message.iter_parts()
            if part.get_param("name", header="content-disposition") == "file"
        ]
        if len(parts) != 1:
            return 400, {"error": "validation_failed", "code": "file_required", "message": "x"}
        data = parts[0].get_payload(decode=True)
        if not isinstance(data, bytes) or not str(parts[0].get_filename()).endswith(".md"):
            return 400, {"error": "validation_failed", "code": "not_markdown", "message": "x"}
        sha = hashlib.sha256(data).hexdigest()
        name = str(parts[0].get_filename()).removesuffix(".md")
        md = f"./lessons/uploads/{name}-{sha[:12]}.md"
        with self._cond:
            self.uploads[md] = data
        validation = {"ok": True, "errors": [], "warnings": []}
        return 201, {"md": md, "sha256": sha, "bytes": len(data), "validation": validation}

    def submit(self, body: bytes) -> tuple[int, dict[str, Any]]:
        request = json.loads(body)
        with self._cond:
            self.submissions.append(request)
            known = request.get("md") in self.uploads
        if not known:
            message = "md does not exist"
            return 400, {"error": "validation_failed", "code": "md_not_found", "message": message}
        return 202, {"jobId": self._create(request["md"], request.get("withTts") is True)}

    def stream(self, handler: BaseHTTPRequestHandler, query: dict[str, list[str]]) -> None:
        """Serve one event stream until the client leaves, the fake stops or a drop is due."""
        last_header = (
            handler.headers.get("Last-Event-ID") or (query.get("lastEventId") or [None])[0]
        )
        ids = set(",".join(query.get("jobId", [])).split(","))
        with self._cond:
            self.stream_requests.append(
                {"jobId": ",".join(sorted(ids)), "lastEventId": last_header}
            )
            drop_after, self.drop_stream_after = self.drop_stream_after, None
        if self.events_status is not None:
            handler.send_response(self.events_status)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Cache-Control", "no-cache")
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.close_connection = True
        last = int(last_header) if last_header else 0
        sent = 0
        with contextlib.suppress(OSError):
            while not self._stopping.is_set():
                with self._cond:
                    fresh = [
                        e
                        for e in self.events
                        if e.event_id > last and ("*" in ids or e.job_id in ids)
                    ]
                    if not fresh:
                        self._cond.wait(HEARTBEAT_S)
                for event in fresh:
                    data = json.dumps(event.job)
                    chunk = f"id: {event.event_id}\nevent: {event.kind}\ndata: {data}\n\n"
                    # Recorded before the write: a client may act on the event (and the test
                    # assert) before this thread runs again; a failed write takes it back.
                    self.streamed_ids.append(event.event_id)
                    try:
                        handler.wfile.write(chunk.encode())
                        handler.wfile.flush()
                    except OSError:
                        self.streamed_ids.pop()
                        raise
                    last, sent = event.event_id, sent + 1
                    if drop_after is not None and sent >= drop_after:
                        handler.connection.shutdown(socket.SHUT_RDWR)
                        return
                if not fresh:
                    handler.wfile.write(b": heartbeat\n\n")
                    handler.wfile.flush()
