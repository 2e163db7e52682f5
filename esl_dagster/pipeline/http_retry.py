"""Retry timing shared by every HTTP client of the engine (Notion, ElevenLabs, remote config),
and the base those clients share for closing their connections.

design D2: a transient fault is retried after the server's ``Retry-After`` when it sent one
(capped, so a hostile or broken server cannot park a worker), otherwise after a capped
exponential backoff, optionally with jitter so that concurrent clients do not retry in lockstep.
"""

import email.utils
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Self

from esl_dagster.pipeline.errors import ServiceError, is_transient_status

if TYPE_CHECKING:  # httpx is imported by the clients, when one is made
    import httpx

RETRY_AFTER_CAP_SECONDS = 60.0
BACKOFF_CAP_SECONDS = 20.0


def parse_retry_after(
    value: str | None,
    *,
    cap: float = RETRY_AFTER_CAP_SECONDS,
    now: Callable[[], float] = time.time,
) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date), within ``[0, cap]``.

    None when the header is absent or unreadable.
    """
    if value is None or not value.strip():
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - now()
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), cap)


def backoff_delay(
    retry: int,
    *,
    base: float,
    cap: float = BACKOFF_CAP_SECONDS,
    rng: Callable[[], float] | None = None,
) -> float:
    """Delay before retry number ``retry`` (1 for the first retry): ``base * 2**(retry-1)``.

    The result never exceeds ``cap``. With ``rng`` (a source of floats in ``[0, 1)``) the delay is
    drawn from the upper half of that ceiling ("equal jitter"); without it the ceiling is returned.
    """
    ceiling = min(cap, base * 2.0 ** (retry - 1))
    if rng is None:
        return ceiling
    return ceiling / 2 + rng() * ceiling / 2


def retry_delay(
    retry: int,
    retry_after: float | None,
    *,
    base: float,
    cap: float = BACKOFF_CAP_SECONDS,
    retry_after_cap: float = RETRY_AFTER_CAP_SECONDS,
    rng: Callable[[], float] | None = None,
) -> float:
    """The wait before retry number ``retry``: the server's ``Retry-After`` (capped) when given,
    otherwise :func:`backoff_delay`."""
    if retry_after is not None:
        return min(max(retry_after, 0.0), retry_after_cap)
    return backoff_delay(retry, base=base, cap=cap, rng=rng)


def service_error_from_response(
    service: str, response: "httpx.Response", message: str
) -> ServiceError:
    """The shared ``ServiceError`` for an unsuccessful HTTP answer.

    Transient per :func:`is_transient_status`, carrying the parsed ``Retry-After``.
    """
    return ServiceError(
        service,
        message,
        status=response.status_code,
        transient=is_transient_status(response.status_code),
        retry_after=parse_retry_after(response.headers.get("Retry-After")),
    )


__all__ = [
    "BACKOFF_CAP_SECONDS",
    "RETRY_AFTER_CAP_SECONDS",
    "backoff_delay",
    "parse_retry_after",
    "retry_delay",
    "service_error_from_response",
]


class HttpClientOwner:
    """An API client over one ``httpx.Client`` (``_http``): ``close``, or leaving a ``with``
    block, closes its connections."""

    _http: "httpx.Client"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
