"""ElevenLabs requests overlap up to the configured concurrency and stay within the server's
concurrency limit, which the fake enforces with 429 ``too_many_concurrent_requests``."""

from pathlib import Path

from esl_dagster.pipeline.config.models import VoiceCatalog, VoicesMap
from esl_dagster.pipeline.settings.services import SpeechSettings
from esl_dagster.pipeline.tts.audio import Ffmpeg
from esl_dagster.pipeline.tts.builder import build_audio
from esl_dagster.pipeline.tts.elevenlabs import ElevenLabsProvider
from esl_dagster.pipeline.tts.request import speech_request
from tests.fakes.elevenlabs_server import FakeElevenLabs, Fault
from tests.tts.conftest import SleepLog, study

LATENCY_S = 0.2
TTS = r"^/v1/text-to-speech/"


def build_lines(
    fake: FakeElevenLabs,
    lines: int,
    *,
    concurrency: int,
    sleeps: SleepLog,
    catalog: VoiceCatalog,
    ffmpeg: Ffmpeg,
    out: Path,
) -> ElevenLabsProvider:
    """Build a monologue of ``lines`` distinct lines; the (closed) provider, for its limit."""
    text = study("monologue", *[("Host", f"Line number {i} of the talk.") for i in range(lines)])
    with ElevenLabsProvider(
        SpeechSettings(api_key="test-key", base_url=fake.base_url, concurrency=concurrency),
        sleep=sleeps,
    ) as provider:
        request = speech_request(
            text, None, provider=provider, voices_map=VoicesMap(), catalog=catalog, out_dir=out
        )
        result = build_audio(request, provider=provider, ffmpeg=ffmpeg)
    assert result.segments == lines and result.duration_seconds
    return provider


def successes(fake: FakeElevenLabs) -> int:
    return len(fake.audio_requests()) - fake.rejected


def test_requests_overlap_up_to_the_configured_concurrency(
    catalog: VoiceCatalog, ffmpeg: Ffmpeg, sleeps: SleepLog, tmp_path: Path
) -> None:
    with FakeElevenLabs(latency_s=LATENCY_S, max_concurrent=10) as fake:
        build_lines(
            fake, 9, concurrency=3, sleeps=sleeps, catalog=catalog, ffmpeg=ffmpeg, out=tmp_path
        )
    assert fake.max_in_flight == 3
    assert fake.rejected == 0 and len(fake.audio_requests()) == 9
    assert sleeps.delays == []


def test_a_lower_server_limit_is_learned_from_its_429_and_headers(
    catalog: VoiceCatalog, ffmpeg: Ffmpeg, sleeps: SleepLog, tmp_path: Path
) -> None:
    with FakeElevenLabs(latency_s=LATENCY_S, max_concurrent=2) as fake:
        provider = build_lines(
            fake, 8, concurrency=4, sleeps=sleeps, catalog=catalog, ffmpeg=ffmpeg, out=tmp_path
        )
    assert provider.in_flight_limit == 2
    assert 1 <= fake.rejected <= 2  # only the first wave, sent before any answer said "2"
    assert successes(fake) == 8 and fake.max_in_flight == 2
    assert sleeps.delays == []  # the rejected requests waited for a slot, not for a timer


def test_a_concurrency_429_with_retry_after_waits_that_long(
    catalog: VoiceCatalog, ffmpeg: Ffmpeg, sleeps: SleepLog, tmp_path: Path
) -> None:
    with FakeElevenLabs(latency_s=LATENCY_S, max_concurrent=1, concurrency_retry_after="1") as fake:
        provider = build_lines(
            fake, 3, concurrency=2, sleeps=sleeps, catalog=catalog, ffmpeg=ffmpeg, out=tmp_path
        )
    assert provider.in_flight_limit == 1
    assert fake.rejected == 1 and successes(fake) == 3
    assert sleeps.delays == [1.0]


def test_system_busy_backs_off_exponentially(
    fake: FakeElevenLabs, catalog: VoiceCatalog, ffmpeg: Ffmpeg, sleeps: SleepLog, tmp_path: Path
) -> None:
    fake.add_fault(Fault(status=429, code="system_busy", times=2, path_regex=TTS))
    provider = build_lines(
        fake, 2, concurrency=1, sleeps=sleeps, catalog=catalog, ffmpeg=ffmpeg, out=tmp_path
    )
    assert sleeps.delays == [0.5, 1.0]
    assert provider.in_flight_limit == 1 and fake.rejected == 0


def test_a_concurrency_429_while_other_clients_fill_the_limit_backs_off(
    fake: FakeElevenLabs, catalog: VoiceCatalog, ffmpeg: Ffmpeg, sleeps: SleepLog, tmp_path: Path
) -> None:
    """The key's other users hold the slots: none of ours will end, so the retry sleeps."""
    fake.add_fault(Fault(status=429, code="too_many_concurrent_requests", path_regex=TTS))
    build_lines(fake, 2, concurrency=1, sleeps=sleeps, catalog=catalog, ffmpeg=ffmpeg, out=tmp_path)
    assert sleeps.delays == [0.5]
    assert len(fake.audio_requests()) == 3
