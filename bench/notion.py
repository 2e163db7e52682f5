"""Notion stage benchmarks: block conversion throughput, and a 60-block import at 100 ms/call.

Baselines are measured in the same run: conversion (``bench/notion_convert.py``) is compared with
the previous converter and with markdown-it-py rendering the same bodies; the import is compared
with the
minimum sequential calls that produce the same page (read the data-source schema, look up the
student page, create the page with all 60 blocks), sent with raw httpx against the same fake.
"""

import statistics
import time

import httpx

from bench.common import BenchRow
from bench.notion_convert import conversion_rows
from esl_dagster.pipeline.notion.blocks import markdown_to_blocks
from esl_dagster.pipeline.notion.client import NotionClient
from esl_dagster.pipeline.notion.importer import import_lesson
from esl_dagster.pipeline.notion.target import TargetIds
from tests.conftest import VALID_LESSONS
from tests.fakes.notion_server import FakeNotion, seed_homework
from tests.notion.conftest import load_lesson

LATENCY = 0.1
REPEAT = 3


def _sixty_block_body() -> str:
    _, body = load_lesson(VALID_LESSONS[4])
    count = len(markdown_to_blocks(body))
    return body + "\n\n" + "\n".join(f"Extra practice line {i}." for i in range(60 - count))


def _import_rows() -> list[BenchRow]:
    meta, _ = load_lesson(VALID_LESSONS[4])
    body = _sixty_block_body()
    assert len(markdown_to_blocks(body)) == 60
    fake = FakeNotion().start()
    try:
        seeded = seed_homework(fake)
        fake.latency = LATENCY
        ours_times, calls = [], 0
        for run in range(REPEAT):
            with NotionClient(fake.token, base_url=fake.base_url) as client:
                start = time.perf_counter()
                import_lesson(
                    client,
                    meta=meta,
                    body=body,
                    lesson_key=f"bench-{run}",
                    target_ids=TargetIds(data_source_id=seeded.homework_ds),
                )
                ours_times.append(time.perf_counter() - start)
                calls = client.calls
        base_times, base_calls = [], 0
        blocks = markdown_to_blocks(body)
        headers = {"Authorization": f"Bearer {fake.token}", "Notion-Version": "2025-09-03"}
        for _ in range(REPEAT):
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
                        "children": blocks,
                    },
                ).raise_for_status()
                base_times.append(time.perf_counter() - start)
                base_calls = 3
    finally:
        fake.stop()
    ours, base = statistics.median(ours_times), statistics.median(base_times)
    return [
        BenchRow(
            "notion.import60.calls",
            calls,
            "calls",
            baseline=base_calls,
            ratio=calls / base_calls,
            target="<= 2x minimum",
        ),
        BenchRow(
            "notion.import60.wall",
            ours,
            "s",
            baseline=base,
            ratio=ours / base,
            target="<= 2x minimum",
        ),
    ]


def run() -> list[BenchRow]:
    return conversion_rows() + _import_rows()


if __name__ == "__main__":
    for row in run():
        print(row)
