"""The work of ``esl submit`` (imported only when the command runs: it needs httpx and rich)."""

import sys
from collections.abc import Sequence
from pathlib import Path

from esl_dagster.pipeline.cli.exit_codes import EXIT_FAILED, EXIT_OK
from esl_dagster.pipeline.cli.submit_client import ApiError, JobsApi
from esl_dagster.pipeline.cli.submit_follow import JobLine, follow_progress


def _note(message: str) -> None:
    print(f"esl: {message}", file=sys.stderr, flush=True)


def _submit_each(
    api: JobsApi, paths: Sequence[Path], *, with_tts: bool
) -> tuple[list[JobLine], int]:
    """Upload and submit every lesson; the submitted jobs and how many lessons were refused."""
    jobs: list[JobLine] = []
    refused = 0
    for path in paths:
        try:
            md = api.upload(path)
            job_id = api.submit(md, with_tts=with_tts)
        except ApiError as exc:
            _note(f"{path.name}: {exc}")
            refused += 1
            continue
        jobs.append(JobLine(label=path.name, job_id=job_id))
    return jobs, refused


def submit_lessons(
    paths: Sequence[Path],
    *,
    api_url: str,
    api_key: str | None,
    with_tts: bool,
    follow: bool,
) -> int:
    api = JobsApi(api_url, api_key=api_key)
    try:
        jobs, refused = _submit_each(api, paths, with_tts=with_tts)
        if not follow:
            for job in jobs:
                print(f"{job.label}: job {job.job_id}")
            return EXIT_FAILED if refused else EXIT_OK
        try:
            if jobs:
                follow_progress(api, jobs, sys.stdout, note=_note)
        except ApiError as exc:
            _note(str(exc))
            return EXIT_FAILED
    finally:
        api.close()
    for job in jobs:
        print(job.summary())
    failed = sum(1 for job in jobs if job.state != "succeeded")
    return EXIT_FAILED if failed or refused else EXIT_OK
