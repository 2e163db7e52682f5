"""``esl-stack``: run the whole product on one machine, supervised (the README's run command).

Initialises the Dagster instance once, then starts a gRPC code server, the Dagster webserver
(127.0.0.1:3000), the Dagster daemon (run queue, sensors, schedules) and the ``/jobs`` shim
(127.0.0.1:8080) as child processes, waits until everything answers and prints where everything
is. A child that crashes is restarted with backoff while the others keep running; Ctrl-C or
SIGTERM stops everything in order (API, daemon, webserver, code server).

Two flavours share everything but the Dagster instance configuration:

- embedded default: SQLite in ``.dagster_home/`` (``deploy/dagster.embedded.yaml``);
- ``--postgres``: the production ``dagster.yaml`` on the local Postgres (``PG_*`` variables).

This package starts processes and speaks HTTP; it imports neither dagster nor fastapi.
"""

import os
import signal
import sys
from collections.abc import Sequence

import httpx

from esl_dagster.pipeline.errors import ConfigurationError
from esl_dagster.stack.children import Child, children, stop, wait_ready
from esl_dagster.stack.config import (
    StackConfig,
    busy_port_message,
    load_stack_settings,
    parse_args,
    stack_config,
)
from esl_dagster.stack.instance import StackStartError, prepare
from esl_dagster.stack.sensor import apply_sensor_default, lesson_sensor_running
from esl_dagster.stack.supervisor import CODE_SERVER_READY_TIMEOUT_S, Supervisor, start_children

READY_TIMEOUT_S = 180.0


SENSOR_NOTES = {
    True: "lesson_folder_sensor on: new or changed *.md run on their own",
    False: "lesson_folder_sensor off: turn it on in the UI (Automation)",
    None: "lesson_folder_sensor: see the UI (Automation)",
}


def banner(config: StackConfig, sensor_running: bool | None) -> str:
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
            f"  lesson folder  {config.lessons_dir}",
            f"                 ({SENSOR_NOTES[sensor_running]})",
            f"  logs           {config.log_dir}",
            "Try:",
            f"  curl -s -X POST {config.api_url}/jobs -H 'content-type: application/json' "
            f'-d \'{{"md": "./{rel}", "withTts": true}}\'',
            f"  curl -s {config.api_url}/jobs/<jobId>",
            "Press Ctrl-C to stop everything.",
        ]
    )


def report(message: str) -> None:
    print(f"esl-stack: {message}", file=sys.stderr, flush=True)


def configure(argv: Sequence[str] | None) -> tuple[StackConfig, dict[str, str]] | None:
    """Options, settings, free ports and an initialised instance; None after reporting why not."""
    args = parse_args(argv)
    try:
        settings = load_stack_settings(args)
        config = stack_config(args, settings)
        busy = busy_port_message(config)
        if busy is not None:
            report(busy)
            return None
        for name, why in settings.unused_settings().items():
            report(f"{name} is set but unused: {why}")
        return config, prepare(config, settings)
    except (ConfigurationError, StackStartError) as exc:
        report(str(exc))
        return None


def run(config: StackConfig, env: dict[str, str], procs: list[Child]) -> None:
    """Start, wait until ready, apply the sensor default, then supervise until interrupted."""
    start_children(config, procs, env, timeout=CODE_SERVER_READY_TIMEOUT_S)
    wait_ready(config, procs, timeout=READY_TIMEOUT_S)
    apply_sensor_default(config)
    print(banner(config, lesson_sensor_running(config)), flush=True)
    Supervisor(procs, env, config.workdir, report).run()


def main(argv: Sequence[str] | None = None) -> int:
    # Handlers first: Ctrl-C during the migration is a clean stop too, and a parent started from
    # a non-interactive shell may ignore SIGINT, which Dagster would copy onto SIGTERM in the
    # children (exec() resets handled signals to their defaults).
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    procs: list[Child] = []
    try:
        configured = configure(argv)
        if configured is None:
            return 2
        config, env = configured
        procs.extend(children(config))
        run(config, env, procs)
        return 0
    except KeyboardInterrupt:
        print("\nesl-stack: stopping ...", flush=True)
        return 0
    except (RuntimeError, httpx.HTTPError) as exc:
        report(f"could not start: {exc}")
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if procs:
            stop(procs)
            print("esl-stack: stopped.", flush=True)


def on_signal(_signum: int, _frame: object) -> None:
    """Ctrl-C or SIGTERM: stop once (further signals are ignored while stopping)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt
