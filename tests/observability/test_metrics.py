"""Engine metrics: `CountingMetrics` tallies what a stage did (per-step marks that survive retried
attempts), and the Notion and ElevenLabs clients count every HTTP attempt, retry and spoken
character against their fakes."""

import threading
from collections.abc import Iterator

import pytest

from esl_dagster.pipeline.notion.client import NotionClient
from esl_dagster.pipeline.observability import (
    EXTERNAL_REQUESTS,
    EXTERNAL_RETRIES,
    TTS_CHARACTERS,
    UPLOADS,
    CountingMetrics,
    NoopMetrics,
    PipelineMetrics,
    PipelineTelemetry,
    counters_report,
    record_request,
)
from esl_dagster.pipeline.settings.services import SpeechSettings
from esl_dagster.pipeline.tts.elevenlabs import ElevenLabsProvider
from tests.fakes.elevenlabs_server import FakeElevenLabs, Fault
from tests.fakes.notion_server import FakeNotion, running_fake


def requests(service: str, status: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return EXTERNAL_REQUESTS, (("service", service), ("status", status))


def test_a_step_reports_what_it_counted_since_its_mark_every_attempt_included() -> None:
    metrics = CountingMetrics()
    assert isinstance(metrics, PipelineMetrics)
    record_request(metrics, "notion", 200)  # an earlier step
    metrics.mark("import_to_notion")
    record_request(metrics, "notion", 429)
    metrics.mark("import_to_notion")  # the retried attempt keeps the first mark
    record_request(metrics, "notion", 200, retry=True)
    record_request(metrics, "notion", None, retry=True)
    metrics.increment(UPLOADS, 1, {"target": "s3"})
    PipelineTelemetry(metrics=metrics).stage_skipped("tts", "disabled")  # not a stage counter

    counted = metrics.since("import_to_notion")
    assert counted == {
        requests("notion", "200"): 1,
        requests("notion", "429"): 1,
        requests("notion", "error"): 1,
        (EXTERNAL_RETRIES, (("service", "notion"),)): 2,
        (UPLOADS, (("target", "s3"),)): 1,
    }
    assert counters_report(counted)[0] == {
        "metric": EXTERNAL_REQUESTS,
        "tags": {"service": "notion", "status": "200"},
        "value": 1,
    }
    # The mark is gone: the next step starts from its own mark.
    metrics.mark("import_to_notion")
    assert metrics.since("import_to_notion") == {}


def test_counting_is_exact_under_concurrent_clips() -> None:
    metrics = CountingMetrics()
    metrics.mark("synthesize_audio")

    def speak() -> None:
        for _ in range(500):
            metrics.increment(TTS_CHARACTERS, 3, {"provider": "elevenlabs"})

    threads = [threading.Thread(target=speak) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert metrics.since("synthesize_audio") == {
        (TTS_CHARACTERS, (("provider", "elevenlabs"),)): 12000
    }


@pytest.fixture
def notion() -> Iterator[FakeNotion]:
    yield from running_fake()


def test_notion_client_counts_attempts_statuses_and_retries(notion: FakeNotion) -> None:
    metrics = CountingMetrics()
    notion.add_fault("rate_limit", path_regex="search", retry_after=1)
    with NotionClient(
        notion.token, base_url=notion.base_url, sleep=lambda _s: None, metrics=metrics
    ) as client:
        client.search({"query": "lesson"})
    assert metrics.since("any") == {
        requests("notion", "429"): 1,
        requests("notion", "200"): 1,
        (EXTERNAL_RETRIES, (("service", "notion"),)): 1,
    }


def test_elevenlabs_counts_billed_characters_once_and_every_attempt() -> None:
    metrics = CountingMetrics()
    with FakeElevenLabs() as fake:
        fake.add_fault(Fault(status=429, times=2, retry_after="0"))
        with ElevenLabsProvider(
            SpeechSettings(api_key="test-key", base_url=fake.base_url, max_retries=3),
            sleep=lambda _s: None,
            metrics=metrics,
        ) as provider:
            provider.synthesize_line("Hello there.", fake.state.voices[0]["voice_id"])
    assert metrics.since("any") == {
        requests("elevenlabs", "429"): 2,
        requests("elevenlabs", "200"): 1,
        (EXTERNAL_RETRIES, (("service", "elevenlabs"),)): 2,
        (TTS_CHARACTERS, (("provider", "elevenlabs"),)): len("Hello there."),
    }


def test_noop_metrics() -> None:
    metrics = NoopMetrics()
    assert isinstance(metrics, PipelineMetrics)
    metrics.timing("esl.pipeline.stage.duration_ms", 12.0, {"stage": "tts"})
    metrics.increment("esl.pipeline.stage.success")
