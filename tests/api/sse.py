"""Test helpers for `/jobs/events`: a minimal Server-Sent Events reader over httpx, and the shim
served by a real uvicorn, in a thread or in a child process (TestClient buffers whole responses,
so it cannot stream)."""

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from tests.conftest import REPO_ROOT


@dataclass(frozen=True)
class SseEvent:
    event_id: str | None
    kind: str
    data: dict[str, Any]


def read_events(lines: Iterator[str], *, comments: list[str] | None = None) -> Iterator[SseEvent]:
    """Parse `text/event-stream` lines into events (comments go to `comments` when given)."""
    fields: dict[str, str] = {}
    for line in lines:
        if line == "":
            if "data" in fields:
                yield SseEvent(
                    fields.get("id"), fields.get("event", "message"), json.loads(fields["data"])
                )
            fields = {}
        elif line.startswith(":"):
            if comments is not None:
                comments.append(line[1:].strip())
        else:
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")


def take_events(
    client: httpx.Client,
    url: str,
    count: int,
    *,
    headers: dict[str, str] | None = None,
    comments: list[str] | None = None,
) -> list[SseEvent]:
    """Open the stream, read `count` events, close it (the read timeout bounds the wait)."""
    events: list[SseEvent] = []
    with client.stream("GET", url, headers=headers) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        for event in read_events(response.iter_lines(), comments=comments):
            events.append(event)
            if len(events) == count:
                break
    return events


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Run `app` under uvicorn on a free loopback port; yields its base URL."""
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_config=None,
            lifespan="on",
            timeout_graceful_shutdown=2,
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def shim_process(
    graphql_url: str, workdir: Path, env: dict[str, str]
) -> Iterator[tuple[str, "subprocess.Popen[bytes]"]]:
    """The shim under uvicorn in a child process (its own signals, like production)."""
    port = _free_port()
    child_env = {
        **os.environ,
        "ESL_DAGSTER_GRAPHQL_URL": graphql_url,
        "PIPELINE_CWD": str(workdir),
        "ESL_API_IDEMPOTENCY_DB": str(workdir / "idempotency.sqlite3"),
        "ESL_API_KEYS": "",
        **env,
    }
    command = [sys.executable, "-m", "uvicorn", "api_shim.main:app", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--no-access-log", "--log-level", "warning"]
    with (workdir / "uvicorn.log").open("wb") as log:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=child_env, stdout=log, stderr=log)
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_ready(base, process)
            yield base, process
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


def _wait_ready(base: str, process: "subprocess.Popen[bytes]") -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"uvicorn exited with {process.returncode}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1.0, trust_env=False).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError("uvicorn did not become ready")
