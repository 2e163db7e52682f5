"""`GET /jobs/events`: job changes as Server-Sent Events, resumable with `Last-Event-ID`."""

import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials
from starlette.background import BackgroundTask

from api_shim.api.deps import SettingsDep, bearer_scheme, require_principal
from api_shim.api.routes.jobs import COMMON_RESPONSES
from api_shim.core.errors import service_unavailable, validation_failed
from api_shim.event_hub import EventHub, Subscription, TooManyStreams
from api_shim.job_events import InvalidEventId, StreamPosition
from api_shim.job_queries import canonical_job_id
from api_shim.schemas import ErrorBody, unavailable_response

ALL_JOBS = "*"
RECONNECT_MS = 3000
SSE_EXAMPLE = (
    "id: v1.0.AZZ0jdpFcBKZaKHBJEOE3A:3\n"
    "event: job_step_changed\n"
    'data: {"jobId":"0196748d-da45-7012-9968-a2812443844d","state":"running",...,'
    '"change":{"at":"2025-01-31T09:15:02.123Z","runId":"...","state":"running",'
    '"step":"import","stepStatus":"succeeded"}}\n\n'
)

router = APIRouter(prefix="/jobs", tags=["jobs"])


def require_stream_principal(
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    access_token: Annotated[
        str | None,
        Query(
            max_length=1024,
            description="The API key, for clients that cannot set headers (EventSource).",
        ),
    ] = None,
) -> str:
    if credentials is None and access_token:
        credentials = HTTPAuthorizationCredentials(scheme="Bearer", credentials=access_token)
    return require_principal(settings, credentials)


def _hub(request: Request) -> EventHub:
    hub: EventHub = request.app.state.event_hub
    return hub


def _job_ids(raw: str, max_ids: int) -> frozenset[str] | None:
    if raw.strip() == ALL_JOBS:
        return None
    ids: set[str] = set()
    for part in raw.split(","):
        job_id = canonical_job_id(part.strip())
        if job_id is None:
            raise validation_failed("invalid_job_id", f"jobId: '{part.strip()}' is not a job id")
        ids.add(job_id)
    if len(ids) > max_ids:
        raise validation_failed("too_many_job_ids", f"jobId: at most {max_ids} ids per stream")
    return frozenset(ids)


def _position(raw: str | None, job_ids: frozenset[str] | None, now_ms: int) -> StreamPosition:
    if not raw:
        return StreamPosition(watermark_ms=now_ms if job_ids is None else 0)
    try:
        position = StreamPosition.decode(raw)
    except (InvalidEventId, ValueError) as exc:
        raise validation_failed(
            "invalid_last_event_id", "Last-Event-ID is not an id of this stream"
        ) from exc
    if job_ids is not None:
        position.delivered = {k: v for k, v in position.delivered.items() if k in job_ids}
    return position


def _frame(event_id: str, kind: str, data: str) -> bytes:
    return f"id: {event_id}\nevent: {kind}\ndata: {data}\n\n".encode()


async def _stream(
    hub: EventHub, subscription: Subscription, heartbeat_s: float
) -> AsyncIterator[bytes]:
    try:
        yield f"retry: {RECONNECT_MS}\n\n".encode()
        last_sent = time.monotonic()
        while True:
            quiet_for = time.monotonic() - last_sent
            if quiet_for >= heartbeat_s:
                yield b": heartbeat\n\n"
                last_sent = time.monotonic()
                continue
            batch = await hub.next_batch(subscription, heartbeat_s - quiet_for)
            if hub.stopping:
                return
            if batch:
                yield b"".join(_frame(d.event_id, d.kind, d.data) for d in batch)
                last_sent = time.monotonic()
    finally:
        hub.close(subscription)


@router.get(
    "/events",
    operation_id="jobs-events",
    response_class=StreamingResponse,
    responses={
        **COMMON_RESPONSES,
        200: {
            "description": "A text/event-stream of `job_created`, `job_state_changed` and "
            "`job_step_changed` events; `data` is the job resource (as `GET /jobs/{jobId}`) "
            "plus `change` (what changed, when, in which run); `id` resumes the stream; a "
            "`: heartbeat` comment is sent when nothing happened for a while.",
            "content": {
                "text/event-stream": {"schema": {"type": "string"}, "example": SSE_EXAMPLE}
            },
        },
        400: {
            "model": ErrorBody,
            "description": "`invalid_job_id`, `too_many_job_ids` or `invalid_last_event_id`.",
        },
        503: unavailable_response("Too many open streams on this process (`too_many_streams`)."),
    },
)
async def job_event_stream(
    request: Request,
    settings: SettingsDep,
    _principal: Annotated[str, Depends(require_stream_principal)],
    job_id: Annotated[
        str,
        Query(
            alias="jobId",
            min_length=1,
            max_length=4000,
            description="Comma-separated job ids, or `*` for every job (from now on).",
        ),
    ],
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=65536)] = None,
    last_event_id_query: Annotated[
        str | None,
        Query(alias="lastEventId", max_length=65536, description="As the Last-Event-ID header."),
    ] = None,
) -> StreamingResponse:
    """Follow jobs live. Without an id, a job's whole history is sent first (for `*`: changes
    from now on); with `Last-Event-ID`, exactly the events after that id."""
    job_ids = _job_ids(job_id, settings.events_max_ids)
    hub = _hub(request)
    now_ms = int(hub.now() * 1000)
    position = _position(last_event_id or last_event_id_query, job_ids, now_ms)
    try:
        subscription = hub.open(job_ids, position)
    except TooManyStreams as exc:
        raise service_unavailable(
            "too_many_streams",
            "too many open event streams on this server; retry later",
            settings.retry_after_s,
        ) from exc
    return StreamingResponse(
        _stream(hub, subscription, settings.events_heartbeat_s),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        background=BackgroundTask(hub.close, subscription),
    )
