"""The audio cache: reuse, force, hash inputs, dry runs without any provider call."""

import threading
from pathlib import Path
from typing import Any

import pytest

from esl_dagster.pipeline.config.models import VoiceCatalog, VoicesMap
from esl_dagster.pipeline.errors import ConfigurationError, ValidationError
from esl_dagster.pipeline.settings.services import SpeechSettings
from esl_dagster.pipeline.tts.audio import Ffmpeg, MixSettings
from esl_dagster.pipeline.tts.builder import CLIPS_DIR, LessonAudio, build_audio, slugify
from esl_dagster.pipeline.tts.elevenlabs import ElevenLabsProvider
from esl_dagster.pipeline.tts.espeak import EspeakProvider
from esl_dagster.pipeline.tts.provider import DialogueOptions, DialogueProvider, SpeechProvider
from esl_dagster.pipeline.tts.request import SpeechOptions, speech_request
from tests.conftest import LESSONS_DIR
from tests.fakes.elevenlabs_server import FakeElevenLabs
from tests.tts.conftest import load_lesson, study

LINES = study(
    "dialogue", ("Alex", "Good morning."), ("Mara", "Morning! Coffee?"), ("Alex", "Yes, please.")
)


def build(
    provider: SpeechProvider,
    catalog: VoiceCatalog,
    ffmpeg: Ffmpeg,
    out: Path,
    *,
    force: bool = False,
    dry_run: bool = False,
    **shaping: Any,
) -> LessonAudio:
    options = SpeechOptions(student="Test Student", **shaping)
    request = speech_request(
        LINES, None, provider=provider, voices_map=VoicesMap(), catalog=catalog, out_dir=out,
        options=options,
    )  # fmt: skip
    return build_audio(request, provider=provider, ffmpeg=ffmpeg, force=force, dry_run=dry_run)


def test_providers_satisfy_the_protocols(
    espeak: EspeakProvider, eleven: ElevenLabsProvider
) -> None:
    assert isinstance(espeak, SpeechProvider) and not isinstance(espeak, DialogueProvider)
    assert isinstance(eleven, DialogueProvider)


def test_second_build_reuses_the_file_and_force_rebuilds(
    fake: FakeElevenLabs,
    eleven: ElevenLabsProvider,
    catalog: VoiceCatalog,
    ffmpeg: Ffmpeg,
    tmp_path: Path,
) -> None:
    first = build(eleven, catalog, ffmpeg, tmp_path)
    assert not first.cached and len(fake.audio_requests()) == 1  # one dialogue request
    assert first.path.name == f"test-student-{first.hash}.mp3"
    mtime = first.path.stat().st_mtime_ns
    second = build(eleven, catalog, ffmpeg, tmp_path)
    assert second.cached and second.path == first.path and second.hash == first.hash
    assert second.duration_seconds == pytest.approx(first.duration_seconds)
    assert len(fake.audio_requests()) == 1 and first.path.stat().st_mtime_ns == mtime
    forced = build(eleven, catalog, ffmpeg, tmp_path, force=True)
    assert not forced.cached and forced.path == first.path
    assert len(fake.audio_requests()) == 2


def test_everything_that_shapes_the_sound_changes_the_hash(
    fake: FakeElevenLabs, eleven: ElevenLabsProvider, espeak: EspeakProvider, catalog: VoiceCatalog,
    ffmpeg: Ffmpeg, tmp_path: Path,
) -> None:  # fmt: skip
    base = build(eleven, catalog, ffmpeg, tmp_path, dry_run=True).hash
    variants = [
        build(eleven, catalog, ffmpeg, tmp_path, dry_run=True, mix=MixSettings(gap_seconds=0.8)),
        build(eleven, catalog, ffmpeg, tmp_path, dry_run=True, mode="monologue"),
        build(eleven, catalog, ffmpeg, tmp_path, dry_run=True, default_voice="Quinn"),
        build(eleven, catalog, ffmpeg, tmp_path, dry_run=True, mix=MixSettings(bitrate="96k")),
        build(espeak, catalog, ffmpeg, tmp_path, dry_run=True),
    ]
    with ElevenLabsProvider(
        SpeechSettings(api_key="test-key", base_url=fake.base_url, output_format="mp3_44100_128")
    ) as other:
        variants.append(build(other, catalog, ffmpeg, tmp_path, dry_run=True))
    with ElevenLabsProvider(
        SpeechSettings(api_key="test-key", base_url=fake.base_url, dialogue_seed=7)
    ) as seeded:
        variants.append(build(seeded, catalog, ffmpeg, tmp_path, dry_run=True))
    hashes = {base, *(v.hash for v in variants)}
    assert len(hashes) == len(variants) + 1
    assert fake.requests == []


def test_dry_run_makes_no_request_and_writes_nothing(
    fake: FakeElevenLabs,
    eleven: ElevenLabsProvider,
    catalog: VoiceCatalog,
    ffmpeg: Ffmpeg,
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    study_text, meta = load_lesson(LESSONS_DIR / "03-dialogue-two-speakers-flat-viewing.md")
    request = speech_request(
        study_text, meta, provider=eleven, voices_map=VoicesMap(), catalog=catalog, out_dir=out
    )
    result = build_audio(request, provider=eleven, ffmpeg=ffmpeg, dry_run=True)
    assert fake.requests == []
    assert not out.exists()
    assert result.dry_run and result.duration_seconds is None and not result.cached
    assert result.mode == "dialogue" and result.segments == 1
    assert result.path == out.resolve() / f"leonie-{result.hash}.mp3"
    assert "Leonie→Harriet (female, profile" in result.voice_summary()
    real = build_audio(request, provider=eleven, ffmpeg=ffmpeg)
    assert real.path == result.path and real.hash == result.hash


def test_gap_change_reuses_clips(
    fake: FakeElevenLabs, catalog: VoiceCatalog, ffmpeg: Ffmpeg, tmp_path: Path
) -> None:
    with ElevenLabsProvider(SpeechSettings(api_key="test-key", base_url=fake.base_url)) as provider:
        first = build(
            provider, catalog, ffmpeg, tmp_path, mode="monologue", mix=MixSettings(gap_seconds=0.2)
        )
        second = build(
            provider, catalog, ffmpeg, tmp_path, mode="monologue", mix=MixSettings(gap_seconds=1.2)
        )
    assert len(fake.audio_requests()) == 3
    assert first.path != second.path
    assert first.duration_seconds is not None
    assert second.duration_seconds == pytest.approx(first.duration_seconds + 2 * 1.0, rel=0.02)
    assert len(list((tmp_path / CLIPS_DIR).iterdir())) == 3


def test_truncated_final_file_is_rebuilt(
    espeak: EspeakProvider, catalog: VoiceCatalog, ffmpeg: Ffmpeg, tmp_path: Path
) -> None:
    first = build(espeak, catalog, ffmpeg, tmp_path)
    data = first.path.read_bytes()
    first.path.write_bytes(data[: len(data) // 2 + 3])
    again = build(espeak, catalog, ffmpeg, tmp_path)
    assert not again.cached and again.path.read_bytes() == data


def test_empty_study_text_is_a_validation_error(
    espeak: EspeakProvider, catalog: VoiceCatalog, tmp_path: Path
) -> None:
    with pytest.raises(ValidationError, match="0 segments"):
        request = speech_request(
            study("monologue", (None, "   ")), None, provider=espeak, voices_map=VoicesMap(),
            catalog=catalog, out_dir=tmp_path,
        )  # fmt: skip
        build_audio(request, provider=espeak, dry_run=True)


def test_espeak_is_safe_from_many_threads(espeak: EspeakProvider) -> None:
    jobs = [("One two three.", "en-us+f3@62"), ("Four five six seven.", "en-GB-x-rp+m1@40")] * 4
    expected = [espeak.synthesize_line(text, voice) for text, voice in jobs]
    results: list[bytes] = [b""] * len(jobs)

    def work(index: int) -> None:
        results[index] = espeak.synthesize_line(*jobs[index])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    # espeak varies its output slightly from run to run, so compare lengths: a mixed-up buffer or
    # voice would change them far more than 2 %.
    assert [len(r) for r in results] == pytest.approx([len(e) for e in expected], rel=0.02)
    assert len(expected[1]) > 1.3 * len(expected[0])


def test_slug() -> None:
    names = ("Anna", "Test Student", "Joaquín", "Катя", "王芳", None)
    assert [slugify(s) for s in names] == [
        "anna", "test-student", "joaquin", "katya", "wangfang", "",
    ]  # fmt: skip


def test_job_dialogue_options_reach_the_request_and_the_hash_over_the_defaults(
    fake: FakeElevenLabs, catalog: VoiceCatalog, ffmpeg: Ffmpeg, tmp_path: Path
) -> None:
    with ElevenLabsProvider(
        SpeechSettings(
            api_key="test-key", base_url=fake.base_url, dialogue_language="en", dialogue_seed=7
        )
    ) as provider:
        plain = build(provider, catalog, ffmpeg, tmp_path, dry_run=True)
        unset = build(provider, catalog, ffmpeg, tmp_path, dry_run=True, dialogue=DialogueOptions())
        job = DialogueOptions(stability=0.25, seed=42)
        seeded = build(provider, catalog, ffmpeg, tmp_path, dialogue=job)
        assert provider.dialogue_defaults == DialogueOptions(language="en", seed=7)
    assert unset.hash == plain.hash and seeded.hash != plain.hash
    body = fake.audio_requests()[0].body
    assert (body["language_code"], body["settings"], body["seed"]) == (
        "en",
        {"stability": 0.25},
        42,
    )


def test_dialogue_stability_out_of_range_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="stability"):
        DialogueOptions(stability=1.5)
