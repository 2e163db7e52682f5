"""The run list an operator reads: the shim and the Dagster definitions agree on the tag names,
at most four tags are visible per run, bookkeeping tags use Dagster's hidden prefix, times are
ISO-8601, and an outcome tag is trusted only on the run that wrote it."""

import hashlib
import warnings
from datetime import datetime
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.storage.tags import HIDDEN_TAG_PREFIX as DAGSTER_HIDDEN_PREFIX

from api_shim import job_view, submission, timestamps
from api_shim.dagster_gateway import DagsterRun
from esl_dagster.defs.lessons import tags
from esl_dagster.pipeline.options import JobOptions

MAX_VISIBLE_TAGS = 4


def visible(run_tags: dict[str, str]) -> dict[str, str]:
    return {key: value for key, value in run_tags.items() if not key.startswith(".dagster/")}


def test_shim_and_definitions_use_the_same_tag_names() -> None:
    assert tags.HIDDEN_TAG_PREFIX == submission.HIDDEN_TAG_PREFIX == DAGSTER_HIDDEN_PREFIX
    pairs = [
        (submission.JOB_ID_TAG, tags.JOB_ID_TAG),
        (submission.LESSON_TAG, tags.LESSON_TAG),
        (submission.SOURCE_TAG, tags.SOURCE_TAG),
        (submission.LESSON_KEY_TAG, tags.LESSON_KEY_TAG),
        (submission.TTS_TAG, tags.TTS_TAG),
        (timestamps.SUBMITTED_AT_TAG, tags.SUBMITTED_AT_TAG),
        (job_view.ERROR_TAG, tags.ERROR_TAG),
        (job_view.MANIFEST_TAG, tags.MANIFEST_PATH_TAG),
        (job_view.OUTCOME_RUN_TAG, tags.OUTCOME_RUN_TAG),
        (job_view.PARENT_RUN_TAG, tags.PARENT_RUN_TAG),
    ]
    assert all(shim == defs for shim, defs in pairs), pairs


def test_every_tag_key_is_one_dagster_accepts_without_deprecation() -> None:
    """Dagster deprecates keys with more than one '/' section (a future release refuses them)."""
    keys = [
        value
        for module in (tags, submission, job_view, timestamps)
        for name, value in vars(module).items()
        if name.endswith("_TAG") and isinstance(value, str)
    ]
    assert len(keys) >= 12
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        dg.RunRequest(run_key=None, tags=dict.fromkeys(keys, "x"))


def test_an_api_run_shows_lesson_job_source_and_iso_time(tmp_path: Path) -> None:
    lesson = tmp_path / "lessons" / "unit1" / "podcast.md"
    run_tags = submission.submission_tags(
        "job-1",
        str(lesson),
        md="./lessons/unit1/podcast.md",
        with_tts=True,
        request_id="req-1",
        idempotency_key="key-1",
    )
    shown = visible(run_tags)
    assert len(shown) <= MAX_VISIBLE_TAGS
    assert shown[tags.LESSON_TAG] == "lessons/unit1/podcast.md"
    assert shown[tags.JOB_ID_TAG] == "job-1"
    submitted = datetime.fromisoformat(shown[tags.SUBMITTED_AT_TAG])
    assert submitted.utcoffset() is not None and shown[tags.SUBMITTED_AT_TAG].endswith("Z")
    assert run_tags[tags.LESSON_KEY_TAG] == tags.lesson_key(lesson)  # same key on both sides
    assert run_tags[tags.TTS_TAG] == "true"


def test_an_s3_lesson_is_shown_and_keyed_by_its_uri_in_the_shim() -> None:
    uri = "s3://lessons-bucket/teachers/.uploads/3f79bb7b.md"
    run_tags = submission.submission_tags(
        "job-1", uri, md=uri, with_tts=False, request_id=None, idempotency_key=None
    )
    assert visible(run_tags)[tags.LESSON_TAG] == uri
    assert run_tags[tags.LESSON_KEY_TAG] == hashlib.sha256(uri.encode()).hexdigest()[:16]


def test_shim_and_definitions_key_an_s3_lesson_alike() -> None:
    uri = "s3://lessons-bucket/teachers/.uploads/3f79bb7b.md"
    run_tags = submission.submission_tags(
        "job-1", uri, md=uri, with_tts=False, request_id=None, idempotency_key=None
    )
    assert run_tags[tags.LESSON_KEY_TAG] == tags.lesson_key(uri)


def test_a_sensor_run_shows_the_lesson_relative_to_its_source() -> None:
    options = JobOptions(md="/srv/lessons/unit1/podcast.md", with_tts=True)
    run_tags = tags.lesson_run_tags(options, source="sensor", lesson="folder/unit1/podcast.md")
    shown = visible(run_tags)
    assert len(shown) <= MAX_VISIBLE_TAGS
    assert shown[tags.LESSON_TAG] == "folder/unit1/podcast.md"
    assert set(shown) == {tags.LESSON_TAG, tags.JOB_ID_TAG, tags.SOURCE_TAG}
    assert tags.LESSON_KEY_TAG in run_tags and tags.TTS_TAG in run_tags


def test_outcome_tags_of_a_first_run_do_not_repeat_its_id() -> None:
    assert tags.outcome_tags("run-1", {}, manifest_path="/m.json") == {
        tags.MANIFEST_PATH_TAG: "/m.json"
    }
    child = {tags.PARENT_RUN_TAG: "run-0"}
    assert tags.outcome_tags("run-1", child, error="boom") == {
        tags.OUTCOME_RUN_TAG: "run-1",
        tags.ERROR_TAG: "boom",
    }


def shim_run(run_id: str, run_tags: dict[str, str]) -> DagsterRun:
    return DagsterRun.model_validate(
        {
            "runId": run_id,
            "status": "FAILURE",
            "tags": [{"key": key, "value": value} for key, value in run_tags.items()],
            "creationTime": 1.0,
        }
    )


@pytest.mark.parametrize(
    ("run_tags", "expected"),
    [
        ({tags.ERROR_TAG: "mine"}, "mine"),  # a first run: its own outcome
        ({tags.ERROR_TAG: "old", tags.PARENT_RUN_TAG: "p"}, None),  # inherited from a first run
        ({tags.ERROR_TAG: "old", tags.PARENT_RUN_TAG: "p", tags.OUTCOME_RUN_TAG: "p"}, None),
        ({tags.ERROR_TAG: "new", tags.PARENT_RUN_TAG: "p", tags.OUTCOME_RUN_TAG: "r"}, "new"),
    ],
)
def test_the_shim_trusts_an_outcome_only_on_the_run_that_wrote_it(
    run_tags: dict[str, str], expected: str | None
) -> None:
    assert job_view.outcome_tag(shim_run("r", run_tags), tags.ERROR_TAG) == expected


def test_a_ui_reexecution_is_told_from_retries_and_first_runs() -> None:
    assert tags.reexecuted_from_ui({tags.PARENT_RUN_TAG: "p"})
    assert not tags.reexecuted_from_ui({tags.PARENT_RUN_TAG: "p", tags.RETRY_NUMBER_TAG: "1"})
    assert not tags.reexecuted_from_ui({})
