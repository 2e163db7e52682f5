"""Keep the stack's children running: ordered start, restart with capped backoff.

A crashed webserver, daemon, code server or API is restarted on its own; the others keep
running (the API answers 503 while Dagster is away, runs of the code server carry on while the
webserver or the daemon restart). Only the caller's ``stop`` ends everything.
"""

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from esl_dagster.stack.children import CODE_SERVER, Child, exit_reason, wait_for_port
from esl_dagster.stack.config import StackConfig

CODE_SERVER_READY_TIMEOUT_S = 180.0


def start_children(
    config: StackConfig, procs: Sequence[Child], env: Mapping[str, str], timeout: float
) -> None:
    """Start the code server, wait until it serves, then start the others.

    The webserver and the daemon load the code location when they start; with the code server
    already up they find it at once instead of recording a load error first.
    """
    for proc in procs:
        proc.start(env, config.workdir)
        if proc.name == CODE_SERVER:
            wait_for_port(config, proc, timeout)


@dataclass(frozen=True)
class Backoff:
    """Restart delays: ``initial`` doubling per consecutive crash up to ``cap``; a child that
    stayed up ``stable_after`` seconds starts again from ``initial``."""

    initial: float = 1.0
    cap: float = 30.0
    stable_after: float = 60.0

    def delay(self, consecutive_crashes: int) -> float:
        return float(min(self.cap, self.initial * 2 ** max(0, consecutive_crashes - 1)))


@dataclass
class Supervisor:
    """Restarts children that exit. Call ``tick`` periodically (``run`` does, forever)."""

    procs: Sequence[Child]
    env: Mapping[str, str]
    cwd: Path
    report: Callable[[str], None]
    backoff: Backoff = field(default_factory=Backoff)
    crashes: dict[str, int] = field(default_factory=dict)
    restart_at: dict[str, float] = field(default_factory=dict)

    def tick(self, now: float) -> None:
        for proc in self.procs:
            if proc.running():
                if now - proc.started_at >= self.backoff.stable_after:
                    self.crashes[proc.name] = 0
            elif proc.name not in self.restart_at:
                self._schedule_restart(proc, now)
            elif now >= self.restart_at[proc.name]:
                del self.restart_at[proc.name]
                proc.start(self.env, self.cwd)
                self.report(f"{proc.name} restarted (pid {proc.pid})")

    def _schedule_restart(self, proc: Child, now: float) -> None:
        crashes = self.crashes.get(proc.name, 0) + 1
        self.crashes[proc.name] = crashes
        delay = self.backoff.delay(crashes)
        self.restart_at[proc.name] = now + delay
        self.report(f"{exit_reason(proc)}; restarting in {delay:g}s (crash {crashes})")

    def run(self, interval: float = 0.5) -> None:
        """Supervise until interrupted (KeyboardInterrupt from the signal handler)."""
        while True:
            self.tick(time.monotonic())
            time.sleep(interval)
