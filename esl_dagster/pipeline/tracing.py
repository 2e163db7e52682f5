"""OpenTelemetry traces of the engine: one trace per job, one span per stage, external calls below.

Tracing is off unless ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set: ``configure_tracing`` then installs
the SDK's tracer provider with the OTLP HTTP/protobuf exporter (the standard ``OTEL_*`` variables
configure it) and instruments httpx (Notion, ElevenLabs) and botocore (S3), so every request is a
child span of the stage that sends it. Unset, nothing of the SDK is imported and the spans below
are the API's non-recording ones: they cost a context switch and still carry a trace context
handed over by the submitter, so log lines keep its trace id. That set-up and the W3C
``traceparent`` format are :mod:`esl_common.tracing`'s, shared with the API shim.

A run continues the trace of its submission: the API shim (or another submitter) writes the W3C
``traceparent`` of its submission span into a hidden run tag, and every stage span is its child.
A run without one (the sensor's, a launch from the UI) gets a trace of its own derived from the
run id: the trace id is the run id's 32 hex digits, the common parent a span that stands for the
run (it is not exported; trace viewers show the stages as the trace's top level). The engine's
``Pipeline`` (the batch job's per-lesson step, the ``esl`` command) puts a ``lesson`` span around
its stages.
"""

import hashlib
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import NonRecordingSpan, Span, SpanContext, TraceFlags

from esl_common import tracing as common
from esl_common.tracing import (
    ENDPOINT_ENV,
    current_traceparent,
    trace_fields,
    traceparent_context,
    tracing_enabled,
)

TRACER_NAME = "esl_dagster"
DEFAULT_SERVICE_NAME = "esl-dagster"


def configure_tracing(service_name: str = DEFAULT_SERVICE_NAME) -> bool:
    """Install the SDK, the OTLP exporter and the client instrumentation once per process.

    Returns whether tracing is on. Without ``OTEL_EXPORTER_OTLP_ENDPOINT`` it does nothing.
    """
    return common.configure_tracing(service_name, instrument_clients)


def instrument_clients() -> None:
    """Trace every httpx and botocore request as a span of the current context."""
    from opentelemetry.instrumentation.botocore import BotocoreInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    HTTPXClientInstrumentor().instrument()
    BotocoreInstrumentor().instrument()  # type: ignore[no-untyped-call]


def run_context(run_id: str) -> Context:
    """The parent of a run's stages when no submitter handed a trace over: derived from the run id
    (trace id = the run id's UUID; the parent span id from its hash), so every stage of the run,
    in any process, lands in the same trace."""
    try:
        trace_id = uuid.UUID(run_id).int
    except ValueError:
        trace_id = int(hashlib.sha256(run_id.encode()).hexdigest()[:32], 16)
    span_id = int(hashlib.sha256(f"run:{run_id}".encode()).hexdigest()[:16], 16) or 1
    parent = SpanContext(
        trace_id, span_id, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED)
    )
    return trace.set_span_in_context(NonRecordingSpan(parent))


@contextmanager
def run_span(
    name: str, *, run_id: str, traceparent: str | None, attributes: Mapping[str, str] | None = None
) -> Iterator[Span]:
    """A current span of run ``run_id``: child of ``traceparent`` when given, else of the current
    span (a stage inside a lesson's span), else of the run's own trace (see ``run_context``).
    An exception escaping it marks the span as an error."""
    parent = traceparent_context(traceparent)
    if parent is None and not trace.get_current_span().get_span_context().is_valid:
        parent = run_context(run_id)
    tracer = trace.get_tracer(TRACER_NAME)
    span_attributes = {"esl.run_id": run_id, **(attributes or {})}
    with tracer.start_as_current_span(name, context=parent, attributes=span_attributes) as span:
        yield span


@contextmanager
def stage_span(
    stage: str, *, run_id: str, traceparent: str | None, attributes: Mapping[str, str] | None = None
) -> Iterator[Span]:
    """The span ``stage <name>`` of one stage (see ``run_span`` for its parent)."""
    stage_attributes = {"esl.stage": stage, **(attributes or {})}
    with run_span(
        f"stage {stage}", run_id=run_id, traceparent=traceparent, attributes=stage_attributes
    ) as span:
        yield span


__all__ = [
    "ENDPOINT_ENV",
    "configure_tracing",
    "current_traceparent",
    "instrument_clients",
    "run_context",
    "run_span",
    "stage_span",
    "trace_fields",
    "traceparent_context",
    "tracing_enabled",
]
