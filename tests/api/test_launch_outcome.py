"""A launch whose answer is lost is decided before POST answers: 202 when the run exists (found by
its job-id and launch-id tags, or started according to the launch ledger), else 503 with the
launch abandoned in the ledger, so that the run's launch guard refuses a run created later.

The guard's side of the ledger is the code location's own function (`record_start`), run against
the shim's store file, so the two halves of the protocol are tested together.
"""

import threading
import time
from pathlib import Path

import pytest

from api_shim.idempotency import LaunchOutcome, SqliteIdempotencyStore
from esl_dagster.defs.lessons.launch_guard import record_start
from tests.api.conftest import MISSION, ClientFactory
from tests.fakes.dagster_graphql import FakeDagster

# Launch gets 0.6 of the budget, the lookup the rest; the fake's delays exceed both.
BUDGET_S = 1.0
HANG_S = 1.5


def _launch_tags(fake: FakeDagster, index: int = 0) -> dict[str, str]:
    return {t["key"]: t["value"] for t in fake.launches[index]["executionMetadata"]["tags"]}


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "idempotency.sqlite3"  # the file make_client configures


def test_answer_lost_but_run_found_by_tag_is_202(
    make_client: ClientFactory, fake: FakeDagster
) -> None:
    client = make_client(launch_budget_s=BUDGET_S)
    fake.launch_delay_s = HANG_S

    response = client.post("/jobs", json={"md": MISSION})

    assert response.status_code == 202
    tags = _launch_tags(fake)
    assert tags["esl/job_id"] == response.json()["jobId"]
    assert fake.operations() == ["launchRun", "runsOrError"]
    lookup = fake.requests[1]["variables"]["filter"]["tags"]
    assert {"key": "esl/job_id", "value": tags["esl/job_id"]} in lookup
    assert {"key": "esl/launch_id", "value": tags["esl/launch_id"]} in lookup


def test_connection_dropped_after_launch_is_202(
    make_client: ClientFactory, fake: FakeDagster
) -> None:
    client = make_client(launch_budget_s=BUDGET_S)
    fake.drop_after_launch = True

    response = client.post("/jobs", json={"md": MISSION})

    assert response.status_code == 202
    assert len(fake.runs_for_job(response.json()["jobId"])) == 1


def test_hung_webserver_abandons_the_launch_and_a_late_run_is_refused(
    make_client: ClientFactory, fake: FakeDagster, store_path: Path
) -> None:
    client = make_client(launch_budget_s=BUDGET_S)
    fake.launch_delay_s = HANG_S
    fake.runs_delay_s = HANG_S

    response = client.post("/jobs", json={"md": MISSION})

    assert response.status_code == 503
    assert response.headers["retry-after"]
    tags = _launch_tags(fake)
    assert tags["esl/launch_ledger"] == f"sqlite:{store_path.resolve()}"
    # The webserver created the run after all; its first op asks the ledger and is refused.
    assert record_start(tags["esl/launch_ledger"], tags["esl/launch_id"]) == "abandoned"


def test_run_that_started_before_the_shim_gave_up_is_202(
    make_client: ClientFactory, fake: FakeDagster
) -> None:
    client = make_client(launch_budget_s=BUDGET_S)
    fake.launch_delay_s = HANG_S
    fake.runs_delay_s = HANG_S
    decisions: list[str] = []

    def first_op_starts() -> None:
        deadline = time.monotonic() + 5
        while not fake.launches and time.monotonic() < deadline:
            time.sleep(0.01)
        tags = _launch_tags(fake)
        decisions.append(record_start(tags["esl/launch_ledger"], tags["esl/launch_id"]))

    worker = threading.Thread(target=first_op_starts)
    worker.start()
    response = client.post("/jobs", json={"md": MISSION})
    worker.join()

    assert decisions == ["started"]
    assert response.status_code == 202
    assert response.json()["jobId"] == _launch_tags(fake)["esl/job_id"]


def test_refused_connection_is_503_without_a_ledger_entry(
    make_client: ClientFactory, fake: FakeDagster, store_path: Path
) -> None:
    client = make_client(launch_budget_s=BUDGET_S)
    with fake.down():
        response = client.post("/jobs", json={"md": MISSION})
    assert response.status_code == 503
    store = SqliteIdempotencyStore(store_path, ttl_s=60, lease_s=60)
    rows = store._db.execute("SELECT count(*) FROM launch_outcomes").fetchone()
    store.close()
    assert rows == (0,)


def test_ledger_first_writer_wins(store_path: Path) -> None:
    store = SqliteIdempotencyStore(store_path, ttl_s=60, lease_s=60)
    ledger = store.ledger_ref
    assert store.abandon_launch("launch-a") is LaunchOutcome.ABANDONED
    assert record_start(ledger, "launch-a") == "abandoned"
    assert record_start(ledger, "launch-b") == "started"
    assert store.abandon_launch("launch-b") is LaunchOutcome.STARTED
    assert record_start(ledger, "launch-b") == "started"  # a run retry of the same launch
    store.close()


def test_readiness_answers_within_its_budget_when_the_webserver_hangs(
    make_client: ClientFactory, fake: FakeDagster
) -> None:
    client = make_client(readiness_budget_s=0.3)
    fake.delay_s = 2.0

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["dagster"] == "unreachable"
