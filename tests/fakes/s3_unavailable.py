"""An S3 endpoint that is down: every request gets ``503 ServiceUnavailable`` (S3's own error
body), and is counted. A stopped moto server gives connection errors, but nothing can count the
requests that reach it; this one can."""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_BODY = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>ServiceUnavailable</Code>'
    b"<Message>Service is unable to handle request.</Message></Error>"
)


class UnavailableS3:
    """The endpoint URL and the requests it answered (method and path, in order)."""

    def __init__(self, server: ThreadingHTTPServer) -> None:
        self._server = server
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"


def _handler(fake: "list[UnavailableS3]") -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            with fake[0].lock:
                fake[0].requests.append((self.command, self.path))
            self.send_response(503)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", "0" if self.command == "HEAD" else str(len(_BODY)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(_BODY)

        do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _answer

    return Handler


@contextmanager
def unavailable_s3() -> Iterator[UnavailableS3]:
    holder: list[UnavailableS3] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(holder))
    server.daemon_threads = True
    holder.append(UnavailableS3(server))
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield holder[0]
    finally:
        server.shutdown()
        server.server_close()
