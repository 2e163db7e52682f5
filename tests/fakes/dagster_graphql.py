"""A fake Dagster webserver GraphQL endpoint on 127.0.0.1 (for the /jobs shim's tests and bench).

It executes queries with graphql-core against `SDL`, a subset of Dagster 1.13's schema (type,
field and argument names and types identical to the real ones; `tests/api/test_fake_fidelity.py`
checks that against `dagster_graphql`), so a document the real webserver would reject is
rejected here too. Runs live in memory, newest last; `runsOrError` answers newest first with
Dagster's cursor semantics (results older than the cursor run; none for an unknown cursor).

Step stats (`set_step`) and op output events (`add_output`) model what the ops of `lesson_job`
report. Knobs for failure injection: `launch_result` (a launchRun union member to answer instead of
success), `http_status` (answer every request with this HTTP status), `garbage` (answer
non-JSON), `delay_s` (sleep before answering), `launch_delay_s` (sleep after a launch was
recorded, to lose the answer to a client timeout), `runs_delay_s` (slow `runsOrError`),
`drop_after_launch` (record the launch, then close the connection without an answer).
"""

import contextlib
import functools
import json
import socket
import threading
import time
import uuid
from collections.abc import Awaitable, Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    build_schema,
    execute,
    parse,
    validate,
)

SDL = """
scalar RunConfigData

enum RunStatus { QUEUED NOT_STARTED MANAGED STARTING STARTED SUSPENDED SUCCESS FAILURE CANCELING CANCELED }
enum StepEventStatus { SKIPPED SUCCESS FAILURE IN_PROGRESS }
enum RepositoryLocationLoadStatus { LOADING LOADED }
enum EvaluationErrorReason { RUNTIME_TYPE_MISMATCH MISSING_REQUIRED_FIELD MISSING_REQUIRED_FIELDS FIELD_NOT_DEFINED FIELDS_NOT_DEFINED SELECTOR_FIELD_ERROR FIELD_ALIAS_COLLISION }

input ExecutionTag { key: String! value: String! }
input JobOrPipelineSelector {
  pipelineName: String
  jobName: String
  repositoryName: String!
  repositoryLocationName: String!
  solidSelection: [String!]
}
input ExecutionMetadata { tags: [ExecutionTag!] rootRunId: String parentRunId: String }
input ExecutionParams {
  selector: JobOrPipelineSelector!
  runConfigData: RunConfigData
  mode: String
  executionMetadata: ExecutionMetadata
  stepKeys: [String!]
  preset: String
}
input RunsFilter {
  runIds: [String]
  pipelineName: String
  tags: [ExecutionTag!]
  statuses: [RunStatus!]
  snapshotId: String
  updatedAfter: Float
  updatedBefore: Float
  createdBefore: Float
  createdAfter: Float
  mode: String
}

type PipelineTag { key: String! value: String! }
type Run {
  id: ID!
  runId: String!
  status: RunStatus!
  jobName: String!
  pipelineName: String!
  creationTime: Float!
  startTime: Float
  endTime: Float
  updateTime: Float
  tags: [PipelineTag!]!
  runConfig: RunConfigData!
  stepStats: [RunStepStats!]!
}
type Runs { results: [Run!]! count: Int! }
type RunStepStats {
  runId: String! stepKey: String! status: StepEventStatus startTime: Float endTime: Float
}

interface Error { message: String! }
type PythonError implements Error { message: String! className: String stack: [String!]! cause: PythonError }
type InvalidPipelineRunsFilterError implements Error { message: String! }
type RunNotFoundError implements Error { runId: String! message: String! }
type UnauthorizedError implements Error { message: String! }
type PipelineNotFoundError implements Error {
  message: String! pipelineName: String! repositoryName: String! repositoryLocationName: String!
}
type RunConflict implements Error { message: String! }
type InvalidSubsetError implements Error { message: String! }
type PresetNotFoundError implements Error { message: String! preset: String! }
type ConflictingExecutionParamsError implements Error { message: String! }
type NoModeProvidedError implements Error { message: String! pipelineName: String! }
type InvalidStepError { invalidStepKey: String! }
type InvalidOutputError { stepKey: String! invalidOutputName: String! }
interface PipelineConfigValidationError { message: String! path: [String!]! reason: EvaluationErrorReason! }
type FieldNotDefinedConfigError implements PipelineConfigValidationError {
  message: String! path: [String!]! reason: EvaluationErrorReason! fieldName: String!
}
type RunConfigValidationInvalid { pipelineName: String! errors: [PipelineConfigValidationError!]! }
type LaunchRunSuccess { run: Run! }
union LaunchRunResult = LaunchRunSuccess | InvalidStepError | InvalidOutputError
  | RunConfigValidationInvalid | PipelineNotFoundError | RunConflict | UnauthorizedError
  | PythonError | InvalidSubsetError | PresetNotFoundError | ConflictingExecutionParamsError
  | NoModeProvidedError
union RunsOrError = Runs | InvalidPipelineRunsFilterError | PythonError

type TerminateRunSuccess { run: Run! }
type TerminateRunFailure { run: Run! message: String! }
union TerminateRunResult = TerminateRunSuccess | TerminateRunFailure | RunNotFoundError
  | UnauthorizedError | PythonError

type FailureMetadata { label: String description: String metadataEntries: [MetadataEntry!]! }
type ExecutionStepFailureEvent {
  runId: String! message: String! timestamp: String! stepKey: String
  error: PythonError failureMetadata: FailureMetadata
}
type RunFailureEvent { runId: String! message: String! timestamp: String! pipelineName: String! error: PythonError }
type RunCanceledEvent { runId: String! message: String! timestamp: String! pipelineName: String! error: PythonError }
type LogMessageEvent { runId: String! message: String! timestamp: String! stepKey: String }
interface MetadataEntry { label: String! description: String }
type TextMetadataEntry implements MetadataEntry { label: String! description: String text: String! }
type UrlMetadataEntry implements MetadataEntry { label: String! description: String url: String! }
type PathMetadataEntry implements MetadataEntry { label: String! description: String path: String! }
type JsonMetadataEntry implements MetadataEntry {
  label: String! description: String jsonString: String!
}
type FloatMetadataEntry implements MetadataEntry {
  label: String! description: String floatValue: Float floatRepr: String!
}
type ExecutionStepOutputEvent {
  runId: String! message: String! timestamp: String! stepKey: String outputName: String!
  metadataEntries: [MetadataEntry!]!
}
union DagsterRunEvent = ExecutionStepFailureEvent | RunFailureEvent | RunCanceledEvent
  | LogMessageEvent | ExecutionStepOutputEvent
type EventConnection { events: [DagsterRunEvent!]! cursor: String! hasMore: Boolean! }
union EventConnectionOrError = EventConnection | RunNotFoundError | PythonError

type Job { name: String! }
type Repository { name: String! jobs: [Job!]! }
type RepositoryLocation { id: ID! name: String! repositories: [Repository!]! }
union RepositoryLocationOrLoadError = RepositoryLocation | PythonError
type WorkspaceLocationEntry {
  id: ID! name: String! loadStatus: RepositoryLocationLoadStatus!
  locationOrLoadError: RepositoryLocationOrLoadError
}
type Workspace { id: String! locationEntries: [WorkspaceLocationEntry!]! }
union WorkspaceOrError = Workspace | PythonError

type Query {
  version: String!
  runsOrError(filter: RunsFilter, cursor: String, limit: Int): RunsOrError!
  logsForRun(runId: ID!, afterCursor: String, limit: Int): EventConnectionOrError!
  workspaceOrError: WorkspaceOrError!
}
type Mutation {
  launchRun(executionParams: ExecutionParams!): LaunchRunResult!
  terminateRun(runId: String!): TerminateRunResult!
}
"""

TERMINAL = frozenset({"SUCCESS", "FAILURE", "CANCELED"})


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # the default of 5 drops SYNs under 20 concurrent clients
    daemon_threads = True


@functools.cache
def _schema() -> GraphQLSchema:
    return build_schema(SDL)


def _tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in tags.items()]


class FakeDagster:
    """In-memory Dagster runs behind a real HTTP GraphQL endpoint. Thread-safe."""

    def __init__(
        self,
        *,
        location: str = "esl_dagster",
        repository: str = "__repository__",
        job: str = "lesson_job",
    ) -> None:
        self.location = location
        self.repository = repository
        self.job = job
        self.schema: GraphQLSchema = _schema()
        self._lock = threading.RLock()
        self._connections: set[socket.socket] = set()
        self._documents: dict[str, tuple[DocumentNode | None, list[GraphQLError]]] = {}
        self.runs: list[dict[str, Any]] = []
        self.events: dict[str, list[dict[str, Any]]] = {}
        self.launches: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.launch_result: dict[str, Any] | None = None
        self.http_status: int | None = None
        self.garbage = False
        self.delay_s = 0.0
        self.launch_delay_s = 0.0
        self.runs_delay_s = 0.0
        self.drop_after_launch = False
        self.load_status = "LOADED"
        self.location_error: str | None = None
        self.job_loaded = True
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # ----- lifecycle -------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/graphql"

    def start(self) -> "FakeDagster":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                return

            def setup(self) -> None:
                super().setup()
                with fake._lock:
                    fake._connections.add(self.connection)

            def finish(self) -> None:
                with fake._lock:
                    fake._connections.discard(self.connection)
                super().finish()

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                status, body, content_type = fake.handle(raw)
                if fake.drop_after_launch and b"launchRun(" in raw:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        server = _Server(("127.0.0.1", self.port), Handler)
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting and drop open keep-alive connections, like a process that exits."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> "FakeDagster":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @contextmanager
    def down(self) -> Iterator[None]:
        """Stop listening for the duration of the block (same port afterwards)."""
        self.stop()
        try:
            yield
        finally:
            self.start()

    # ----- HTTP ------------------------------------------------------------------------------
    def handle(self, raw: bytes) -> tuple[int, bytes, str]:
        if self.delay_s:
            time.sleep(self.delay_s)
        try:
            payload = json.loads(raw)
        except ValueError:
            return 400, b'{"errors":[{"message":"body is not JSON"}]}', "application/json"
        with self._lock:
            self.requests.append(payload)
            http_status, garbage = self.http_status, self.garbage
        if http_status is not None:
            return http_status, b"upstream trouble", "text/plain"
        if garbage:
            return 200, b"<html>not graphql</html>", "text/html"
        document, errors = self._document(str(payload.get("query", "")))
        if document is None:
            body: dict[str, Any] = {"data": None, "errors": [e.formatted for e in errors]}
            return 400, json.dumps(body).encode("utf-8"), "application/json"
        result = execute(
            self.schema,
            document,
            root_value=self,
            variable_values=payload.get("variables"),
            operation_name=payload.get("operationName"),
        )
        assert not isinstance(result, Awaitable)
        body = {"data": result.data}
        if result.errors:
            body["errors"] = [error.formatted for error in result.errors]
        return 200, json.dumps(body).encode("utf-8"), "application/json"

    def _document(self, query: str) -> tuple[DocumentNode | None, list[GraphQLError]]:
        """Parse and validate once per distinct document (as a server with a query cache)."""
        with self._lock:
            cached = self._documents.get(query)
        if cached is not None:
            return cached
        try:
            document = parse(query)
        except GraphQLError as exc:
            return None, [exc]
        errors = validate(self.schema, document)
        entry = (None, errors) if errors else (document, [])
        with self._lock:
            self._documents[query] = entry
        return entry

    # ----- test helpers ----------------------------------------------------------------------
    def add_run(
        self,
        *,
        job_id: str | None,
        status: str = "QUEUED",
        tags: Mapping[str, str] | None = None,
        run_config: Mapping[str, Any] | None = None,
        creation_time: float | None = None,
    ) -> dict[str, Any]:
        """Store a run as if launched by someone else (the UI, a sensor, a daemon retry)."""
        all_tags = dict(tags or {})
        if job_id is not None:
            all_tags["esl/job_id"] = job_id
        now = time.time() if creation_time is None else creation_time
        run_id = str(uuid.uuid4())
        all_tags = _as_written_by(run_id, all_tags)
        run = {
            "id": run_id,
            "runId": run_id,
            "status": status,
            "jobName": self.job,
            "pipelineName": self.job,
            "creationTime": now,
            "startTime": None,
            "endTime": None,
            "updateTime": now,
            "tags": _tag_list(all_tags),
            "runConfig": dict(run_config or {}),
            "stepStats": [],
        }
        with self._lock:
            self.runs.append(run)
        return run

    def update_run(
        self,
        run_id: str,
        *,
        status: str | None = None,
        tags: Mapping[str, str] | None = None,
        start_time: float | None = None,
        end_time: float | None = None,
    ) -> None:
        with self._lock:
            run = self._run(run_id)
            if run is None:
                raise KeyError(run_id)
            if status is not None:
                run["status"] = status
            if tags:
                written = _as_written_by(run_id, dict(tags))
                merged = {t["key"]: t["value"] for t in run["tags"]} | written
                run["tags"] = _tag_list(merged)
            if start_time is not None:
                run["startTime"] = start_time
            if end_time is not None:
                run["endTime"] = end_time
            run["updateTime"] = max(time.time(), start_time or 0.0, end_time or 0.0)

    def set_step(
        self,
        run_id: str,
        step_key: str,
        status: str,
        *,
        start_time: float | None = None,
        end_time: float | None = None,
    ) -> None:
        """Record a step's stats (Dagster's summary of its step events) and touch the run."""
        with self._lock:
            run = self._run(run_id)
            if run is None:
                raise KeyError(run_id)
            stats = [s for s in run["stepStats"] if s["stepKey"] != step_key]
            stats.append(
                {
                    "runId": run_id,
                    "stepKey": step_key,
                    "status": status,
                    "startTime": start_time,
                    "endTime": end_time,
                }
            )
            run["stepStats"] = stats
            run["updateTime"] = max(time.time(), start_time or 0.0, end_time or 0.0)

    def add_event(self, run_id: str, event: Mapping[str, Any]) -> None:
        with self._lock:
            self.events.setdefault(run_id, []).append(dict(event))

    def add_output(
        self, run_id: str, step_key: str, metadata: Mapping[str, tuple[str, Any]]
    ) -> None:
        """An op's output event; `metadata` maps a label to (kind, value), kind one of text, url,
        path, json (the value encoded as Dagster's `jsonString`) or float."""
        entries = [_metadata_entry(label, kind, value) for label, (kind, value) in metadata.items()]
        self.add_event(
            run_id,
            {
                "__typename": "ExecutionStepOutputEvent",
                "runId": run_id,
                "message": 'Yielded output "result" of type "RunState".',
                "timestamp": str(int(time.time() * 1000)),
                "stepKey": step_key,
                "outputName": "result",
                "metadataEntries": entries,
            },
        )

    def add_step_failure(
        self, run_id: str, step_key: str, metadata: Mapping[str, tuple[str, Any]], message: str
    ) -> None:
        """A step failure raised as `dg.Failure(description=message, metadata=...)`; `metadata`
        as in `add_output`."""
        entries = [_metadata_entry(label, kind, value) for label, (kind, value) in metadata.items()]
        self.add_event(
            run_id,
            {
                "__typename": "ExecutionStepFailureEvent",
                "runId": run_id,
                "message": f'Execution of step "{step_key}" failed.',
                "timestamp": str(int(time.time() * 1000)),
                "stepKey": step_key,
                "error": None,
                "failureMetadata": {
                    "label": None,
                    "description": message,
                    "metadataEntries": entries,
                },
            },
        )

    def runs_for_job(self, job_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return [r for r in self.runs if {"key": "esl/job_id", "value": job_id} in r["tags"]]

    def operations(self) -> list[str]:
        """The first root field of each recorded request, e.g. ['launchRun', 'runsOrError']."""
        names = []
        with self._lock:
            for request in self.requests:
                query = str(request.get("query", ""))
                for field in (
                    "launchRun",
                    "terminateRun",
                    "logsForRun",
                    "workspaceOrError",
                    "runsOrError",
                ):
                    if f"{field}(" in query or f"{field} {{" in query:
                        names.append(field)
                        break
        return names

    def _run(self, run_id: str) -> dict[str, Any] | None:
        return next((r for r in self.runs if r["runId"] == run_id), None)

    # ----- root resolvers (graphql-core calls attributes of root_value with (info, **args)) ---
    def version(self, _info: Any) -> str:
        return "1.13.27-fake"

    def launchRun(self, _info: Any, executionParams: dict[str, Any]) -> dict[str, Any]:
        selector = executionParams["selector"]
        if (
            selector.get("repositoryLocationName") != self.location
            or selector.get("repositoryName") != self.repository
            or (selector.get("jobName") or selector.get("pipelineName")) != self.job
            or not self.job_loaded
        ):
            return {
                "__typename": "PipelineNotFoundError",
                "message": f"Could not find Pipeline {selector.get('jobName')}",
                "pipelineName": str(selector.get("jobName")),
                "repositoryName": selector["repositoryName"],
                "repositoryLocationName": selector["repositoryLocationName"],
            }
        with self._lock:
            if self.launch_result is not None:
                return dict(self.launch_result)
            self.launches.append(executionParams)
            tags = {
                t["key"]: t["value"]
                for t in (executionParams.get("executionMetadata") or {}).get("tags") or []
            }
            tags["dagster/code_location"] = self.location
            run = self.add_run(
                job_id=None, tags=tags, run_config=executionParams.get("runConfigData") or {}
            )
        if self.launch_delay_s:
            time.sleep(self.launch_delay_s)
        return {"__typename": "LaunchRunSuccess", "run": run}

    def runsOrError(
        self,
        _info: Any,
        filter: dict[str, Any] | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> dict[str, Any]:
        if self.runs_delay_s:
            time.sleep(self.runs_delay_s)
        with self._lock:
            runs = list(reversed(self.runs))
        if cursor is not None:
            ids = [r["runId"] for r in runs]
            # Dagster selects runs whose storage id is below the cursor run's: none when the
            # cursor run does not exist (`id < NULL`).
            runs = runs[ids.index(cursor) + 1 :] if cursor in ids else []
        run_filter = filter or {}
        for tag in run_filter.get("tags") or []:
            runs = [r for r in runs if tag in r["tags"]]
        if run_filter.get("statuses"):
            runs = [r for r in runs if r["status"] in run_filter["statuses"]]
        if run_filter.get("pipelineName"):
            runs = [r for r in runs if r["jobName"] == run_filter["pipelineName"]]
        if run_filter.get("updatedAfter") is not None:
            runs = [r for r in runs if r["updateTime"] > run_filter["updatedAfter"]]
        if run_filter.get("runIds"):
            runs = [r for r in runs if r["runId"] in run_filter["runIds"]]
        runs = _created_after(runs, run_filter.get("createdAfter"))
        count = len(runs)
        if limit is not None:
            runs = runs[:limit]
        return {"__typename": "Runs", "results": [_as_served(r) for r in runs], "count": count}

    def terminateRun(self, _info: Any, runId: str) -> dict[str, Any]:
        with self._lock:
            run = self._run(runId)
            if run is None:
                return {
                    "__typename": "RunNotFoundError",
                    "runId": runId,
                    "message": f"Run {runId} could not be found.",
                }
            if run["status"] in TERMINAL:
                return {
                    "__typename": "TerminateRunFailure",
                    "run": run,
                    "message": f"Run {runId} is not in a state that can be terminated.",
                }
            run["status"] = (
                "CANCELED" if run["status"] in ("QUEUED", "NOT_STARTED") else "CANCELING"
            )
            if run["status"] == "CANCELED":
                run["endTime"] = time.time()
            run["updateTime"] = time.time()
            return {"__typename": "TerminateRunSuccess", "run": run}

    def logsForRun(
        self, _info: Any, runId: str, afterCursor: str | None = None, limit: int | None = None
    ) -> dict[str, Any]:
        with self._lock:
            if self._run(runId) is None:
                return {"__typename": "RunNotFoundError", "runId": runId, "message": "not found"}
            events = list(self.events.get(runId, []))
        start = int(afterCursor) if afterCursor else 0
        end = len(events) if limit is None else min(len(events), start + limit)
        return {
            "__typename": "EventConnection",
            "events": events[start:end],
            "cursor": str(end),
            "hasMore": end < len(events),
        }

    def workspaceOrError(self, _info: Any) -> dict[str, Any]:
        location: dict[str, Any]
        if self.location_error is not None:
            location = {"__typename": "PythonError", "message": self.location_error, "stack": []}
        else:
            jobs = [{"name": self.job}] if self.job_loaded else []
            location = {
                "__typename": "RepositoryLocation",
                "id": self.location,
                "name": self.location,
                "repositories": [{"name": self.repository, "jobs": jobs}],
            }
        entry = {
            "id": self.location,
            "name": self.location,
            "loadStatus": self.load_status,
            "locationOrLoadError": location if self.load_status == "LOADED" else None,
        }
        return {"__typename": "Workspace", "id": "workspace", "locationEntries": [entry]}


OUTCOME_TAGS = ("esl/error", "esl/manifest_path")
# Dagster's `Run.startTime` resolver: a run in one of these statuses without a recorded start
# answers its end time (a run canceled in the queue "starts" when it ends).
STARTED_STATUSES = frozenset({"STARTED", "SUSPENDED", "SUCCESS", "FAILURE", "CANCELED"})
METADATA_TYPES = {
    "text": ("TextMetadataEntry", "text"),
    "url": ("UrlMetadataEntry", "url"),
    "path": ("PathMetadataEntry", "path"),
    "json": ("JsonMetadataEntry", "jsonString"),
    "float": ("FloatMetadataEntry", "floatValue"),
}


def _created_after(runs: list[dict[str, Any]], after: float | None) -> list[dict[str, Any]]:
    """Dagster's `createdAfter` filter: strictly later creation times."""
    return runs if after is None else [r for r in runs if r["creationTime"] > after]


def _as_served(run: dict[str, Any]) -> dict[str, Any]:
    served = dict(run)
    if run["startTime"] is None and run["status"] in STARTED_STATUSES:
        served["startTime"] = run["endTime"]
    return served


def _metadata_entry(label: str, kind: str, value: Any) -> dict[str, Any]:
    typename, field = METADATA_TYPES[kind]
    entry: dict[str, Any] = {"__typename": typename, "label": label, "description": None}
    entry[field] = json.dumps(value) if kind == "json" else value
    if kind == "float":
        entry["floatRepr"] = repr(value)
    return entry


def _as_written_by(run_id: str, tags: dict[str, str]) -> dict[str, str]:
    """Outcome tags set here are written as the job writes them: with ``esl/outcome_run_id``
    naming the run (unless the test sets it, e.g. to model tags inherited from a parent run)."""
    if any(key in tags for key in OUTCOME_TAGS):
        tags.setdefault("esl/outcome_run_id", run_id)
    return tags
