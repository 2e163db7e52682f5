"""The in-process runner on the embedded default (Notion preview, espeak, local uploads).

1. One unchanged lesson: the second run (every stage skipped) versus the first (ratio = speedup).
2. A folder of 50 distinct lessons, first pass and unchanged pass, in lessons per second.
"""

import statistics
import tempfile
import time
from pathlib import Path

from bench.common import BenchRow
from esl_dagster.pipeline.config.provider import LocalConfigProvider
from esl_dagster.pipeline.logs import NoopLogger
from esl_dagster.pipeline.manifest import FilesystemManifestStore
from esl_dagster.pipeline.observability import NoopMetrics
from esl_dagster.pipeline.options import JobOptions
from esl_dagster.pipeline.runner import Pipeline
from esl_dagster.pipeline.services import Services
from esl_dagster.pipeline.settings import load_settings
from esl_dagster.pipeline.storage import LocalUploader
from esl_dagster.pipeline.tts.espeak import EspeakProvider

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "examples" / "lessons" / "01-monologue-narrator-fish-market.md"
FOLDER_SIZE = 50


def _pipeline(work: Path) -> Pipeline:
    settings = load_settings(None, PIPELINE_CWD=work, ESL_LOCAL_UPLOAD_DIR=work / "uploads")
    return Pipeline(
        Services(
            settings=settings,
            config_provider=LocalConfigProvider(cwd=work),
            manifest_store=FilesystemManifestStore(),
            notion=None,
            tts_provider=EspeakProvider(),
            uploader=LocalUploader(settings.upload_dir),
            logger=NoopLogger(),
            metrics=NoopMetrics(),
        )
    )


def _short_lesson(text: str, number: int) -> str:
    """Sample 01 with a one-sentence study text that differs per lesson (no shared audio)."""
    start = text.index("\n", text.index(":::study-text")) + 1
    end = text.index("\n:::", start)
    return f"{text[:start]}The market opens at {number} o'clock today.{text[end:]}"


def _timed(pipeline: Pipeline, md: Path) -> float:
    started = time.perf_counter()
    pipeline.new_assignment(JobOptions(md=str(md)))
    return time.perf_counter() - started


def run() -> list[BenchRow]:
    with tempfile.TemporaryDirectory(prefix="esl-bench-pipeline-") as tmp:
        work = Path(tmp)
        pipeline = _pipeline(work)
        single = work / "single" / SAMPLE.name
        single.parent.mkdir()
        single.write_bytes(SAMPLE.read_bytes())
        first = _timed(pipeline, single)
        second = statistics.median(_timed(pipeline, single) for _ in range(5))

        folder = work / "folder"
        folder.mkdir()
        text = SAMPLE.read_text(encoding="utf-8")
        lessons = []
        for number in range(FOLDER_SIZE):
            md = folder / f"lesson-{number:02d}.md"
            md.write_text(_short_lesson(text, number), encoding="utf-8")
            lessons.append(md)
        cold = sum(_timed(pipeline, md) for md in lessons)
        warm = sum(_timed(pipeline, md) for md in lessons)
    return [
        BenchRow(
            "unchanged lesson: second run (all stages skipped)",
            second * 1000,
            "ms",
            baseline=first * 1000,
            ratio=first / second,
            target="ratio >= 10",
        ),
        BenchRow(
            f"folder of {FOLDER_SIZE} lessons, first pass",
            FOLDER_SIZE / cold,
            "lessons/s",
        ),
        BenchRow(
            f"folder of {FOLDER_SIZE} lessons, unchanged pass",
            FOLDER_SIZE / warm,
            "lessons/s",
            baseline=FOLDER_SIZE / cold,
            ratio=cold / warm,
        ),
    ]
