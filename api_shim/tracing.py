"""OpenTelemetry traces of the shim: each launch is the root span of its job's trace.

Off unless ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set: ``configure_tracing`` then installs the SDK's
tracer provider with the OTLP HTTP/protobuf exporter and instruments httpx (the GraphQL calls to
Dagster become child spans); unset, nothing of the SDK is imported and spans are non-recording.

``launch_span`` wraps one launch; ``current_traceparent`` is the W3C ``traceparent`` the shim puts
in the run's hidden tag ``TRACEPARENT_TAG``, from which the run's stages continue the trace. The
code location does the same setup on its side (the shim cannot import it; a contract test checks
that both use the same tag and the W3C format).
"""

import functools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

from opentelemetry import trace
from opentelemetry.trace import Span
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

ENDPOINT_ENV: Final = "OTEL_EXPORTER_OTLP_ENDPOINT"
TRACEPARENT_HEADER: Final = "traceparent"
# W3C Trace Context, used directly (not the OTEL_PROPAGATORS entry points: cheaper to import).
_W3C = TraceContextTextMapPropagator()
TRACEPARENT_TAG: Final = ".dagster/esl.traceparent"
TRACER_NAME: Final = "api_shim"
DEFAULT_SERVICE_NAME: Final = "esl-api"


def configure_tracing(service_name: str = DEFAULT_SERVICE_NAME) -> bool:
    """Install the SDK and the OTLP exporter once per process; False (no-op) without an endpoint."""
    if not os.environ.get(ENDPOINT_ENV, "").strip():
        return False
    _install_sdk(os.environ.get("OTEL_SERVICE_NAME") or service_name)
    return True


@functools.cache
def _install_sdk(service: str) -> None:
    """The SDK's tracer provider exporting over OTLP, installed once per process."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    HTTPXClientInstrumentor().instrument()


@contextmanager
def launch_span(kind: str, job_id: str) -> Iterator[Span]:
    """The current span of one launch (``job.submit`` or ``job.rerun``) of job ``job_id``."""
    tracer = trace.get_tracer(TRACER_NAME)
    with tracer.start_as_current_span(f"job.{kind}", attributes={"esl.job_id": job_id}) as span:
        yield span


def current_traceparent() -> str | None:
    """The W3C ``traceparent`` of the current span (None outside a recording or handed-over
    span)."""
    carrier: dict[str, str] = {}
    _W3C.inject(carrier)
    return carrier.get(TRACEPARENT_HEADER)


def trace_fields() -> dict[str, str]:
    """``trace_id`` and ``span_id`` (hex) of the current span, for log lines; empty without one."""
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return {}
    return {
        "trace_id": trace.format_trace_id(span_context.trace_id),
        "span_id": trace.format_span_id(span_context.span_id),
    }
