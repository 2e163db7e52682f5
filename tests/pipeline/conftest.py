"""Fixtures for the runner tests: sample lessons copied into tmp_path, services built per test
(embedded default: Notion preview, espeak, local uploads), the fake Notion server and moto S3."""

import hashlib
import io
import json
import logging
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from esl_dagster.pipeline.config.provider import LocalConfigProvider
from esl_dagster.pipeline.logs import EventLogger, JsonFormatter
from esl_dagster.pipeline.manifest import FilesystemManifestStore
from esl_dagster.pipeline.notion.client import NotionClient
from esl_dagster.pipeline.notion.offline import PreviewNotion
from esl_dagster.pipeline.notion.service_contract import NotionDefaults
from esl_dagster.pipeline.observability import NoopMetrics
from esl_dagster.pipeline.services import Services
from esl_dagster.pipeline.settings import S3Settings, Settings, load_settings
from esl_dagster.pipeline.storage import LocalUploader, S3Uploader
from esl_dagster.pipeline.tts.espeak import EspeakProvider
from tests.conftest import INVALID_LESSON, VALID_LESSONS
from tests.fakes.moto_s3 import bucket_name_for, s3_client
from tests.fakes.notion_server import FakeNotion

MONOLOGUE = VALID_LESSONS[0]
DIALOGUE = VALID_LESSONS[2]


def copy_lesson(source: Path, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / source.name
    shutil.copyfile(source, target)
    return target


def write_short_lesson(folder: Path) -> Path:
    """Sample lesson 01 with a one-sentence study text: valid, and quick to speak."""
    text = MONOLOGUE.read_text(encoding="utf-8")
    start = text.index(":::study-text")
    start = text.index("\n", start) + 1
    end = text.index("\n:::", start)
    short = text[:start] + "The market is loud and busy today." + text[end:]
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "short-lesson.md"
    target.write_text(short, encoding="utf-8")
    return target


def tree_hashes(folder: Path) -> dict[str, str]:
    """Relative path -> SHA-256 of every file under ``folder`` (to prove nothing changed)."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


@dataclass
class Events:
    """The JSON log lines written by the services' logger."""

    stream: io.StringIO = field(default_factory=io.StringIO)

    def all(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines() if line]

    def messages(self) -> list[str]:
        return [event["message"] for event in self.all()]

    def logger(self) -> EventLogger:
        """An engine event logger writing JSON lines to ``stream`` (a logger of its own)."""
        target = logging.getLogger(f"esl.test.{id(self)}")
        handler = logging.StreamHandler(self.stream)
        handler.setFormatter(JsonFormatter())
        target.handlers = [handler]
        target.setLevel(logging.DEBUG)
        target.propagate = False
        return EventLogger(target)


def settings_for(tmp_path: Path, **overrides: Any) -> Settings:
    return load_settings(
        None,
        PIPELINE_CWD=tmp_path,
        ESL_LOCAL_UPLOAD_DIR=tmp_path / "uploads",
        **overrides,
    )


@pytest.fixture
def lessons(tmp_path: Path) -> Path:
    folder = tmp_path / "lessons"
    for source in [*VALID_LESSONS, INVALID_LESSON]:
        copy_lesson(source, folder)
    return folder


@pytest.fixture
def events() -> Events:
    return Events()


@pytest.fixture(scope="session")
def espeak() -> EspeakProvider:
    return EspeakProvider()


@pytest.fixture
def services(tmp_path: Path, events: Events, espeak: EspeakProvider) -> Services:
    """The embedded default: Notion preview, espeak, local upload folder, manifests on disk."""
    settings = settings_for(tmp_path)
    store = FilesystemManifestStore()
    return Services(
        settings=settings,
        config_provider=LocalConfigProvider(cwd=tmp_path),
        manifest_store=store,
        notion=PreviewNotion(store, NotionDefaults()),
        tts_provider=espeak,
        uploader=LocalUploader(settings.upload_dir),
        logger=events.logger(),
        metrics=NoopMetrics(),
    )


@pytest.fixture
def notion_client(fake_notion: FakeNotion) -> Iterator[NotionClient]:
    with NotionClient(
        fake_notion.token, base_url=fake_notion.base_url, sleep=lambda _s: None, timeout=5.0
    ) as client:
        yield client


@dataclass
class Bucket:
    client: Any
    name: str
    endpoint: str

    def keys(self) -> list[str]:
        answer = self.client.list_objects_v2(Bucket=self.name)
        return sorted(item["Key"] for item in answer.get("Contents", []))


@pytest.fixture
def bucket(moto_url: str, request: pytest.FixtureRequest) -> Bucket:
    client = s3_client(moto_url)
    name = bucket_name_for(request)
    client.create_bucket(Bucket=name)
    return Bucket(client, name, moto_url)


def s3_uploader(bucket: Bucket) -> S3Uploader:
    settings = S3Settings(
        bucket=bucket.name,
        prefix="",
        region="us-east-1",
        endpoint_url=bucket.endpoint,
        access_key_id="test",
        secret_access_key="test",
        force_path_style=True,
    )
    return S3Uploader(settings, client=bucket.client)
