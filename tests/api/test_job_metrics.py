"""Job and stage metrics derived from Dagster's records: exact values for known runs against the
fake GraphQL endpoint, counters that never go down, one refresh per window, and every metric the
shipped dashboard and alert rules use is exported by `/metrics`."""

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import httpx
import yaml
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from api_shim.job_metrics import HORIZON_SLACK_S, JobMetricsCollector
from tests.api.conftest import ClientFactory
from tests.fakes.dagster_graphql import FakeDagster

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "esl-dashboard.json"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
T0 = 1_800_000_000.0
NOW = T0 + 1000.0

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def counters(*items: tuple[str, dict[str, str], float]) -> tuple[str, Any]:
    """An `esl/counters` JSON entry as the stage ops write it."""
    return "json", [{"metric": m, "tags": tags, "value": v} for m, tags, v in items]


def finished_run(
    fake: FakeDagster, status: str, *, created: float, started: float, ended: float, **tags: str
) -> str:
    run = fake.add_run(job_id=f"job-{created}", status=status, tags=tags, creation_time=created)
    fake.update_run(run["runId"], start_time=started, end_time=ended)
    return str(run["runId"])


def add_known_runs(fake: FakeDagster) -> None:
    """A success with a retried Notion call and a skipped stage, a TTS failure, a failed run the
    daemon retries, and unfinished runs in every state."""
    ok = finished_run(
        fake,
        "SUCCESS",
        created=T0 + 1,
        started=T0 + 3,
        ended=T0 + 33,
        **{"esl/submitted_at": str(T0)},
    )
    fake.set_step(ok, "validate_lesson", "SUCCESS", start_time=T0 + 3, end_time=T0 + 4)
    fake.add_output(
        ok, "validate_lesson", {"stage": ("text", "validate"), "status": ("text", "success")}
    )
    fake.set_step(ok, "import_to_notion", "SUCCESS", start_time=T0 + 4, end_time=T0 + 6)
    fake.add_output(
        ok,
        "import_to_notion",
        {
            "stage": ("text", "import"),
            "status": ("text", "success"),
            "esl/counters": counters(
                ("esl.external.requests", {"service": "notion", "status": "200"}, 3),
                ("esl.external.requests", {"service": "notion", "status": "429"}, 1),
                ("esl.external.retries", {"service": "notion"}, 1),
            ),
        },
    )
    fake.set_step(ok, "synthesize_audio", "SUCCESS", start_time=T0 + 6, end_time=T0 + 6.02)
    fake.add_output(
        ok, "synthesize_audio", {"stage": ("text", "tts"), "status": ("text", "skipped")}
    )
    fake.set_step(ok, "upload_audio", "SUCCESS", start_time=T0 + 7, end_time=T0 + 8)
    fake.add_output(
        ok,
        "upload_audio",
        {
            "stage": ("text", "upload"),
            "status": ("text", "success"),
            "esl/counters": counters(("esl.uploads", {"target": "s3"}, 1)),
        },
    )
    failed = finished_run(fake, "FAILURE", created=T0 + 10, started=T0 + 12, ended=T0 + 20)
    fake.set_step(failed, "validate_lesson", "SUCCESS", start_time=T0 + 12, end_time=T0 + 13)
    fake.add_output(
        failed, "validate_lesson", {"stage": ("text", "validate"), "status": ("text", "success")}
    )
    fake.set_step(failed, "synthesize_audio", "FAILURE", start_time=T0 + 13, end_time=T0 + 19)
    fake.add_step_failure(
        failed,
        "synthesize_audio",
        {
            "stage": ("text", "tts"),
            "code": ("text", "service_error"),
            "esl/counters": counters(
                ("esl.external.requests", {"service": "elevenlabs", "status": "429"}, 2),
                ("esl.external.requests", {"service": "elevenlabs", "status": "200"}, 1),
                ("esl.external.retries", {"service": "elevenlabs"}, 2),
                ("esl.tts.characters", {"provider": "elevenlabs", "job": "not-a-label"}, 120),
                ("esl.unknown.metric", {"x": "y"}, 5),
            ),
        },
        "tts: ElevenLabs answered 429",
    )
    finished_run(
        fake,
        "FAILURE",
        created=T0 + 40,
        started=T0 + 41,
        ended=T0 + 45,
        **{"dagster/will_retry": "true"},
    )
    fake.add_run(job_id="q", status="QUEUED", creation_time=NOW - 30)
    starting = fake.add_run(job_id="s", status="STARTING", creation_time=NOW - 500)
    starting["updateTime"] = NOW - 400
    fake.add_run(job_id="r", status="STARTED", creation_time=NOW - 20)


def scrape(collector: JobMetricsCollector) -> Samples:
    registry = CollectorRegistry()
    registry.register(collector)
    return parse(generate_latest(registry).decode())


def parse(text: str) -> Samples:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def refreshed(fake: FakeDagster, **kwargs: Any) -> tuple[JobMetricsCollector, Samples]:
    async with httpx.AsyncClient() as client:
        collector = JobMetricsCollector(
            client, fake.url, job="lesson_job", clock=lambda: NOW, **kwargs
        )
        await collector.refresh()
        return collector, scrape(collector)


def test_known_runs_give_exact_figures(fake: FakeDagster) -> None:
    add_known_runs(fake)
    _, samples = asyncio.run(refreshed(fake))
    assert samples[("esl_jobs", (("state", "queued"),))] == 1
    assert samples[("esl_jobs", (("state", "running"),))] == 2
    assert samples[("esl_oldest_queued_job_age_seconds", ())] == 30
    assert samples[("esl_oldest_starting_run_age_seconds", ())] == 400
    # Job duration from the submission tag, by outcome; the retried failure is not an outcome.
    assert samples[("esl_job_duration_seconds_count", (("outcome", "succeeded"),))] == 1
    assert samples[("esl_job_duration_seconds_sum", (("outcome", "succeeded"),))] == 33
    assert (
        samples[("esl_job_duration_seconds_bucket", (("le", "30.0"), ("outcome", "succeeded")))]
        == 0
    )
    assert (
        samples[("esl_job_duration_seconds_bucket", (("le", "60.0"), ("outcome", "succeeded")))]
        == 1
    )
    assert samples[("esl_job_duration_seconds_count", (("outcome", "failed"),))] == 1
    assert samples[("esl_job_duration_seconds_sum", (("outcome", "failed"),))] == 10
    # Queue wait of every run that started (the retried one included): 2 + 2 + 1 seconds.
    assert samples[("esl_job_queue_wait_seconds_count", ())] == 3
    assert samples[("esl_job_queue_wait_seconds_sum", ())] == 5
    stage = "esl_stage_duration_seconds"
    assert samples[(f"{stage}_count", (("outcome", "success"), ("stage", "validate")))] == 2
    assert samples[(f"{stage}_sum", (("outcome", "success"), ("stage", "import")))] == 2
    assert samples[(f"{stage}_count", (("outcome", "skipped"), ("stage", "tts")))] == 1
    assert samples[(f"{stage}_sum", (("outcome", "failure"), ("stage", "tts")))] == 6
    assert samples[("esl_stage_failures_total", (("kind", "service_error"), ("stage", "tts")))] == 1
    requests = "esl_external_requests_total"
    assert samples[(requests, (("service", "notion"), ("status", "200")))] == 3
    assert samples[(requests, (("service", "notion"), ("status", "429")))] == 1
    assert samples[(requests, (("service", "elevenlabs"), ("status", "429")))] == 2
    assert samples[("esl_external_retries_total", (("service", "elevenlabs"),))] == 2
    assert samples[("esl_tts_characters_total", (("provider", "elevenlabs"),))] == 120
    assert samples[("esl_uploads_total", (("target", "s3"),))] == 1
    names = {name for name, _ in samples}
    assert not any("unknown" in name for name in names)
    assert all("job" not in dict(labels) for _, labels in samples)


def test_counters_never_decrease_and_each_run_counts_once(fake: FakeDagster) -> None:
    add_known_runs(fake)

    async def scenario() -> tuple[Samples, Samples, list[dict[str, Any]]]:
        clock = iter([NOW, NOW + 20, NOW + 40])
        async with httpx.AsyncClient() as client:
            collector = JobMetricsCollector(
                client, fake.url, job="lesson_job", clock=lambda: next(clock)
            )
            await collector.refresh()
            first = scrape(collector)
            queued = fake.runs_for_job("q")[0]["runId"]
            fake.update_run(queued, status="SUCCESS", start_time=NOW + 1, end_time=NOW + 11)
            before = len(fake.requests)
            await collector.refresh()
            await collector.refresh()
            return first, scrape(collector), fake.requests[before:]

    first, second, requests = asyncio.run(scenario())
    for key, value in first.items():
        if key[0].endswith(("_total", "_count", "_sum", "_bucket")):
            assert second[key] >= value, key
    done = ("esl_job_duration_seconds_count", (("outcome", "succeeded"),))
    assert second[done] == first[done] + 1
    assert second[("esl_jobs", (("state", "queued"),))] == 0
    requests_key = ("esl_external_requests_total", (("service", "notion"), ("status", "200")))
    assert second[requests_key] == 3
    # Only runs since the horizon (the oldest unfinished run's creation) were read again.
    filters = [r["variables"]["filter"] for r in requests if "MetricsRuns" in str(r["query"])]
    assert filters[0]["createdAfter"] == NOW - 500 - HORIZON_SLACK_S


def test_concurrent_scrapes_within_the_window_share_one_refresh(fake: FakeDagster) -> None:
    add_known_runs(fake)

    async def scenario() -> JobMetricsCollector:
        async with httpx.AsyncClient() as client:
            collector = JobMetricsCollector(
                client, fake.url, job="lesson_job", refresh_s=60, clock=lambda: NOW
            )
            await asyncio.gather(collector.refresh(), collector.refresh(), collector.refresh())
            return collector

    collector = asyncio.run(scenario())
    assert collector.refreshes == 1
    assert fake.operations().count("runsOrError") == 1


def test_a_dagster_outage_keeps_the_last_figures(fake: FakeDagster) -> None:
    add_known_runs(fake)

    async def scenario() -> tuple[Samples, Samples]:
        clock = iter([NOW, NOW + 30])
        async with httpx.AsyncClient() as client:
            collector = JobMetricsCollector(
                client, fake.url, job="lesson_job", clock=lambda: next(clock)
            )
            await collector.refresh()
            first = scrape(collector)
            fake.http_status = 503
            await collector.refresh()
            return first, scrape(collector)

    first, second = asyncio.run(scenario())
    assert second[("esl_job_metrics_refresh_errors_total", ())] == 1
    key = ("esl_job_duration_seconds_count", (("outcome", "succeeded"),))
    assert second[key] == first[key] == 1


def test_fold_limit_catches_up_over_refreshes(fake: FakeDagster) -> None:
    for i in range(5):
        finished_run(fake, "SUCCESS", created=T0 + i, started=T0 + i + 1, ended=T0 + i + 2)

    async def scenario() -> list[Samples]:
        clock = iter([NOW, NOW + 20, NOW + 40])
        async with httpx.AsyncClient() as client:
            collector = JobMetricsCollector(
                client, fake.url, job="lesson_job", fold_limit=2, clock=lambda: next(clock)
            )
            seen = []
            for _ in range(3):
                await collector.refresh()
                seen.append(scrape(collector))
            return seen

    seen = asyncio.run(scenario())
    key = ("esl_job_duration_seconds_count", (("outcome", "succeeded"),))
    # A partial count would read as a counter reset: absent until the history is folded.
    assert [s.get(key) for s in seen] == [None, None, 5]
    assert [s[("esl_job_metrics_unfolded_runs", ())] for s in seen] == [3, 1, 0]


def test_nothing_cumulative_is_exported_before_a_refresh_succeeds(fake: FakeDagster) -> None:
    add_known_runs(fake)
    fake.http_status = 503
    _, samples = asyncio.run(refreshed(fake))
    assert samples[("esl_job_metrics_refresh_errors_total", ())] == 1
    assert not any(name.startswith(("esl_job_duration", "esl_external")) for name, _ in samples)


def _expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [
        target["expr"]
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
        if "expr" in target
    ]
    rules = yaml.safe_load(ALERTS.read_text())
    exprs += [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    return exprs


def test_every_metric_of_the_dashboard_and_alerts_is_exported(
    fake: FakeDagster, make_client: ClientFactory
) -> None:
    add_known_runs(fake)
    client: TestClient = make_client()
    exported = {name for name, _ in parse(client.get("/metrics").text)}
    used = {name for expr in _expressions() for name in re.findall(r"\b(esl_[a-z0-9_]+)\b", expr)}
    assert len(used) >= 10
    assert used <= exported, sorted(used - exported)
    panels = json.loads(DASHBOARD.read_text())["panels"]
    assert {"Queue depth", "Failure ratio", "429 responses", "TTS characters"} <= {
        p["title"] for p in panels
    }


def test_two_scrapes_within_the_window_read_dagster_once(
    fake: FakeDagster, make_client: ClientFactory
) -> None:
    add_known_runs(fake)
    client = make_client(metrics_refresh_s=300)
    first = client.get("/metrics")
    second = client.get("/metrics")
    assert first.status_code == second.status_code == 200
    metrics_reads = [r for r in fake.requests if "MetricsRuns" in str(r.get("query"))]
    assert len(metrics_reads) == 1
    assert 'esl_jobs{state="queued"} 1.0' in second.text
