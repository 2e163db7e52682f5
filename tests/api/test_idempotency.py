"""Idempotency-Key: same key and body -> same job; other body -> 422; no claim survives a
launch that certainly failed or was abandoned; a stale pending claim is reconciled by run tag."""

import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api_shim.idempotency import (
    Claim,
    ClaimState,
    LaunchOutcome,
    SqliteIdempotencyStore,
    request_fingerprint,
)
from esl_dagster.defs.lessons.launch_guard import record_start
from tests.api.conftest import MISSION, ClientFactory
from tests.fakes.dagster_graphql import FakeDagster

KEY = {"Idempotency-Key": "7a0c4e8e-3f7e-4f34-9d62-1f2f5c0f1a11"}


def test_same_key_and_body_returns_the_same_job(client: TestClient, fake: FakeDagster) -> None:
    first = client.post("/jobs", json={"md": MISSION, "preset": "b1-default"}, headers=KEY)
    again = client.post("/jobs", json={"preset": "b1-default", "md": MISSION}, headers=KEY)

    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert len(fake.launches) == 1
    tags = {t["key"]: t["value"] for t in fake.launches[0]["executionMetadata"]["tags"]}
    assert tags[".dagster/esl.idempotency_key"] == KEY["Idempotency-Key"]


def test_same_key_other_body_is_422(client: TestClient, fake: FakeDagster) -> None:
    client.post("/jobs", json={"md": MISSION}, headers=KEY)
    response = client.post("/jobs", json={"md": MISSION, "withTts": False}, headers=KEY)

    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"
    assert len(fake.launches) == 1


def test_keys_are_scoped_per_api_key(make_client: ClientFactory, fake: FakeDagster) -> None:
    client = make_client(api_keys=["key-one-0123456789", "key-two-0123456789"])
    one = {**KEY, "Authorization": "Bearer key-one-0123456789"}
    two = {**KEY, "Authorization": "Bearer key-two-0123456789"}

    a = client.post("/jobs", json={"md": MISSION}, headers=one).json()["jobId"]
    b = client.post("/jobs", json={"md": MISSION}, headers=two).json()["jobId"]

    assert a != b
    assert len(fake.launches) == 2


def test_no_key_means_a_new_job_each_time(client: TestClient, fake: FakeDagster) -> None:
    ids = {client.post("/jobs", json={"md": MISSION}).json()["jobId"] for _ in range(3)}
    assert len(ids) == 3 and len(fake.launches) == 3


@pytest.mark.parametrize("key", ["", "with space", "x" * 256])
def test_malformed_key_is_400(client: TestClient, fake: FakeDagster, key: str) -> None:
    response = client.post("/jobs", json={"md": MISSION}, headers={"Idempotency-Key": key})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_idempotency_key"
    assert fake.launches == []


def test_dagster_down_leaves_no_claim_behind(
    client: TestClient, fake: FakeDagster, tmp_path: Path
) -> None:
    with fake.down():
        down = client.post("/jobs", json={"md": MISSION}, headers=KEY)
    assert down.status_code == 503
    store = SqliteIdempotencyStore(tmp_path / "idempotency.sqlite3", ttl_s=60, lease_s=60)
    assert store.lookup("anonymous", KEY["Idempotency-Key"]) is None

    up = client.post("/jobs", json={"md": MISSION}, headers=KEY)
    assert up.status_code == 202
    assert len(fake.launches) == 1
    assert store.lookup("anonymous", KEY["Idempotency-Key"]) == (up.json()["jobId"], "launched")
    store.close()


def test_rejected_launch_releases_the_claim(client: TestClient, fake: FakeDagster) -> None:
    fake.launch_result = {"__typename": "PythonError", "message": "boom", "stack": []}
    assert client.post("/jobs", json={"md": MISSION}, headers=KEY).status_code == 500
    fake.launch_result = None
    assert client.post("/jobs", json={"md": MISSION}, headers=KEY).status_code == 202
    assert len(fake.launches) == 1


def test_invalid_body_with_a_key_claims_nothing(client: TestClient, fake: FakeDagster) -> None:
    assert client.post("/jobs", json={"md": "./lessons/nope.md"}, headers=KEY).status_code == 400
    assert client.post("/jobs", json={"md": MISSION}, headers=KEY).status_code == 202


def test_concurrent_retries_with_one_key_launch_once(
    make_client: ClientFactory, fake: FakeDagster
) -> None:
    client = make_client()
    fake.delay_s = 0.05

    def post(_: int) -> tuple[int, str | None]:
        response = client.post("/jobs", json={"md": MISSION}, headers=KEY)
        return response.status_code, response.json().get("jobId")

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(post, range(6)))

    assert len(fake.launches) == 1
    accepted = {job_id for status, job_id in results if status == 202}
    assert len(accepted) == 1
    assert {status for status, _ in results} <= {202, 409}


def test_abandoned_launch_releases_the_claim(
    make_client: ClientFactory, fake: FakeDagster, tmp_path: Path
) -> None:
    """The launch answer is lost and the lookup hangs too: the shim abandons the launch in the
    ledger and answers 503, so the key is free again and a retry is a new job (the first run,
    if the webserver creates it after all, is refused by its launch guard)."""
    client = make_client(launch_budget_s=0.5)
    fake.launch_delay_s = 0.8
    fake.runs_delay_s = 0.8
    first = client.post("/jobs", json={"md": MISSION}, headers=KEY)
    assert first.status_code == 503
    fake.runs_delay_s = 0.0
    fake.launch_delay_s = 0.0
    store = SqliteIdempotencyStore(tmp_path / "idempotency.sqlite3", ttl_s=60, lease_s=60)
    assert store.lookup("anonymous", KEY["Idempotency-Key"]) is None

    retry = client.post("/jobs", json={"md": MISSION}, headers=KEY)
    assert retry.status_code == 202
    assert "idempotent-replayed" not in retry.headers
    abandoned_tags = {t["key"]: t["value"] for t in fake.launches[0]["executionMetadata"]["tags"]}
    assert abandoned_tags["esl/job_id"] != retry.json()["jobId"]
    assert store.abandon_launch(abandoned_tags["esl/launch_id"]) is LaunchOutcome.ABANDONED
    store.close()


def _stale_claim(tmp_path: Path, launch_id: str | None) -> SqliteIdempotencyStore:
    """A pending claim left by a crashed shim (its lease long over)."""
    store = SqliteIdempotencyStore(tmp_path / "idempotency.sqlite3", ttl_s=60, lease_s=60)
    fingerprint = request_fingerprint({"md": MISSION})
    store.claim("anonymous", KEY["Idempotency-Key"], fingerprint, "job-x", launch_id or "l-0")
    store._db.execute(
        "UPDATE idempotency_keys SET updated_at = updated_at - 3600, launch_id = ?", (launch_id,)
    )
    return store


def test_stale_claim_whose_run_started_is_replayed(
    client: TestClient, fake: FakeDagster, tmp_path: Path
) -> None:
    store = _stale_claim(tmp_path, "launch-of-the-crashed-shim")
    assert record_start(store.ledger_ref, "launch-of-the-crashed-shim") == "started"

    replay = client.post("/jobs", json={"md": MISSION}, headers=KEY)

    assert replay.status_code == 202
    assert replay.json() == {"jobId": "job-x"}
    assert replay.headers["idempotent-replayed"] == "true"
    assert fake.launches == []
    assert store.lookup("anonymous", KEY["Idempotency-Key"]) == ("job-x", "launched")
    store.close()


def test_stale_claim_whose_run_never_started_is_launched_again_once(
    client: TestClient, fake: FakeDagster, tmp_path: Path
) -> None:
    store = _stale_claim(tmp_path, "launch-of-the-crashed-shim")

    again = client.post("/jobs", json={"md": MISSION}, headers=KEY)

    assert again.status_code == 202
    assert again.json() == {"jobId": "job-x"}
    tags = {t["key"]: t["value"] for t in fake.launches[0]["executionMetadata"]["tags"]}
    assert tags["esl/job_id"] == "job-x"
    assert tags["esl/launch_id"] != "launch-of-the-crashed-shim"
    # Should the crashed shim's launch still create a run, its guard refuses it.
    assert record_start(store.ledger_ref, "launch-of-the-crashed-shim") == "abandoned"
    assert store.lookup("anonymous", KEY["Idempotency-Key"]) == ("job-x", "launched")
    store.close()


def test_stale_claim_without_a_launch_id_is_reconciled_by_run_tag(
    client: TestClient, fake: FakeDagster, tmp_path: Path
) -> None:
    store = _stale_claim(tmp_path, None)
    fake.add_run(job_id="job-x")

    replay = client.post("/jobs", json={"md": MISSION}, headers=KEY)

    assert replay.status_code == 202
    assert replay.headers["idempotent-replayed"] == "true"
    assert fake.launches == []
    store.close()


def test_stale_claim_without_a_launch_id_and_a_hung_webserver_is_503_and_kept(
    make_client: ClientFactory, fake: FakeDagster, tmp_path: Path
) -> None:
    client = make_client(launch_budget_s=0.5)
    store = _stale_claim(tmp_path, None)
    fake.runs_delay_s = 2.0

    response = client.post("/jobs", json={"md": MISSION}, headers=KEY)

    assert response.status_code == 503
    assert fake.launches == []
    assert store.lookup("anonymous", KEY["Idempotency-Key"]) == ("job-x", "pending")
    store.close()


def test_store_claim_states(tmp_path: Path) -> None:
    store = SqliteIdempotencyStore(tmp_path / "s.sqlite3", ttl_s=3600, lease_s=0.2)
    fp = request_fingerprint({"md": "a"})
    assert store.claim("p", "k", fp, "job-1", "launch-job-1").state is ClaimState.CLAIMED
    assert store.claim("p", "k", fp, "job-2", "launch-job-2").state is ClaimState.IN_PROGRESS
    assert (
        store.claim("p", "k", request_fingerprint({"md": "b"}), "job-3", "launch-job-3").state
        is ClaimState.CONFLICT
    )
    time.sleep(0.25)
    stale = store.claim("p", "k", fp, "job-4", "launch-job-4")
    assert (stale.state, stale.job_id, stale.launch_id) == (
        ClaimState.STALE,
        "job-1",
        "launch-job-1",
    )
    store.mark_launched("p", "k")
    assert store.claim("p", "k", fp, "job-5", "launch-job-5").state is ClaimState.LAUNCHED
    store.close()


def test_store_forgets_keys_after_the_ttl(tmp_path: Path) -> None:
    store = SqliteIdempotencyStore(tmp_path / "s.sqlite3", ttl_s=0.1, lease_s=10)
    fp = request_fingerprint({"md": "a"})
    store.claim("p", "k", fp, "job-1", "launch-job-1")
    store.mark_launched("p", "k")
    time.sleep(0.15)
    assert store.claim("p", "k", fp, "job-2", "launch-job-2").state is ClaimState.CLAIMED
    store.close()


def test_a_store_file_of_the_previous_schema_gains_launch_ids(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)
    old.execute(
        "CREATE TABLE idempotency_keys (principal TEXT NOT NULL, key TEXT NOT NULL, "
        "fingerprint TEXT NOT NULL, job_id TEXT NOT NULL, state TEXT NOT NULL, "
        "created_at REAL NOT NULL, updated_at REAL NOT NULL, PRIMARY KEY (principal, key))"
    )
    old.execute(
        "INSERT INTO idempotency_keys VALUES ('p', 'k', 'f', 'job-1', 'launched', ?, ?)",
        (time.time(), time.time()),
    )
    old.commit()
    old.close()

    store = SqliteIdempotencyStore(path, ttl_s=3600, lease_s=10)

    assert store.claim("p", "k", "f", "job-2", "launch-2") == Claim(ClaimState.LAUNCHED, "job-1")
    assert store.claim("p", "k2", "f", "job-3", "launch-3").launch_id == "launch-3"
    store.close()
