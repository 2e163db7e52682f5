"""Ending event streams when the server is asked to stop.

uvicorn waits for open responses to finish before it stops, and an event stream never finishes
by itself: without this, SIGTERM would wait for every client to go away. While the app runs in
the main thread, SIGINT and SIGTERM first tell the event hub to end its streams (clients
reconnect with `Last-Event-ID` to another replica or the restarted server and miss nothing),
then reach the server's own handler as before.
"""

import asyncio
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

EXIT_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def on_exit_signal(callback: Callable[[], None]) -> Iterator[None]:
    """Run `callback` on the running loop when an exit signal arrives, then the prior handler."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return
    loop = asyncio.get_running_loop()
    previous: dict[int, Any] = {}

    def handler(signum: int, frame: FrameType | None) -> None:
        loop.call_soon_threadsafe(callback)
        prior = previous[signum]
        if callable(prior):
            prior(signum, frame)
        elif prior != signal.SIG_IGN:
            signal.signal(signum, prior)
            signal.raise_signal(signum)

    for exit_signal in EXIT_SIGNALS:
        previous[exit_signal] = signal.signal(exit_signal, handler)
    try:
        yield
    finally:
        for number, prior in previous.items():
            signal.signal(number, prior)
