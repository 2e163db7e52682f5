"""What one ``esl-stack`` is made of: its options, paths, ports and the Dagster instance file."""

import argparse
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from esl_dagster.pipeline.errors import ConfigurationError
from esl_dagster.pipeline.settings import Settings, load_settings

REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLE_LESSONS = REPO_ROOT / "examples" / "lessons"
EMBEDDED_INSTANCE_YAML = REPO_ROOT / "deploy" / "dagster.embedded.yaml"
PRODUCTION_INSTANCE_YAML = REPO_ROOT / "dagster.yaml"
# Both flavours load the code location from one standalone gRPC code server (ESL_CODE_SERVER_*).
WORKSPACE_YAML = REPO_ROOT / "workspace.grpc.yaml"
DEFAULT_CODE_SERVER_PORT = 4266
LOCATION_NAME = "esl_dagster"
DESCRIPTION = "Run the whole ESL lesson pipeline on this machine, supervised."


def free_port(host: str = "127.0.0.1") -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class StackConfig:
    workdir: Path
    dagster_home: Path
    lessons_dir: Path
    postgres: bool
    dagster_port: int
    api_port: int
    host: str = "127.0.0.1"
    # Programmatic stacks (tests, benchmarks) get a free port, so several can run at once.
    code_server_port: int = field(default_factory=free_port)

    @property
    def log_dir(self) -> Path:
        return self.workdir / "var" / "log"

    @property
    def dagster_url(self) -> str:
        return f"http://{self.host}:{self.dagster_port}"

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.api_port}"


def busy_port_message(config: StackConfig) -> str | None:
    """Why the stack cannot start when one of its ports is taken, else None.

    Checked before anything starts: otherwise a child dies seconds later with a log path, or,
    when another stack holds the port, this one would report itself up by reaching that one.
    """
    ports = (
        ("--dagster-port", config.dagster_port),
        ("--api-port", config.api_port),
        ("--code-server-port", config.code_server_port),
    )
    for flag, port in ports:
        with socket.socket() as probe:
            # As uvicorn binds: a port only lingering in TIME_WAIT is free.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((config.host, port))
            except OSError:
                return (
                    f"{config.host}:{port} is already in use; "
                    f"stop what listens there or pass {flag} with a free port"
                )
    return None


def dagster_postgres_url(settings: Settings) -> str:
    """The URL ``dagster.yaml`` reads from ``DAGSTER_PG_URL``, built from the seed's PG_* settings.

    The scheme is forced to ``postgresql+psycopg2``: SQLAlchemy 2.1 maps a bare ``postgresql://``
    to psycopg 3, which dagster-postgres does not install.
    """
    url = settings.postgres_url
    if url is None:
        raise ConfigurationError(
            "Postgres storage needs PG_CONNECTION_STRING or PG_HOST (and PG_USER, PG_PASSWORD, "
            "PG_DATABASE); PG_ENABLED=false turns it off"
        )
    return "postgresql+psycopg2://" + url.split("://", 1)[1]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="esl-stack", description=DESCRIPTION)
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="use the production dagster.yaml on Postgres (PG_* variables, default local server)",
    )
    parser.add_argument("--workdir", type=Path, default=Path.cwd(), help="PIPELINE_CWD")
    parser.add_argument("--dagster-home", type=Path, default=None)
    parser.add_argument("--lessons", type=Path, default=None, help="lesson folder (sensor)")
    parser.add_argument("--dagster-port", type=int, default=3000)
    parser.add_argument(
        "--api-port", type=int, default=None, help="default: BATCH_BACKEND_HTTP_PORT, else 8080"
    )
    parser.add_argument(
        "--code-server-port",
        type=int,
        default=DEFAULT_CODE_SERVER_PORT,
        help="port of the gRPC code server (loopback only)",
    )
    return parser.parse_args(argv)


def load_stack_settings(args: argparse.Namespace) -> Settings:
    """The engine settings of the working folder (environment + its ``.env``), validated."""
    env_file = args.workdir.resolve() / ".env"
    settings = load_settings(env_file=env_file)
    if (
        args.postgres
        and settings.postgres.host is None
        and settings.postgres.connection_string is None
    ):
        # The local server of the README's second command: trust auth on 127.0.0.1.
        settings = load_settings(env_file=env_file, PG_HOST="127.0.0.1", PG_DATABASE="postgres")
    settings.validate_for_start()
    return settings


def stack_config(args: argparse.Namespace, settings: Settings) -> StackConfig:
    workdir = args.workdir.resolve()
    return StackConfig(
        workdir=workdir,
        dagster_home=(args.dagster_home or workdir / ".dagster_home").resolve(),
        lessons_dir=(args.lessons or workdir / "lessons").resolve(),
        postgres=args.postgres,
        dagster_port=args.dagster_port,
        api_port=args.api_port or settings.api.http_port,
        code_server_port=args.code_server_port,
    )
