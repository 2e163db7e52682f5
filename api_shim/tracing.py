"""OpenTelemetry traces of the shim: each launch is the root span of its job's trace.

Off unless ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set: ``configure_tracing`` then installs the SDK's
tracer provider with the OTLP exporter and instruments httpx (the GraphQL calls to Dagster become
child spans); unset, nothing of the SDK is imported and spans are non-recording. The set-up and
the W3C format are :mod:`esl_common.tracing`'s, the same as the code location's.

``launch_span`` wraps one launch; ``current_traceparent`` is the W3C ``traceparent`` the shim puts
in the run's hidden tag ``TRACEPARENT_TAG``, from which the run's stages continue the trace (a
contract test checks that both sides name the same tag).
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

from opentelemetry import trace
from opentelemetry.trace import Span

from esl_common import tracing as common
from esl_common.tracing import ENDPOINT_ENV, current_traceparent, trace_fields

TRACEPARENT_TAG: Final = ".dagster/esl.traceparent"
TRACER_NAME: Final = "api_shim"
DEFAULT_SERVICE_NAME: Final = "esl-api"


def _instrument_httpx() -> None:
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    HTTPXClientInstrumentor().instrument()


def configure_tracing(service_name: str = DEFAULT_SERVICE_NAME) -> bool:
    """Install the SDK, the OTLP exporter and the httpx instrumentation once per process; False
    (no-op) without an endpoint."""
    return common.configure_tracing(service_name, _instrument_httpx)


@contextmanager
def launch_span(kind: str, job_id: str) -> Iterator[Span]:
    """The current span of one launch (``job.submit`` or ``job.rerun``) of job ``job_id``."""
    tracer = trace.get_tracer(TRACER_NAME)
    with tracer.start_as_current_span(f"job.{kind}", attributes={"esl.job_id": job_id}) as span:
        yield span


__all__ = [
    "ENDPOINT_ENV",
    "TRACEPARENT_TAG",
    "configure_tracing",
    "current_traceparent",
    "launch_span",
    "trace_fields",
]
