"""Idempotency-Keys across shim replicas: the Postgres store on the real local server.

Two shims run as real uvicorn processes on one fresh database (and one fake Dagster GraphQL
endpoint); the same key sent to both at once makes one job. The store itself is checked for the
same semantics as the SQLite one, for an idempotent schema migration and for the launch ledger
shared with the code location's launch guard.
"""

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from api_shim.idempotency import ClaimState, LaunchOutcome, request_fingerprint
from api_shim.idempotency_pg import PostgresIdempotencyStore, libpq_dsn
from esl_dagster.defs.lessons.launch_guard import record_start
from tests.api.conftest import MISSION, ClientFactory
from tests.e2e.real_stack import PG_HOST, PG_PORT, free_port, postgres_database, tail
from tests.fakes.dagster_graphql import FakeDagster

START_TIMEOUT_S = 60.0


@pytest.fixture
def database_url() -> Iterator[str]:
    with postgres_database("esl_idem") as name:
        yield f"postgresql+psycopg2://postgres@{PG_HOST}:{PG_PORT}/{name}"


def _start_shim(port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "uvicorn", "api_shim.main:app", "--port", str(port)]
    with log.open("wb") as sink:
        return subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT)


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"shim exited with {proc.returncode}\n{tail(log, 30)}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError(f"shim at {url} not up in time\n{tail(log, 30)}")


@pytest.fixture
def replicas(
    fake: FakeDagster, lesson_cwd: Path, database_url: str, tmp_path: Path
) -> Iterator[list[str]]:
    """Two shim processes on one Postgres database; their base URLs."""
    env = {
        **os.environ,
        "ESL_DAGSTER_GRAPHQL_URL": fake.url,
        "ESL_IDEMPOTENCY_DSN": database_url,
        "PIPELINE_CWD": str(lesson_cwd),
        "ESL_LAUNCH_BUDGET_SECONDS": "4",
    }
    env.pop("ESL_API_KEYS", None)
    procs: list[tuple[subprocess.Popen[bytes], Path]] = []
    urls = []
    try:
        for index in range(2):
            port = free_port()
            log = tmp_path / f"shim{index}.log"
            # Separate SQLite files: only the Postgres store can make the replicas agree.
            own = {**env, "ESL_API_IDEMPOTENCY_DB": str(tmp_path / f"shim{index}.sqlite3")}
            procs.append((_start_shim(port, own, log), log))
            urls.append(f"http://127.0.0.1:{port}")
        for url, (proc, log) in zip(urls, procs, strict=True):
            _wait_healthy(url, proc, log)
        yield urls
    finally:
        for proc, _ in procs:
            proc.terminate()
        for proc, _ in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_one_key_sent_to_two_replicas_at_once_makes_one_job(
    replicas: list[str], fake: FakeDagster
) -> None:
    fake.delay_s = 0.3  # both requests are in flight while the first launch is pending
    key = {"Idempotency-Key": "replica-key-1"}

    def post(url: str) -> httpx.Response:
        return httpx.post(f"{url}/jobs", json={"md": MISSION}, headers=key, timeout=10.0)

    with ThreadPoolExecutor(max_workers=2) as pool:
        first, second = pool.map(post, replicas)

    assert {first.status_code, second.status_code} <= {202, 409}, (first.text, second.text)
    accepted = {r.json()["jobId"] for r in (first, second) if r.status_code == 202}
    assert len(accepted) == 1
    assert len(fake.launches) == 1
    tags = {t["key"]: t["value"] for t in fake.launches[0]["executionMetadata"]["tags"]}
    assert tags["esl/launch_ledger"] == "postgres"
    # Once the launch is confirmed, either replica replays the same job.
    for url in replicas:
        replay = post(url)
        assert replay.status_code == 202
        assert replay.json()["jobId"] in accepted
        assert replay.headers["idempotent-replayed"] == "true"
    other_body = httpx.post(
        f"{replicas[1]}/jobs", json={"md": MISSION, "withTts": True}, headers=key, timeout=10.0
    )
    assert other_body.status_code == 422
    assert len(fake.launches) == 1


def test_store_semantics_and_idempotent_migration(database_url: str) -> None:
    stores = [PostgresIdempotencyStore(database_url, ttl_s=3600, lease_s=0.2) for _ in range(2)]
    one, two = stores
    try:
        assert one.schema_version == two.schema_version == 2
        fp = request_fingerprint({"md": "a"})
        assert one.claim("p", "k", fp, "job-1", "launch-job-1").state is ClaimState.CLAIMED
        assert two.claim("p", "k", fp, "job-2", "launch-job-2").state is ClaimState.IN_PROGRESS
        other = request_fingerprint({"md": "b"})
        assert two.claim("p", "k", other, "job-3", "launch-job-3").state is ClaimState.CONFLICT
        time.sleep(0.25)
        stale = two.claim("p", "k", fp, "job-4", "launch-job-4")
        assert (stale.state, stale.job_id, stale.launch_id) == (
            ClaimState.STALE,
            "job-1",
            "launch-job-1",
        )
        two.mark_launched("p", "k")
        assert one.claim("p", "k", fp, "job-5", "launch-job-5").state is ClaimState.LAUNCHED
        assert one.lookup("p", "k") == ("job-1", "launched")
        one.release("p", "k")  # only pending claims are released
        assert one.lookup("p", "k") == ("job-1", "launched")
    finally:
        for store in stores:
            store.close()


def test_launch_ledger_is_shared_with_the_launch_guard(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ESL_IDEMPOTENCY_DSN", raising=False)
    monkeypatch.setenv("DAGSTER_PG_URL", database_url)
    store = PostgresIdempotencyStore(database_url, ttl_s=3600, lease_s=10)
    try:
        assert store.ledger_ref == "postgres"
        assert store.abandon_launch("launch-a") is LaunchOutcome.ABANDONED
        assert record_start("postgres", "launch-a") == "abandoned"
        assert record_start("postgres", "launch-b") == "started"
        assert store.abandon_launch("launch-b") is LaunchOutcome.STARTED
    finally:
        store.close()


def test_sqlalchemy_scheme_is_reduced_for_libpq() -> None:
    assert libpq_dsn("postgresql+psycopg2://u@h:5/d") == "postgresql://u@h:5/d"
    assert libpq_dsn("postgresql://u@h/d") == "postgresql://u@h/d"
    assert libpq_dsn("host=h dbname=d") == "host=h dbname=d"


def test_an_unreachable_store_is_503_and_the_shim_stays_up(
    make_client: ClientFactory, fake: FakeDagster
) -> None:
    closed = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    client = make_client(idempotency_dsn=closed)

    keyed = client.post("/jobs", json={"md": MISSION}, headers={"Idempotency-Key": "k-1"})
    plain = client.post("/jobs", json={"md": MISSION})

    assert keyed.status_code == 503
    assert keyed.json()["code"] == "idempotency_store_unavailable"
    assert keyed.headers["retry-after"]
    assert plain.status_code == 202  # a request without a key does not need the store
    assert len(fake.launches) == 1
