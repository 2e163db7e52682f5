"""The in-process runner on the embedded default (Notion preview, espeak, local uploads).

1. One unchanged lesson: the second run (every stage skipped) versus the first (ratio = speedup).
2. A folder of 50 distinct lessons, first pass and unchanged pass, in lessons per second.
3. Through the ``esl`` command, each call a new process as a user runs it: an unchanged rerun
   (answered from its record, without the engine) against a first offline run with audio, in CPU
   seconds of the child process (interleaved, median of five).
"""

import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import BenchRow
from esl_dagster.pipeline.logs import NoopLogger
from esl_dagster.pipeline.observability import NoopMetrics
from esl_dagster.pipeline.options import JobOptions
from esl_dagster.pipeline.runner import Pipeline
from esl_dagster.pipeline.services import build_services
from esl_dagster.pipeline.settings import settings_from_variables

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "examples" / "lessons" / "01-monologue-narrator-fish-market.md"
FOLDER_SIZE = 50
CLI_PASSES = 5


def _pipeline(work: Path) -> Pipeline:
    """The embedded default (Notion preview, espeak, local uploads) in ``work``, whatever the
    environment holds: only these variables are read."""
    variables = {"PIPELINE_CWD": str(work), "ESL_LOCAL_UPLOAD_DIR": str(work / "uploads")}
    services = build_services(
        settings_from_variables(variables), logger=NoopLogger(), metrics=NoopMetrics()
    )
    return Pipeline(services)


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
        *_cli_rows(),
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


def _esl_cpu_seconds(folder: Path) -> float:
    """CPU seconds of one ``esl run --with-tts`` in ``folder`` (its own data folder)."""
    env = {**os.environ, "ESL_DATA_DIR": str(folder / "data")}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(
        [str(Path(sys.executable).parent / "esl"), "run", "--with-tts", "--md", "l.md"],
        cwd=folder,
        env=env,
        check=True,
        capture_output=True,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _cli_rows() -> list[BenchRow]:
    with tempfile.TemporaryDirectory(prefix="esl-bench-cli-") as tmp:
        fresh, kept = Path(tmp) / "fresh", Path(tmp) / "kept"
        for folder in (fresh, kept):
            folder.mkdir()
            shutil.copy(SAMPLE, folder / "l.md")
        _esl_cpu_seconds(kept)
        _esl_cpu_seconds(kept)  # the unchanged run that records its summary
        firsts, unchanged = [], []
        for _ in range(CLI_PASSES):
            shutil.rmtree(fresh)
            fresh.mkdir()
            shutil.copy(SAMPLE, fresh / "l.md")
            firsts.append(_esl_cpu_seconds(fresh))
            unchanged.append(_esl_cpu_seconds(kept))
    first, again = statistics.median(firsts), statistics.median(unchanged)
    return [
        BenchRow(
            "esl run: unchanged rerun vs first offline run with audio (CPU-s per process)",
            again,
            "CPU-s",
            baseline=first,
            ratio=first / again,
            target="ratio >= 10",
        )
    ]
