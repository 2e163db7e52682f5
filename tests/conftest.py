"""Shared test fixtures: where the sample lessons and configs live, and the fakes of the external
services most test folders talk to (a folder's own conftest may shape them differently)."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.elevenlabs_server import FakeElevenLabs
from tests.fakes.moto_s3 import bucket_name_for, running_moto, s3_client
from tests.fakes.notion_server import FakeNotion, Seeded, running_fake, seed_homework

REPO_ROOT = Path(__file__).resolve().parent.parent
# The sample lessons, kept in the repo so the tests and the demo stack are self-contained.
FIXTURES = REPO_ROOT / "examples"
LESSONS_DIR = FIXTURES / "lessons"
CONFIGS_DIR = FIXTURES / "configs"
VALID_LESSONS = sorted(p for p in LESSONS_DIR.glob("0[1-5]-*.md"))
INVALID_LESSON = LESSONS_DIR / "06-invalid-weather-many-errors.md"


@pytest.fixture(scope="session")
def lessons_dir() -> Path:
    assert LESSONS_DIR.is_dir(), f"sample lessons not found at {LESSONS_DIR}"
    return LESSONS_DIR


@pytest.fixture(scope="session")
def configs_dir() -> Path:
    assert CONFIGS_DIR.is_dir(), f"sample configs not found at {CONFIGS_DIR}"
    return CONFIGS_DIR


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """One moto S3 server on 127.0.0.1 for the session (each test makes its own bucket)."""
    with running_moto() as url:
        yield url


@pytest.fixture
def bucket(moto_url: str, request: pytest.FixtureRequest) -> str:
    """A fresh, empty bucket on the moto server, named after the test."""
    name = bucket_name_for(request)
    s3_client(moto_url).create_bucket(Bucket=name)
    return name


@pytest.fixture
def fake_notion() -> Iterator[FakeNotion]:
    yield from running_fake()


@pytest.fixture
def seeded(fake_notion: FakeNotion) -> Seeded:
    return seed_homework(fake_notion)


@pytest.fixture
def fake_elevenlabs() -> Iterator[FakeElevenLabs]:
    with FakeElevenLabs() as server:
        yield server
