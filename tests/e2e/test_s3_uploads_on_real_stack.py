"""S3 mode on the real stack: with `ESL_LESSON_S3_URI` set for every process (a moto server as
S3), a client uploads a lesson (`POST /uploads` stores it under the prefix and answers its
`s3://` URI), submits that URI (`POST /jobs`) and the job succeeds with no lesson on any disk
the client shares with the server."""

import hashlib
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import VALID_LESSONS
from tests.e2e.conftest import Services, lay_out_workdir, product_env
from tests.e2e.real_stack import JobTrace, RealStack, poll_jobs, postgres_database, running_stack

pytestmark = pytest.mark.integration

LESSON_BUCKET = "esl-e2e-lessons"
LESSON_PREFIX = "teachers/anna"
JOB_DEADLINE_S = 90.0


@pytest.fixture(scope="module")
def s3_stack(services: Services, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealStack]:
    services.s3().create_bucket(Bucket=LESSON_BUCKET)
    workdir = lay_out_workdir(tmp_path_factory.mktemp("e2e-s3-cwd"))
    env = {
        **product_env(services),
        "ESL_LESSON_S3_URI": f"s3://{LESSON_BUCKET}/{LESSON_PREFIX}",
    }
    with (
        postgres_database("esl_e2e_s3") as database,
        running_stack(workdir, database=database, extra_env=env) as real,
    ):
        yield real


def test_an_upload_in_s3_mode_runs_from_the_bucket(s3_stack: RealStack, services: Services) -> None:
    lesson = VALID_LESSONS[1].read_bytes() + f"\n<!-- e2e s3 {uuid.uuid4()} -->\n".encode()
    digest = hashlib.sha256(lesson).hexdigest()
    with httpx.Client(base_url=s3_stack.api_url, timeout=30.0, trust_env=False) as client:
        uploaded = client.post("/uploads", files={"file": ("podcast.md", lesson, "text/markdown")})
        assert uploaded.status_code == 201, uploaded.text
        md = uploaded.json()["md"]
        assert md == f"s3://{LESSON_BUCKET}/{LESSON_PREFIX}/.uploads/{digest}.md"
        key = md.removeprefix(f"s3://{LESSON_BUCKET}/")
        stored = services.s3().get_object(Bucket=LESSON_BUCKET, Key=key)["Body"].read()
        assert stored == lesson

        submitted = client.post("/jobs", json={"md": md, "withTts": False})
        assert submitted.status_code == 202, submitted.text
        job_id = submitted.json()["jobId"]

    trace = JobTrace(job_id, [])
    poll_jobs(s3_stack.api_url, [trace], timeout=JOB_DEADLINE_S)
    assert trace.bodies and trace.final["md"] == md
    assert trace.final["state"] == "succeeded", (
        f"job ended {trace.states} with error {trace.final['error']!r}\n{s3_stack.diagnose(job_id)}"
    )
    assert trace.final["manifestPath"]
    assert trace.final["notionUrl"]


def test_the_s3_stack_refuses_lessons_outside_its_prefix(s3_stack: RealStack) -> None:
    with httpx.Client(base_url=s3_stack.api_url, timeout=30.0, trust_env=False) as client:
        outside = client.post("/jobs", json={"md": f"s3://{LESSON_BUCKET}/other/lesson.md"})
        missing = client.post(
            "/jobs", json={"md": f"s3://{LESSON_BUCKET}/{LESSON_PREFIX}/missing.md"}
        )
    assert (outside.status_code, outside.json()["code"]) == (400, "md_outside_roots")
    assert (missing.status_code, missing.json()["code"]) == (400, "md_not_found")


def test_local_lessons_still_run_in_s3_mode(s3_stack: RealStack) -> None:
    with httpx.Client(base_url=s3_stack.api_url, timeout=30.0, trust_env=False) as client:
        submitted = client.post("/jobs", json={"md": f"lessons/{VALID_LESSONS[0].name}"})
    assert submitted.status_code == 202, submitted.text
    trace = JobTrace(submitted.json()["jobId"], [])
    poll_jobs(s3_stack.api_url, [trace], timeout=JOB_DEADLINE_S)
    assert trace.final["state"] == "succeeded", s3_stack.diagnose(trace.job_id)
