"""Notion stage benchmarks: block conversion throughput, and Notion traffic.

Baselines are measured in the same run: conversion (``bench/notion_convert.py``) is compared with
the previous converter and with markdown-it-py rendering the same bodies. Traffic is counted on the fake
server: a first import of a 60-block lesson through the live Notion service (at 100 ms per call)
beside the minimum sequential calls that produce the same page (read the data-source schema, look
up the student page, create the page with all 60 blocks, sent with raw httpx), and a whole job
run again with nothing changed beside its minimum, 0.
"""

import statistics
import tempfile
import time
from pathlib import Path

import httpx

from bench.common import BenchRow
from bench.notion_convert import conversion_rows
from esl_dagster.pipeline.config.provider import LocalConfigProvider
from esl_dagster.pipeline.manifest import FilesystemManifestStore
from esl_dagster.pipeline.notion.blocks import markdown_to_blocks
from esl_dagster.pipeline.notion.client import NotionClient
from esl_dagster.pipeline.notion.live import LiveNotion
from esl_dagster.pipeline.notion.service_contract import (
    ImportRequest,
    LessonPage,
    NotionDefaults,
    RecordedImport,
    TargetChoice,
)
from esl_dagster.pipeline.observability import NoopLogger, NoopMetrics
from esl_dagster.pipeline.options import JobOptions
from esl_dagster.pipeline.runner import Pipeline
from esl_dagster.pipeline.services import Services
from esl_dagster.pipeline.storage import LocalUploader
from esl_dagster.pipeline.tts.espeak import EspeakProvider
from tests.fakes.notion_server import FakeNotion, Seeded, seed_homework
from tests.notion.conftest import RecordingCheckpoint, sixty_block_lesson
from tests.pipeline.conftest import settings_for, write_short_lesson

LATENCY = 0.1
REPEAT = 3
MINIMUM_FIRST_IMPORT = 3  # data-source schema, student page, page with its 60 blocks


def _import_once(fake: FakeNotion, seeded: Seeded, run: int) -> tuple[float, int]:
    """One first import through a fresh live Notion service: wall time, requests the fake saw."""
    meta, body = sixty_block_lesson()
    lesson = LessonPage(
        md_path=f"/bench/lesson-{run}.md",
        lesson_key=f"bench-{run}",
        meta=meta,
        body=body,
        target=TargetChoice(data_source_id=seeded.homework_ds),
    )
    fake.reset_log()
    with NotionClient(fake.token, base_url=fake.base_url) as client:
        notion = LiveNotion(client, NotionDefaults())
        start = time.perf_counter()
        notion.import_lesson(ImportRequest(lesson, RecordedImport(), RecordingCheckpoint()))
        return time.perf_counter() - start, len(fake.requests())


def _minimum_import(fake: FakeNotion, seeded: Seeded) -> float:
    """The fewest sequential calls that make the same page (schema, student, create), raw httpx."""
    meta, body = sixty_block_lesson()
    headers = {"Authorization": f"Bearer {fake.token}", "Notion-Version": "2025-09-03"}
    with httpx.Client(base_url=fake.base_url + "/v1/", headers=headers) as http:
        start = time.perf_counter()
        http.get(f"data_sources/{seeded.homework_ds}").raise_for_status()
        found = http.post(
            f"data_sources/{seeded.students_ds}/query",
            json={"filter": {"property": "Name", "title": {"equals": meta.student}}},
        )
        student_id = found.json()["results"][0]["id"]
        http.post(
            "pages",
            json={
                "parent": {"data_source_id": seeded.homework_ds},
                "properties": {
                    "Name": {"title": [{"text": {"content": meta.title}}]},
                    "Student": {"relation": [{"id": student_id}]},
                },
                "children": markdown_to_blocks(body),
            },
        ).raise_for_status()
        return time.perf_counter() - start


def _unchanged_rerun_requests(fake: FakeNotion, seeded: Seeded, folder: Path) -> int:
    """Notion requests of a whole job run again with nothing changed (first run not counted)."""
    md = write_short_lesson(folder / "lessons")
    settings = settings_for(folder)
    store = FilesystemManifestStore()
    with NotionClient(fake.token, base_url=fake.base_url) as client:
        services = Services(
            settings=settings,
            config_provider=LocalConfigProvider(cwd=folder),
            manifest_store=store,
            notion=LiveNotion(client, NotionDefaults()),
            tts_provider=EspeakProvider(),
            uploader=LocalUploader(settings.upload_dir, "https://audio.example/lessons"),
            logger=NoopLogger(),
            metrics=NoopMetrics(),
        )
        options = JobOptions(md=str(md), data_source_id=seeded.homework_ds, with_tts=True)
        Pipeline(services).new_assignment(options)
        fake.reset_log()
        Pipeline(services).new_assignment(options)
        return len(fake.requests())


def _import_rows() -> list[BenchRow]:
    """Requests counted on the fake server (the minimum beside them), and wall time at 100 ms
    per call."""
    fake = FakeNotion().start()
    try:
        seeded = seed_homework(fake)
        fake.latency = LATENCY
        ours = [_import_once(fake, seeded, run) for run in range(REPEAT)]
        base = [_minimum_import(fake, seeded) for _ in range(REPEAT)]
        fake.latency = 0.0
        with tempfile.TemporaryDirectory() as folder:
            rerun_calls = _unchanged_rerun_requests(fake, seeded, Path(folder))
    finally:
        fake.stop()
    calls = max(count for _, count in ours)
    wall = statistics.median(seconds for seconds, _ in ours)
    base_wall = statistics.median(base)
    return [
        BenchRow(
            "notion.import60.requests",
            calls,
            "requests",
            baseline=MINIMUM_FIRST_IMPORT,
            ratio=calls / MINIMUM_FIRST_IMPORT,
            target="== minimum (3)",
        ),
        BenchRow(
            "notion.import60.wall",
            wall,
            "s",
            baseline=base_wall,
            ratio=wall / base_wall,
            target="<= 1.2x minimum",
        ),
        BenchRow(
            "notion.unchanged_rerun.requests",
            rerun_calls,
            "requests",
            baseline=0,
            target="<= 1 (minimum 0)",
        ),
    ]


def run() -> list[BenchRow]:
    return conversion_rows() + _import_rows()


if __name__ == "__main__":
    for row in run():
        print(row)
