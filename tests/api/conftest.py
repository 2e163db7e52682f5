"""Fixtures of the /jobs shim tests: a fake Dagster GraphQL endpoint on 127.0.0.1, a lesson tree
with escape attempts, and TestClients (inside `with`, so the lifespan runs) built per settings."""

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api_shim.core.config import Settings
from api_shim.main import create_app
from tests.conftest import VALID_LESSONS
from tests.fakes.dagster_graphql import FakeDagster

MISSION = "./lessons/mission.md"

ClientFactory = Callable[..., TestClient]


@pytest.fixture
def fake() -> Iterator[FakeDagster]:
    with FakeDagster() as server:
        yield server


@pytest.fixture
def lesson_cwd(tmp_path: Path) -> Path:
    """PIPELINE_CWD with `lessons/` (the default root) and files that must stay unreachable."""
    cwd = tmp_path / "cwd"
    lessons = cwd / "lessons"
    (lessons / "unit1").mkdir(parents=True)
    shutil.copy(VALID_LESSONS[0], lessons / "mission.md")
    shutil.copy(VALID_LESSONS[1], lessons / "unit1" / "podcast.md")
    (lessons / "notes.txt").write_text("not a lesson\n")
    (lessons / "folder.md").mkdir()
    outside = cwd / "outside"
    outside.mkdir()
    (outside / "secret.md").write_text("# secret\n")
    (lessons / "escape.md").symlink_to(outside / "secret.md")
    (lessons / "linked.md").symlink_to(lessons / "mission.md")
    return cwd


@pytest.fixture
def make_client(fake: FakeDagster, lesson_cwd: Path, tmp_path: Path) -> Iterator[ClientFactory]:
    opened: list[tuple[Any, TestClient]] = []

    def factory(**overrides: Any) -> TestClient:
        values: dict[str, Any] = {
            "dagster_graphql_url": fake.url,
            "pipeline_cwd": lesson_cwd,
            "idempotency_db": tmp_path / "idempotency.sqlite3",
            "graphql_timeout_s": 2.0,
            "api_keys": [],
            "lesson_roots": [],
        }
        values.update(overrides)
        app = create_app(Settings(**values))
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        opened.append((app, client))
        return client

    yield factory
    for app, client in opened:
        client.__exit__(None, None, None)
        app.dependency_overrides.clear()


@pytest.fixture
def client(make_client: ClientFactory) -> TestClient:
    return make_client()
