"""The Postgres `IdempotencyStore`: Idempotency-Keys and the launch ledger shared by replicas.

Own tables (`esl_idempotency_keys`, `esl_launch_outcomes`) next to Dagster's, created at start
under a transaction-scoped advisory lock (several replicas may start at once) and versioned in
`esl_shim_schema`: a migration is a new entry of `MIGRATIONS`, applied once, in order.

The pool connects lazily and the schema is ensured on first use, so a shim started while
Postgres is down comes up and answers 503 (`StoreUnavailable`) until the database is back.

A claim is `INSERT ... ON CONFLICT DO NOTHING` followed by `SELECT ... FOR UPDATE` in one
transaction, so two replicas claiming one key at once serialise on the row: one inserts, the
other sees the first one's row.
"""

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

import psycopg2  # type: ignore[import-untyped]
import psycopg2.pool  # type: ignore[import-untyped]

from api_shim.idempotency import (
    Claim,
    ClaimState,
    LaunchOutcome,
    StoreUnavailable,
    existing_claim,
)

# Any constant shared by every replica; names this module's schema lock.
SCHEMA_LOCK_ID: Final = 0x45534C5F53484D  # "ESL_SHM"
MIGRATIONS: Final[tuple[str, ...]] = (
    """
    CREATE TABLE IF NOT EXISTS esl_idempotency_keys (
        principal   TEXT NOT NULL,
        key         TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        job_id      TEXT NOT NULL,
        state       TEXT NOT NULL CHECK (state IN ('pending', 'launched')),
        created_at  DOUBLE PRECISION NOT NULL,
        updated_at  DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (principal, key)
    );
    CREATE INDEX IF NOT EXISTS esl_idempotency_keys_created_at
        ON esl_idempotency_keys (created_at);
    CREATE TABLE IF NOT EXISTS esl_launch_outcomes (
        launch_id  TEXT PRIMARY KEY,
        outcome    TEXT NOT NULL CHECK (outcome IN ('started', 'abandoned')),
        decided_at DOUBLE PRECISION NOT NULL
    );
    """,
    "ALTER TABLE esl_idempotency_keys ADD COLUMN IF NOT EXISTS launch_id TEXT;",
)
INSERT_CLAIM: Final = (
    "INSERT INTO esl_idempotency_keys (principal, key, fingerprint, job_id, state, created_at, "
    "updated_at, launch_id) VALUES (%s, %s, %s, %s, 'pending', %s, %s, %s)"
)
CONNECT_TIMEOUT_S: Final = 3
MAX_CONNECTIONS: Final = 8


def libpq_dsn(url: str) -> str:
    """A URL libpq accepts: SQLAlchemy's `postgresql+psycopg2://` scheme is reduced to its base."""
    scheme, sep, rest = url.partition("://")
    if sep and "+" in scheme:
        return f"{scheme.split('+', 1)[0]}://{rest}"
    return url


class PostgresIdempotencyStore:
    """Thread-safe through a small connection pool; each method is one transaction."""

    ledger_ref: Final = "postgres"

    def __init__(self, dsn: str, *, ttl_s: float, lease_s: float) -> None:
        self._ttl_s = ttl_s
        self._lease_s = lease_s
        self._pool = psycopg2.pool.ThreadedConnectionPool(
            0, MAX_CONNECTIONS, dsn=libpq_dsn(dsn), connect_timeout=CONNECT_TIMEOUT_S
        )
        self._gate = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self._schema_lock = threading.Lock()
        self._schema_ready = False
        try:
            self._ensure_schema()
        except StoreUnavailable:
            pass  # retried on first use

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        """A cursor in one transaction; a lost database becomes `StoreUnavailable`."""
        with self._gate:
            try:
                connection = self._pool.getconn()
            except psycopg2.OperationalError as exc:
                raise StoreUnavailable(f"idempotency store unavailable: {exc}") from exc
            broken = False
            try:
                with connection, connection.cursor() as cursor:
                    yield cursor
            except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
                broken = True
                raise StoreUnavailable(f"idempotency store unavailable: {exc}") from exc
            finally:
                self._pool.putconn(connection, close=broken or bool(connection.closed))

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        self._ensure_schema()
        with self._connection() as cursor:
            yield cursor

    def _ensure_schema(self) -> None:
        with self._schema_lock:
            if not self._schema_ready:
                self._migrate()
                self._schema_ready = True

    def _migrate(self) -> None:
        with self._connection() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_ID,))
            cursor.execute("CREATE TABLE IF NOT EXISTS esl_shim_schema (version INTEGER NOT NULL)")
            cursor.execute("SELECT max(version) FROM esl_shim_schema")
            current = cursor.fetchone()[0] or 0
            for version, statement in enumerate(MIGRATIONS, start=1):
                if version > current:
                    cursor.execute(statement)
                    cursor.execute("INSERT INTO esl_shim_schema (version) VALUES (%s)", (version,))

    @property
    def schema_version(self) -> int:
        with self._transaction() as cursor:
            cursor.execute("SELECT max(version) FROM esl_shim_schema")
            return int(cursor.fetchone()[0] or 0)

    def close(self) -> None:
        self._pool.closeall()

    def claim(
        self, principal: str, key: str, fingerprint: str, job_id: str, launch_id: str
    ) -> Claim:
        now = time.time()
        with self._transaction() as cursor:
            cursor.execute(
                "DELETE FROM esl_idempotency_keys WHERE created_at < %s", (now - self._ttl_s,)
            )
            values = (principal, key, fingerprint, job_id, now, now, launch_id)
            cursor.execute(INSERT_CLAIM + " ON CONFLICT (principal, key) DO NOTHING", values)
            if cursor.rowcount == 1:
                return Claim(ClaimState.CLAIMED, job_id, launch_id)
            cursor.execute(
                "SELECT fingerprint, job_id, state, updated_at, launch_id "
                "FROM esl_idempotency_keys WHERE principal = %s AND key = %s FOR UPDATE",
                (principal, key),
            )
            row = cursor.fetchone()
            if row is None:  # expired and deleted by another replica between the two statements
                cursor.execute(INSERT_CLAIM, values)
                return Claim(ClaimState.CLAIMED, job_id, launch_id)
            state = existing_claim(fingerprint, row, now, self._lease_s)
            if state is ClaimState.STALE:
                # Renew the lease so that only this request reconciles the stale claim.
                cursor.execute(
                    "UPDATE esl_idempotency_keys SET updated_at = %s, launch_id = %s "
                    "WHERE principal = %s AND key = %s",
                    (now, launch_id, principal, key),
                )
            return Claim(state, str(row[1]), row[4])

    def mark_launched(self, principal: str, key: str) -> None:
        with self._transaction() as cursor:
            cursor.execute(
                "UPDATE esl_idempotency_keys SET state = 'launched', updated_at = %s "
                "WHERE principal = %s AND key = %s",
                (time.time(), principal, key),
            )

    def release(self, principal: str, key: str) -> None:
        with self._transaction() as cursor:
            cursor.execute(
                "DELETE FROM esl_idempotency_keys "
                "WHERE principal = %s AND key = %s AND state = 'pending'",
                (principal, key),
            )

    def lookup(self, principal: str, key: str) -> tuple[str, str] | None:
        with self._transaction() as cursor:
            cursor.execute(
                "SELECT job_id, state FROM esl_idempotency_keys WHERE principal = %s AND key = %s",
                (principal, key),
            )
            row = cursor.fetchone()
        return (str(row[0]), str(row[1])) if row else None

    def abandon_launch(self, launch_id: str) -> LaunchOutcome:
        now = time.time()
        with self._transaction() as cursor:
            cursor.execute(
                "DELETE FROM esl_launch_outcomes WHERE decided_at < %s", (now - self._ttl_s,)
            )
            cursor.execute(
                "INSERT INTO esl_launch_outcomes VALUES (%s, 'abandoned', %s) "
                "ON CONFLICT (launch_id) DO NOTHING",
                (launch_id, now),
            )
            cursor.execute(
                "SELECT outcome FROM esl_launch_outcomes WHERE launch_id = %s", (launch_id,)
            )
            return LaunchOutcome(cursor.fetchone()[0])
