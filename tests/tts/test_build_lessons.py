"""Sample lessons through both providers: decodable MP3s, segment counts, real durations."""

import io
import wave
from pathlib import Path

import pytest

from esl_dagster.pipeline.config.models import VoiceCatalog, VoicesMap
from esl_dagster.pipeline.tts.audio import Ffmpeg, MixSettings
from esl_dagster.pipeline.tts.builder import build_audio
from esl_dagster.pipeline.tts.elevenlabs import ElevenLabsProvider
from esl_dagster.pipeline.tts.espeak import EspeakProvider
from esl_dagster.pipeline.tts.request import SpeechOptions, speech_request
from esl_dagster.pipeline.tts.segments import plan_segments
from tests.conftest import LESSONS_DIR
from tests.fakes.elevenlabs_server import FakeElevenLabs
from tests.tts.conftest import load_lesson, study

GAP = 0.4
MONOLOGUE = LESSONS_DIR / "02-monologue-single-host-podcast.md"
DIALOGUE = LESSONS_DIR / "03-dialogue-two-speakers-flat-viewing.md"


def decodes_cleanly(ffmpeg: Ffmpeg, path: Path) -> None:
    assert ffmpeg.run(["-i", str(path), "-f", "null", "-"], label="decode") == ""


def wav_seconds(data: bytes) -> float:
    with wave.open(io.BytesIO(data), "rb") as reader:
        return reader.getnframes() / reader.getframerate()


@pytest.mark.parametrize("lesson", [MONOLOGUE, DIALOGUE], ids=["monologue", "dialogue"])
def test_espeak_builds_lesson_mp3(
    lesson: Path, espeak: EspeakProvider, catalog: VoiceCatalog, ffmpeg: Ffmpeg, tmp_path: Path
) -> None:
    study_text, meta = load_lesson(lesson)
    request = speech_request(
        study_text, meta, provider=espeak, voices_map=VoicesMap(), catalog=catalog,
        out_dir=tmp_path, options=SpeechOptions(mix=MixSettings(gap_seconds=GAP)),
    )  # fmt: skip
    result = build_audio(request, provider=espeak, ffmpeg=ffmpeg)
    segments = plan_segments(study_text, meta.speaker_labels or [])
    assert result.segments == len(segments) == len(study_text.lines)
    assert result.mode == study_text.type and result.provider == "espeak"
    decodes_cleanly(ffmpeg, result.path)
    voice_of = {a.speaker: a.voice_id for a in result.voices}
    parts = sum(
        wav_seconds(espeak.synthesize_line(s.text, voice_of[s.speaker or ""])) for s in segments
    )
    expected = parts + GAP * (len(segments) - 1)
    assert result.duration_seconds == pytest.approx(expected, rel=0.05)
    assert result.path.name.startswith(meta.student.lower() + "-")
    if study_text.type == "dialogue":
        assert len({a.voice_id for a in result.voices}) == len(result.voices) == 2


@pytest.mark.parametrize(
    ("lesson", "mode", "endpoint"),
    [
        (MONOLOGUE, None, "/v1/text-to-speech/"),
        (DIALOGUE, None, "/v1/text-to-dialogue"),
        (DIALOGUE, "monologue", "/v1/text-to-speech/"),
    ],
    ids=["monologue", "dialogue-auto", "dialogue-as-monologue"],
)
def test_elevenlabs_builds_lesson_mp3(
    lesson: Path,
    mode: str | None,
    endpoint: str,
    fake: FakeElevenLabs,
    eleven: ElevenLabsProvider,
    catalog: VoiceCatalog,
    ffmpeg: Ffmpeg,
    tmp_path: Path,
) -> None:
    study_text, meta = load_lesson(lesson)
    request = speech_request(
        study_text, meta, provider=eleven, voices_map=VoicesMap(), catalog=catalog,
        out_dir=tmp_path, options=SpeechOptions(mix=MixSettings(gap_seconds=GAP), mode=mode),
    )  # fmt: skip
    result = build_audio(request, provider=eleven, ffmpeg=ffmpeg)
    segments = plan_segments(study_text, meta.speaker_labels or [])
    posts = fake.audio_requests()
    assert all(r.path.startswith(endpoint) for r in posts)
    assert all(r.headers["xi-api-key"] == "test-key" for r in posts)
    assert all(r.query["output_format"] == ["mp3_22050_32"] for r in posts)
    decodes_cleanly(ffmpeg, result.path)
    if endpoint == "/v1/text-to-dialogue":
        assert result.mode == "dialogue" and result.segments == len(posts) == 1
        body = posts[0].body
        assert body["model_id"] == "eleven_v3" and body["apply_text_normalization"] == "auto"
        assert [i["text"] for i in body["inputs"]] == [s.text for s in segments]
        expected = fake.state.clip_seconds("".join(s.text for s in segments))
    else:
        assert result.segments == len(posts) == len(segments)
        assert {r.body["model_id"] for r in posts} == {"eleven_multilingual_v2"}
        expected = sum(fake.state.clip_seconds(s.text) for s in segments) + GAP * (
            len(segments) - 1
        )
    assert result.duration_seconds == pytest.approx(expected, rel=0.05)


def test_title_is_written_as_id3(
    espeak: EspeakProvider, catalog: VoiceCatalog, ffmpeg: Ffmpeg, tmp_path: Path
) -> None:
    study_text = study("dialogue", ("Agent", "Hello."), ("Leonie", "Hi there."))
    request = speech_request(
        study_text, None, provider=espeak, voices_map=VoicesMap(), catalog=catalog,
        out_dir=tmp_path, options=SpeechOptions(title="Viewing a Flat – Übung"),
    )  # fmt: skip
    result = build_audio(request, provider=espeak, ffmpeg=ffmpeg)
    assert result.path.read_bytes()[:3] == b"ID3"
    tags = ffmpeg.run(["-i", str(result.path), "-f", "ffmetadata", "-"], label="tags")
    assert "title=Viewing a Flat – Übung" in tags
