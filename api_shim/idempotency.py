"""Durable `Idempotency-Key` records and the launch ledger, behind one small interface.

Two implementations of `IdempotencyStore`: `SqliteIdempotencyStore` (the embedded default, one
file per machine) and `PostgresIdempotencyStore` (`api_shim.idempotency_pg`, shared by every shim
replica). The app (`api_shim.main`) picks one from the settings.

Why a store and not only the run tag `.dagster/esl.idempotency_key`: Dagster's `launchRun` does not
deduplicate, so "look up the tag, then launch" lets two concurrent retries both launch. A row
claimed with a UNIQUE primary key *before* the launch serialises them, across processes and
replicas. The run still carries the tag, which is how a claim whose launch outcome is unknown is
reconciled later.

A row is `pending` from the claim until the launch is confirmed (`launched`). A launch that
certainly did not happen deletes the row, so nothing points to a run that does not exist. A
pending row older than the lease (its shim crashed, or could not write the ledger) names the
launch id it tried: the request that finds it abandons that launch in the ledger; `started`
means the run exists (replay), `abandoned` means it never will work, so the job is launched
again under the same job id and a new launch id.

The launch ledger (`launch_outcomes`) decides launches whose answer was lost: every run the shim
launches carries an `esl/launch_id` tag, and the first of two writers wins the row for that id:
the run's first op writes `started` before doing anything, the shim writes `abandoned` when it
gives up on a launch. A run that finds `abandoned` does nothing (see the code location's launch
guard), so a 503 never leaves a run that works.
"""

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Protocol

SQLITE_SCHEMA = """
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
CREATE TABLE IF NOT EXISTS launch_outcomes (
    launch_id  TEXT PRIMARY KEY,
    outcome    TEXT NOT NULL CHECK (outcome IN ('started', 'abandoned')),
    decided_at REAL NOT NULL
);
"""


def request_fingerprint(body: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of the request fields that were sent."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class StoreUnavailable(Exception):
    """The store cannot be reached (its database is down); the request may be retried."""


class ClaimState(Enum):
    CLAIMED = "claimed"  # new key: launch with this job id
    CONFLICT = "conflict"  # same key, another body
    LAUNCHED = "launched"  # same key and body, run confirmed: replay
    IN_PROGRESS = "in_progress"  # same key and body, launch not yet confirmed, lease running
    STALE = "stale"  # same key and body, lease expired: reconcile with Dagster


class LaunchOutcome(Enum):
    STARTED = "started"  # the run's first op won the ledger row: the run exists and works
    ABANDONED = "abandoned"  # the shim won it: a run of this launch, if any, does nothing


@dataclass(frozen=True)
class Claim:
    state: ClaimState
    job_id: str
    # The launch the stored claim tried (STALE: the one to decide before launching again).
    launch_id: str | None = None


def existing_claim(
    fingerprint: str, stored: tuple[Any, ...], now: float, lease_s: float
) -> ClaimState:
    """What a second request with a known key gets.

    `stored` is the row's (fingerprint, job id, state, updated at, launch id).
    """
    stored_fingerprint, _job_id, state, updated_at, _launch_id = stored
    if stored_fingerprint != fingerprint:
        return ClaimState.CONFLICT
    if state == "launched":
        return ClaimState.LAUNCHED
    if now - float(updated_at) < lease_s:
        return ClaimState.IN_PROGRESS
    return ClaimState.STALE


class IdempotencyStore(Protocol):
    """Each method is one short transaction; call them off the event loop."""

    @property
    def ledger_ref(self) -> str:
        """The `esl/launch_ledger` tag value: where the run's launch guard finds the ledger."""
        ...

    def claim(
        self, principal: str, key: str, fingerprint: str, job_id: str, launch_id: str
    ) -> Claim:
        """Claim `key` for `job_id` and `launch_id`, or report what an earlier request did.

        A STALE claim is renewed for `launch_id`; it reports the launch id stored before.
        """
        ...

    def mark_launched(self, principal: str, key: str) -> None: ...

    def release(self, principal: str, key: str) -> None:
        """Forget a pending claim whose launch certainly did not happen (or never will work)."""
        ...

    def lookup(self, principal: str, key: str) -> tuple[str, str] | None:
        """(job_id, state) of a key, for operators and tests."""
        ...

    def abandon_launch(self, launch_id: str) -> LaunchOutcome:
        """Declare a launch failed unless its run already started; return who won."""
        ...

    def close(self) -> None: ...


class SqliteIdempotencyStore:
    """The embedded store: one SQLite file (WAL), shared by the processes of one machine."""

    def __init__(self, path: Path, *, ttl_s: float, lease_s: float) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path.resolve()
        self._ttl_s = ttl_s
        self._lease_s = lease_s
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SQLITE_SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(idempotency_keys)")}
        if "launch_id" not in columns:  # a store file written before launch ids were kept
            self._db.execute("ALTER TABLE idempotency_keys ADD COLUMN launch_id TEXT")

    @property
    def ledger_ref(self) -> str:
        return f"sqlite:{self.path}"

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _write_transaction(self) -> Iterator[None]:
        """One ``BEGIN IMMEDIATE`` transaction under the store's lock, rolled back on any error."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def claim(
        self, principal: str, key: str, fingerprint: str, job_id: str, launch_id: str
    ) -> Claim:
        now = time.time()
        with self._write_transaction():
            self._db.execute(
                "DELETE FROM idempotency_keys WHERE created_at < ?", (now - self._ttl_s,)
            )
            row = self._db.execute(
                "SELECT fingerprint, job_id, state, updated_at, launch_id "
                "FROM idempotency_keys WHERE principal = ? AND key = ?",
                (principal, key),
            ).fetchone()
            if row is None:
                self._db.execute(
                    "INSERT INTO idempotency_keys (principal, key, fingerprint, job_id, "
                    "state, created_at, updated_at, launch_id) "
                    "VALUES (?, ?, ?, ?, 'pending', ?, ?, ?)",
                    (principal, key, fingerprint, job_id, now, now, launch_id),
                )
                return Claim(ClaimState.CLAIMED, job_id, launch_id)
            state = existing_claim(fingerprint, row, now, self._lease_s)
            if state is ClaimState.STALE:
                # Renew the lease so that only this request reconciles the stale claim.
                self._db.execute(
                    "UPDATE idempotency_keys SET updated_at = ?, launch_id = ? "
                    "WHERE principal = ? AND key = ?",
                    (now, launch_id, principal, key),
                )
            return Claim(state, row[1], row[4])

    def mark_launched(self, principal: str, key: str) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE idempotency_keys SET state = 'launched', updated_at = ? "
                "WHERE principal = ? AND key = ?",
                (time.time(), principal, key),
            )

    def release(self, principal: str, key: str) -> None:
        with self._lock:
            self._db.execute(
                "DELETE FROM idempotency_keys WHERE principal = ? AND key = ? AND state = 'pending'",
                (principal, key),
            )

    def lookup(self, principal: str, key: str) -> tuple[str, str] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT job_id, state FROM idempotency_keys WHERE principal = ? AND key = ?",
                (principal, key),
            ).fetchone()
        return (str(row[0]), str(row[1])) if row else None

    def abandon_launch(self, launch_id: str) -> LaunchOutcome:
        now = time.time()
        with self._write_transaction():
            self._db.execute(
                "DELETE FROM launch_outcomes WHERE decided_at < ?", (now - self._ttl_s,)
            )
            self._db.execute(
                "INSERT INTO launch_outcomes VALUES (?, 'abandoned', ?) "
                "ON CONFLICT (launch_id) DO NOTHING",
                (launch_id, now),
            )
            row = self._db.execute(
                "SELECT outcome FROM launch_outcomes WHERE launch_id = ?", (launch_id,)
            ).fetchone()
        return LaunchOutcome(row[0])
