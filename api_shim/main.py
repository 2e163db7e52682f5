"""The FastAPI application: `create_app(settings)` builds one; `app` is the default instance."""

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import httpx
from fastapi import FastAPI
from fastapi.routing import APIRoute

from api_shim.api.routes import config, events, health, jobs, metrics, uploads
from api_shim.config_source import ConfigReader, ConfigSourceSettings
from api_shim.core.config import Settings, get_settings
from api_shim.core.errors import install_error_handlers
from api_shim.core.logging import configure_logging
from api_shim.core.metrics import ShimMetrics
from api_shim.core.middleware import RequestContextMiddleware
from api_shim.dagster_gateway import DagsterGateway
from api_shim.event_hub import EventHub
from api_shim.event_source import EventSource
from api_shim.idempotency import IdempotencyStore, SqliteIdempotencyStore
from api_shim.job_metrics import JobMetricsCollector
from api_shim.s3_lessons import LessonBucket
from api_shim.shutdown import on_exit_signal
from api_shim.submission import JobLauncher
from api_shim.tracing import configure_tracing
from api_shim.uploads import LessonValidator

DESCRIPTION = """\
Submit ESL lesson jobs and follow them. Each job is a run of the Dagster job `lesson_job`,
tagged `esl/job_id`; the job reads as its newest run. `POST /jobs` and `GET /jobs/{jobId}` keep
the original batch backend's contract; the other routes are extensions.
"""


def _operation_id(route: APIRoute) -> str:
    return route.operation_id or route.name


def _open_idempotency_store(settings: Settings) -> IdempotencyStore:
    """Postgres when a DSN is configured (production, shared by replicas), else SQLite."""
    dsn = settings.idempotency_dsn
    if dsn:
        from api_shim.idempotency_pg import PostgresIdempotencyStore

        return PostgresIdempotencyStore(
            dsn, ttl_s=settings.idempotency_ttl_s, lease_s=settings.idempotency_lease_s
        )
    return SqliteIdempotencyStore(
        settings.idempotency_db_path,
        ttl_s=settings.idempotency_ttl_s,
        lease_s=settings.idempotency_lease_s,
    )


def _lifespan(
    settings: Settings, metrics_registry: ShimMetrics
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """What runs while the app serves: one HTTP client to Dagster and the services built on it."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        timeout = httpx.Timeout(
            settings.graphql_timeout_s, connect=min(settings.graphql_timeout_s, 3.0)
        )
        limits = httpx.Limits(max_connections=50, max_keepalive_connections=20)
        async with httpx.AsyncClient(timeout=timeout, limits=limits, trust_env=False) as client:
            gateway = DagsterGateway(
                client,
                settings.dagster_graphql_url,
                location=settings.dagster_location,
                repository=settings.dagster_repository,
                job=settings.dagster_job,
                metrics=metrics_registry,
            )
            store = _open_idempotency_store(settings)
            app.state.gateway = gateway
            app.state.idempotency = store
            app.state.launcher = JobLauncher(
                gateway, store, metrics_registry, launch_budget_s=settings.launch_budget_s
            )
            hub = EventHub(EventSource(gateway, settings.dagster_job), settings)
            app.state.event_hub = hub
            metrics_registry.watch_jobs(
                JobMetricsCollector(
                    client,
                    settings.dagster_graphql_url,
                    job=settings.dagster_job,
                    refresh_s=settings.metrics_refresh_s,
                )
            )
            try:
                with on_exit_signal(hub.stop_streams):
                    yield
            finally:
                await app.state.event_hub.close_all()
                metrics_registry.watch_jobs(None)
                store.close()

    return lifespan


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    metrics_registry = ShimMetrics()
    configure_logging()
    configure_tracing()
    app = FastAPI(
        title="ESL lesson jobs",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=_lifespan(settings, metrics_registry),
        generate_unique_id_function=_operation_id,
    )
    app.state.settings = settings
    app.state.metrics = metrics_registry
    app.state.config_reader = ConfigReader(ConfigSourceSettings(), settings.resolved_cwd)
    app.state.lesson_bucket = LessonBucket(settings) if settings.lesson_s3_uri else None
    app.state.lesson_validator = LessonValidator(
        settings.validate_command, settings.validate_timeout_s
    )
    install_error_handlers(app)
    app.add_middleware(
        RequestContextMiddleware,
        metrics=metrics_registry,
        max_body_bytes=settings.max_body_bytes,
        self_limited_paths={"/uploads"},
    )
    app.include_router(uploads.router)
    app.include_router(events.router)
    app.include_router(jobs.router)
    app.include_router(config.router)
    app.include_router(health.router)
    app.include_router(metrics.router)
    return app


app = create_app()
