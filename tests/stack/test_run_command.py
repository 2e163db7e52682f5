"""The README's run command, as a user runs it: ``make run`` starts the whole embedded default
stack, a sample lesson submitted over HTTP succeeds, and Ctrl-C (SIGINT) leaves no process behind.
"""

import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO_ROOT

READY_TIMEOUT_S = 240.0
JOB_TIMEOUT_S = 180.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def processes_with_home(dagster_home: Path) -> list[int]:
    """Pids whose environment carries this stack's DAGSTER_HOME (webserver, daemon, code servers,
    run workers, the shim all inherit it)."""
    marker = f"DAGSTER_HOME={dagster_home}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker in environ.split(b"\0"):
            pids.append(int(entry.name))
    return pids


class Stack:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.api_port = free_port()
        self.dagster_port = free_port()
        self.output = workdir / "make-run.out"
        self.dagster_home = workdir / ".dagster_home"
        args = f"--workdir {workdir} --api-port {self.api_port} --dagster-port {self.dagster_port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("NOTION_", "ELEVENLABS_"))}
        self.process = subprocess.Popen(
            ["make", "--no-print-directory", "run", f"STACK_ARGS={args}"],
            cwd=REPO_ROOT,
            env=env,
            stdout=self.output.open("wb"),
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group, like a terminal's foreground job
        )

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def text(self) -> str:
        return self.output.read_text(errors="replace")

    def wait_until_up(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while "is up" not in self.text():
            assert self.process.poll() is None, f"make run exited early:\n{self.text()}"
            assert time.monotonic() < deadline, f"stack not up in time:\n{self.text()}"
            time.sleep(1.0)

    def ctrl_c(self) -> int:
        os.killpg(self.process.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
        return self.process.wait(timeout=60)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    running = Stack(tmp_path)
    try:
        yield running
    finally:
        if running.process.poll() is None:
            os.killpg(running.process.pid, signal.SIGKILL)
            running.process.wait()


@pytest.mark.integration
def test_make_run_serves_a_job_and_stops_cleanly_on_ctrl_c(stack: Stack) -> None:
    stack.wait_until_up()
    banner = stack.text()
    assert f"http://127.0.0.1:{stack.dagster_port}" in banner
    curl = re.search(r"curl -s -X POST (\S+)/jobs .* -d '(\{.*\})'", banner)
    assert curl is not None, banner

    with httpx.Client(base_url=stack.api, timeout=30.0) as client:
        submitted = client.post(
            "/jobs", content=curl.group(2).encode(), headers={"content-type": "application/json"}
        )
        assert submitted.status_code == 202, submitted.text
        job_id = submitted.json()["jobId"]
        deadline = time.monotonic() + JOB_TIMEOUT_S
        while True:
            job = client.get(f"/jobs/{job_id}").json()
            if job["state"] in ("succeeded", "failed") or time.monotonic() > deadline:
                break
            time.sleep(1.0)
    assert job["state"] == "succeeded", job
    manifest = Path(job["manifestPath"])
    assert manifest.is_file() and manifest.parent == stack.workdir / "lessons"
    assert list((stack.workdir / "var" / "audio").glob("*.mp3")), "the offline TTS left no MP3"
    assert not list((stack.workdir / "lessons").glob("*.mp3")), "an MP3 in the lesson folder"
    assert list((stack.workdir / "lessons").glob("*.notion-preview.json"))

    assert processes_with_home(stack.dagster_home), "the stack's processes were not found"
    assert stack.ctrl_c() in (0, 2, -signal.SIGINT), stack.text()
    assert "stopped." in stack.text()
    deadline = time.monotonic() + 10.0
    while (left := processes_with_home(stack.dagster_home)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert left == [], f"processes left after Ctrl-C: {left}"
