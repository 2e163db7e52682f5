"""``esl submit --follow``: one live line per job until every job is terminal.

Progress comes from the API's event stream; a broken stream is resumed with ``Last-Event-ID``
(the server replays what was missed), and an API without a stream, or a stream that keeps
failing, is followed by polling ``GET /jobs/{id}``. On a terminal the lines are a `rich` live
table; otherwise one plain line is printed per change.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, TextIO

import httpx
from rich.console import Console
from rich.live import Live
from rich.table import Table

from esl_dagster.pipeline.cli.submit_client import JobsApi, StreamUnavailable

TERMINAL: Final = frozenset({"succeeded", "failed"})
MAX_STREAM_FAILURES: Final = 3
RECONNECT_PAUSE_S: Final = 0.5
POLL_INTERVAL_S: Final = 1.0
STEP_MARKS: Final = {"succeeded": "✓", "skipped": "-", "failed": "✗", "running": "…"}


@dataclass
class JobLine:
    """What the user sees of one job."""

    label: str
    job_id: str
    state: str = "queued"
    steps: list[dict[str, Any]] = field(default_factory=list)
    notion_url: str | None = None
    error: str | None = None

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL

    def update(self, job: dict[str, Any]) -> None:
        self.state = str(job.get("state") or self.state)
        steps = job.get("steps")
        if isinstance(steps, list):
            self.steps = [step for step in steps if isinstance(step, dict)]
        self.notion_url = job.get("notionUrl") or self.notion_url
        self.error = job.get("error") or self.error

    def progress(self) -> str:
        """e.g. ``validate ✓ import … colorize``: each stage with its status mark."""
        parts = []
        for step in self.steps:
            mark = STEP_MARKS.get(str(step.get("status")), "")
            parts.append(f"{step.get('name')} {mark}".rstrip())
        return "  ".join(parts)

    def summary(self) -> str:
        if self.state == "succeeded":
            return f"{self.label}: succeeded {self.notion_url or '(no Notion page)'}"
        if self.state == "failed":
            return f"{self.label}: failed: {self.error or 'unknown error'}"
        return f"{self.label}: {self.state}"


class Display:
    """Renders the job lines: a live table on a terminal, plain change lines otherwise."""

    def __init__(self, lines: list[JobLine], out: TextIO) -> None:
        self._lines = lines
        self._out = out
        console = Console(file=out)
        self._live = Live(self._table(), console=console) if console.is_terminal else None
        self._printed: dict[str, str] = {}

    def __enter__(self) -> "Display":
        if self._live is not None:
            self._live.start()
        self.refresh()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.update(self._table())
            self._live.stop()

    def _table(self) -> Table:
        table = Table(show_header=True, header_style="bold", box=None)
        for column in ("lesson", "state", "stages"):
            table.add_column(column)
        for line in self._lines:
            table.add_row(line.label, line.state, line.progress())
        return table

    def refresh(self) -> None:
        if self._live is not None:
            self._live.update(self._table())
            return
        for line in self._lines:
            text = f"{line.label}: {line.state} {line.progress()}".rstrip()
            if self._printed.get(line.job_id) != text:
                self._printed[line.job_id] = text
                print(text, file=self._out, flush=True)


def _follow_stream(api: JobsApi, lines: dict[str, JobLine], display: Display) -> bool:
    """Follow by events until all jobs are terminal (True) or the stream is unusable (False)."""
    last_event_id: str | None = None
    failures = 0
    while not all(line.terminal for line in lines.values()):
        pending = [job_id for job_id, line in lines.items() if not line.terminal]
        received = broken = False
        try:
            for event in api.events(pending, last_event_id):
                received = True
                last_event_id = event.event_id or last_event_id
                line = lines.get(str(event.job.get("jobId")))
                if line is not None:
                    line.update(event.job)
                    display.refresh()
                if all(lines[job_id].terminal for job_id in pending):
                    break
        except StreamUnavailable:
            return False
        except httpx.HTTPError:
            broken = True
        # Connections in a row that brought no event (broken or empty) give up on the stream.
        failures = 0 if received else failures + 1
        if failures >= MAX_STREAM_FAILURES:
            return False
        if broken or failures:
            time.sleep(RECONNECT_PAUSE_S * max(1, failures))
    return True


def _follow_polling(api: JobsApi, lines: dict[str, JobLine], display: Display) -> None:
    while True:
        for job_id, line in lines.items():
            if not line.terminal:
                line.update(api.job(job_id))
        display.refresh()
        if all(line.terminal for line in lines.values()):
            return
        time.sleep(POLL_INTERVAL_S)


def follow_progress(
    api: JobsApi,
    jobs: list[JobLine],
    out: TextIO,
    *,
    note: Callable[[str], None],
) -> None:
    """Show the jobs' progress until all are terminal (events first, then polling)."""
    lines = {line.job_id: line for line in jobs}
    with Display(jobs, out) as display:
        if not _follow_stream(api, lines, display):
            note("event stream unavailable; following by polling")
            _follow_polling(api, lines, display)
