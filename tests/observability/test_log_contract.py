"""One log format for every process: the shim's formatter and the engine's (both built on
``esl_common.json_logs``) write the same keys, and a real ``python -m api_shim`` writes only JSON
lines, uvicorn's and the access lines included."""

import json
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from opentelemetry import trace

from api_shim.core.logging import JsonFormatter as ShimFormatter
from api_shim.tracing import current_traceparent
from esl_dagster.pipeline.logs import JsonFormatter as EngineFormatter
from esl_dagster.pipeline.tracing import stage_span, traceparent_context


def record_with_extra() -> logging.LogRecord:
    record = logging.makeLogRecord(
        {"name": "x.y", "levelno": logging.WARNING, "levelname": "WARNING", "msg": "it %s"}
    )
    record.args = ("happened",)
    record.job_id = "j-1"
    record.fields = {"request_id": "r-1", "status": 429}
    return record


def test_shim_and_engine_formatters_write_the_same_keys_and_values() -> None:
    record = record_with_extra()
    shim = json.loads(ShimFormatter().format(record))
    engine = json.loads(EngineFormatter().format(record))
    assert shim == engine
    assert list(shim) == [
        "timestamp",
        "level",
        "logger",
        "message",
        "job_id",
        "request_id",
        "status",
    ]
    assert shim["message"] == "it happened" and shim["level"] == "warning"
    assert str(shim["timestamp"]).endswith("Z")


def test_both_formatters_add_the_current_trace_and_span_ids() -> None:
    handed_over = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    with stage_span("import", run_id="run-1", traceparent=handed_over):
        record = record_with_extra()  # one record: both lines carry the same timestamp
        shim = json.loads(ShimFormatter().format(record))
        engine = json.loads(EngineFormatter().format(record))
        propagated = current_traceparent()
    assert shim == engine
    assert shim["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
    assert list(shim)[-2:] == ["trace_id", "span_id"]
    # The shim writes W3C traceparent values the engine reads back as the same span context.
    assert propagated is not None
    context = traceparent_context(propagated)
    assert context is not None
    parsed = trace.get_current_span(context).get_span_context()
    assert f"{parsed.trace_id:032x}" == shim["trace_id"]
    assert f"{parsed.span_id:016x}" == shim["span_id"]
    assert traceparent_context("not-a-traceparent") is None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_until_up(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the shim exited"
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"{url} never answered")


def test_every_line_of_a_running_shim_is_json(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "ESL_API_PORT": str(port),
        "ESL_DAGSTER_GRAPHQL_URL": "http://127.0.0.1:9/graphql",
        "ESL_API_IDEMPOTENCY_DB": str(tmp_path / "idempotency.sqlite"),
        "PIPELINE_CWD": str(tmp_path),
    }
    stderr = tmp_path / "api.log"
    with stderr.open("wb") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "api_shim"], env=env, stderr=sink)
        try:
            wait_until_up(f"http://127.0.0.1:{port}/healthz", proc)
            httpx.get(f"http://127.0.0.1:{port}/healthz", headers={"X-Request-ID": "log-1"})
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    lines = [json.loads(line) for line in stderr.read_text().splitlines() if line.strip()]
    assert "\x1b[" not in stderr.read_text()
    loggers = {line["logger"] for line in lines}
    assert {"uvicorn.error", "api_shim.access"} <= loggers
    access = [line for line in lines if line.get("request_id") == "log-1"]
    assert access and access[0]["route"] == "/healthz" and access[0]["status"] == 200
