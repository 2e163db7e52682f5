"""`esl submit --follow` on the real stack: a client with no access to the server's disk uploads
two lessons, submits them, follows them on the event stream and ends with each job's outcome
(a Notion page for the valid lesson, the validator's message for the invalid one, exit 1)."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.conftest import INVALID_LESSON, VALID_LESSONS
from tests.e2e.real_stack import RealStack

pytestmark = pytest.mark.integration

ESL = Path(sys.executable).with_name("esl")
SUBMIT_TIMEOUT_S = 150.0


def test_submit_follow_reports_every_job_to_its_end(stack: RealStack, tmp_path: Path) -> None:
    valid = tmp_path / "client-podcast.md"
    marker = f"\n<!-- e2e submit {uuid.uuid4()} -->\n"
    valid.write_text(VALID_LESSONS[1].read_text(encoding="utf-8") + marker, encoding="utf-8")
    invalid = tmp_path / "client-invalid.md"
    invalid.write_text(INVALID_LESSON.read_text(encoding="utf-8"), encoding="utf-8")

    env = {k: v for k, v in os.environ.items() if not k.startswith("ESL_API")}
    done = subprocess.run(
        [str(ESL), "submit", str(valid), str(invalid), "--api", stack.api_url, "--follow"],
        capture_output=True,
        text=True,
        timeout=SUBMIT_TIMEOUT_S,
        env=env,
        cwd=tmp_path,
        check=False,
    )

    output = done.stdout + done.stderr
    assert done.returncode == 1, output  # one job failed
    assert "Traceback" not in output
    lines = done.stdout.splitlines()
    succeeded = [line for line in lines if "client-podcast" in line and ": succeeded" in line]
    failed = [line for line in lines if "client-invalid" in line and ": failed: " in line]
    assert succeeded and "notion" in succeeded[-1].lower(), output
    assert failed and "Validation failed" in failed[-1], output
