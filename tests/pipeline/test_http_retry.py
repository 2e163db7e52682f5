import email.utils

import httpx

from esl_dagster.pipeline.errors import ServiceError
from esl_dagster.pipeline.http_retry import (
    backoff_delay,
    parse_retry_after,
    retry_delay,
    service_error_from_response,
)

NOW = 1_700_000_000.0


def test_retry_after_delta_seconds_and_http_date_are_capped() -> None:
    in_ten = email.utils.formatdate(NOW + 10, usegmt=True)
    assert parse_retry_after(in_ten, now=lambda: NOW) == 10.0
    assert parse_retry_after(in_ten, cap=4.0, now=lambda: NOW) == 4.0
    assert parse_retry_after("-5") == 0.0
    assert parse_retry_after("nan") is None
    assert parse_retry_after("  ") is None


def test_backoff_doubles_up_to_the_cap_and_jitter_stays_in_the_upper_half() -> None:
    assert [backoff_delay(n, base=0.5, cap=3.0) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert backoff_delay(3, base=0.5, rng=lambda: 0.0) == 1.0
    assert backoff_delay(3, base=0.5, rng=lambda: 0.999) < 2.0


def test_retry_delay_prefers_the_servers_retry_after_within_its_cap() -> None:
    assert retry_delay(1, 7.0, base=0.5) == 7.0
    assert retry_delay(1, 700.0, base=0.5, retry_after_cap=30.0) == 30.0
    assert retry_delay(2, None, base=0.5) == 1.0


def test_service_error_from_response_marks_transient_statuses() -> None:
    busy = httpx.Response(503, headers={"Retry-After": "4"})
    error = service_error_from_response("svc", busy, "busy")
    assert isinstance(error, ServiceError)
    assert (error.status, error.transient, error.retry_after) == (503, True, 4.0)
    assert str(error) == "svc: busy"
    denied = service_error_from_response("svc", httpx.Response(403), "denied")
    assert (denied.transient, denied.retry_after) == (False, None)
