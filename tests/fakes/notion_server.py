"""A fake Notion API (version 2025-09-03) on 127.0.0.1 for tests and benchmarks.

It speaks the real REST shapes (reference notion.md §9) for databases with data sources and
schemas, pages, block trees, data-source queries and title search, and enforces what the real API
rejects: missing auth or version header, more than 100 children per array, nesting deeper than two
levels below the request's top blocks, rich text over 2,000 characters (UTF-16 units, as Notion
counts) or with empty content, unknown properties, property values of the wrong type. Errors have
Notion's body
``{"object": "error", "status", "code", "message", "request_id"}``. Faults are injected with
:meth:`FakeNotion.add_fault` (429 with Retry-After, 502/503/500, delay, dropped connection, either
before or after the request took effect), ``latency`` delays every answer, and ``rate_limit``
(requests per second, burst) turns on Notion's average-rate limiter: a token bucket answering 429
with ``Retry-After`` in whole seconds when empty. ``max_in_flight`` records the most requests served
at once. The File Upload API (``/v1/file_uploads``) lives in ``notion_file_uploads``; media blocks
attach an upload with ``{"type": "file_upload", "file_upload": {"id": ...}}``.
"""

import json
import math
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.fakes.notion_file_uploads import FakeFileUploads, UploadError

JSON = dict[str, Any]
VERSIONS = frozenset({"2025-09-03"})
CREATABLE = frozenset(
    "paragraph heading_1 heading_2 heading_3 bulleted_list_item numbered_list_item to_do toggle "
    "quote callout code divider table_of_contents image audio video file pdf bookmark embed "
    "equation table table_row column_list column synced_block breadcrumb".split()
)
TEXT_TYPES = frozenset(
    "paragraph heading_1 heading_2 heading_3 bulleted_list_item numbered_list_item to_do toggle "
    "quote callout code".split()
)
CHILD_TYPES = frozenset(
    "paragraph bulleted_list_item numbered_list_item to_do toggle quote callout column_list column "
    "table synced_block".split()
)
COLORS = frozenset(
    ["default", "gray", "brown", "orange", "yellow", "green", "blue", "purple", "pink", "red"]
    + [f"{c}_background" for c in "gray brown orange yellow green blue purple pink red".split()]
)
LANGUAGES = frozenset(
    "plain text,markdown,typescript,javascript,python,json,bash,shell,html,css,sql,yaml,java,c,"
    "c++,c#,go,rust".split(",")
)
ANNOTATION_KEYS = frozenset({"bold", "italic", "strikethrough", "underline", "code", "color"})


RATE_LIMITED_MESSAGE = "You have been rate limited. Please try again in a few minutes."


def _error_body(status: int, code: str, message: str) -> JSON:
    return {
        "object": "error",
        "status": status,
        "code": code,
        "message": message,
        "request_id": str(uuid.uuid4()),
    }


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _invalid(message: str) -> ApiError:
    return ApiError(400, "validation_error", message)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _utf16(text: str) -> int:
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


@dataclass
class Fault:
    """One injected fault. ``action``: rate_limit, bad_gateway, service_unavailable,
    internal_error, delay, reset_connection. ``when``: before or after_apply."""

    action: str
    method: str | None = None
    path_regex: str | None = None
    times: int = 1
    when: str = "before"
    retry_after: int = 0
    seconds: float = 0.0
    fired: int = 0

    def matches(self, method: str, path: str, when: str) -> bool:
        return (
            self.times > 0
            and self.when == when
            and (self.method is None or self.method == method)
            and (self.path_regex is None or re.search(self.path_regex, path) is not None)
        )


@dataclass
class LoggedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    status: int = 0
    at: float = field(default_factory=time.monotonic)


@dataclass
class _Store:
    databases: dict[str, JSON] = field(default_factory=dict)
    sources: dict[str, JSON] = field(default_factory=dict)
    pages: dict[str, JSON] = field(default_factory=dict)
    blocks: dict[str, JSON] = field(default_factory=dict)
    children: dict[str, list[str]] = field(default_factory=dict)


class FakeNotion:
    """State, validation and fault injection; :meth:`start` serves it over HTTP."""

    def __init__(self, token: str = "secret-test-token") -> None:
        self.token = token
        self.lock = threading.RLock()
        self.store = _Store()
        self.log: list[LoggedRequest] = []
        self.faults: list[Fault] = []
        self.latency = 0.0
        self.rate_limit: tuple[float, float] | None = None
        self.max_in_flight = 0
        self._in_flight = 0
        self._tokens: float | None = None
        self._refilled = 0.0
        self._counter = 0
        self.file_uploads = FakeFileUploads(self.new_id)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> "FakeNotion":
        server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def base_url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # -- seeding ------------------------------------------------------------------------------

    def new_id(self) -> str:
        with self.lock:
            self._counter += 1
            return str(uuid.UUID(int=(0x4000 << 64) + (0x8000 << 48) + self._counter))

    def add_database(self, title: str, sources: dict[str, JSON]) -> tuple[str, list[str]]:
        """A database with one data source per ``name -> {property name: schema}`` entry."""
        with self.lock:
            db_id = self.new_id()
            ids = []
            for name, schema in sources.items():
                ds_id = self.new_id()
                props = {}
                for prop_name, config in schema.items():
                    # Notion gives the title property the fixed id "title".
                    prop_id = "title" if config.get("type") == "title" else self.new_id()[:8]
                    props[prop_name] = {"id": prop_id, "name": prop_name, **config}
                self.store.sources[ds_id] = {
                    "id": ds_id,
                    "name": name,
                    "database_id": db_id,
                    "properties": props,
                }
                ids.append(ds_id)
            self.store.databases[db_id] = {"id": db_id, "title": title, "sources": ids}
            return db_id, ids

    def add_page(self, data_source_id: str, title: str, blocks: list[JSON] | None = None) -> str:
        with self.lock:
            title_prop = self._title_property(data_source_id)
            page = self._create_page(
                {
                    "parent": {"data_source_id": data_source_id},
                    "properties": {title_prop: {"title": [{"text": {"content": title}}]}},
                    "children": blocks or [],
                }
            )
            return str(page["id"])

    def add_fault(self, action: str, **kwargs: Any) -> Fault:
        fault = Fault(action, **kwargs)
        with self.lock:
            self.faults.append(fault)
        return fault

    def reset_log(self) -> None:
        with self.lock:
            self.log.clear()

    # -- introspection ------------------------------------------------------------------------

    def requests(self, method: str | None = None, path: str | None = None) -> list[LoggedRequest]:
        with self.lock:
            return [
                r
                for r in self.log
                if (method is None or r.method == method)
                and (path is None or re.search(path, r.path))
            ]

    def page_count(self, data_source_id: str | None = None) -> int:
        with self.lock:
            return sum(
                1
                for p in self.store.pages.values()
                if not p["in_trash"]
                and (data_source_id is None or p["parent"]["data_source_id"] == data_source_id)
            )

    def page_ids(self) -> list[str]:
        with self.lock:
            return [pid for pid, p in self.store.pages.items() if not p["in_trash"]]

    def page(self, page_id: str) -> JSON:
        with self.lock:
            return self._page_json(self.store.pages[page_id])

    def page_tree(self, parent_id: str) -> list[JSON]:
        """Non-trashed blocks under ``parent_id`` as request-shaped dicts with nested children."""
        with self.lock:
            out = []
            for block_id in self.store.children.get(parent_id, []):
                block = self.store.blocks[block_id]
                if block["in_trash"]:
                    continue
                payload = dict(block["payload"].items())
                kids = self.page_tree(block_id)
                if kids:
                    payload["children"] = kids
                out.append({"id": block_id, "type": block["type"], block["type"]: payload})
            return out

    # -- request pipeline ---------------------------------------------------------------------

    def handle(
        self, method: str, path: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, JSON | str, dict[str, str]] | None:
        """Return (status, body, headers), or None to drop the connection."""
        with self.lock:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            return self._handle(method, path, headers, raw)
        finally:
            with self.lock:
                self._in_flight -= 1

    def _rate_limited(self) -> float | None:
        """Take a token; when none is left, the whole seconds until one is (Retry-After)."""
        if self.rate_limit is None:
            return None
        rate, burst = self.rate_limit
        with self.lock:
            now = time.monotonic()
            if self._tokens is None:
                self._tokens = burst
            else:
                self._tokens = min(burst, self._tokens + (now - self._refilled) * rate)
            self._refilled = now
            if self._tokens >= 1:
                self._tokens -= 1
                return None
            return float(max(1, math.ceil((1 - self._tokens) / rate)))

    def _handle(
        self, method: str, path: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, JSON | str, dict[str, str]] | None:
        body: Any = None
        entry = LoggedRequest(method, path, headers, None)
        with self.lock:
            self.log.append(entry)
        if self.latency:
            time.sleep(self.latency)
        fault = self._take_fault(method, path, "before")
        if fault is not None:
            early = self._fault_response(fault)
            entry.status = early[0] if early else 0
            return early
        try:
            if headers.get("authorization") != f"Bearer {self.token}":
                raise ApiError(401, "unauthorized", "API token is invalid.")
            version = headers.get("notion-version")
            if not version:
                raise ApiError(
                    400,
                    "missing_version",
                    "Notion-Version header failed validation: Notion-Version header should be defined, instead was `undefined`.",
                )
            if version not in VERSIONS:
                raise ApiError(
                    400,
                    "validation_error",
                    f"Notion-Version {version} is not supported by this fake.",
                )
            retry_after = self._rate_limited()
            if retry_after is not None:
                entry.status = 429
                return (
                    429,
                    _error_body(429, "rate_limited", RATE_LIMITED_MESSAGE),
                    {"Retry-After": str(int(retry_after))},
                )
            content_type = headers.get("content-type", "")
            form = (content_type, raw) if content_type.startswith("multipart/") else None
            if raw and form is None:
                try:
                    body = json.loads(raw)
                except ValueError:
                    raise ApiError(400, "invalid_json", "Error parsing JSON body.") from None
                if not isinstance(body, dict):
                    raise ApiError(400, "invalid_json", "Error parsing JSON body.")
            entry.body = body
            with self.lock:
                status, result = self._route(method, path, body or {}, form)
        except (ApiError, UploadError) as error:
            entry.status = error.status
            return (
                error.status,
                {
                    "object": "error",
                    "status": error.status,
                    "code": error.code,
                    "message": error.message,
                    "request_id": str(uuid.uuid4()),
                },
                {},
            )
        fault = self._take_fault(method, path, "after_apply")
        if fault is not None:
            answer = self._fault_response(fault)
            entry.status = answer[0] if answer else 0
            return answer
        entry.status = status
        return status, result, {}

    def _take_fault(self, method: str, path: str, when: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.matches(method, path, when):
                    fault.times -= 1
                    fault.fired += 1
                    return fault
        return None

    def _fault_response(self, fault: Fault) -> tuple[int, JSON | str, dict[str, str]] | None:
        err = _error_body
        if fault.action == "rate_limit":
            return (
                429,
                err(429, "rate_limited", RATE_LIMITED_MESSAGE),
                {"Retry-After": str(fault.retry_after)},
            )
        if fault.action == "bad_gateway":
            return 502, "<html><body>502 Bad Gateway</body></html>", {"Content-Type": "text/html"}
        if fault.action == "service_unavailable":
            return (
                503,
                err(503, "service_unavailable", "Notion is unavailable, please try again later."),
                {},
            )
        if fault.action == "internal_error":
            return 500, err(500, "internal_server_error", "Unexpected error occurred."), {}
        if fault.action == "delay":
            time.sleep(fault.seconds)
            return 504, err(504, "gateway_timeout", "Notion timed out."), {}
        return None

    # -- routing ------------------------------------------------------------------------------

    def _route(
        self, method: str, path: str, body: JSON, form: tuple[str, bytes] | None = None
    ) -> tuple[int, JSON]:
        parts = [p for p in path.split("?")[0].split("/") if p]
        if not parts or parts[0] != "v1":
            raise ApiError(400, "invalid_request_url", "Invalid request URL.")
        parts = parts[1:]
        if parts[:1] == ["file_uploads"]:
            answer = self.file_uploads.route(method, parts[1:], body, form)
            if answer is None:
                raise ApiError(400, "invalid_request_url", "Invalid request URL.")
            return 200, answer
        if form is not None:
            raise ApiError(400, "invalid_json", "Error parsing JSON body.")
        query = dict(q.split("=", 1) for q in path.partition("?")[2].split("&") if "=" in q)
        key = (method, parts[0] if parts else "", len(parts), parts[2] if len(parts) > 2 else "")
        if key == ("GET", "databases", 2, ""):
            return 200, self._database_json(self._get(self.store.databases, parts[1], "database"))
        if key == ("GET", "data_sources", 2, ""):
            return 200, self._source_json(self._get(self.store.sources, parts[1], "data_source"))
        if key == ("POST", "data_sources", 3, "query"):
            return 200, self._query(self._get(self.store.sources, parts[1], "data_source"), body)
        if key == ("POST", "search", 1, ""):
            return 200, self._search(body)
        if key == ("POST", "pages", 1, ""):
            return 200, self._create_page(body)
        if key == ("GET", "pages", 2, ""):
            return 200, self._page_json(self._get(self.store.pages, parts[1], "page"))
        if key == ("PATCH", "pages", 2, ""):
            return 200, self._update_page(self._get(self.store.pages, parts[1], "page"), body)
        if key == ("GET", "blocks", 2, ""):
            return 200, self._block_json(self._get(self.store.blocks, parts[1], "block"))
        if key == ("GET", "blocks", 3, "children"):
            return 200, self._list_children(self._container(parts[1]), query)
        if key == ("PATCH", "blocks", 3, "children"):
            return 200, self._append(self._container(parts[1]), body)
        if key == ("PATCH", "blocks", 2, ""):
            return 200, self._update_block(self._get(self.store.blocks, parts[1], "block"), body)
        if key == ("DELETE", "blocks", 2, ""):
            block = self._get(self.store.blocks, parts[1], "block")
            if block["in_trash"]:
                raise _invalid(
                    "Can't edit block that is archived. You must unarchive the block before editing."
                )
            block["in_trash"] = True
            return 200, self._block_json(block)
        raise ApiError(400, "invalid_request_url", "Invalid request URL.")

    def _get(self, table: dict[str, JSON], raw_id: str, kind: str) -> JSON:
        try:
            normal = str(uuid.UUID(raw_id))
        except ValueError:
            raise _invalid(
                f'path failed validation: path.{kind}_id should be a valid uuid, instead was `"{raw_id}"`.'
            ) from None
        if normal not in table:
            raise ApiError(
                404,
                "object_not_found",
                f"Could not find {kind} with ID: {normal}. Make sure the relevant pages and databases are shared with your integration.",
            )
        return table[normal]

    def _container(self, raw_id: str) -> JSON:
        try:
            normal = str(uuid.UUID(raw_id))
        except ValueError:
            raise _invalid(
                "path failed validation: path.block_id should be a valid uuid."
            ) from None
        if normal in self.store.pages:
            return self.store.pages[normal]
        return self._get(self.store.blocks, normal, "block")

    # -- schema objects -----------------------------------------------------------------------

    def _title_property(self, ds_id: str) -> str:
        props = self.store.sources[ds_id]["properties"]
        return str(next(name for name, p in props.items() if p["type"] == "title"))

    def _database_json(self, db: JSON) -> JSON:
        return {
            "object": "database",
            "id": db["id"],
            "title": [_rt_out({"text": {"content": db["title"]}})],
            "description": [],
            "is_inline": False,
            "in_trash": False,
            "is_locked": False,
            "data_sources": [
                {"id": s, "name": self.store.sources[s]["name"]} for s in db["sources"]
            ],
            "parent": {"type": "workspace", "workspace": True},
            "icon": None,
            "cover": None,
            "url": f"https://www.notion.so/{db['id'].replace('-', '')}",
            "public_url": None,
        }

    def _source_json(self, ds: JSON) -> JSON:
        return {
            "object": "data_source",
            "id": ds["id"],
            "title": [_rt_out({"text": {"content": ds["name"]}})],
            "description": [],
            "parent": {"type": "database_id", "database_id": ds["database_id"]},
            "properties": ds["properties"],
            "is_inline": False,
            "archived": False,
            "in_trash": False,
        }

    # -- pages --------------------------------------------------------------------------------

    def _create_page(self, body: JSON) -> JSON:
        parent = body.get("parent")
        if not isinstance(parent, dict) or "data_source_id" not in parent:
            raise _invalid(
                "body failed validation: body.parent.data_source_id should be defined, instead was `undefined`."
            )
        ds = self._get(self.store.sources, str(parent["data_source_id"]), "data_source")
        properties = self._check_properties(ds, body.get("properties") or {})
        children = body.get("children") or []
        self._check_blocks(children, "body.children", 1)
        page_id = self.new_id()
        page = {
            "id": page_id,
            "parent": {
                "type": "data_source_id",
                "data_source_id": ds["id"],
                "database_id": ds["database_id"],
            },
            "properties": {},
            "icon": body.get("icon"),
            "cover": body.get("cover"),
            "in_trash": False,
            "created_time": _now(),
            "object": "page",
        }
        values: JSON = dict.fromkeys(ds["properties"])
        values.update(properties)
        page["properties"] = values
        self.store.pages[page_id] = page
        self.store.children[page_id] = []
        self._insert(page_id, children, None)
        return self._page_json(page)

    def _update_page(self, page: JSON, body: JSON) -> JSON:
        if page["in_trash"]:
            raise _invalid(
                "Can't edit page that is archived. You must unarchive the page before editing."
            )
        ds = self.store.sources[page["parent"]["data_source_id"]]
        page["properties"].update(self._check_properties(ds, body.get("properties") or {}))
        for key in ("icon", "cover"):
            if key in body:
                page[key] = body[key]
        if body.get("in_trash") or body.get("archived"):
            page["in_trash"] = True
        return self._page_json(page)

    def _page_json(self, page: JSON) -> JSON:
        ds = self.store.sources[page["parent"]["data_source_id"]]
        props = {}
        for name, schema in ds["properties"].items():
            kind = schema["type"]
            value = page["properties"].get(name)
            if kind in ("title", "rich_text"):
                value = [_rt_out(i) for i in value or []]
            elif kind in ("multi_select", "relation"):
                value = value or []
            props[name] = {"id": schema["id"], "type": kind, kind: value}
        return {
            "object": "page",
            "id": page["id"],
            "created_time": page["created_time"],
            "last_edited_time": page["created_time"],
            "parent": page["parent"],
            "icon": page["icon"],
            "cover": page["cover"],
            "archived": page["in_trash"],
            "in_trash": page["in_trash"],
            "is_locked": False,
            "properties": props,
            "url": f"https://www.notion.so/{page['id'].replace('-', '')}",
            "public_url": None,
        }

    def _check_properties(self, ds: JSON, props: JSON) -> JSON:
        schema = ds["properties"]
        out: JSON = {}
        for name, value in props.items():
            if name not in schema:
                raise _invalid(f"{name} is not a property that exists.")
            kind = schema[name]["type"]
            path = f"body.properties.{name}"
            if not isinstance(value, dict) or kind not in value:
                raise _invalid(
                    f"body failed validation: {path}.{kind} should be defined, instead was `undefined`."
                )
            inner = value[kind]
            if kind in ("title", "rich_text"):
                out[name] = self._check_rich_text(inner, f"{path}.{kind}")
            elif kind in ("url", "email", "phone_number"):
                if inner is not None and (not isinstance(inner, str) or _utf16(inner) > 2000):
                    raise _invalid(
                        f"body failed validation: {path}.{kind} should be a string ≤ `2000`."
                    )
                out[name] = inner
            elif kind == "number":
                if inner is not None and not isinstance(inner, int | float):
                    raise _invalid(f"body failed validation: {path}.number should be a number.")
                out[name] = inner
            elif kind == "checkbox":
                if not isinstance(inner, bool):
                    raise _invalid(f"body failed validation: {path}.checkbox should be a boolean.")
                out[name] = inner
            elif kind in ("select", "status"):
                if inner is not None and not (
                    isinstance(inner, dict) and isinstance(inner.get("name"), str)
                ):
                    raise _invalid(f"body failed validation: {path}.{kind}.name should be defined.")
                options = [o["name"] for o in schema[name].get(kind, {}).get("options", [])]
                if kind == "status" and inner is not None and inner["name"] not in options:
                    raise _invalid(
                        f'Invalid status option. Status option "{inner["name"]}" does not exist.'
                    )
                out[name] = inner
            elif kind == "multi_select":
                if not isinstance(inner, list) or not all(
                    isinstance(o, dict) and isinstance(o.get("name"), str) and "," not in o["name"]
                    for o in inner
                ):
                    raise _invalid(
                        f"body failed validation: {path}.multi_select should be an array of options without commas."
                    )
                out[name] = inner
            elif kind == "relation":
                if not isinstance(inner, list) or len(inner) > 100:
                    raise _invalid(f"body failed validation: {path}.relation should be an array.")
                for item in inner:
                    self._get(self.store.pages, str(item.get("id", "")), "page")
                out[name] = [{"id": str(uuid.UUID(str(i["id"])))} for i in inner]
            elif kind == "date":
                if inner is not None and not (
                    isinstance(inner, dict) and isinstance(inner.get("start"), str)
                ):
                    raise _invalid(f"body failed validation: {path}.date.start should be defined.")
                out[name] = inner
            else:
                raise _invalid(f"{name} is a {kind} property, which cannot be set.")
        return out

    # -- queries ------------------------------------------------------------------------------

    def _query(self, ds: JSON, body: JSON) -> JSON:
        pages = [
            p
            for p in self.store.pages.values()
            if p["parent"]["data_source_id"] == ds["id"] and not p["in_trash"]
        ]
        flt = body.get("filter")
        if flt is not None:
            pages = [p for p in pages if self._matches(ds, p, flt)]
        pages.sort(key=lambda p: p["created_time"], reverse=True)
        size = int(body.get("page_size", 100))
        return {
            "object": "list",
            "results": [self._page_json(p) for p in pages[:size]],
            "next_cursor": None,
            "has_more": len(pages) > size,
            "type": "page_or_data_source",
            "page_or_data_source": {},
        }

    def _search(self, body: JSON) -> JSON:
        """``POST /v1/search``: pages and data sources whose title contains ``query``
        (case-insensitive), newest first; ``filter`` narrows to ``page`` or ``data_source``
        (2025-09-03 rejects ``database``); paged by ``start_cursor`` (the next item's id)."""
        flt = body.get("filter")
        kinds = {"page", "data_source"}
        if flt is not None:
            if not isinstance(flt, dict) or flt.get("property") != "object":
                raise _invalid(
                    'body failed validation: body.filter.property should be `"object"`, '
                    f"instead was `{json.dumps(flt.get('property') if isinstance(flt, dict) else flt)}`."
                )
            if flt.get("value") not in kinds:
                raise _invalid(
                    'body failed validation: body.filter.value should be `"page"` or '
                    f'`"data_source"`, instead was `{json.dumps(flt.get("value"))}`.'
                )
            kinds = {str(flt["value"])}
        size = body.get("page_size", 100)
        if not isinstance(size, int) or not 1 <= size <= 100:
            raise _invalid(
                f"body failed validation: body.page_size should be ≤ `100`, instead was `{size}`."
            )
        wanted = str(body.get("query") or "").strip().lower()
        found: list[tuple[str, JSON]] = []
        if "data_source" in kinds:
            found += [
                (ds_id, self._source_json(ds))
                for ds_id, ds in self.store.sources.items()
                if wanted in str(ds["name"]).lower()
            ]
        if "page" in kinds:
            for page_id, page in self.store.pages.items():
                title = self._title_property(page["parent"]["data_source_id"])
                text = "".join(
                    str(item.get("text", {}).get("content", ""))
                    for item in page["properties"].get(title) or []
                )
                if not page["in_trash"] and wanted in text.lower():
                    found.append((page_id, self._page_json(page)))
        found.sort(key=lambda item: item[0], reverse=True)  # ids count up: newest first
        ids = [object_id for object_id, _ in found]
        start = 0
        cursor = body.get("start_cursor")
        if cursor is not None:
            if cursor not in ids:
                raise _invalid(f"start_cursor {cursor} is not valid.")
            start = ids.index(cursor)
        window = found[start : start + size]
        rest = ids[start + size :]
        return {
            "object": "list",
            "results": [result for _, result in window],
            "next_cursor": rest[0] if rest else None,
            "has_more": bool(rest),
            "type": "page_or_data_source",
            "page_or_data_source": {},
        }

    def _matches(self, ds: JSON, page: JSON, flt: JSON) -> bool:
        if "and" in flt:
            return all(self._matches(ds, page, f) for f in flt["and"])
        if "or" in flt:
            return any(self._matches(ds, page, f) for f in flt["or"])
        if flt.get("timestamp") == "created_time":
            cond = flt.get("created_time", {})
            if "on_or_after" in cond:
                return bool(page["created_time"] >= _iso(cond["on_or_after"]))
            raise _invalid(
                "body failed validation: unsupported created_time condition in this fake."
            )
        name = flt.get("property")
        by_id = {p["id"]: n for n, p in ds["properties"].items()}
        name = name if name in ds["properties"] else by_id.get(name, name)
        if name not in ds["properties"]:
            raise _invalid(f"Could not find property with name or id: {flt.get('property')}")
        kind = ds["properties"][name]["type"]
        value = page["properties"].get(name)
        for text_kind in ("title", "rich_text"):
            if text_kind in flt:
                text = (
                    "".join(i["text"]["content"] for i in value or [])
                    if kind in ("title", "rich_text")
                    else ""
                )
                cond = flt[text_kind]
                if "equals" in cond:
                    return bool(text == cond["equals"])
                if "contains" in cond:
                    return bool(cond["contains"].lower() in text.lower())
        raise _invalid("body failed validation: unsupported filter in this fake.")

    # -- blocks -------------------------------------------------------------------------------

    def _check_blocks(self, blocks: Any, path: str, level: int) -> None:
        if not isinstance(blocks, list):
            raise _invalid(f"body failed validation: {path} should be an array.")
        if len(blocks) > 100:
            raise _invalid(
                f"body failed validation: {path}.length should be ≤ `100`, instead was `{len(blocks)}`."
            )
        if level == 1 and _count(blocks) > 1000:
            raise _invalid("body failed validation: a request may create at most 1000 blocks.")
        for index, block in enumerate(blocks):
            self._check_block(block, f"{path}[{index}]", level)

    def _check_block(self, block: Any, path: str, level: int) -> None:
        if not isinstance(block, dict):
            raise _invalid(f"body failed validation: {path} should be an object.")
        kinds = [k for k in block if k in CREATABLE]
        kind = block.get("type", kinds[0] if kinds else None)
        if kind not in CREATABLE or kinds != [kind]:
            raise _invalid(
                f"body failed validation: {path} should have exactly one supported block type."
            )
        payload = block[kind]
        if not isinstance(payload, dict):
            raise _invalid(f"body failed validation: {path}.{kind} should be an object.")
        where = f"{path}.{kind}"
        children = payload.get("children")
        if children is not None:
            toggle_heading = kind.startswith("heading_") and payload.get("is_toggleable") is True
            if kind not in CHILD_TYPES and not toggle_heading:
                raise _invalid(
                    f"body failed validation: {where}.children should be not present, instead was `{json.dumps(children)[:40]}`."
                )
            if level >= 3:
                raise _invalid(
                    f"body failed validation: {where}.children should be not present, instead was `{json.dumps(children)[:40]}`."
                )
            self._check_blocks(children, f"{where}.children", level + 1)
        if kind in TEXT_TYPES:
            self._check_rich_text(payload.get("rich_text"), f"{where}.rich_text")
        color = payload.get("color", "default")
        if color not in COLORS:
            raise _invalid(
                f"body failed validation: {where}.color should be a Notion color, instead was `{color}`."
            )
        if kind == "code" and payload.get("language") not in LANGUAGES:
            raise _invalid(
                f"body failed validation: {where}.language should be a supported language."
            )
        if (
            kind in ("image", "audio", "video", "file", "pdf")
            and payload.get("type") == "file_upload"
        ):
            self.file_uploads.check_attachable(payload, where)
        elif kind in ("image", "audio", "video", "file", "pdf"):
            url = (
                payload.get("external", {}).get("url")
                if payload.get("type") == "external"
                else None
            )
            if not isinstance(url, str) or not re.match(r"^https?://\S+$", url) or len(url) > 2000:
                raise _invalid(
                    f"body failed validation: {where}.external.url should be an absolute http(s) URL."
                )
            if "caption" in payload:
                self._check_rich_text(payload["caption"], f"{where}.caption")
        if kind == "callout" and "icon" in payload:
            icon = payload["icon"]
            emoji = icon.get("emoji", "") if icon.get("type") == "emoji" else "x"
            if icon.get("type") == "emoji" and (
                not emoji or re.search(r"[A-Za-z0-9\s]", emoji) or len(emoji) > 8
            ):
                raise _invalid(
                    f"body failed validation: {where}.icon.emoji should be a single emoji, instead was `{emoji}`."
                )
        if kind == "column_list" and (
            not children or len(children) < 2 or any(c.get("type") != "column" for c in children)
        ):
            raise _invalid(
                f"body failed validation: {where}.children should contain at least two columns."
            )
        if kind == "column" and not children:
            raise _invalid(
                f"body failed validation: {where}.children should contain at least one block."
            )
        if kind == "table":
            width = payload.get("table_width")
            if not children or any(
                c.get("type") != "table_row" or len(c["table_row"].get("cells", [])) != width
                for c in children
            ):
                raise _invalid(
                    f"body failed validation: {where}.children should be table rows with {width} cells."
                )
        if kind == "table_row":
            for cell_index, cell in enumerate(payload.get("cells", [])):
                self._check_rich_text(cell, f"{where}.cells[{cell_index}]")
        if kind == "synced_block":
            source = payload.get("synced_from")
            if source is not None and children:
                raise _invalid(
                    f"body failed validation: {where}.children should be not present for a reference."
                )

    def _check_rich_text(self, items: Any, path: str) -> list[JSON]:
        if not isinstance(items, list):
            raise _invalid(
                f"body failed validation: {path} should be an array, instead was `{items!r}`."
            )
        if len(items) > 100:
            raise _invalid(
                f"body failed validation: {path}.length should be ≤ `100`, instead was `{len(items)}`."
            )
        for index, item in enumerate(items):
            where = f"{path}[{index}]"
            if (
                not isinstance(item, dict)
                or item.get("type", "text") != "text"
                or not isinstance(item.get("text"), dict)
            ):
                raise _invalid(
                    f"body failed validation: {where}.text should be defined, instead was `undefined`."
                )
            content = item["text"].get("content")
            if not isinstance(content, str) or not content:
                raise _invalid(
                    f"body failed validation: {where}.text.content should be a non-empty string, instead was `{content!r}`."
                )
            if _utf16(content) > 2000:
                raise _invalid(
                    f"body failed validation: {where}.text.content.length should be ≤ `2000`, instead was `{_utf16(content)}`."
                )
            link = item["text"].get("link")
            if link is not None and not (
                isinstance(link, dict)
                and re.match(r"^(https?://|mailto:)\S+$", str(link.get("url", "")))
            ):
                raise _invalid(
                    "Content creation Failed. Fix the following: \nInvalid URL for link."
                )
            annotations = item.get("annotations", {})
            if (
                set(annotations) - ANNOTATION_KEYS
                or annotations.get("color", "default") not in COLORS
            ):
                raise _invalid(
                    f"body failed validation: {where}.annotations should be valid annotations."
                )
        return items

    def _insert(self, parent_id: str, blocks: list[JSON], after: str | None) -> list[JSON]:
        siblings = self.store.children.setdefault(parent_id, [])
        position = (
            len(siblings) if after is None else (siblings.index(after) + 1 if after != "" else 0)
        )
        created = []
        parent_kind = "page_id" if parent_id in self.store.pages else "block_id"
        for block in blocks:
            kind = block.get("type") or next(k for k in block if k in CREATABLE)
            payload = {k: v for k, v in block[kind].items() if k != "children"}
            payload = self.file_uploads.hosted_payload(payload)
            block_id = self.new_id()
            self.store.blocks[block_id] = {
                "id": block_id,
                "type": kind,
                "payload": payload,
                "parent": {"type": parent_kind, parent_kind: parent_id},
                "in_trash": False,
                "created_time": _now(),
            }
            self.store.children[block_id] = []
            siblings.insert(position, block_id)
            position += 1
            self._insert(block_id, block[kind].get("children") or [], None)
            created.append(self._block_json(self.store.blocks[block_id]))
        return created

    def _append(self, parent: JSON, body: JSON) -> JSON:
        if parent.get("in_trash"):
            raise _invalid(
                "Can't edit block that is archived. You must unarchive the block before editing."
            )
        if (
            parent.get("object") != "page"
            and parent["type"] not in CHILD_TYPES
            and not parent["payload"].get("is_toggleable")
        ):
            raise _invalid(f"Block type {parent['type']} does not support children.")
        children = body.get("children")
        self._check_blocks(children, "body.children", 1)
        if "after" in body and "position" in body:
            raise _invalid(
                "body failed validation: body.after should be not present when body.position is."
            )
        live = [
            c
            for c in self.store.children.get(parent["id"], [])
            if not self.store.blocks[c]["in_trash"]
        ]
        after: str | None = None
        position = body.get("position")
        anchor = body.get("after") or (position or {}).get("after_block", {}).get("id")
        if position is not None and position.get("type") == "start":
            after = ""
        elif anchor is not None:
            normal = str(uuid.UUID(str(anchor)))
            if normal not in live:
                raise _invalid(
                    f"body failed validation: after block {normal} is not a child of {parent['id']}."
                )
            after = normal
        created = self._insert(parent["id"], children or [], after)
        return {
            "object": "list",
            "results": created,
            "next_cursor": None,
            "has_more": False,
            "type": "block",
            "block": {},
        }

    def _list_children(self, parent: JSON, query: dict[str, str]) -> JSON:
        if parent.get("object") == "page" and parent["in_trash"]:
            raise ApiError(
                404, "object_not_found", f"Could not find block with ID: {parent['id']}."
            )
        live = [
            c
            for c in self.store.children.get(parent["id"], [])
            if not self.store.blocks[c]["in_trash"]
        ]
        size = int(query.get("page_size", 100))
        if not 1 <= size <= 100:
            raise _invalid(
                f"body failed validation: query.page_size should be ≤ `100`, instead was `{size}`."
            )
        start = 0
        if "start_cursor" in query:
            cursor = query["start_cursor"]
            if cursor not in live:
                raise _invalid(f"start_cursor {cursor} is not valid.")
            start = live.index(cursor)
        window = live[start : start + size]
        rest = live[start + size :]
        return {
            "object": "list",
            "results": [self._block_json(self.store.blocks[b]) for b in window],
            "next_cursor": rest[0] if rest else None,
            "has_more": bool(rest),
            "type": "block",
            "block": {},
        }

    def _update_block(self, block: JSON, body: JSON) -> JSON:
        if block["in_trash"]:
            raise _invalid(
                "Can't edit block that is archived. You must unarchive the block before editing."
            )
        for key, value in body.items():
            if key in ("archived", "in_trash"):
                block["in_trash"] = bool(value)
            elif key == block["type"]:
                if "rich_text" in value:
                    self._check_rich_text(value["rich_text"], f"body.{key}.rich_text")
                if value.get("color", "default") not in COLORS:
                    raise _invalid(
                        f"body failed validation: body.{key}.color should be a Notion color."
                    )
                block["payload"].update({k: v for k, v in value.items() if k != "children"})
            elif key != "type":
                raise _invalid(
                    f"body failed validation: body.{key} should be not present, instead was `{json.dumps(value)[:40]}`."
                )
        return self._block_json(block)

    def _block_json(self, block: JSON) -> JSON:
        payload = dict(block["payload"])
        if "rich_text" in payload:
            payload["rich_text"] = [_rt_out(i) for i in payload["rich_text"]]
        if block["type"] in TEXT_TYPES and block["type"] != "code":
            payload.setdefault("color", "default")
        if block["type"].startswith("heading_"):
            payload.setdefault("is_toggleable", False)
        has_children = any(
            not self.store.blocks[c]["in_trash"] for c in self.store.children.get(block["id"], [])
        )
        return {
            "object": "block",
            "id": block["id"],
            "parent": block["parent"],
            "created_time": block["created_time"],
            "last_edited_time": block["created_time"],
            "created_by": {"object": "user", "id": "fake-bot"},
            "has_children": has_children,
            "archived": block["in_trash"],
            "in_trash": block["in_trash"],
            "type": block["type"],
            block["type"]: payload,
        }


def _iso(value: str) -> str:
    return (
        datetime.fromisoformat(value.replace("Z", "+00:00"))
        .astimezone(UTC)
        .strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
        + "Z"
    )


def _count(blocks: list[JSON]) -> int:
    total = 0
    for block in blocks:
        kind = block.get("type") or next((k for k in block if k in CREATABLE), "")
        payload = block.get(kind)
        kids = payload.get("children") if isinstance(payload, dict) else None
        total += 1 + _count(kids or [])
    return total


def _rt_out(item: JSON) -> JSON:
    text = item.get("text", {})
    link = text.get("link")
    annotations = {
        "bold": False,
        "italic": False,
        "strikethrough": False,
        "underline": False,
        "code": False,
        "color": "default",
    }
    annotations.update(item.get("annotations", {}))
    return {
        "type": "text",
        "text": {"content": text.get("content", ""), "link": link},
        "annotations": annotations,
        "plain_text": text.get("content", ""),
        "href": link["url"] if link else None,
    }


def _make_handler(fake: FakeNotion) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_: Any) -> None:
            return

        def setup(self) -> None:
            super().setup()
            # Headers and body are written separately; without this, Nagle + delayed ACK add 40 ms.
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            answer = fake.handle(self.command, self.path, headers, raw)
            if answer is None:
                self.close_connection = True
                return
            status, body, extra = answer
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", extra.pop("Content-Type", "application/json"))
            for key, value in extra.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_DELETE = _serve

    return Handler


HOMEWORK_SCHEMA: JSON = {
    "Name": {"type": "title", "title": {}},
    "Student": {"type": "relation", "relation": {"data_source_id": ""}},
    "Topic": {"type": "multi_select", "multi_select": {"options": []}},
    "Status": {
        "type": "status",
        "status": {"options": [{"name": n} for n in ("Not started", "In Progress", "Done")]},
    },
    "Audio": {"type": "url", "url": {}},
    "Level": {"type": "select", "select": {"options": []}},
    "Week": {"type": "rich_text", "rich_text": {}},
    "Materials": {"type": "url", "url": {}},
    "Lesson Key": {"type": "rich_text", "rich_text": {}},
}


@dataclass
class Seeded:
    """Ids of the standard scenario: a homework database and a students database."""

    homework_db: str
    homework_ds: str
    students_ds: str
    student_pages: dict[str, str]


def seed_homework(
    fake: FakeNotion,
    *,
    topic_type: str = "multi_select",
    key_property: bool = True,
    students: tuple[str, ...] = ("Anna", "Tolik", "Joaquín", "Marisol"),
) -> Seeded:
    _, (students_ds,) = fake.add_database(
        "Students", {"Primary": {"Name": {"type": "title", "title": {}}}}
    )
    pages = {name: fake.add_page(students_ds, name) for name in students}
    schema = json.loads(json.dumps(HOMEWORK_SCHEMA))
    schema["Student"]["relation"]["data_source_id"] = students_ds
    if topic_type != "multi_select":
        schema["Topic"] = {"type": topic_type, topic_type: {}}
    if not key_property:
        del schema["Lesson Key"]
    db, (ds,) = fake.add_database("Homework Assignments", {"Primary": schema})
    return Seeded(db, ds, students_ds, pages)


def running_fake() -> Iterator[FakeNotion]:
    """Generator body for a pytest fixture: a started fake, stopped afterwards."""
    fake = FakeNotion().start()
    try:
        yield fake
    finally:
        fake.stop()
