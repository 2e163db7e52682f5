"""MP3 frame checks, mode selection, segment planning and the ffmpeg assembly."""

import array
import math
import subprocess
from pathlib import Path

import pytest

from esl_dagster.pipeline.errors import (
    ConfigurationError,
    FfmpegNotFoundError,
    InfrastructureError,
)
from esl_dagster.pipeline.lesson.models import SpeakerProfile
from esl_dagster.pipeline.tts.audio import Ffmpeg, MixSettings
from esl_dagster.pipeline.tts.elevenlabs import chunk_dialogue_lines
from esl_dagster.pipeline.tts.modes import select_mode
from esl_dagster.pipeline.tts.mp3 import scan_mp3
from esl_dagster.pipeline.tts.provider import DialogueLine
from esl_dagster.pipeline.tts.segments import Segment, order_speakers, plan_segments
from tests.fakes.elevenlabs_server import tone_mp3
from tests.tts.conftest import study

SILENT_FRAME = b"\xff\xf3\x40\xc0" + bytes(100)


def test_mp3_scan_accepts_whole_files_and_rejects_cut_or_foreign_ones() -> None:
    tone = tone_mp3(1.0, 440)
    assert scan_mp3(tone).complete and scan_mp3(tone).sample_rate == 22050
    assert scan_mp3(SILENT_FRAME * 10).frames == 10
    id3 = b"ID3\x03\x00\x00\x00\x00\x00\x0a" + bytes(10)
    assert scan_mp3(id3 + SILENT_FRAME + b"TAG" + bytes(125)).complete
    for broken in (tone[:-5], tone[: len(tone) // 2 + 1], b"<html>oops</html>", b"", id3):
        assert not scan_mp3(broken).complete


def test_mode_selection() -> None:
    assert select_mode(None, "dialogue") == "dialogue"
    assert select_mode("auto", "monologue") == "monologue"
    assert select_mode(None, "dialogue", default="monologue") == "monologue"
    assert select_mode(" Dialogue ", "monologue", default="monologue") == "dialogue"
    with pytest.raises(ConfigurationError, match="unknown TTS mode"):
        select_mode("chorus", "monologue")


def test_segments_inherit_and_merge_speaker_spellings() -> None:
    text = study(
        "dialogue",
        (None, "Intro line."),
        ("agent", "Hello."),
        (None, "More."),
        ("Leonie", "Hi."),
        ("Agent", "Bye."),
    )
    segments = plan_segments(text, ["Agent", "Leonie"])
    assert segments == [
        Segment("Agent", "Intro line."), Segment("Agent", "Hello."), Segment("Agent", "More."),
        Segment("Leonie", "Hi."), Segment("Agent", "Bye."),
    ]  # fmt: skip
    assert order_speakers(segments, ["Narrator", "Agent", "Leonie", "Guest"]) == [
        "Agent",
        "Leonie",
        "Guest",
    ]
    prose = plan_segments(study("monologue", (None, "Just prose.")), [])
    assert order_speakers(prose, ["Narrator"]) == ["Narrator"]
    assert order_speakers(prose, [], [SpeakerProfile(id="Host")]) == ["Host"]
    assert order_speakers(prose) == ["Narrator"]


def test_dialogue_chunking_limits() -> None:
    lines = [DialogueLine("x" * 30, "v")] * 5
    assert [len(c) for c in chunk_dialogue_lines(lines, max_inputs=2)] == [2, 2, 1]
    assert [len(c) for c in chunk_dialogue_lines(lines, max_chars=70)] == [2, 2, 1]
    assert [len(c) for c in chunk_dialogue_lines([DialogueLine("y" * 99, "v")], max_chars=10)] == [
        1
    ]


def rms_dbfs(ffmpeg: Ffmpeg, path: Path, start: float, length: float) -> float:
    """RMS level of a stretch of ``path`` in dBFS, from decoded 16-bit PCM."""
    pcm = subprocess.run(
        [ffmpeg.executable, "-v", "error", "-ss", str(start), "-t", str(length), "-i", str(path),
         "-f", "s16le", "-ac", "1", "-"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    samples = array.array("h", pcm)
    mean_square = sum(x * x for x in samples) / len(samples)
    return 10 * math.log10(max(mean_square, 1.0) / 32768**2)  # floor at one LSB (-90 dBFS)


def test_assembly_evens_out_loudness_and_measures_duration(ffmpeg: Ffmpeg, tmp_path: Path) -> None:
    quiet, loud = tmp_path / "quiet.wav", tmp_path / "loud.wav"
    for path, volume in ((quiet, 0.03), (loud, 0.9)):
        ffmpeg.run(
            [
                "-y",
                "-f",
                "lavfi",
                "-i",
                f"sine=frequency=300:duration=4,volume={volume}",
                "-ac",
                "1",
                str(path),
            ],
            label="tone",
        )
    assert rms_dbfs(ffmpeg, loud, 0, 4) - rms_dbfs(ffmpeg, quiet, 0, 4) > 25
    out = tmp_path / "joined.mp3"
    mix = MixSettings(gap_seconds=1.0)
    with ffmpeg.mp3_writer(out, mix=mix, title="T") as writer:
        for index, clip in enumerate((quiet, loud)):
            writer.write(ffmpeg.normalized_pcm(clip, mix=mix, pad_seconds=mix.pad_after(index, 2)))
        writer.finish()
    assert ffmpeg.measure_duration(out) == pytest.approx(9.0, rel=0.01)
    first, gap, second = (
        rms_dbfs(ffmpeg, out, 0.5, 3),
        rms_dbfs(ffmpeg, out, 4.2, 0.6),
        rms_dbfs(ffmpeg, out, 5.5, 3),
    )
    assert abs(first - second) < 2
    assert gap < first - 40


def test_an_encoder_failure_is_an_infrastructure_error_and_leaves_no_file(
    ffmpeg: Ffmpeg, tmp_path: Path
) -> None:
    clip = tmp_path / "clip.mp3"
    clip.write_bytes(tone_mp3(1.0, 440))
    mix = MixSettings(bitrate="lots")
    out = tmp_path / "out.mp3"
    with pytest.raises(InfrastructureError, match="ffmpeg exited"):
        with ffmpeg.mp3_writer(out, mix=mix) as writer:
            pcm = ffmpeg.normalized_pcm(clip, mix=mix, pad_seconds=0.4)
            for _ in range(3):
                writer.write(pcm)
            writer.finish()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp3"]


def test_ffmpeg_path_errors(tmp_path: Path) -> None:
    with pytest.raises(FfmpegNotFoundError):
        Ffmpeg(str(tmp_path / "missing-ffmpeg"))
    with pytest.raises(ConfigurationError):
        MixSettings(gap_seconds=-1)
