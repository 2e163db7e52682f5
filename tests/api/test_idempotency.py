"""Idempotency-Key: same key and body -> same job; other body -> 422; no claim survives a
launch that certainly failed; a claim with an unknown outcome is reconciled by run tag."""

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api_shim.idempotency import ClaimState, IdempotencyStore, request_fingerprint
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
    assert tags[".dagster/esl/idempotency_key"] == KEY["Idempotency-Key"]


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
    store = IdempotencyStore(tmp_path / "idempotency.sqlite3", ttl_s=60, lease_s=60)
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


def test_lost_launch_answer_keeps_the_claim_until_reconciled(
    make_client: ClientFactory, fake: FakeDagster, tmp_path: Path
) -> None:
    client = make_client(graphql_timeout_s=0.3)
    fake.launch_delay_s = 0.6
    fake.delay_s = 0.0
    # The launch answer is lost and the reconciling lookup is slow too: outcome unknown.
    fake.runs_delay_s = 0.6
    first = client.post("/jobs", json={"md": MISSION}, headers=KEY)
    assert first.status_code == 503
    fake.runs_delay_s = 0.0
    fake.launch_delay_s = 0.0

    in_flight = client.post("/jobs", json={"md": MISSION}, headers=KEY)
    assert in_flight.status_code == 409
    assert in_flight.json()["code"] == "idempotency_in_progress"

    # After the lease the claim is reconciled with the run that did get created.
    store = IdempotencyStore(tmp_path / "idempotency.sqlite3", ttl_s=60, lease_s=60)
    store._db.execute("UPDATE idempotency_keys SET updated_at = updated_at - 3600")
    store.close()
    replay = client.post("/jobs", json={"md": MISSION}, headers=KEY)
    assert replay.status_code == 202
    assert replay.headers["idempotent-replayed"] == "true"
    assert len(fake.launches) == 1
    assert fake.runs_for_job(replay.json()["jobId"])


def test_store_claim_states(tmp_path: Path) -> None:
    store = IdempotencyStore(tmp_path / "s.sqlite3", ttl_s=3600, lease_s=0.2)
    fp = request_fingerprint({"md": "a"})
    assert store.claim("p", "k", fp, "job-1").state is ClaimState.CLAIMED
    assert store.claim("p", "k", fp, "job-2").state is ClaimState.IN_PROGRESS
    assert (
        store.claim("p", "k", request_fingerprint({"md": "b"}), "job-3").state
        is ClaimState.CONFLICT
    )
    time.sleep(0.25)
    stale = store.claim("p", "k", fp, "job-4")
    assert (stale.state, stale.job_id) == (ClaimState.STALE, "job-1")
    store.mark_launched("p", "k")
    assert store.claim("p", "k", fp, "job-5").state is ClaimState.LAUNCHED
    store.close()


def test_store_forgets_keys_after_the_ttl(tmp_path: Path) -> None:
    store = IdempotencyStore(tmp_path / "s.sqlite3", ttl_s=0.1, lease_s=10)
    fp = request_fingerprint({"md": "a"})
    store.claim("p", "k", fp, "job-1")
    store.mark_launched("p", "k")
    time.sleep(0.15)
    assert store.claim("p", "k", fp, "job-2").state is ClaimState.CLAIMED
    store.close()
