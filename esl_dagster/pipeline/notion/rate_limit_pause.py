"""The pause a 429 puts on a whole :class:`~esl_dagster.pipeline.notion.client.NotionClient`.

While one call waits out its 429's ``Retry-After``, the other threads sharing the client hold
back until that time instead of each sending and collecting its own 429.
"""

import threading
import time
from collections.abc import Callable


class RateLimitPause:
    """Who pauses the client (one call, by an identity object) and until when (monotonic)."""

    def __init__(self, sleep: Callable[[float], None]) -> None:
        self._sleep = sleep
        self._lock = threading.Lock()
        self._resume_at = 0.0
        self._owner: object | None = None

    def pause_others(self, owner: object, delay: float) -> None:
        """``owner`` is about to wait ``delay`` seconds: the others wait at least as long."""
        with self._lock:
            until = time.monotonic() + delay
            if until > self._resume_at:
                self._resume_at, self._owner = until, owner

    def wait_if_paused(self, me: object) -> None:
        """Before sending: wait out another call's pause, if one is running."""
        with self._lock:
            remaining = self._resume_at - time.monotonic()
            paused = self._owner is not None and self._owner is not me
        if paused and remaining > 0:
            self._sleep(remaining)

    def end(self, me: object) -> None:
        """The call ``me`` is done: its pause, if it holds one, ends."""
        with self._lock:
            if self._owner is me:
                self._resume_at, self._owner = 0.0, None
