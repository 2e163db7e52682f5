"""A start that cannot succeed stops at once with one line naming the cause, starting nothing."""

import os
import subprocess
import sys
from pathlib import Path

from esl_dagster.stack.config import free_port
from tests.conftest import REPO_ROOT

ESL_STACK = Path(sys.executable).parent / "esl-stack"


def run_stack(workdir: Path, pg: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG_")} | pg
    argv = [str(ESL_STACK), "--postgres", "--workdir", str(workdir)]
    argv += ["--api-port", str(free_port()), "--dagster-port", str(free_port())]
    argv += ["--code-server-port", str(free_port())]
    return subprocess.run(
        argv,
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def test_postgres_on_a_wrong_port_is_named_in_one_line(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    result = run_stack(tmp_path, {"PG_HOST": "127.0.0.1", "PG_PORT": str(port)})

    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"esl-stack: cannot reach Postgres at 127.0.0.1:{port}: connection refused"
    ]
    assert not (tmp_path / "var" / "log" / "webserver.log").exists()


def test_a_missing_database_is_named_in_one_line(tmp_path: Path) -> None:
    pg = {"PG_HOST": "127.0.0.1", "PG_PORT": "5432", "PG_DATABASE": "esl_no_such_database"}
    result = run_stack(tmp_path, pg)

    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "esl-stack: Postgres at 127.0.0.1:5432 refused the connection: "
        'FATAL:  database "esl_no_such_database" does not exist'
    ]
    assert not (tmp_path / "var" / "log" / "code-server.log").exists()
