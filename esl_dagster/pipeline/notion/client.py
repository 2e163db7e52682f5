"""A small synchronous Notion REST client over httpx with retries that never duplicate writes.

Retry rules: HTTP 429 is retried for every call (Notion rejected the request before
doing anything); 408/409/425/5xx, timeouts and dropped connections are retried directly only for
idempotent calls. For a non-idempotent write (create a page, append children) such a fault is
*ambiguous*: the write may have happened. The caller then passes ``recover``, a function that
looks at Notion's current state and returns the write's result if it did happen (or undoes a
partial effect and returns None, after which the write is sent again). A connection that was never
established is retried for every call. ``Retry-After`` is honoured (capped); otherwise the delay
is a capped exponential backoff with jitter. Any other 4xx fails at once with Notion's own
``code`` and ``message``. When attempts run out the error is a transient ServiceError marked
``retried``: the Dagster op does not retry it again (one retry layer per call). A fault the client
does not retry (an ambiguous write without ``recover``) is left to the op's RetryPolicy.

The client may be shared by a few threads (:meth:`NotionClient.delete_blocks`). A 429 pauses the
whole client: until the rate-limited call's ``Retry-After`` has passed, other calls wait before
sending instead of each collecting its own 429.
"""

import hashlib
import random
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from esl_dagster.pipeline.errors import ServiceError, is_transient_status
from esl_dagster.pipeline.http_retry import HttpClientOwner, parse_retry_after, retry_delay
from esl_dagster.pipeline.notion.rate_limit_pause import RateLimitPause
from esl_dagster.pipeline.observability import NoopMetrics, PipelineMetrics, record_request

if TYPE_CHECKING:  # imported when a client is made: a preview run never loads httpx
    import httpx

JSON = dict[str, Any]
Recover = Callable[[], JSON | None]

DEFAULT_BASE_URL = "https://api.notion.com"
DEFAULT_NOTION_VERSION = "2025-09-03"
SERVICE = "Notion"
# A few requests in flight: Notion allows bursts above its ~3 requests/s average, and a 429
# pauses every worker for its Retry-After.
DEFAULT_DELETE_CONCURRENCY = 3


class NotionAPIError(ServiceError):
    """An error answer from Notion. ``notion_code`` is Notion's own code (e.g. validation_error)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None,
        notion_code: str | None,
        transient: bool,
        retry_after: float | None = None,
        sent: bool = True,
        retried: bool = False,
    ) -> None:
        super().__init__(
            SERVICE,
            message,
            status=status,
            transient=transient,
            retry_after=retry_after,
            retried=retried,
        )
        self.notion_code = notion_code
        # False when the connection was never made, so the request cannot have had an effect.
        self.sent = sent


@dataclass(frozen=True)
class FormData:
    """A multipart/form-data body: ``files`` maps a field to ``(filename, bytes, content type)``."""

    files: dict[str, tuple[str, bytes, str]]
    fields: dict[str, str]


class NotionClient(HttpClientOwner):
    """Notion REST API client. ``sleep`` and ``rng`` are injectable for fast, deterministic tests."""

    def __init__(
        self,
        token: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        notion_version: str = DEFAULT_NOTION_VERSION,
        timeout: float = 30.0,
        max_attempts: int = 5,
        backoff_base: float = 0.5,
        backoff_cap: float = 20.0,
        retry_after_cap: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
        transport: "httpx.BaseTransport | None" = None,
        metrics: PipelineMetrics | None = None,
    ) -> None:
        if not token:
            raise ServiceError(SERVICE, "an integration token is required", transient=False)
        self.max_attempts = max(1, max_attempts)
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.retry_after_cap = retry_after_cap
        self._sleep = sleep
        self._rng = rng
        self._metrics: PipelineMetrics = metrics if metrics is not None else NoopMetrics()
        self.calls = 0
        self._lock = threading.Lock()
        self._rate_limit_pause = RateLimitPause(sleep)
        self.cache_key = hashlib.sha256(f"{base_url}\0{token}".encode()).hexdigest()
        import httpx

        self._http = httpx.Client(
            base_url=base_url.rstrip("/") + "/v1/",
            headers={
                "Authorization": f"Bearer {token}",
                "Notion-Version": notion_version,
                "Accept": "application/json",
            },
            timeout=httpx.Timeout(timeout),
            transport=transport,
        )

    # -- endpoints --------------------------------------------------------------------------

    def retrieve_database(self, database_id: str) -> JSON:
        return self.request("GET", f"databases/{database_id}")

    def retrieve_data_source(self, data_source_id: str) -> JSON:
        return self.request("GET", f"data_sources/{data_source_id}")

    def query_data_source(self, data_source_id: str, body: JSON) -> JSON:
        return self.request(
            "POST", f"data_sources/{data_source_id}/query", body=body, idempotent=True
        )

    def search(self, body: JSON) -> JSON:
        return self.request("POST", "search", body=body, idempotent=True)

    def iter_search(self, body: JSON) -> Iterator[JSON]:
        """Every search result for ``body``, following ``next_cursor`` while ``has_more``."""
        cursor: str | None = None
        while True:
            page = self.search({**body, "start_cursor": cursor} if cursor else body)
            yield from page.get("results", [])
            cursor = page.get("next_cursor")
            if not page.get("has_more") or not cursor:
                return

    def retrieve_page(self, page_id: str) -> JSON:
        return self.request("GET", f"pages/{page_id}")

    def create_page(self, body: JSON, *, recover: Recover | None = None) -> JSON:
        return self.request("POST", "pages", body=body, idempotent=False, recover=recover)

    def update_page(self, page_id: str, body: JSON) -> JSON:
        return self.request("PATCH", f"pages/{page_id}", body=body, idempotent=True)

    def retrieve_block(self, block_id: str) -> JSON:
        return self.request("GET", f"blocks/{block_id}")

    def list_block_children(
        self, block_id: str, *, start_cursor: str | None = None, page_size: int = 100
    ) -> JSON:
        params: dict[str, str | int] = {"page_size": page_size}
        if start_cursor:
            params["start_cursor"] = start_cursor
        return self.request("GET", f"blocks/{block_id}/children", params=params)

    def iter_block_children(self, block_id: str) -> Iterator[JSON]:
        """Every (non-trashed) child of a page or block, following ``next_cursor``."""
        cursor: str | None = None
        while True:
            page = self.list_block_children(block_id, start_cursor=cursor)
            yield from page.get("results", [])
            cursor = page.get("next_cursor")
            if not page.get("has_more") or not cursor:
                return

    def append_block_children(
        self,
        block_id: str,
        children: list[JSON],
        *,
        position: JSON | None = None,
        recover: Recover | None = None,
    ) -> JSON:
        """Append children; ``position`` is ``{"type": "start"}`` or an ``after_block`` position."""
        body: JSON = {"children": children}
        if position is not None:
            body["position"] = position
        return self.request(
            "PATCH", f"blocks/{block_id}/children", body=body, idempotent=False, recover=recover
        )

    def update_block(self, block_id: str, body: JSON) -> JSON:
        return self.request("PATCH", f"blocks/{block_id}", body=body, idempotent=True)

    def delete_block(self, block_id: str) -> JSON:
        """Move a block to the trash. A retry after a lost answer finds it already trashed."""

        def already_deleted() -> JSON | None:
            block = self.retrieve_block(block_id)
            return block if block.get("in_trash") or block.get("archived") else None

        return self.request(
            "DELETE", f"blocks/{block_id}", idempotent=False, recover=already_deleted
        )

    def delete_blocks(
        self, block_ids: list[str], *, concurrency: int = DEFAULT_DELETE_CONCURRENCY
    ) -> None:
        """Trash ``block_ids`` with up to ``concurrency`` calls in flight; return when all are.

        Each deletion keeps :meth:`delete_block`'s retry rules. On the first failure no further
        deletion starts; the ones in flight finish and the failure is raised. Deleted blocks stay
        deleted, so a caller that lists the remaining children again resumes the work.
        """
        if concurrency <= 1 or len(block_ids) <= 1:
            for block_id in block_ids:
                self.delete_block(block_id)
            return
        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="notion") as pool:
            futures = [pool.submit(self.delete_block, block_id) for block_id in block_ids]
            wait(futures, return_when=FIRST_EXCEPTION)
            for future in futures:
                future.cancel()  # only those not started yet: nothing new after a failure
        for future in futures:
            error = None if future.cancelled() else future.exception()
            if error is not None:
                raise error

    # -- file uploads (the multipart ``send`` is the only non-JSON body) ----------------------

    def create_file_upload(self, body: JSON) -> JSON:
        """Retried freely: a duplicate only leaves an unused upload, which Notion expires."""
        return self.request("POST", "file_uploads", body=body, idempotent=True)

    def retrieve_file_upload(self, file_upload_id: str) -> JSON:
        return self.request("GET", f"file_uploads/{file_upload_id}")

    def send_file_upload(
        self,
        file_upload_id: str,
        content: bytes,
        *,
        filename: str,
        content_type: str,
        part_number: int | None = None,
        recover: Recover | None = None,
    ) -> JSON:
        """Multipart/form-data: the bytes under ``file``; ``part_number`` in multi-part mode."""
        form = FormData(
            files={"file": (filename, content, content_type)},
            fields={"part_number": str(part_number)} if part_number is not None else {},
        )
        path = f"file_uploads/{file_upload_id}/send"
        return self.request("POST", path, form=form, idempotent=False, recover=recover)

    def complete_file_upload(self, file_upload_id: str, *, recover: Recover | None = None) -> JSON:
        path = f"file_uploads/{file_upload_id}/complete"
        return self.request("POST", path, idempotent=False, recover=recover)

    # -- transport --------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        body: JSON | None = None,
        params: dict[str, str | int] | None = None,
        form: FormData | None = None,
        idempotent: bool | None = None,
        recover: Recover | None = None,
    ) -> JSON:
        """Send one API call with the retry rules described in the module docstring.

        ``body`` is sent as JSON, ``form`` as multipart/form-data (only one of them)."""
        safe = method == "GET" if idempotent is None else idempotent
        me = object()
        last: NotionAPIError | None = None
        try:
            for attempt in range(1, self.max_attempts + 1):
                if attempt > 1 and last is not None:
                    delay = self._delay(attempt - 1, last.retry_after)
                    if last.status == 429:
                        self._rate_limit_pause.pause_others(me, delay)
                    self._sleep(delay)
                else:
                    self._rate_limit_pause.wait_if_paused(me)
                try:
                    return self._send(method, path, body, params, form, retry=attempt > 1)
                except NotionAPIError as error:
                    last = error
                    if not error.transient:
                        raise
                    if error.status != 429 and error.sent and not safe:
                        if recover is None:
                            raise
                        result = recover()
                        if result is not None:
                            return result
        finally:
            self._rate_limit_pause.end(me)
        assert last is not None
        raise NotionAPIError(
            f"{method} /v1/{path} failed after {self.max_attempts} attempts: {last.args[0]}",
            status=last.status,
            notion_code=last.notion_code,
            transient=True,
            retry_after=last.retry_after,
            retried=self.max_attempts > 1,
        )

    def _delay(self, retry: int, retry_after: float | None) -> float:
        return retry_delay(
            retry,
            retry_after,
            base=self.backoff_base,
            cap=self.backoff_cap,
            retry_after_cap=self.retry_after_cap,
            rng=self._rng,
        )

    def _send(
        self,
        method: str,
        path: str,
        body: JSON | None,
        params: dict[str, str | int] | None,
        form: FormData | None = None,
        *,
        retry: bool = False,
    ) -> JSON:
        import httpx

        with self._lock:
            self.calls += 1
        try:
            response = self._http.request(
                method,
                path,
                json=body,
                params=params,
                files=form.files if form else None,
                data=form.fields if form else None,
            )
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            record_request(self._metrics, "notion", None, retry=retry)
            raise NotionAPIError(
                f"cannot connect: {exc}", status=None, notion_code=None, transient=True, sent=False
            ) from exc
        except httpx.HTTPError as exc:
            record_request(self._metrics, "notion", None, retry=retry)
            raise NotionAPIError(
                f"{type(exc).__name__}: {exc or 'connection dropped'}",
                status=None,
                notion_code=None,
                transient=True,
            ) from exc
        record_request(self._metrics, "notion", response.status_code, retry=retry)
        if response.is_success:
            data: JSON = response.json()
            return data
        raise _error_from(response)


def _error_from(response: "httpx.Response") -> NotionAPIError:
    status = response.status_code
    code: str | None = None
    message = response.reason_phrase or "error"
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict) and data.get("object") == "error":
        code = str(data.get("code") or "") or None
        message = str(data.get("message") or message)
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    text = f"HTTP {status} {code}: {message}" if code else f"HTTP {status}: {message}"
    return NotionAPIError(
        text,
        status=status,
        notion_code=code,
        transient=is_transient_status(status),
        retry_after=retry_after,
    )
