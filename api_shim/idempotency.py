"""Durable `Idempotency-Key` records in a small SQLite table.

Why SQLite and not only the run tag `.dagster/esl/idempotency_key`: Dagster's `launchRun` does not
deduplicate, so "look up the tag, then launch" lets two concurrent retries both launch. A row
claimed with a UNIQUE primary key *before* the launch serialises them, across worker processes
too (SQLite file locks). The run still carries the tag, which is how a claim whose launch
outcome is unknown (timeout, crash) is reconciled later.

A row is `pending` from the claim until the launch is confirmed (`launched`). A failed launch
deletes the row, so nothing points to a run that does not exist; a pending row older than the
lease is re-checked against Dagster and either confirmed or taken over.
"""

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS idempotency_keys (
    principal   TEXT NOT NULL,
    key         TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    job_id      TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('pending', 'launched')),
    created_at  REAL NOT NULL,
    updated_at  REAL NOT NULL,
    PRIMARY KEY (principal, key)
);
CREATE INDEX IF NOT EXISTS idempotency_keys_created_at ON idempotency_keys (created_at);
"""


def request_fingerprint(body: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of the request fields that were sent."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class ClaimState(Enum):
    CLAIMED = "claimed"  # new key: launch with this job id
    CONFLICT = "conflict"  # same key, another body
    LAUNCHED = "launched"  # same key and body, run confirmed: replay
    IN_PROGRESS = "in_progress"  # same key and body, launch not yet confirmed, lease running
    STALE = "stale"  # same key and body, lease expired: reconcile with Dagster


@dataclass(frozen=True)
class Claim:
    state: ClaimState
    job_id: str


class IdempotencyStore:
    """Thread-safe; each method is one short SQLite transaction (call it off the event loop)."""

    def __init__(self, path: Path, *, ttl_s: float, lease_s: float) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._ttl_s = ttl_s
        self._lease_s = lease_s
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def claim(self, principal: str, key: str, fingerprint: str, job_id: str) -> Claim:
        """Claim `key` for `job_id`, or report what an earlier request with the key did."""
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "DELETE FROM idempotency_keys WHERE created_at < ?", (now - self._ttl_s,)
                )
                row = self._db.execute(
                    "SELECT fingerprint, job_id, state, updated_at FROM idempotency_keys "
                    "WHERE principal = ? AND key = ?",
                    (principal, key),
                ).fetchone()
                if row is None:
                    self._db.execute(
                        "INSERT INTO idempotency_keys VALUES (?, ?, ?, ?, 'pending', ?, ?)",
                        (principal, key, fingerprint, job_id, now, now),
                    )
                    claim = Claim(ClaimState.CLAIMED, job_id)
                else:
                    claim = self._existing(principal, key, fingerprint, row, now)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return claim

    def _existing(
        self, principal: str, key: str, fingerprint: str, row: tuple[Any, ...], now: float
    ) -> Claim:
        stored_fingerprint, job_id, state, updated_at = row
        if stored_fingerprint != fingerprint:
            return Claim(ClaimState.CONFLICT, job_id)
        if state == "launched":
            return Claim(ClaimState.LAUNCHED, job_id)
        if now - updated_at < self._lease_s:
            return Claim(ClaimState.IN_PROGRESS, job_id)
        # Renew the lease so that only this request reconciles the stale claim.
        self._db.execute(
            "UPDATE idempotency_keys SET updated_at = ? WHERE principal = ? AND key = ?",
            (now, principal, key),
        )
        return Claim(ClaimState.STALE, job_id)

    def mark_launched(self, principal: str, key: str) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE idempotency_keys SET state = 'launched', updated_at = ? "
                "WHERE principal = ? AND key = ?",
                (time.time(), principal, key),
            )

    def release(self, principal: str, key: str) -> None:
        """Forget a claim whose launch certainly did not happen."""
        with self._lock:
            self._db.execute(
                "DELETE FROM idempotency_keys WHERE principal = ? AND key = ? AND state = 'pending'",
                (principal, key),
            )

    def lookup(self, principal: str, key: str) -> tuple[str, str] | None:
        """(job_id, state) of a key, for operators and tests."""
        with self._lock:
            row = self._db.execute(
                "SELECT job_id, state FROM idempotency_keys WHERE principal = ? AND key = ?",
                (principal, key),
            ).fetchone()
        return (str(row[0]), str(row[1])) if row else None
