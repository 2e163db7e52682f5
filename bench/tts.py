"""TTS benchmarks: concurrent ElevenLabs requests vs one at a time, and offline espeak speed.

1. A 20-line dialogue synthesised line by line against the fake ElevenLabs server with 300 ms
   latency per request: full ``build_audio`` wall time (synthesis, assembly, duration) with
   concurrency 1 (the baseline) and with the provider's default concurrency, alternated
   ``REPEATS`` times in the same run (medians), and the most requests the server saw in flight.
2. espeak-ng synthesis speed in seconds of audio per second of wall time, for synthesis alone
   and for a whole offline build (synthesis + ffmpeg assembly with loudness normalisation).
"""

import io
import json
import statistics
import tempfile
import time
import wave
from pathlib import Path

from bench.common import BenchRow
from esl_dagster.pipeline.config.models import VoiceCatalog, VoicesMap
from esl_dagster.pipeline.lesson.models import StudyLine, StudyText
from esl_dagster.pipeline.settings.services import SpeechSettings
from esl_dagster.pipeline.tts.audio import Ffmpeg
from esl_dagster.pipeline.tts.builder import build_audio
from esl_dagster.pipeline.tts.elevenlabs import ElevenLabsProvider
from esl_dagster.pipeline.tts.espeak import EspeakProvider
from esl_dagster.pipeline.tts.request import SpeechOptions, speech_request
from tests.conftest import CONFIGS_DIR
from tests.fakes.elevenlabs_server import FakeElevenLabs

LATENCY_S = 0.3
LINES = 20
REPEATS = 3


def _default_concurrency() -> int:
    with ElevenLabsProvider(SpeechSettings(api_key="bench-key")) as provider:
        return provider.concurrency


DEFAULT_CONCURRENCY = _default_concurrency()


def _dialogue() -> StudyText:
    speakers = ("Alex", "Mara")
    lines = [
        StudyLine(
            speaker=speakers[i % 2],
            text=f"This is line {i + 1} of our little dialogue about weekend plans.",
            raw="",
        )
        for i in range(LINES)
    ]
    return StudyText(type="dialogue", lines=lines)


def _catalog() -> VoiceCatalog:
    return VoiceCatalog.model_validate(
        json.loads((CONFIGS_DIR / "elevenlabs.voices.sample.json").read_text())
    )


def _timed_build(fake: FakeElevenLabs, concurrency: int, ffmpeg: Ffmpeg) -> float:
    with (
        tempfile.TemporaryDirectory() as out,
        ElevenLabsProvider(
            SpeechSettings(api_key="test-key", base_url=fake.base_url, concurrency=concurrency)
        ) as provider,
    ):
        start = time.perf_counter()
        request = speech_request(
            _dialogue(), None, provider=provider, voices_map=VoicesMap(), catalog=_catalog(),
            out_dir=Path(out), options=SpeechOptions(mode="monologue"),
        )  # fmt: skip
        build_audio(request, provider=provider, ffmpeg=ffmpeg)
        return time.perf_counter() - start


def _espeak_rows(ffmpeg: Ffmpeg) -> list[BenchRow]:
    provider = EspeakProvider()
    study = _dialogue()
    voice = provider.voice_catalog(VoiceCatalog()).voices[2].id
    start = time.perf_counter()
    audio_seconds = 0.0
    for line in study.lines:
        with wave.open(io.BytesIO(provider.synthesize_line(line.text, voice)), "rb") as reader:
            audio_seconds += reader.getnframes() / reader.getframerate()
    synth_wall = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        request = speech_request(
            study, None, provider=provider, voices_map=VoicesMap(), catalog=VoiceCatalog(),
            out_dir=Path(out),
        )  # fmt: skip
        result = build_audio(request, provider=provider, ffmpeg=ffmpeg)
        build_wall = time.perf_counter() - start
    return [
        BenchRow(
            "espeak synthesis speed", audio_seconds / synth_wall, "audio s / wall s", target=">= 20"
        ),
        BenchRow(
            "espeak full offline build (20 lines)",
            (result.duration_seconds or 0.0) / build_wall,
            "audio s / wall s",
            target=">= 5",
        ),
    ]


def _concurrency_rows(ffmpeg: Ffmpeg) -> list[BenchRow]:
    walls: dict[int, list[float]] = {1: [], DEFAULT_CONCURRENCY: []}
    with FakeElevenLabs(latency_s=LATENCY_S, max_concurrent=DEFAULT_CONCURRENCY) as fake:
        _timed_build(fake, DEFAULT_CONCURRENCY, ffmpeg)  # warm the fake's tone cache
        fake.reset()
        for _ in range(REPEATS):
            for concurrency in walls:
                walls[concurrency].append(_timed_build(fake, concurrency, ffmpeg))
        in_flight, rejected = fake.max_in_flight, fake.rejected
    sequential = statistics.median(walls[1])
    concurrent = statistics.median(walls[DEFAULT_CONCURRENCY])
    return [
        BenchRow(
            f"elevenlabs {LINES}-line build, concurrency {DEFAULT_CONCURRENCY} vs 1 (median of "
            f"{REPEATS}, {LATENCY_S * 1000:g} ms per request)",
            concurrent,
            "s",
            baseline=sequential,
            ratio=sequential / concurrent,
            target=f">= {0.9 * DEFAULT_CONCURRENCY:g}x faster (90% of the ideal "
            f"{DEFAULT_CONCURRENCY}x)",
        ),
        BenchRow(
            "elevenlabs requests in flight at once (most the server saw in those runs)",
            in_flight,
            "requests",
            target=f"== {DEFAULT_CONCURRENCY} (the configured concurrency, never more)",
        ),
        BenchRow(
            "elevenlabs 429 too_many_concurrent_requests in those runs",
            rejected,
            "responses",
            target="0",
        ),
    ]


def run() -> list[BenchRow]:
    ffmpeg = Ffmpeg()
    return [*_concurrency_rows(ffmpeg), *_espeak_rows(ffmpeg)]


if __name__ == "__main__":
    for row in run():
        print(row)
