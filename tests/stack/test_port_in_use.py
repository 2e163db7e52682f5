"""``esl-stack`` with a port already taken stops at once with one clear line, starting nothing."""

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

ESL_STACK = Path(sys.executable).parent / "esl-stack"


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port held by a listener that never answers (another program on the port)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("busy_flag", ["--api-port", "--dagster-port"])
def test_a_port_in_use_is_one_clear_line_and_nothing_starts(
    busy_port: int, busy_flag: str, tmp_path: Path
) -> None:
    other_flag = "--dagster-port" if busy_flag == "--api-port" else "--api-port"
    argv = [str(ESL_STACK), "--workdir", str(tmp_path), busy_flag, str(busy_port)]
    argv += [other_flag, str(free_port())]
    started = time.monotonic()
    result = subprocess.run(
        argv, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
    )
    elapsed = time.monotonic() - started

    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"esl-stack: 127.0.0.1:{busy_port} is already in use; "
        f"stop what listens there or pass {busy_flag} with a free port"
    ]
    assert "is up" not in result.stdout
    assert elapsed < 10.0
    assert not (tmp_path / "var" / "log" / "webserver.log").exists()
