"""One pure-ASGI middleware for every HTTP request: request id, body size limit, last-resort
500, access log and RED metrics (labelled by route template, never by raw path)."""

import json
import logging
import re
import time
import uuid
from collections.abc import Collection
from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api_shim.core.errors import INTERNAL_ERROR_BODY, validation_failed
from api_shim.core.logging import ACCESS_LOGGER_NAME
from api_shim.core.metrics import ShimMetrics

access_logger = logging.getLogger(ACCESS_LOGGER_NAME)
error_logger = logging.getLogger("api_shim.errors")

REQUEST_ID_HEADER = "x-request-id"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def _too_large(limit: int) -> Any:
    return validation_failed("payload_too_large", f"request body exceeds {limit} bytes")


class RequestContextMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: ShimMetrics,
        max_body_bytes: int,
        self_limited_paths: Collection[str] = (),
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        # Routes that take larger bodies (uploads) and enforce their own limit while streaming.
        self.self_limited_paths = frozenset(self_limited_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = Headers(scope=scope)
        incoming_id = headers.get(REQUEST_ID_HEADER, "")
        request_id = incoming_id if _VALID_REQUEST_ID.match(incoming_id) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = int(message["status"])
                response_started = True
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        received = 0
        limit = None if scope.get("path") in self.self_limited_paths else self.max_body_bytes

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if limit is not None and received > limit:
                    raise _too_large(limit)
            return message

        try:
            declared = int(headers.get("content-length", "0") or "0")
        except ValueError:
            declared = 0
        try:
            if limit is not None and declared > limit:
                error = _too_large(limit)
                await self._send_json(send_with_id, error.status_code, error.body)
            else:
                await self.app(scope, limited_receive, send_with_id)
        except Exception:
            error_logger.exception("unhandled error", extra={"fields": {"request_id": request_id}})
            if response_started:
                raise
            await self._send_json(send_with_id, 500, INTERNAL_ERROR_BODY)
        finally:
            self._record(scope, request_id, status, time.perf_counter() - started)

    @staticmethod
    async def _send_json(send: Send, status: int, body: dict[str, str]) -> None:
        payload = json.dumps(body, separators=(",", ":")).encode("utf-8")
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode("ascii")),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    def _record(self, scope: Scope, request_id: str, status: int, elapsed: float) -> None:
        route = scope.get("route")
        template = getattr(route, "path", None) or "unmatched"
        method = str(scope.get("method", ""))
        self.metrics.http_requests.labels(method, template, str(status)).inc()
        self.metrics.http_latency.labels(method, template).observe(elapsed)
        access_logger.info(
            "request",
            extra={
                "fields": {
                    "request_id": request_id,
                    "method": method,
                    "path": scope.get("path"),
                    "route": template,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                    "client": (scope.get("client") or ("", 0))[0],
                }
            },
        )
