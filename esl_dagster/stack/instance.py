"""The Dagster home of one stack: created, checked and migrated once, before any child starts.

The webserver, the daemon and the code server all open the instance; on a fresh home each would
create and stamp the schema at once (two ``alembic_version`` rows break a home for good). So the
supervisor runs ``dagster instance migrate`` first, under an exclusive lock on the home (and, on
Postgres, a session advisory lock on the database), and only then starts the children.
"""

import fcntl
import os
import shutil
import socket
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path

from esl_dagster.pipeline.errors import ConfigurationError
from esl_dagster.pipeline.settings import Settings
from esl_dagster.stack.children import first_error_line
from esl_dagster.stack.config import (
    EMBEDDED_INSTANCE_YAML,
    PRODUCTION_INSTANCE_YAML,
    SAMPLE_LESSONS,
    StackConfig,
    dagster_postgres_url,
)

LOCK_FILE = ".esl-stack.lock"
FIRST_START_MARKER = ".esl-stack-first-start-done"
MIGRATE_TIMEOUT_S = 300.0
POSTGRES_CONNECT_TIMEOUT_S = 5
# Any constant shared by every esl-stack: the key of the advisory lock held while migrating.
MIGRATION_ADVISORY_LOCK = 0x45534C


class StackStartError(Exception):
    """The stack cannot start; the message is the one line an operator needs."""


def prepare(config: StackConfig, settings: Settings) -> dict[str, str]:
    """Create the Dagster home and the lesson folder, initialise the instance once, and return
    the children's environment. Raises ``StackStartError`` naming the cause."""
    config.dagster_home.mkdir(parents=True, exist_ok=True)
    config.log_dir.mkdir(parents=True, exist_ok=True)
    instance_yaml = PRODUCTION_INSTANCE_YAML if config.postgres else EMBEDDED_INSTANCE_YAML
    install_file(instance_yaml, config.dagster_home / "dagster.yaml")
    seed_lessons(config.lessons_dir)
    env = children_environment(config)
    postgres_url = dagster_postgres_url(settings) if config.postgres else None
    if postgres_url is not None:
        env["DAGSTER_PG_URL"] = postgres_url
    initialise_instance(config.dagster_home, env, config.log_dir / "instance.log", postgres_url)
    return env


def install_file(source: Path, target: Path) -> None:
    """Copy ``source`` to ``target`` atomically: a stack starting meanwhile on the same home
    reads the old or the new file, never half of one."""
    partial = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    shutil.copyfile(source, partial)
    os.replace(partial, target)


def seed_lessons(lessons_dir: Path) -> None:
    """Copy the sample lessons into an empty (or missing) lesson folder."""
    if lessons_dir.exists() and any(lessons_dir.glob("*.md")):
        return
    lessons_dir.mkdir(parents=True, exist_ok=True)
    for sample in sorted(SAMPLE_LESSONS.glob("0[1-5]-*.md")):
        shutil.copyfile(sample, lessons_dir / sample.name)


def children_environment(config: StackConfig) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DAGSTER_HOME": str(config.dagster_home),
            "PIPELINE_CWD": str(config.workdir),
            "ESL_LESSON_ROOTS": str(config.lessons_dir),
            "ESL_LESSON_FOLDERS": str(config.lessons_dir),
            "ESL_DAGSTER_GRAPHQL_URL": f"{config.dagster_url}/graphql",
            "ESL_API_HOST": config.host,
            "ESL_API_PORT": str(config.api_port),
            "ESL_CODE_SERVER_HOST": config.host,
            "ESL_CODE_SERVER_PORT": str(config.code_server_port),
        }
    )
    return env


def initialise_instance(
    home: Path, env: Mapping[str, str], log_path: Path, postgres_url: str | None = None
) -> None:
    """Create or migrate the instance's schema in ``home``; only one process at a time does.

    ``postgres_url`` (the instance's storage, if Postgres) is checked first, so an unreachable
    server is reported as such rather than as a migration failure.
    """
    with ExitStack() as locks:
        locks.enter_context(home_lock(home))
        if postgres_url is not None:
            locks.enter_context(postgres_migration_lock(postgres_url))
        run_migrate(dict(env, DAGSTER_HOME=str(home)), log_path)


@contextmanager
def home_lock(home: Path) -> Iterator[None]:
    """An exclusive lock on ``home`` (blocks while another esl-stack holds it)."""
    with (home / LOCK_FILE).open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run_migrate(env: Mapping[str, str], log_path: Path) -> None:
    start = log_path.stat().st_size if log_path.exists() else 0
    dagster = Path(sys.executable).parent / "dagster"
    with log_path.open("ab") as log:
        try:
            result = subprocess.run(
                [str(dagster), "instance", "migrate"],
                env=dict(env),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                timeout=MIGRATE_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise StackStartError(
                f"initialising the Dagster instance took over {MIGRATE_TIMEOUT_S:.0f}s; "
                f"see {log_path}"
            ) from exc
    if result.returncode != 0:
        cause = first_error_line(log_path, since=start) or f"exit code {result.returncode}"
        raise StackStartError(
            f"cannot initialise the Dagster instance in {env['DAGSTER_HOME']}: {cause} "
            f"(log: {log_path})"
        )


def postgres_address(url: str) -> tuple[str, int] | None:
    """``(host, port)`` of a Postgres URL, or None for a Unix socket."""
    parts = urllib.parse.urlsplit(url)
    try:
        port = parts.port or 5432
    except ValueError as exc:
        raise ConfigurationError(f"the Postgres URL has an invalid port: {exc}") from exc
    return None if not parts.hostname else (parts.hostname, port)


def check_postgres_reachable(url: str) -> None:
    """Fail with one line when nothing accepts TCP connections at the URL's host and port."""
    address = postgres_address(url)
    if address is None:
        return
    host, port = address
    try:
        with socket.create_connection(address, timeout=POSTGRES_CONNECT_TIMEOUT_S):
            return
    except socket.gaierror as exc:
        reason = f"unknown host ({exc.strerror})"
    except TimeoutError:
        reason = f"no answer within {POSTGRES_CONNECT_TIMEOUT_S}s"
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
    raise StackStartError(f"cannot reach Postgres at {host}:{port}: {reason}")


@contextmanager
def postgres_migration_lock(url: str) -> Iterator[None]:
    """Check Postgres (reachable, login accepted) and hold a session advisory lock meanwhile."""
    import psycopg2  # type: ignore[import-untyped]  # only --postgres pays for this import

    check_postgres_reachable(url)
    address = postgres_address(url)
    where = "" if address is None else f" at {address[0]}:{address[1]}"
    dsn = "postgresql://" + url.split("://", 1)[1]
    try:
        connection = psycopg2.connect(dsn, connect_timeout=POSTGRES_CONNECT_TIMEOUT_S)
    except psycopg2.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StackStartError(
            f"Postgres{where} refused the connection: {first.split(' failed: ')[-1]}"
        ) from exc
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_ADVISORY_LOCK,))
        yield
    finally:
        connection.close()


def first_start_marker(home: Path) -> Path:
    """Present once a stack on ``home`` came up: later starts leave the sensor as it is."""
    return home / FIRST_START_MARKER
