"""Start-up and Dagster deployment costs: ``esl --help`` wall time, code-location import time,
per-run overhead by executor, and many
lessons as many runs versus one batch run. Every figure is measured with its baseline in the same
run. Lesson runs are dry runs over the embedded default (no service is called), so the figures
are Dagster's own overhead plus validation. Runs go through ``dg.execute_job`` on a temporary
SQLite instance: the run worker's own start-up (a fresh process per run under the daemon, about
2 s, design F3) is covered by the import-time rows, not by the run rows.
"""

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import dagster as dg

from bench.common import BenchRow
from esl_dagster.defs.lessons.batch import lesson_batch_job
from esl_dagster.defs.lessons.jobs import build_lesson_job, lesson_job
from esl_dagster.defs.resource_bindings import pipeline_from_env
from esl_dagster.resources.pipeline import PipelineResource

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLES = sorted((REPO_ROOT / "examples" / "lessons").glob("0[1-5]-*.md"))
IMPORT_REPEATS = 7
HELP_REPEATS = 7
RUN_REPEATS = 3
MULTIPROCESS_REPEATS = 2
MANY_LESSONS = 50
# Bounded: fewer lessons (said in the output) when one run is so slow that 50 would take too long.
MANY_RUNS_BUDGET_SECONDS = 180.0

# The production job and the same graph on the multiprocess executor, with the environment's
# resources bound as in the code location (module level: ``dg.reconstructable`` needs it).
_BENCH_DEFS = dg.Definitions(
    jobs=[
        lesson_job,
        build_lesson_job("lesson_job_multiprocess", executor_def=dg.multiprocess_executor),
    ],
    resources={"esl": pipeline_from_env()},
)


def get_lesson_job() -> dg.JobDefinition:
    return _BENCH_DEFS.resolve_job_def("lesson_job")


def get_multiprocess_lesson_job() -> dg.JobDefinition:
    return _BENCH_DEFS.resolve_job_def("lesson_job_multiprocess")


def _import_seconds(*statements: str) -> list[float]:
    """Median in-process wall time of each statement in fresh interpreters, the statements
    alternating run by run so that a busy machine slows all of them alike."""
    samples: list[list[float]] = [[] for _ in statements]
    for _ in range(IMPORT_REPEATS):
        for index, statement in enumerate(statements):
            code = (
                f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
            )
            output = subprocess.run(
                [sys.executable, "-c", code],
                capture_output=True,
                text=True,
                check=True,
                cwd=REPO_ROOT,
                timeout=120,
            ).stdout
            samples[index].append(float(output.strip()))
    return [statistics.median(values) for values in samples]


def _process_seconds(argv: list[str]) -> float:
    """Median wall time of whole processes (interpreter start-up included)."""
    samples = []
    for _ in range(HELP_REPEATS):
        start = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=True, cwd=REPO_ROOT, timeout=120)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def _esl_command() -> list[str]:
    """The installed ``esl`` console script, else the same entry point through ``-c``."""
    script = Path(sys.executable).with_name("esl")
    if script.exists():
        return [str(script)]
    entry = "import sys; from esl_dagster.pipeline.cli import main; sys.exit(main())"
    return [sys.executable, "-c", entry]


def startup_rows() -> list[BenchRow]:
    """``esl --help`` against a bare interpreter, and the code location against Dagster alone."""
    bare = _process_seconds([sys.executable, "-c", "pass"])
    esl_help = _process_seconds([*_esl_command(), "--help"])
    dagster_import, location_import = _import_seconds(
        "import dagster", "import esl_dagster.definitions as d; d.defs()"
    )
    return [
        BenchRow("python -c pass (fresh process)", bare, "s"),
        BenchRow(
            "esl --help (fresh process)",
            esl_help,
            "s",
            baseline=bare,
            ratio=esl_help / bare,
            target="esl --help <= 0.15 s",
        ),
        BenchRow("import dagster alone (fresh process)", dagster_import, "s"),
        BenchRow(
            "code location import + load (esl_dagster.definitions)",
            location_import,
            "s",
            baseline=dagster_import,
            ratio=location_import / dagster_import,
            target="code location import <= 1.3x import dagster alone",
        ),
    ]


def _copy_lessons(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        source = SAMPLES[index % len(SAMPLES)]
        target = folder / f"{index:03d}-{source.name}"
        target.write_bytes(source.read_bytes())
        paths.append(target)
    return paths


def _run_config(md: Path, executor: str | None = None) -> dict[str, Any]:
    config: dict[str, Any] = {
        "ops": {"validate_lesson": {"config": {"md": str(md), "dry_run": True}}}
    }
    if executor == "multiprocess":
        config["execution"] = {"config": {"start_method": {"forkserver": {}}}}
    return config


def _execute(instance: dg.DagsterInstance, target: Any, run_config: dict[str, Any]) -> float:
    start = time.perf_counter()
    with dg.execute_job(target, instance=instance, run_config=run_config) as result:
        if not result.success:
            raise RuntimeError("benchmark run failed")
    return time.perf_counter() - start


def _pipeline(work: Path) -> PipelineResource:
    variables = pipeline_from_env().variables
    return PipelineResource(
        variables={
            **variables,
            "PIPELINE_CWD": str(work),
            "ESL_LOCAL_UPLOAD_DIR": str(work / "uploads"),
        }
    )


def run() -> list[BenchRow]:
    rows = startup_rows()
    with tempfile.TemporaryDirectory() as tmp, dg.instance_for_test() as instance:
        work = Path(tmp)
        lessons = _copy_lessons(work / "lessons", MANY_LESSONS)
        pipeline = _pipeline(work)
        in_process = dg.reconstructable(get_lesson_job)
        multi = dg.reconstructable(get_multiprocess_lesson_job)
        _execute(instance, in_process, _run_config(lessons[0]))  # warm caches
        in_process_times = [
            _execute(instance, in_process, _run_config(lessons[i])) for i in range(RUN_REPEATS)
        ]
        multi_times = [
            _execute(instance, multi, _run_config(lessons[i], "multiprocess"))
            for i in range(MULTIPROCESS_REPEATS)
        ]
        per_run = statistics.median(in_process_times)
        per_run_multi = statistics.median(multi_times)
        rows.append(BenchRow("lesson run (dry), in-process executor", per_run, "s/run"))
        rows.append(
            BenchRow(
                "lesson run (dry), multiprocess executor (forkserver)",
                per_run_multi,
                "s/run",
                baseline=per_run,
                ratio=per_run_multi / per_run,
                target="in-process is the default",
            )
        )
        slowest = max(in_process_times)
        count = max(5, min(MANY_LESSONS, int(MANY_RUNS_BUDGET_SECONDS / max(slowest, 0.01))))
        start = time.perf_counter()
        for lesson in lessons[:count]:
            _execute(instance, in_process, _run_config(lesson))
        many_runs = time.perf_counter() - start
        batch_folder = work / f"batch-{count}"
        _copy_lessons(batch_folder, count)
        start = time.perf_counter()
        result = lesson_batch_job.execute_in_process(
            run_config={
                "ops": {
                    "discover_lessons": {"config": {"folder": str(batch_folder), "dry_run": True}}
                }
            },
            instance=instance,
            resources={"esl": pipeline},
        )
        batch = time.perf_counter() - start
        if not result.success:
            raise RuntimeError("batch benchmark run failed")
        label = f"{count} lessons" + (
            "" if count == MANY_LESSONS else f" (reduced from {MANY_LESSONS})"
        )
        rows.append(BenchRow(f"{label} as {count} runs", many_runs, "s"))
        rows.append(
            BenchRow(
                f"{label} as 1 batch run",
                batch,
                "s",
                baseline=many_runs,
                ratio=batch / many_runs,
                target="<= 0.1 (batch at least 10x cheaper)",
            )
        )
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
