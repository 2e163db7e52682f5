"""The error envelopes of the contract and the handlers that produce them.

`400 {"error":"validation_failed","message":...,"code":...}`, `404 {"error":"not_found"}` and
`500 {"error":"internal_error"}` are the original's; the others follow the 400 shape.
"""

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from api_shim.dagster_gateway import DagsterProtocolError, DagsterRejected, DagsterUnavailable

logger = logging.getLogger("api_shim.errors")

NOT_FOUND_BODY: dict[str, str] = {"error": "not_found"}
INTERNAL_ERROR_BODY: dict[str, str] = {"error": "internal_error"}


class ApiError(HTTPException):
    """An answer with a fixed JSON body; raised anywhere, rendered by `api_error_handler`."""

    def __init__(
        self, status_code: int, body: Mapping[str, str], headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(status_code=status_code, detail=body.get("message"), headers=headers)
        self.body = dict(body)


def validation_failed(code: str, message: str) -> ApiError:
    return ApiError(400, {"error": "validation_failed", "message": message, "code": code})


def not_found() -> ApiError:
    return ApiError(404, NOT_FOUND_BODY)


def conflict(code: str, message: str, *, retry_after_s: int | None = None) -> ApiError:
    headers = None if retry_after_s is None else {"Retry-After": str(retry_after_s)}
    return ApiError(409, {"error": "conflict", "message": message, "code": code}, headers)


def service_unavailable(code: str, message: str, retry_after_s: int) -> ApiError:
    """A 503 `service_unavailable` answer: something the request needs did not answer."""
    return ApiError(
        503,
        {"error": "service_unavailable", "message": message, "code": code},
        headers={"Retry-After": str(retry_after_s)},
    )


def s3_unavailable(retry_after_s: int) -> ApiError:
    """S3 (the lesson prefix of S3 mode) did not answer: nothing was stored or launched."""
    return service_unavailable(
        "s3_unavailable", "S3 lesson storage is unavailable; retry later", retry_after_s
    )


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).replace("-", "_").lower()


def validation_code(errors: Sequence[Mapping[str, Any]]) -> tuple[str, str]:
    """(code, message) of the first pydantic/FastAPI error, in the original's vocabulary."""
    if not errors:
        return "invalid_body", "request is invalid"
    first = errors[0]
    loc = tuple(first.get("loc") or ())
    kind = str(first.get("type") or "")
    msg = str(first.get("msg") or "invalid value")
    if kind == "json_invalid":
        return "invalid_json", "request body is not valid JSON"
    if loc[:1] == ("body",):
        if len(loc) == 1:
            if kind == "missing":
                return "invalid_body", "request body is required"
            return "invalid_body", "request body must be a JSON object (application/json)"
        field = str(loc[1])
        if field == "md" and kind in ("missing", "string_too_short"):
            return "md_required", "md is required and must be a non-empty string"
        return f"invalid_{_snake(field)}", f"{field}: {msg}"
    if len(loc) >= 2 and loc[0] in ("query", "header", "path"):
        field = str(loc[1])
        if kind == "extra_forbidden":
            return f"unknown_{loc[0]}_parameter", f"unknown {loc[0]} parameter: {field}"
        return f"invalid_{_snake(field)}", f"{field}: {msg}"
    return "invalid_request", msg


async def api_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return JSONResponse(exc.body, status_code=exc.status_code, headers=exc.headers)


def allowed_methods(request: Request) -> str | None:
    """Every method the OpenAPI schema declares for this path (Starlette's own 405 names only
    the first route that matched), or None for a path outside the schema."""
    methods: set[str] = set()
    for template, operations in request.app.openapi().get("paths", {}).items():
        pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, request.url.path):
            methods.update(method.upper() for method in operations)
    return ", ".join(sorted(methods)) or None


async def http_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return JSONResponse(NOT_FOUND_BODY, status_code=404)
    if exc.status_code == 405:
        headers = dict(exc.headers or {})
        headers["Allow"] = allowed_methods(request) or headers.get("Allow", "")
        return JSONResponse({"error": "method_not_allowed"}, status_code=405, headers=headers)
    if exc.status_code == 400:
        # FastAPI's only bare 400: a body it could not parse (e.g. not UTF-8).
        body = {
            "error": "validation_failed",
            "message": "request body is not valid JSON (UTF-8)",
            "code": "invalid_json",
        }
        return JSONResponse(body, status_code=400)
    body = {"error": "client_error", "message": str(exc.detail), "code": f"http_{exc.status_code}"}
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


async def request_validation_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    code, message = validation_code(exc.errors())
    body = {"error": "validation_failed", "message": message, "code": code}
    return JSONResponse(body, status_code=400)


async def dagster_unavailable_handler(request: Request, exc: Exception) -> JSONResponse:
    retry_after = int(getattr(request.app.state.settings, "retry_after_s", 5))
    logger.warning(
        "dagster unavailable",
        extra={"fields": {"detail": str(exc), "request_id": _request_id(request)}},
    )
    error = service_unavailable(
        "dagster_unavailable", "Dagster is unavailable; retry later", retry_after
    )
    return JSONResponse(error.body, status_code=503, headers=error.headers)


async def dagster_internal_handler(request: Request, exc: Exception) -> JSONResponse:
    logger.error(
        "dagster answered something the shim cannot use",
        extra={
            "fields": {
                "kind": type(exc).__name__,
                "detail": str(exc),
                "request_id": _request_id(request),
            }
        },
    )
    return JSONResponse(INTERNAL_ERROR_BODY, status_code=500)


def _request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, api_error_handler)
    app.add_exception_handler(HTTPException, http_error_handler)
    app.add_exception_handler(RequestValidationError, request_validation_handler)
    app.add_exception_handler(DagsterUnavailable, dagster_unavailable_handler)
    app.add_exception_handler(DagsterRejected, dagster_internal_handler)
    app.add_exception_handler(DagsterProtocolError, dagster_internal_handler)
