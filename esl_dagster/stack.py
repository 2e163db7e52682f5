"""``esl-stack``: run the whole product on one machine (the README's run command).

Starts the Dagster webserver (127.0.0.1:3000), the Dagster daemon (run queue, sensors, schedules)
and the ``/jobs`` shim (127.0.0.1:8080) as child processes, seeds a ``lessons/`` folder with the
sample lessons for the lesson-folder sensor, waits until everything answers, prints where
everything is and a ``curl`` to try, and stops every process group cleanly on Ctrl-C or SIGTERM.

Two flavours share everything but the Dagster instance configuration:

- embedded default: SQLite in ``.dagster_home/`` (``deploy/dagster.embedded.yaml``);
- ``--postgres``: the production ``dagster.yaml`` on the local Postgres (``PG_*`` variables).

This module starts processes and speaks HTTP; it imports neither dagster nor fastapi.
"""

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from esl_dagster.pipeline.errors import ConfigurationError
from esl_dagster.pipeline.settings import Settings, load_settings

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_LESSONS = REPO_ROOT / "examples" / "lessons"
EMBEDDED_INSTANCE_YAML = REPO_ROOT / "deploy" / "dagster.embedded.yaml"
PRODUCTION_INSTANCE_YAML = REPO_ROOT / "dagster.yaml"
WORKSPACE_YAML = REPO_ROOT / "workspace.yaml"
STOP_GRACE_SECONDS = 15.0
LESSON_SENSOR = "lesson_folder_sensor"
START_SENSOR_MUTATION = """
mutation Start($selector: SensorSelector!) {
  startSensor(sensorSelector: $selector) { __typename ... on PythonError { message } }
}
"""


@dataclass
class Child:
    """One supervised process; it leads its own process group so its children stop with it."""

    name: str
    argv: list[str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self, env: Mapping[str, str], cwd: Path) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.argv,
            cwd=cwd,
            env=dict(env),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal_group(self, sig: signal.Signals) -> None:
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, sig)
        except ProcessLookupError:
            pass


@dataclass(frozen=True)
class StackConfig:
    workdir: Path
    dagster_home: Path
    lessons_dir: Path
    postgres: bool
    dagster_port: int
    api_port: int
    host: str = "127.0.0.1"

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
    for flag, port in (("--dagster-port", config.dagster_port), ("--api-port", config.api_port)):
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

    The scheme is forced to ``postgresql+psycopg2`` (dagster-notes P1).
    """
    url = settings.postgres_url
    if url is None:
        raise ConfigurationError(
            "Postgres storage needs PG_CONNECTION_STRING or PG_HOST (and PG_USER, PG_PASSWORD, "
            "PG_DATABASE); PG_ENABLED=false turns it off"
        )
    return "postgresql+psycopg2://" + url.split("://", 1)[1]


def prepare(config: StackConfig, settings: Settings) -> dict[str, str]:
    """Create the Dagster home and the lesson folder; return the children's environment."""
    config.dagster_home.mkdir(parents=True, exist_ok=True)
    config.log_dir.mkdir(parents=True, exist_ok=True)
    instance_yaml = PRODUCTION_INSTANCE_YAML if config.postgres else EMBEDDED_INSTANCE_YAML
    shutil.copyfile(instance_yaml, config.dagster_home / "dagster.yaml")
    if not config.lessons_dir.exists() or not any(config.lessons_dir.glob("*.md")):
        config.lessons_dir.mkdir(parents=True, exist_ok=True)
        for sample in sorted(SAMPLE_LESSONS.glob("0[1-5]-*.md")):
            shutil.copyfile(sample, config.lessons_dir / sample.name)
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
        }
    )
    if config.postgres:
        env["DAGSTER_PG_URL"] = dagster_postgres_url(settings)
    return env


def children(config: StackConfig) -> list[Child]:
    bin_dir = Path(sys.executable).parent
    logs = config.log_dir
    workspace = str(WORKSPACE_YAML)
    return [
        Child(
            "dagster-webserver",
            [
                str(bin_dir / "dagster-webserver"),
                "-w",
                workspace,
                "-h",
                config.host,
                "-p",
                str(config.dagster_port),
            ],
            logs / "webserver.log",
        ),
        Child(
            "dagster-daemon",
            [str(bin_dir / "dagster-daemon"), "run", "-w", workspace],
            logs / "daemon.log",
        ),
        Child(
            "api-shim",
            [
                str(bin_dir / "uvicorn"),
                "api_shim.main:app",
                "--host",
                config.host,
                "--port",
                str(config.api_port),
                "--no-access-log",
            ],
            logs / "api.log",
        ),
    ]


def wait_ready(config: StackConfig, procs: Sequence[Child], timeout: float) -> None:
    """Block until the webserver has loaded the code location and the shim says ready."""
    deadline = time.monotonic() + timeout
    checks = {"dagster": f"{config.dagster_url}/server_info", "api": f"{config.api_url}/readyz"}
    pending = dict(checks)
    with httpx.Client(timeout=2.0) as client:
        while pending:
            for proc in procs:
                if not proc.running():
                    raise RuntimeError(f"{proc.name} exited early; see {proc.log_path}")
            for name, url in list(pending.items()):
                try:
                    if client.get(url).status_code == 200:
                        del pending[name]
                except httpx.HTTPError:
                    pass
            if pending and time.monotonic() > deadline:
                raise RuntimeError(f"not ready after {timeout:.0f}s: {', '.join(pending)}")
            if pending:
                time.sleep(0.5)


def start_lesson_sensor(config: StackConfig) -> None:
    """Turn the lesson-folder sensor on (it ships stopped, so production opts in explicitly)."""
    selector = {
        "repositoryLocationName": "esl_dagster",
        "repositoryName": "__repository__",
        "sensorName": LESSON_SENSOR,
    }
    response = httpx.post(
        f"{config.dagster_url}/graphql",
        json={"query": START_SENSOR_MUTATION, "variables": {"selector": selector}},
        timeout=30.0,
    )
    response.raise_for_status()
    result = response.json().get("data", {}).get("startSensor", {})
    if result.get("__typename") == "PythonError":
        raise RuntimeError(f"could not start {LESSON_SENSOR}: {result.get('message')}")


def stop(procs: Sequence[Child]) -> None:
    """SIGTERM every process group, wait, then SIGKILL what is left. Leaves no orphans."""
    for proc in reversed(procs):
        proc.signal_group(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for proc in procs:
        if proc.process is None:
            continue
        try:
            proc.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
    for proc in procs:
        # The leader may be gone while grandchildren (code servers, run workers) linger.
        proc.signal_group(signal.SIGKILL)
        if proc.process is not None:
            proc.process.wait()


def banner(config: StackConfig) -> str:
    example = config.lessons_dir / "03-dialogue-two-speakers-flat-viewing.md"
    rel = os.path.relpath(example, config.workdir)
    storage = "Postgres (dagster.yaml)" if config.postgres else f"SQLite in {config.dagster_home}"
    return "\n".join(
        [
            "ESL lesson pipeline is up.",
            f"  Dagster UI     {config.dagster_url}",
            f"  /jobs API      {config.api_url}   (OpenAPI docs: {config.api_url}/docs)",
            f"  metrics        {config.api_url}/metrics",
            f"  run storage    {storage}",
            f"  lesson folder  {config.lessons_dir}  (the sensor picks up new or changed *.md)",
            f"  logs           {config.log_dir}",
            "Try:",
            f"  curl -s -X POST {config.api_url}/jobs -H 'content-type: application/json' "
            f'-d \'{{"md": "./{rel}", "withTts": true}}\'',
            f"  curl -s {config.api_url}/jobs/<jobId>",
            "Press Ctrl-C to stop everything.",
        ]
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="esl-stack", description=__doc__.split("\n\n")[0])
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
    return parser.parse_args(argv)


def load_stack_settings(args: argparse.Namespace) -> Settings:
    """The engine settings of the working folder (environment + its ``.env``), validated."""
    env_file = args.workdir.resolve() / ".env"
    settings = load_settings(env_file=env_file)
    if args.postgres and settings.pg_host is None and settings.pg_connection_string is None:
        # The local server of the README's second command: trust auth on 127.0.0.1.
        settings = load_settings(env_file=env_file, pg_host="127.0.0.1", pg_database="postgres")
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
        api_port=args.api_port or settings.http_port,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        settings = load_stack_settings(args)
        config = stack_config(args, settings)
        busy = busy_port_message(config)
        if busy is not None:
            print(f"esl-stack: {busy}", file=sys.stderr)
            return 2
        env = prepare(config, settings)
    except ConfigurationError as exc:
        print(f"esl-stack: {exc}", file=sys.stderr)
        return 2
    for name, why in settings.unused_settings().items():
        print(f"esl-stack: {name} is set but unused: {why}", file=sys.stderr)
    procs = children(config)
    stopping = False

    def on_signal(_signum: int, _frame: object) -> None:
        nonlocal stopping
        if not stopping:
            stopping = True
            raise KeyboardInterrupt

    # Installing handlers BEFORE starting children matters: a parent started from a
    # non-interactive shell may ignore SIGINT, and Dagster copies that onto SIGTERM
    # (dagster-notes P5). exec() resets handled signals to their defaults in the children.
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        for proc in procs:
            proc.start(env, config.workdir)
        wait_ready(config, procs, timeout=180.0)
        start_lesson_sensor(config)
        print(banner(config), flush=True)
        while all(proc.running() for proc in procs):
            time.sleep(0.5)
        dead = [proc for proc in procs if not proc.running()]
        print(f"esl-stack: {dead[0].name} stopped; see {dead[0].log_path}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nesl-stack: stopping ...", flush=True)
        return 0
    except (RuntimeError, httpx.HTTPError) as exc:
        print(f"esl-stack: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stop(procs)
        print("esl-stack: stopped.", flush=True)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
