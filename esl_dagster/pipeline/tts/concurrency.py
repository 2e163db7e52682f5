"""How many speech requests one provider keeps in flight, within the server's concurrency limit.

ElevenLabs limits each key to a number of requests in flight at once (the plan's concurrency
limit) and says so in the ``maximum-concurrent-requests`` header of its answers; one request
more is queued briefly and, past that queue, answered 429 ``too_many_concurrent_requests``. Such
a 429 asks for fewer requests at once, not for a pause: the gate lowers its limit to the
server's (or, without the header, to the requests still in flight) and the rejected request
waits for one of them to end before it is sent again.
"""

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class ConcurrencyGate:
    """At most ``limit`` holders of :meth:`slot` at once; ``limit`` starts at the configured
    concurrency and follows the server's limit, never above the configured value."""

    def __init__(self, configured: int) -> None:
        self._configured = configured
        self._limit = configured
        self._in_flight = 0
        self._changed = threading.Condition()

    @property
    def limit(self) -> int:
        with self._changed:
            return self._limit

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one of the ``limit`` places for the duration of one request."""
        with self._changed:
            while self._in_flight >= self._limit:
                self._changed.wait()
            self._in_flight += 1
        try:
            yield
        finally:
            with self._changed:
                self._in_flight -= 1
                self._changed.notify_all()

    def follow_server(self, maximum: int | None) -> None:
        """The server's ``maximum-concurrent-requests`` (None: not sent) becomes the limit."""
        if maximum is None or maximum < 1:
            return
        with self._changed:
            self._limit = min(self._configured, maximum)
            self._changed.notify_all()

    def after_rejection(self, maximum: int | None) -> bool:
        """A 429 ``too_many_concurrent_requests`` whose slot is already released: follow the
        server's maximum or, without one, allow only the requests still in flight (at least one).

        True when this gate's own requests fill the new limit, so the retry waits in :meth:`slot`
        for one of them to end instead of sleeping; False when the key's other users fill it.
        """
        with self._changed:
            others = self._in_flight
            if maximum is not None and maximum >= 1:
                self._limit = min(self._configured, maximum)
            else:
                self._limit = max(1, min(self._limit, others))
            return others >= self._limit
