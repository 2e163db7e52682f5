"""The lesson sensor's default: on at the first start of an embedded home only, never with
``--postgres``; an operator's later choice (kept by Dagster) survives restarts."""

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from esl_dagster.stack.config import StackConfig
from esl_dagster.stack.sensor import LESSON_SENSOR, apply_sensor_default, lesson_sensor_running


class SensorStore:
    """A Dagster webserver reduced to one sensor's stored state, over GraphQL on 127.0.0.1."""

    def __init__(self) -> None:
        self.status = "STOPPED"  # as the sensor ships
        self.start_calls: list[dict[str, Any]] = []

    def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        selector = body["variables"]["selector"]
        assert selector["sensorName"] == LESSON_SENSOR
        if body["query"].lstrip().startswith("mutation"):
            self.start_calls.append(selector)
            self.status = "RUNNING"
            return {"startSensor": {"__typename": "Sensor"}}
        return {"sensorOrError": {"__typename": "Sensor", "sensorState": {"status": self.status}}}


@pytest.fixture
def dagster() -> Iterator[tuple[SensorStore, int]]:
    store = SensorStore()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            assert self.path == "/graphql"
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            payload = json.dumps({"data": store.answer(body)}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield store, int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def config(tmp_path: Path, port: int, *, postgres: bool) -> StackConfig:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return StackConfig(tmp_path, home, tmp_path / "lessons", postgres, port, 1, code_server_port=2)


def test_embedded_turns_the_sensor_on_at_the_first_start_only(
    dagster: tuple[SensorStore, int], tmp_path: Path
) -> None:
    store, port = dagster
    stack = config(tmp_path, port, postgres=False)

    assert apply_sensor_default(stack) is True
    assert lesson_sensor_running(stack) is True
    store.status = "STOPPED"  # the operator turns it off in the UI
    assert apply_sensor_default(stack) is False  # the next start
    assert apply_sensor_default(stack) is False  # and the one after
    assert len(store.start_calls) == 1
    assert lesson_sensor_running(stack) is False


def test_postgres_never_turns_the_sensor_on(
    dagster: tuple[SensorStore, int], tmp_path: Path
) -> None:
    store, port = dagster
    stack = config(tmp_path, port, postgres=True)

    assert apply_sensor_default(stack) is False
    assert apply_sensor_default(stack) is False
    assert store.start_calls == []
    assert lesson_sensor_running(stack) is False
