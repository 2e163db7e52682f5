"""The stack's child processes: how each is started, found ready, explained and stopped."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from esl_dagster.stack.config import LOCATION_NAME, WORKSPACE_YAML, StackConfig

STOP_GRACE_SECONDS = 30.0
CODE_SERVER = "code-server"
ANSI_COLOUR = re.compile(r"\x1b\[[0-9;]*m")
# The last line of a traceback ("ValueError: ..."), or a logged error/fatal line.
ERROR_LINE = re.compile(
    r"^(?:[\w.]+(?:Error|Exception|Exit|Interrupt)\b.*|.*\b(?:ERROR|CRITICAL|FATAL)\b.*)$"
)


@dataclass
class Child:
    """One supervised process; it leads its own process group so its children stop with it."""

    name: str
    argv: list[str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    started_at: float = 0.0
    # Where the current instance's output starts in the (appended) log.
    log_offset: int = 0
    # Every process group this child ever led: a crashed instance may leave grandchildren (runs
    # of a code server) that the final stop must still reach.
    groups: list[int] = field(default_factory=list, repr=False)

    def start(self, env: Mapping[str, str], cwd: Path) -> None:
        with self.log_path.open("ab") as log:
            self.log_offset = log.tell()
            self.process = subprocess.Popen(
                self.argv,
                cwd=cwd,
                env=dict(env),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.started_at = time.monotonic()
        self.groups.append(self.process.pid)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def signal_group(self, sig: signal.Signals) -> None:
        """Signal the current instance's process group."""
        if self.process is not None:
            _killpg(self.process.pid, sig)

    def kill_all_groups(self) -> None:
        """SIGKILL every group this child led, then reap the current instance."""
        for group in self.groups:
            _killpg(group, signal.SIGKILL)
        if self.process is not None:
            self.process.wait()


def _killpg(group: int, sig: signal.Signals) -> None:
    try:
        os.killpg(group, sig)
    except (ProcessLookupError, PermissionError):
        pass


def children(config: StackConfig) -> list[Child]:
    """The stack's processes in start order; they stop in the reverse order."""
    bin_dir = Path(sys.executable).parent
    logs = config.log_dir
    workspace = str(WORKSPACE_YAML)
    return [
        Child(
            CODE_SERVER,
            [
                str(bin_dir / "dagster"),
                "api",
                "grpc",
                "-m",
                "esl_dagster.definitions",
                "--location-name",
                LOCATION_NAME,
                "-h",
                config.host,
                "-p",
                str(config.code_server_port),
                "--log-format",
                "json",
            ],
            logs / "code-server.log",
        ),
        Child(
            "dagster-webserver",
            [
                str(bin_dir / "dagster-webserver"),
                "-w",
                workspace,
                "-h",
                config.host,
                "-p",
                str(config.dagster_port),
                "--log-format",
                "json",
            ],
            logs / "webserver.log",
        ),
        Child(
            "dagster-daemon",
            [str(bin_dir / "dagster-daemon"), "run", "-w", workspace, "--log-format", "json"],
            logs / "daemon.log",
        ),
        Child(
            "api-shim",
            [
                str(bin_dir / "uvicorn"),
                "api_shim.main:app",
                "--host",
                config.host,
                "--port",
                str(config.api_port),
                "--no-access-log",
            ],
            logs / "api.log",
        ),
    ]


def first_error_line(log_path: Path, since: int = 0) -> str | None:
    """The line of ``log_path`` (from byte ``since``) that names why a process failed, if any.

    A traceback's closing exception line wins over logged ERROR lines before it.
    """
    try:
        with log_path.open("rb") as log:
            log.seek(since)
            text = ANSI_COLOUR.sub("", log.read().decode("utf-8", errors="replace"))
    except OSError:
        return None
    lines = [line.strip() for line in text.splitlines()]
    matches = [line for line in lines if ERROR_LINE.match(line)]
    exceptions = [line for line in matches if not re.search(r"\b(ERROR|CRITICAL|FATAL)\b", line)]
    found = exceptions[-1] if exceptions else (matches[0] if matches else None)
    return None if found is None else found[:300]


def exit_reason(proc: Child) -> str:
    """``'dagster-daemon exited with code 1: <its error line>'`` for a child that stopped."""
    code = None if proc.process is None else proc.process.returncode
    how = "exited" if code is None else _describe_exit(code)
    cause = first_error_line(proc.log_path, since=proc.log_offset)
    return f"{proc.name} {how}" + (f": {cause}" if cause else f"; see {proc.log_path}")


def _describe_exit(code: int) -> str:
    if code < 0:
        return f"was killed by {signal.Signals(-code).name}"
    return f"exited with code {code}"


def wait_for_port(config: StackConfig, proc: Child, timeout: float) -> None:
    """Block until ``proc`` listens on the code server port (it binds once the code is loaded)."""
    deadline = time.monotonic() + timeout
    while True:
        if not proc.running():
            raise RuntimeError(exit_reason(proc))
        try:
            with socket.create_connection((config.host, config.code_server_port), timeout=1.0):
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"{proc.name} not listening after {timeout:.0f}s; see {proc.log_path}"
            )
        time.sleep(0.3)


def wait_ready(config: StackConfig, procs: Sequence[Child], timeout: float) -> None:
    """Block until the webserver has loaded the code location and the shim says ready."""
    deadline = time.monotonic() + timeout
    checks = {"dagster": f"{config.dagster_url}/server_info", "api": f"{config.api_url}/readyz"}
    pending = dict(checks)
    with httpx.Client(timeout=2.0, trust_env=False) as client:
        while pending:
            for proc in procs:
                if not proc.running():
                    raise RuntimeError(exit_reason(proc))
            for name, url in list(pending.items()):
                try:
                    if client.get(url).status_code == 200:
                        del pending[name]
                except httpx.HTTPError:
                    pass
            if pending and time.monotonic() > deadline:
                raise RuntimeError(f"not ready after {timeout:.0f}s: {', '.join(pending)}")
            if pending:
                time.sleep(0.5)


def stop(procs: Sequence[Child]) -> None:
    """Stop in reverse start order (API, daemon, webserver, code server), each given time to
    finish within one shared grace period; then SIGKILL whatever is left. Leaves no orphans."""
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for proc in reversed(procs):
        if proc.process is None or not proc.running():
            continue
        proc.signal_group(signal.SIGTERM)
        try:
            proc.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
    for proc in procs:
        # The leader may be gone while grandchildren (run workers) linger.
        proc.kill_all_groups()
