"""Two esl-stacks starting at once on one fresh home: the instance is created exactly once."""

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from dagster import DagsterInstance

from esl_dagster.stack.config import EMBEDDED_INSTANCE_YAML

INIT_SCRIPT = """
import os, sys
from pathlib import Path
from esl_dagster.stack.instance import initialise_instance
home = Path(sys.argv[1])
initialise_instance(home, dict(os.environ, DAGSTER_HOME=str(home)), Path(sys.argv[2]))
"""


def alembic_rows(database: Path) -> list[tuple[str]]:
    with sqlite3.connect(database) as connection:
        return list(connection.execute("SELECT version_num FROM alembic_version"))


def test_concurrent_fresh_starts_of_one_home_migrate_it_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    shutil.copyfile(EMBEDDED_INSTANCE_YAML, home / "dagster.yaml")
    starts = [
        subprocess.Popen(
            [sys.executable, "-c", INIT_SCRIPT, str(home), str(tmp_path / f"init-{n}.log")],
            stdin=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for n in range(2)
    ]
    for start in starts:
        _, stderr = start.communicate(timeout=180)
        assert start.returncode == 0, stderr.decode()

    databases = sorted(home.rglob("*.db"))
    assert {db.name for db in databases} >= {"runs.db", "index.db", "schedules.db"}
    for database in databases:
        assert len(alembic_rows(database)) == 1, database
    monkeypatch.setenv("DAGSTER_HOME", str(home))  # the instance file reads it
    with DagsterInstance.from_config(str(home)) as instance:
        assert instance.get_runs() == []
