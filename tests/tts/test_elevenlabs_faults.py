"""ElevenLabs faults end in a correct MP3 or a clear failure, never a partial file in the cache."""

from pathlib import Path

import pytest

from esl_dagster.pipeline.config.models import VoiceCatalog, VoicesMap
from esl_dagster.pipeline.errors import ConfigurationError, ServiceError
from esl_dagster.pipeline.settings.services import SpeechSettings
from esl_dagster.pipeline.tts.audio import Ffmpeg
from esl_dagster.pipeline.tts.builder import CLIPS_DIR, LessonAudio, build_audio
from esl_dagster.pipeline.tts.elevenlabs import ElevenLabsProvider, parse_retry_after
from esl_dagster.pipeline.tts.mp3 import is_complete_mp3
from esl_dagster.pipeline.tts.provider import DialogueLine
from esl_dagster.pipeline.tts.request import SpeechOptions, speech_request
from tests.fakes.elevenlabs_server import FakeElevenLabs, Fault
from tests.tts.conftest import SleepLog, study

TTS = r"^/v1/text-to-speech/"
LINES = study(
    "monologue",
    ("Host", "Welcome back to the show."),
    ("Host", "Today we talk about habits."),
    ("Host", "Try it tomorrow morning."),
)


def build(
    provider: ElevenLabsProvider, catalog: VoiceCatalog, ffmpeg: Ffmpeg, out: Path
) -> LessonAudio:
    request = speech_request(
        LINES, None, provider=provider, voices_map=VoicesMap(), catalog=catalog, out_dir=out
    )
    return build_audio(request, provider=provider, ffmpeg=ffmpeg)


def cache_files(out: Path) -> list[Path]:
    return sorted(p for p in out.rglob("*") if p.is_file())


def assert_cache_is_clean(out: Path) -> None:
    """Every file in the cache is a complete MP3; no temp file is left behind."""
    for path in cache_files(out):
        assert ".part" not in path.name
        assert is_complete_mp3(path.read_bytes()), path


def test_429_storm_honours_retry_after_and_succeeds(
    fake: FakeElevenLabs, eleven: ElevenLabsProvider, sleeps: SleepLog, catalog: VoiceCatalog,
    ffmpeg: Ffmpeg, tmp_path: Path,
) -> None:  # fmt: skip
    fake.add_fault(Fault(status=429, times=3, path_regex=TTS, retry_after="2"))
    result = build(eleven, catalog, ffmpeg, tmp_path)
    assert sleeps.delays == [2.0, 2.0, 2.0]
    assert len(fake.audio_requests()) == 3 + 3
    assert result.segments == 3 and result.duration_seconds
    assert_cache_is_clean(tmp_path)


def test_endless_429_is_a_clear_transient_failure_with_nothing_cached(
    fake: FakeElevenLabs, eleven: ElevenLabsProvider, sleeps: SleepLog, catalog: VoiceCatalog,
    ffmpeg: Ffmpeg, tmp_path: Path,
) -> None:  # fmt: skip
    fake.add_fault(Fault(status=429, times=1000, path_regex=TTS, retry_after="1"))
    with pytest.raises(ServiceError) as caught:
        build(eleven, catalog, ffmpeg, tmp_path)
    assert caught.value.transient and caught.value.status == 429
    assert caught.value.retry_after == 1.0
    assert "gave up after 4 attempts" in str(caught.value)
    assert not list(tmp_path.glob("*.mp3"))
    assert_cache_is_clean(tmp_path)


def test_500s_back_off_exponentially(
    fake: FakeElevenLabs, sleeps: SleepLog, catalog: VoiceCatalog, ffmpeg: Ffmpeg, tmp_path: Path
) -> None:
    fake.add_fault(Fault(status=500, times=2, path_regex=TTS))
    fake.add_fault(Fault(status=503, times=1, path_regex=TTS))
    with ElevenLabsProvider(
        SpeechSettings(api_key="test-key", base_url=fake.base_url, concurrency=1), sleep=sleeps
    ) as one:
        build(one, catalog, ffmpeg, tmp_path)
    assert sleeps.delays == [0.5, 1.0, 2.0]
    assert_cache_is_clean(tmp_path)


@pytest.mark.parametrize("kind", ["drop_mid_body", "truncated_mp3", "not_audio"])
def test_broken_bodies_are_retried_and_never_cached(
    kind: str, fake: FakeElevenLabs, eleven: ElevenLabsProvider, sleeps: SleepLog,
    catalog: VoiceCatalog, ffmpeg: Ffmpeg, tmp_path: Path,
) -> None:  # fmt: skip
    fake.add_fault(Fault(kind=kind, times=2, path_regex=TTS))  # type: ignore[arg-type]
    result = build(eleven, catalog, ffmpeg, tmp_path)
    assert len(fake.audio_requests()) == 3 + 2
    assert len(sleeps.delays) == 2
    ffmpeg.run(["-i", str(result.path), "-f", "null", "-"], label="decode")
    assert_cache_is_clean(tmp_path)


@pytest.mark.parametrize("kind", ["drop_mid_body", "truncated_mp3"])
def test_persistently_broken_bodies_fail_clearly(
    kind: str, fake: FakeElevenLabs, eleven: ElevenLabsProvider, catalog: VoiceCatalog,
    ffmpeg: Ffmpeg, tmp_path: Path,
) -> None:  # fmt: skip
    fake.add_fault(Fault(kind=kind, times=1000, path_regex=TTS))  # type: ignore[arg-type]
    with pytest.raises(ServiceError, match="gave up after 4 attempts") as caught:
        build(eleven, catalog, ffmpeg, tmp_path)
    assert caught.value.transient
    assert not list(tmp_path.glob("*.mp3"))
    assert_cache_is_clean(tmp_path)


def test_permanent_errors_are_not_retried(
    fake: FakeElevenLabs, sleeps: SleepLog, catalog: VoiceCatalog, ffmpeg: Ffmpeg, tmp_path: Path
) -> None:
    with ElevenLabsProvider(
        SpeechSettings(api_key="wrong-key", base_url=fake.base_url), sleep=sleeps
    ) as provider:
        with pytest.raises(ServiceError, match="Invalid API key") as caught:
            build(provider, catalog, ffmpeg, tmp_path)
    assert caught.value.status == 401 and not caught.value.transient
    assert sleeps.delays == []
    texts = [r.body["text"] for r in fake.audio_requests()]
    assert 1 <= len(texts) <= 3 and len(set(texts)) == len(texts)  # each line tried at most once


def test_unknown_voice_is_a_permanent_404(fake: FakeElevenLabs, eleven: ElevenLabsProvider) -> None:
    with pytest.raises(ServiceError, match="not found") as caught:
        eleven.synthesize_line("Hello", "no-such-voice")
    assert caught.value.status == 404 and not caught.value.transient


def test_interrupted_job_resumes_from_cached_clips(
    fake: FakeElevenLabs, sleeps: SleepLog, catalog: VoiceCatalog, ffmpeg: Ffmpeg, tmp_path: Path
) -> None:
    lines = study(
        "dialogue", ("Alex", "Hi there."), ("Mara", "Hello!"), ("Alex", "Ready?"), ("Mara", "Yes.")
    )
    with ElevenLabsProvider(
        SpeechSettings(api_key="test-key", base_url=fake.base_url, concurrency=1, max_retries=1),
        sleep=sleeps,
    ) as provider:

        def run(*, dry_run: bool = False) -> LessonAudio:
            request = speech_request(
                lines, None, provider=provider, voices_map=VoicesMap(), catalog=catalog,
                out_dir=tmp_path, options=SpeechOptions(mode="monologue"),
            )  # fmt: skip
            return build_audio(request, provider=provider, ffmpeg=ffmpeg, dry_run=dry_run)

        mara_voice = next(a.voice_id for a in run(dry_run=True).voices if a.speaker == "Mara")
        fake.add_fault(Fault(status=500, times=1000, path_regex=TTS + mara_voice))
        with pytest.raises(ServiceError):
            run()
        assert len(fake.audio_requests()) == 1 + 2  # Alex's first line, then Mara's line twice
        assert len(list((tmp_path / CLIPS_DIR).glob("*.mp3"))) == 1
        fake.reset()
        result = run()
        assert len(fake.audio_requests()) == 3  # the cached first line is not requested again
        assert result.segments == 4 and not result.cached
    assert_cache_is_clean(tmp_path)


def test_retry_after_parsing() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("0.25") == 0.25
    assert parse_retry_after("9999") == 60.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_provider_settings_are_validated() -> None:
    with pytest.raises(ConfigurationError, match="API key"):
        ElevenLabsProvider(SpeechSettings(api_key=""))
    with pytest.raises(ConfigurationError, match="API key"):
        ElevenLabsProvider(SpeechSettings())
    with pytest.raises(ConfigurationError, match="not MP3"):
        ElevenLabsProvider(SpeechSettings(api_key="k", output_format="pcm_44100"))


def test_dialogue_options_and_voice_list_follow_the_api(
    fake: FakeElevenLabs, sleeps: SleepLog
) -> None:
    with ElevenLabsProvider(
        SpeechSettings(
            api_key="test-key",
            base_url=fake.base_url,
            dialogue_language="en",
            dialogue_stability=0.5,
            dialogue_seed=42,
        ),
        sleep=sleeps,
    ) as provider:
        catalog = provider.list_voices()
        voice = catalog.voices[0].id
        audio = provider.synthesize_dialogue(
            [DialogueLine("Hi.", voice), DialogueLine("Hello.", voice)]
        )
    assert is_complete_mp3(audio)
    assert [v.name for v in catalog.voices][:2] == ["Quinn", "Marlowe"]
    assert catalog.voices[1].labels.accent == "british"
    body = fake.audio_requests()[0].body
    assert body == {
        "inputs": [{"text": "Hi.", "voice_id": voice}, {"text": "Hello.", "voice_id": voice}],
        "model_id": "eleven_v3", "apply_text_normalization": "auto", "language_code": "en",
        "settings": {"stability": 0.5}, "seed": 42,
    }  # fmt: skip
