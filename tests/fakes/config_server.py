"""A real HTTP config endpoint on 127.0.0.1 for the remote config provider's tests.

Serves files from an in-memory table under an optional base path, checks a bearer token,
sends strong ETags and answers ``If-None-Match`` with 304, and can inject failures (a queue of
status codes answered before the real content) and latency.
"""

import hashlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class RecordedRequest:
    path: str
    headers: dict[str, str]
    status: int


@dataclass
class ConfigServerState:
    files: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    token: str | None = None
    failures: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    latency: float = 0.0
    requests: list[RecordedRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def put(self, path: str, body: str | bytes, content_type: str = "application/json") -> None:
        data = body.encode("utf-8") if isinstance(body, str) else body
        with self.lock:
            self.files[path] = (data, content_type)

    def fail_next(self, status: int, times: int = 1, headers: dict[str, str] | None = None) -> None:
        with self.lock:
            self.failures.extend([(status, dict(headers or {}))] * times)

    def hits(self, path: str) -> list[RecordedRequest]:
        with self.lock:
            return [request for request in self.requests if request.path == path]


def etag_of(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


class _Handler(BaseHTTPRequestHandler):
    server_version = "FakeConfig/1.0"
    state: ConfigServerState

    def log_message(self, format: str, *args: object) -> None:  # silence stderr noise
        return

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        with self.state.lock:
            self.state.requests.append(RecordedRequest(self.path, dict(self.headers), status))
        try:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body:
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            return  # the client gave up (timeout tests)

    def do_GET(self) -> None:
        state = self.state
        if state.latency > 0:
            time.sleep(state.latency)
        if state.token is not None:
            if self.headers.get("Authorization") != f"Bearer {state.token}":
                self._send(401, b'{"error":"unauthorized"}', {"Content-Type": "application/json"})
                return
        with state.lock:
            failure = state.failures.pop(0) if state.failures else None
            entry = state.files.get(self.path)
        if failure is not None:
            status, headers = failure
            self._send(status, b'{"error":"injected"}', headers)
            return
        if entry is None:
            self._send(404, b'{"error":"not_found"}', {"Content-Type": "application/json"})
            return
        body, content_type = entry
        etag = etag_of(body)
        if self.headers.get("If-None-Match") == etag:
            self._send(304, b"", {"ETag": etag})
            return
        self._send(200, body, {"Content-Type": content_type, "ETag": etag})


@dataclass
class ConfigServer:
    base_url: str
    state: ConfigServerState


@contextmanager
def run_config_server() -> Iterator[ConfigServer]:
    """Start the server on an ephemeral loopback port; stop it on exit."""
    state = ConfigServerState()
    handler = type("Handler", (_Handler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield ConfigServer(base_url=f"http://{host!s}:{port}", state=state)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
