"""Shared test fixtures: where the sample lessons and configs live."""

from pathlib import Path

import pytest

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
