"""An S3 front for moto that behaves like a bucket with Object Ownership = BucketOwnerEnforced.

moto accepts ACLs on every bucket, so this proxy (127.0.0.1, ephemeral port) answers any request
carrying an ``x-amz-acl`` header with S3's ``400 AccessControlListNotSupported`` error and
forwards everything else to the moto server unchanged. Requests are recorded.
"""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

_ACL_ERROR = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessControlListNotSupported</Code>'
    b"<Message>The bucket does not allow ACLs</Message></Error>"
)
_HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "_Server"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _forward(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        with self.server.lock:
            self.server.seen.append((self.command, self.path, self.headers.get("x-amz-acl")))
        if self.headers.get("x-amz-acl"):
            self.send_response(400)
            self.send_header("content-type", "application/xml")
            self.send_header("content-length", str(len(_ACL_ERROR)))
            self.end_headers()
            self.wfile.write(_ACL_ERROR)
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_HEADERS}
        upstream = httpx.request(
            self.command,
            self.server.upstream + self.path,
            headers=headers,
            content=body,
            timeout=30,
        )
        self.send_response(upstream.status_code)
        for name, value in upstream.headers.items():
            if name.lower() not in _HOP_HEADERS:
                self.send_header(name, value)
        payload = b"" if self.command == "HEAD" else upstream.content
        self.send_header(
            "content-length", upstream.headers.get("content-length", str(len(payload)))
        )
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _forward


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, upstream: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.upstream = upstream.rstrip("/")
        self.lock = threading.Lock()
        self.seen: list[tuple[str, str, str | None]] = []


class AclRefusingProxy:
    """``with AclRefusingProxy(moto_url) as proxy: ... proxy.endpoint_url``."""

    def __init__(self, upstream: str) -> None:
        self._server = _Server(upstream)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def seen(self) -> list[tuple[str, str, str | None]]:
        with self._server.lock:
            return list(self._server.seen)

    def __enter__(self) -> "AclRefusingProxy":
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
