"""``esl-stack --postgres`` supervises its children on a real stack (fresh Postgres database).

kill -9 of the webserver while a run executes, then of the daemon: the API keeps answering (503
while Dagster is away), the supervisor restarts both, readiness comes back, the run finishes and
a job submitted after the recovery succeeds. In ``--postgres`` mode the
lesson sensor stays off. SIGTERM to ``esl-stack`` stops everything and leaves no process behind.
"""

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from esl_dagster.stack.config import StackConfig, free_port
from esl_dagster.stack.sensor import lesson_sensor_running
from tests.conftest import REPO_ROOT, VALID_LESSONS
from tests.e2e.real_stack import MARKER_VARIABLE, postgres_database, processes_with_marker

pytestmark = pytest.mark.integration

ESL_STACK = Path(sys.executable).parent / "esl-stack"
READY_TIMEOUT_S = 180.0
RECOVERY_TIMEOUT_S = 120.0
JOB_TIMEOUT_S = 120.0


@dataclass
class SupervisedStack:
    process: subprocess.Popen[bytes]
    config: StackConfig
    output: Path
    marker: str

    def text(self) -> str:
        return self.output.read_text(errors="replace")

    def child_pid(self, needle: str) -> int:
        """The pid of the stack's direct child whose command line contains ``needle``."""
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except (OSError, ValueError, IndexError):
                continue
            if ppid == self.process.pid and needle in cmdline:
                return int(entry.name)
        raise AssertionError(f"no child of esl-stack runs {needle!r}\n{self.text()}")

    def wait_for(self, what: str, check: Any, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            assert self.process.poll() is None, f"esl-stack exited:\n{self.text()}"
            assert time.monotonic() < deadline, f"{what} not seen in time:\n{self.text()}"
            time.sleep(0.3)


@pytest.fixture
def supervised(tmp_path: Path) -> Iterator[SupervisedStack]:
    config = StackConfig(
        workdir=tmp_path,
        dagster_home=tmp_path / ".dagster_home",
        lessons_dir=tmp_path / "lessons",
        postgres=True,
        dagster_port=free_port(),
        api_port=free_port(),
    )
    marker = uuid.uuid4().hex
    with postgres_database("esl_supervision") as database:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("NOTION_", "ELEVENLABS_"))}
        env |= {"PG_HOST": "127.0.0.1", "PG_PORT": "5432", "PG_USER": "postgres"}
        env |= {"PG_DATABASE": database, MARKER_VARIABLE: marker}
        argv = [str(ESL_STACK), "--postgres", "--workdir", str(tmp_path)]
        argv += ["--api-port", str(config.api_port), "--dagster-port", str(config.dagster_port)]
        argv += ["--code-server-port", str(config.code_server_port)]
        output = tmp_path / "esl-stack.out"
        process = subprocess.Popen(
            argv,
            cwd=REPO_ROOT,
            env=env,
            stdout=output.open("wb"),
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        stack = SupervisedStack(process, config, output, marker)
        try:
            stack.wait_for("the banner", lambda: "is up" in stack.text(), READY_TIMEOUT_S)
            yield stack
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=60)
            for pid in processes_with_marker(marker):
                os.kill(pid, signal.SIGKILL)


def job_state(client: httpx.Client, job_id: str) -> str:
    response = client.get(f"/jobs/{job_id}")
    assert response.status_code == 200, response.text
    return str(response.json()["state"])


def submit(client: httpx.Client, lesson: Path) -> str:
    response = client.post("/jobs", json={"md": f"./lessons/{lesson.name}"})
    assert response.status_code == 202, response.text
    return str(response.json()["jobId"])


def ready(client: httpx.Client) -> bool:
    return client.get("/readyz").status_code == 200


def test_crashed_children_are_restarted_while_the_api_and_runs_carry_on(
    supervised: SupervisedStack,
) -> None:
    stack = supervised
    assert lesson_sensor_running(stack.config) is False
    with httpx.Client(base_url=stack.config.api_url, timeout=30.0, trust_env=False) as client:
        # The webserver dies while a run executes (the run lives in the code server) ...
        running_job = submit(client, VALID_LESSONS[2])
        stack.wait_for("running", lambda: job_state(client, running_job) != "queued", 60)
        assert job_state(client, running_job) == "running"
        os.kill(stack.child_pid("dagster-webserver"), signal.SIGKILL)
        stack.wait_for("the crash report", lambda: "webserver was killed" in stack.text(), 30)
        assert client.get("/readyz").status_code == 503
        assert client.get(f"/jobs/{running_job}").status_code == 503
        # ... then the daemon: a job submitted once the webserver is back runs when it is too.
        daemon = stack.child_pid("dagster-daemon")
        os.kill(daemon, signal.SIGKILL)
        stack.wait_for("readiness", lambda: ready(client), RECOVERY_TIMEOUT_S)
        later_job = submit(client, VALID_LESSONS[0])
        stack.wait_for("the restart", lambda: "dagster-daemon restarted" in stack.text(), 60)
        assert stack.child_pid("dagster-daemon") != daemon
        for job in (running_job, later_job):
            stack.wait_for(
                "the job's end",
                lambda job=job: job_state(client, job) in ("succeeded", "failed"),
                JOB_TIMEOUT_S,
            )
            assert job_state(client, job) == "succeeded"

    stack.process.send_signal(signal.SIGTERM)
    assert stack.process.wait(timeout=60) == 0
    assert "esl-stack: stopped." in stack.text()
    deadline = time.monotonic() + 10
    while processes_with_marker(stack.marker) and time.monotonic() < deadline:
        time.sleep(0.3)
    assert processes_with_marker(stack.marker) == []
