"""The supervisor on stand-in children: crashes are restarted with capped backoff and only the
crashed child; the stop goes in reverse start order and reaches what a crashed child left."""

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from esl_dagster.stack.children import Child, first_error_line, stop
from esl_dagster.stack.supervisor import Backoff, Supervisor

# Records its SIGTERM in the shared file, then exits; otherwise sleeps.
SLEEPER = """
import signal, sys, time
def on_term(*_):
    with open(sys.argv[1], "a") as out:
        out.write(sys.argv[2] + "\\n")
    sys.exit(0)
signal.signal(signal.SIGTERM, on_term)
print("ready", flush=True)
time.sleep(600)
"""
# Starts a grandchild in its own group (like a code server's run worker), prints its pid, sleeps.
PARENT_OF_WORKER = """
import subprocess, sys, time
worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
print(worker.pid, flush=True)
time.sleep(600)
"""


def sleeper(tmp_path: Path, name: str) -> Child:
    argv = [sys.executable, "-c", SLEEPER, str(tmp_path / "terms"), name]
    return Child(name, argv, tmp_path / f"{name}.log")


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_for_output(proc: Child) -> str:
    deadline = time.monotonic() + 30
    while not (text := proc.log_path.read_text().strip()):
        assert time.monotonic() < deadline, f"{proc.name} printed nothing"
        time.sleep(0.05)
    return text


def supervise_until(supervisor: Supervisor, done: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():  # type: ignore[operator]
        assert time.monotonic() < deadline, "supervisor did not get there in time"
        supervisor.tick(time.monotonic())
        time.sleep(0.05)


def test_backoff_doubles_per_consecutive_crash_up_to_the_cap() -> None:
    backoff = Backoff(initial=1.0, cap=30.0)
    assert [backoff.delay(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]


def test_a_killed_child_is_restarted_and_the_others_keep_running(tmp_path: Path) -> None:
    procs = [sleeper(tmp_path, name) for name in ("webserver", "daemon", "api")]
    reports: list[str] = []
    supervisor = Supervisor(procs, dict(os.environ), tmp_path, reports.append, Backoff(0.1))
    try:
        for proc in procs:
            proc.start(os.environ, tmp_path)
        before = {proc.name: proc.pid for proc in procs}
        assert before["daemon"] is not None
        os.kill(before["daemon"], signal.SIGKILL)

        supervise_until(supervisor, lambda: procs[1].pid != before["daemon"])
        supervise_until(supervisor, procs[1].running)
        assert {proc.name: proc.pid for proc in procs if proc.name != "daemon"} == {
            "webserver": before["webserver"],
            "api": before["api"],
        }
        assert all(proc.running() for proc in procs)
        assert reports[0].startswith("daemon was killed by SIGKILL")
        assert reports[1] == f"daemon restarted (pid {procs[1].pid})"
    finally:
        stop(procs)


def test_a_crash_loop_backs_off_longer_each_time_up_to_the_cap(tmp_path: Path) -> None:
    argv = [sys.executable, "-c", "import sys; print('ValueError: bad config'); sys.exit(3)"]
    crasher = Child("code-server", argv, tmp_path / "code-server.log")
    reports: list[str] = []
    supervisor = Supervisor([crasher], {}, tmp_path, reports.append, Backoff(0.05, cap=0.2))
    crasher.start(dict(os.environ), tmp_path)
    try:
        supervise_until(supervisor, lambda: supervisor.crashes.get("code-server", 0) == 4)
    finally:
        stop([crasher])
    crashes = [line for line in reports if "restarting" in line]
    assert crashes == [
        f"code-server exited with code 3: ValueError: bad config; restarting in {delay}s "
        f"(crash {n})"
        for n, delay in enumerate(["0.05", "0.1", "0.2", "0.2"], start=1)
    ]


def test_stop_goes_in_reverse_start_order(tmp_path: Path) -> None:
    names = ["code-server", "webserver", "daemon", "api"]
    procs = [sleeper(tmp_path, name) for name in names]
    for proc in procs:
        proc.start(os.environ, tmp_path)
    for proc in procs:  # every child has installed its SIGTERM handler
        wait_for_output(proc)
    stop(procs)
    assert (tmp_path / "terms").read_text().split() == list(reversed(names))
    assert not any(proc.running() for proc in procs)


def test_stop_reaches_what_a_crashed_child_left_behind(tmp_path: Path) -> None:
    parent = Child("code-server", [sys.executable, "-c", PARENT_OF_WORKER], tmp_path / "cs.log")
    parent.start(os.environ, tmp_path)
    worker = int(wait_for_output(parent).split()[0])
    assert parent.pid is not None
    os.kill(parent.pid, signal.SIGKILL)  # the crash: its run worker lives on
    parent.start(os.environ, tmp_path)  # the restart
    assert alive(worker)
    stop([parent])
    deadline = time.monotonic() + 5
    while alive(worker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(worker)


@pytest.mark.parametrize(
    ("log", "expected"),
    [
        (
            "INFO starting\nTraceback (most recent call last):\n  File 'x'\n"
            "sqlalchemy.exc.OperationalError: could not connect\n",
            "sqlalchemy.exc.OperationalError: could not connect",
        ),
        (
            "2026 - dagster - ERROR - location failed\nmore\n",
            "2026 - dagster - ERROR - location failed",
        ),
        (
            "\x1b[32m2026\x1b[0m - dagster - \x1b[31mERROR\x1b[0m - no location\n",
            "2026 - dagster - ERROR - no location",
        ),
        ("all fine\n", None),
    ],
)
def test_the_error_line_of_a_log(tmp_path: Path, log: str, expected: str | None) -> None:
    path = tmp_path / "child.log"
    path.write_text("ValueError: an older crash\n" + log)
    assert first_error_line(path, since=len("ValueError: an older crash\n")) == expected
