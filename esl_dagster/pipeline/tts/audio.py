"""ffmpeg (from the ``imageio-ffmpeg`` wheel): join clips into one MP3 and measure real durations.

Assembly is one ffmpeg run with one filtergraph: each clip is converted to mono, loudness-normalised
(EBU R128 ``loudnorm``) so speakers and providers sound equally loud, resampled, padded with the
gap (the last clip with the trailing silence), then concatenated and encoded to CBR MP3 with an
ID3v2 title.
"""

import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from esl_dagster.pipeline.errors import (
    ConfigurationError,
    FfmpegNotFoundError,
    InfrastructureError,
)
from esl_dagster.pipeline.files import temporary_sibling
from esl_dagster.pipeline.tts.mp3 import scan_mp3

_OUT_TIME = re.compile(r"^out_time_us=(\d+)$", re.MULTILINE)
_STDERR_TAIL = 1500


def resolve_ffmpeg(executable: str | None = None) -> str:
    """The explicit path if given (must be an executable file), else the wheel's bundled binary."""
    if executable:
        found = shutil.which(executable)
        if found is None:
            raise FfmpegNotFoundError(
                f"ffmpeg not found or not executable at {executable!r}; "
                "unset the ffmpeg path to use the one bundled with imageio-ffmpeg"
            )
        return found
    try:
        import imageio_ffmpeg  # optional wheel, loaded on first use

        exe: str = imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError) as exc:
        raise FfmpegNotFoundError(
            "TTS requires ffmpeg: install the imageio-ffmpeg wheel or set an explicit ffmpeg path"
        ) from exc
    return exe


@dataclass(frozen=True)
class MixSettings:
    """Everything about assembly that shapes the sound (part of the audio cache hash)."""

    gap_seconds: float = 0.4
    tail_seconds: float = 0.0
    sample_rate: int = 22050
    bitrate: str = "64k"
    loudness_lufs: float = -16.0

    def __post_init__(self) -> None:
        if not 0 <= self.gap_seconds <= 10:
            raise ConfigurationError("gap_seconds must be between 0 and 10")
        if not 0 <= self.tail_seconds <= 10:
            raise ConfigurationError("tail_seconds must be between 0 and 10")
        if self.sample_rate not in (16000, 22050, 24000, 32000, 44100, 48000):
            raise ConfigurationError(f"unsupported MP3 sample rate {self.sample_rate}")
        if not -70 <= self.loudness_lufs <= -5:
            raise ConfigurationError("loudness_lufs must be between -70 and -5")


class Ffmpeg:
    def __init__(self, executable: str | None = None, *, timeout_seconds: float = 600.0) -> None:
        self.executable = resolve_ffmpeg(executable)
        self.timeout_seconds = timeout_seconds

    def run(self, args: Sequence[str], *, label: str) -> str:
        """Run ffmpeg with ``args``; return its stdout. Non-zero exit -> InfrastructureError."""
        command = [self.executable, "-nostdin", "-hide_banner", "-v", "error", *args]
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=self.timeout_seconds, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise InfrastructureError(
                f"{label}: ffmpeg timed out after {self.timeout_seconds:g}s"
            ) from exc
        except OSError as exc:
            raise FfmpegNotFoundError(f"{label}: cannot run ffmpeg: {exc}") from exc
        if done.returncode != 0:
            detail = done.stderr.strip()[-_STDERR_TAIL:]
            raise InfrastructureError(
                f"{label}: ffmpeg exited with code {done.returncode}: {detail}"
            )
        return done.stdout

    def assemble(
        self, clips: Sequence[Path], out: Path, *, mix: MixSettings, title: str | None = None
    ) -> None:
        """Join ``clips`` (any format ffmpeg reads) into the MP3 ``out``, atomically."""
        if not clips:
            raise InfrastructureError("audio assembly: no clips to join")
        graph: list[str] = []
        for index in range(len(clips)):
            steps = [
                "aformat=channel_layouts=mono",
                f"loudnorm=I={mix.loudness_lufs:g}:TP=-1.5:LRA=11",
                f"aresample={mix.sample_rate}",
            ]
            pad = mix.gap_seconds if index < len(clips) - 1 else mix.tail_seconds
            if pad > 0:
                steps.append(f"apad=pad_dur={pad:g}")
            graph.append(f"[{index}:a]{','.join(steps)}[c{index}]")
        joined = "".join(f"[c{index}]" for index in range(len(clips)))
        graph.append(f"{joined}concat=n={len(clips)}:v=0:a=1[out]")
        args: list[str] = ["-y"]
        for clip in clips:
            args += ["-i", str(clip)]
        args += ["-filter_complex", ";".join(graph), "-map", "[out]"]
        args += ["-c:a", "libmp3lame", "-b:a", mix.bitrate, "-ar", str(mix.sample_rate)]
        args += ["-ac", "1", "-id3v2_version", "3", "-write_id3v1", "0"]
        if title and title.strip():
            args += ["-metadata", f"title={title.strip()}"]
        tmp = temporary_sibling(out)
        try:
            self.run([*args, "-f", "mp3", str(tmp)], label="audio assembly")
            scan = scan_mp3(tmp.read_bytes())
            if not scan.complete:
                raise InfrastructureError(f"audio assembly produced an invalid MP3: {scan.reason}")
            os.replace(tmp, out)
        finally:
            tmp.unlink(missing_ok=True)

    def measure_duration(self, path: Path) -> float:
        """Real duration in seconds, found by decoding the whole file (ffprobe is not shipped)."""
        output = self.run(
            [
                "-i",
                str(path),
                "-map",
                "0:a:0",
                "-f",
                "null",
                "-progress",
                "pipe:1",
                "-nostats",
                "-",
            ],
            label=f"duration of {path.name}",
        )
        matches = _OUT_TIME.findall(output)
        if not matches:
            raise InfrastructureError(f"duration of {path.name}: ffmpeg reported no progress")
        return int(matches[-1]) / 1_000_000
