"""One trace per job, recorded by an in-memory exporter: the shim's launch span, its traceparent
in the run's hidden tag, the run's stage spans as its children, the fake Notion's HTTP requests
below them, and the trace id in the run's log records. Without an OTLP endpoint nothing of the
SDK is installed."""

import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import dagster as dg
import pytest
from fastapi.testclient import TestClient
from opentelemetry import trace
from opentelemetry.instrumentation.botocore import BotocoreInstrumentor
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from api_shim.tracing import TRACEPARENT_TAG as SHIM_TRACEPARENT_TAG
from esl_dagster.defs.lessons.jobs import build_lesson_job
from esl_dagster.defs.lessons.tags import TRACEPARENT_TAG
from esl_dagster.pipeline.options import JobOptions
from esl_dagster.pipeline.runner import Pipeline
from esl_dagster.pipeline.tracing import instrument_clients
from esl_dagster.resources.pipeline import PipelineResource

# The shim's fixtures (a TestClient against the fake Dagster GraphQL server).
from tests.api.conftest import MISSION, client, fake, lesson_cwd, make_client  # noqa: F401
from tests.conftest import VALID_LESSONS
from tests.dagster.test_run_logs import embedded_pipeline, shipped_python_logs
from tests.fakes.dagster_graphql import FakeDagster
from tests.fakes.notion_server import FakeNotion, Seeded, seed_homework

job = build_lesson_job("lesson_job_traced")


@pytest.fixture(scope="module")
def exporter() -> Iterator[InMemorySpanExporter]:
    """An SDK provider (the process's only one) exporting to memory; httpx/botocore traced."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    memory = InMemorySpanExporter()
    processor = SimpleSpanProcessor(memory)
    provider.add_span_processor(processor)
    instrument_clients()
    yield memory
    HTTPXClientInstrumentor().uninstrument()
    BotocoreInstrumentor().uninstrument()  # type: ignore[no-untyped-call]
    processor.shutdown()


@pytest.fixture
def spans(exporter: InMemorySpanExporter) -> InMemorySpanExporter:
    exporter.clear()
    return exporter


def traceparent_of(span: ReadableSpan) -> str:
    context = span.get_span_context()
    assert context is not None
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


def test_both_sides_name_the_same_hidden_tag() -> None:
    assert SHIM_TRACEPARENT_TAG == TRACEPARENT_TAG
    assert TRACEPARENT_TAG.startswith(".dagster/")  # hidden in Dagster's run list


def test_post_jobs_is_a_span_whose_traceparent_the_run_carries(
    spans: InMemorySpanExporter,
    client: TestClient,  # noqa: F811
    fake: FakeDagster,  # noqa: F811
) -> None:
    response = client.post("/jobs", json={"md": MISSION})
    assert response.status_code == 202

    [submit] = [span for span in spans.get_finished_spans() if span.name == "job.submit"]
    assert submit.attributes is not None
    assert submit.attributes["esl.job_id"] == response.json()["jobId"]
    tags = {tag["key"]: tag["value"] for tag in fake.launches[0]["executionMetadata"]["tags"]}
    assert tags[TRACEPARENT_TAG] == traceparent_of(submit)
    # The launchRun request to Dagster is an httpx client span inside the submission.
    graphql = [
        span
        for span in spans.get_finished_spans()
        if span.kind is SpanKind.CLIENT and span.parent is not None
    ]
    assert any(span.parent.span_id == submit.context.span_id for span in graphql)  # type: ignore[union-attr]


def notion_pipeline(notion: FakeNotion, tmp_path: Path) -> PipelineResource:
    return PipelineResource(
        variables={
            "NOTION_TOKEN": notion.token,
            "NOTION_BASE_URL": notion.base_url,
            "NOTION_MAX_RETRIES": "0",
            "PIPELINE_CWD": str(tmp_path),
            "ESL_LOCAL_UPLOAD_DIR": str(tmp_path / "uploads"),
        }
    )


def run_lesson(
    tmp_path: Path, notion: FakeNotion, seeded: Seeded, tags: dict[str, str]
) -> tuple[dg.ExecuteInProcessResult, list[dict[str, object]]]:
    """A lesson run against the fake Notion; its engine records from Dagster's event log."""
    lesson = tmp_path / VALID_LESSONS[0].name
    shutil.copyfile(VALID_LESSONS[0], lesson)
    config = {"md": str(lesson), "db_id": seeded.homework_db, "with_tts": False}
    with dg.instance_for_test(overrides={"python_logs": shipped_python_logs()}) as instance:
        result = job.execute_in_process(
            run_config={"ops": {"validate_lesson": {"config": config}}},
            resources={"esl": notion_pipeline(notion, tmp_path)},
            tags={"esl/job_id": "traced-job", **tags},
            instance=instance,
        )
        messages = [entry.user_message for entry in instance.all_logs(result.run_id)]
    records = [json.loads(text) for text in messages if text.startswith('{"event"')]
    return result, records


def test_stages_continue_the_submission_trace_down_to_notion_requests(
    spans: InMemorySpanExporter, tmp_path: Path, fake_notion: FakeNotion
) -> None:
    seeded = seed_homework(fake_notion)
    with trace.get_tracer("test").start_as_current_span("job.submit") as submission:
        traceparent = traceparent_of(submission)  # type: ignore[arg-type]
    spans.clear()

    result, records = run_lesson(tmp_path, fake_notion, seeded, {TRACEPARENT_TAG: traceparent})
    assert result.success

    finished = spans.get_finished_spans()
    stage_spans = [span for span in finished if span.name.startswith("stage ")]
    stages = {span.name: span for span in stage_spans}
    assert len(stage_spans) == len(stages) == 7  # one span per stage op, none nested twice
    submission_context = submission.get_span_context()
    for span in stages.values():
        assert span.context.trace_id == submission_context.trace_id  # type: ignore[union-attr]
        assert span.parent is not None and span.parent.span_id == submission_context.span_id
    import_id = stages["stage import"].context.span_id  # type: ignore[union-attr]
    notion_calls = [
        span
        for span in finished
        if span.kind is SpanKind.CLIENT and span.parent and span.parent.span_id == import_id
    ]
    assert notion_calls, "no HTTP client span under the import stage"
    assert all(
        str((span.attributes or {}).get("http.url", "")).startswith(fake_notion.base_url)
        for span in notion_calls
    )
    # (3) every engine record of the run's log carries the job's trace id; so does op metadata.
    trace_id = f"{submission_context.trace_id:032x}"
    assert records and all(record["trace_id"] == trace_id for record in records)
    [output] = [
        event
        for event in result.events_for_node("import_to_notion")
        if event.event_type == dg.DagsterEventType.STEP_OUTPUT
    ]
    assert output.step_output_data.metadata["trace_id"].value == trace_id


def test_a_run_without_a_submitter_gets_one_trace_of_its_own(
    spans: InMemorySpanExporter, tmp_path: Path, fake_notion: FakeNotion
) -> None:
    result, records = run_lesson(tmp_path, fake_notion, seed_homework(fake_notion), {})
    assert result.success
    stages = [span for span in spans.get_finished_spans() if span.name.startswith("stage ")]
    trace_ids = {span.context.trace_id for span in stages}  # type: ignore[union-attr]
    assert trace_ids == {int(result.run_id.replace("-", ""), 16)}
    assert {record["trace_id"] for record in records} == {result.run_id.replace("-", "")}


def test_the_engine_pipeline_traces_a_lesson_with_its_stages_as_children(
    spans: InMemorySpanExporter, tmp_path: Path
) -> None:
    """The batch job's per-lesson step and the ``esl`` command run lessons through ``Pipeline``."""
    lesson = tmp_path / VALID_LESSONS[0].name
    shutil.copyfile(VALID_LESSONS[0], lesson)
    run_id = str(uuid.uuid4())
    pipeline = Pipeline(embedded_pipeline(tmp_path).services())
    pipeline.new_assignment(JobOptions(md=str(lesson), with_tts=False), run_id=run_id)

    finished = spans.get_finished_spans()
    [lesson_span] = [span for span in finished if span.name == "lesson"]
    stages = [span for span in finished if span.name.startswith("stage ")]
    assert len(stages) == 7
    assert lesson_span.context.trace_id == uuid.UUID(run_id).int  # type: ignore[union-attr]
    assert all(span.parent.span_id == lesson_span.context.span_id for span in stages)  # type: ignore[union-attr]


NO_SDK_SCRIPT = """
import sys
from opentelemetry import trace
from api_shim.tracing import configure_tracing as shim_setup
from esl_dagster.pipeline.tracing import configure_tracing as engine_setup
print(shim_setup(), engine_setup(), type(trace.get_tracer_provider()).__name__,
      any(name.startswith("opentelemetry.sdk") for name in sys.modules))
"""


def run_setup_script() -> list[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    done = subprocess.run(
        [sys.executable, "-c", NO_SDK_SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout.split()


def test_without_an_endpoint_no_sdk_is_installed_or_imported() -> None:
    assert run_setup_script() == ["False", "False", "ProxyTracerProvider", "False"]


EXPORT_SCRIPT = """
from opentelemetry import trace
from api_shim.tracing import configure_tracing as shim_setup
from esl_dagster.pipeline.tracing import configure_tracing, stage_span
print(configure_tracing(), shim_setup(), type(trace.get_tracer_provider()).__name__)
with stage_span("import", run_id="00000000-0000-4000-8000-000000000001", traceparent=None):
    pass
trace.get_tracer_provider().force_flush()
"""


class Collector(http.server.BaseHTTPRequestHandler):
    """An OTLP/HTTP trace receiver: keeps the protobuf export requests it is sent."""

    received: ClassVar[list[tuple[str, str, bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, self.headers["Content-Type"], body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        del format, args


def test_with_an_endpoint_spans_reach_the_collector_over_otlp_http() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{server.server_address[1]}"
        done = subprocess.run(
            [sys.executable, "-c", EXPORT_SCRIPT],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
    finally:
        server.shutdown()
    assert done.stdout.split() == ["True", "True", "TracerProvider"]
    [(path, content_type, body)] = Collector.received
    assert (path, content_type) == ("/v1/traces", "application/x-protobuf")
    export = ExportTraceServiceRequest.FromString(body)
    [resource_spans] = export.resource_spans
    service = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
    assert service["service.name"] == "esl-dagster"
    [span] = [span for scope in resource_spans.scope_spans for span in scope.spans]
    assert span.name == "stage import"
    assert span.trace_id.hex() == "00000000000040008000000000000001"  # the run's own trace
