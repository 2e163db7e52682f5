"""The real stack for the end-to-end tests, started once per session.

Postgres (a fresh database), Dagster webserver + daemon with the production ``dagster.yaml`` and
the shim under uvicorn run as child processes; the fake Notion and ElevenLabs servers and a moto
S3 server run in this process on 127.0.0.1, and the children's environment points the product at
them. ``PIPELINE_CWD`` is a temporary folder whose ``lessons/`` holds copies of every sample and
whose ``configs/`` (the deployment's config folder) casts voices automatically from the fake's
voice catalog; presets and students come from the bundled defaults.
"""

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.conftest import INVALID_LESSON, VALID_LESSONS
from tests.e2e.real_stack import RealStack, postgres_database, running_stack
from tests.fakes.elevenlabs_server import SAMPLE_CATALOG, FakeElevenLabs
from tests.fakes.moto_s3 import running_moto
from tests.fakes.notion_server import FakeNotion, Seeded, seed_homework

ELEVENLABS_KEY = "test-key"
AWS_KEY = "testing"
BUCKET = "esl-e2e-audio"
REGION = "us-east-1"


@dataclass
class Services:
    """The doubles the stack talks to, and the default Notion database of ``NOTION_DATABASE_ID``."""

    notion: FakeNotion
    elevenlabs: FakeElevenLabs
    s3_url: str
    default_seed: Seeded

    def s3(self) -> Any:
        return boto3.client(
            "s3",
            region_name=REGION,
            endpoint_url=self.s3_url,
            aws_access_key_id=AWS_KEY,
            aws_secret_access_key=AWS_KEY,
        )


@pytest.fixture(scope="package")
def services() -> Iterator[Services]:
    notion = FakeNotion().start()
    try:
        with running_moto() as moto_url, FakeElevenLabs(api_keys={ELEVENLABS_KEY}) as elevenlabs:
            found = Services(notion, elevenlabs, moto_url, seed_homework(notion))
            found.s3().create_bucket(Bucket=BUCKET)
            yield found
    finally:
        notion.stop()


def lay_out_workdir(root: Path) -> Path:
    """PIPELINE_CWD: a copy of every sample lesson, valid and invalid, and the config folder."""
    (root / "configs").mkdir()
    shutil.copyfile(SAMPLE_CATALOG, root / "configs" / "elevenlabs.voices.json")
    (root / "configs" / "voices.yml").write_text("auto: true\n", encoding="utf-8")
    (root / "lessons").mkdir()
    for lesson in [*VALID_LESSONS, INVALID_LESSON]:
        shutil.copyfile(lesson, root / "lessons" / lesson.name)
    return root


def product_env(services: Services) -> dict[str, str]:
    """The environment that points the product (code location, runs, shim) at the doubles."""
    return {
        "NOTION_TOKEN": services.notion.token,
        "NOTION_BASE_URL": services.notion.base_url,
        "NOTION_DATABASE_ID": services.default_seed.homework_db,
        # No client-level retries: a transient Notion fault surfaces to the op's RetryPolicy.
        "NOTION_MAX_RETRIES": "0",
        "ELEVENLABS_API_KEY": ELEVENLABS_KEY,
        "ELEVENLABS_BASE_URL": services.elevenlabs.base_url,
        "S3_BUCKET": BUCKET,
        "S3_ENDPOINT_URL": services.s3_url,
        "AWS_ACCESS_KEY_ID": AWS_KEY,
        "AWS_SECRET_ACCESS_KEY": AWS_KEY,
        "AWS_REGION": REGION,
        # Job metrics refreshed from Dagster at most once a second (default 10 s).
        "ESL_METRICS_REFRESH_S": "1",
    }


@pytest.fixture(scope="package")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return lay_out_workdir(tmp_path_factory.mktemp("e2e-cwd"))


@pytest.fixture(scope="package")
def stack(services: Services, workdir: Path) -> Iterator[RealStack]:
    with (
        postgres_database("esl_e2e") as database,
        running_stack(workdir, database=database, extra_env=product_env(services)) as real,
    ):
        yield real
