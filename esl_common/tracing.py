"""OpenTelemetry set-up and W3C trace context, the same in every process (engine and shim).

Tracing is off unless ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set: ``configure_tracing`` then installs
the SDK's tracer provider with the OTLP HTTP/protobuf exporter (the standard ``OTEL_*`` variables
configure it) and the caller's client instrumentation. Unset, nothing of the SDK is imported and
spans are the API's non-recording ones.
"""

import functools
import os
from collections.abc import Callable
from typing import Final

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

ENDPOINT_ENV: Final = "OTEL_EXPORTER_OTLP_ENDPOINT"
TRACEPARENT_HEADER: Final = "traceparent"
# W3C Trace Context, used directly (not the OTEL_PROPAGATORS entry points: cheaper to import).
_W3C = TraceContextTextMapPropagator()


def tracing_enabled() -> bool:
    """True when an OTLP endpoint is configured (``OTEL_EXPORTER_OTLP_ENDPOINT``)."""
    return bool(os.environ.get(ENDPOINT_ENV, "").strip())


def configure_tracing(service_name: str, instrument: Callable[[], None]) -> bool:
    """Install the SDK, the OTLP exporter and ``instrument`` (the process's client
    instrumentation) once per process; ``OTEL_SERVICE_NAME`` wins over ``service_name``.

    Returns whether tracing is on. Without ``OTEL_EXPORTER_OTLP_ENDPOINT`` it does nothing.
    """
    if not tracing_enabled():
        return False
    _install_sdk(os.environ.get("OTEL_SERVICE_NAME") or service_name, instrument)
    return True


@functools.cache
def _install_sdk(service: str, instrument: Callable[[], None]) -> None:
    """The SDK's tracer provider exporting over OTLP, installed once per process."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    instrument()


def current_traceparent() -> str | None:
    """The W3C ``traceparent`` of the current span (None outside a valid span)."""
    carrier: dict[str, str] = {}
    _W3C.inject(carrier)
    return carrier.get(TRACEPARENT_HEADER)


def traceparent_context(traceparent: str | None) -> Context | None:
    """The context a W3C ``traceparent`` value carries, or None when it is absent or invalid."""
    if not traceparent:
        return None
    context = _W3C.extract({TRACEPARENT_HEADER: traceparent})
    return context if trace.get_current_span(context).get_span_context().is_valid else None


def trace_fields() -> dict[str, str]:
    """``trace_id`` and ``span_id`` (hex) of the current span, for log lines; empty without one."""
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return {}
    return {
        "trace_id": trace.format_trace_id(span_context.trace_id),
        "span_id": trace.format_span_id(span_context.span_id),
    }


__all__ = [
    "ENDPOINT_ENV",
    "TRACEPARENT_HEADER",
    "configure_tracing",
    "current_traceparent",
    "trace_fields",
    "traceparent_context",
    "tracing_enabled",
]
