"""ffmpeg (from the ``imageio-ffmpeg`` wheel): join clips into one MP3 and measure real durations.

Assembly runs clip by clip, so it can overlap with synthesis: each clip is converted to mono,
loudness-normalised (EBU R128 ``loudnorm``) so speakers and providers sound equally loud,
resampled and padded with the gap (the last clip with the trailing silence) by one short ffmpeg
run (:meth:`Ffmpeg.normalized_pcm`, raw float PCM); an :class:`Mp3Writer` is one ffmpeg encoder
that takes those clips in order on its stdin and encodes them to CBR MP3 with an ID3v2 title.
"""

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from esl_dagster.pipeline.errors import (
    ConfigurationError,
    FfmpegNotFoundError,
    InfrastructureError,
)
from esl_dagster.pipeline.files import temporary_sibling
from esl_dagster.pipeline.tts.mp3 import scan_mp3

_OUT_TIME = re.compile(r"^out_time_us=(\d+)$", re.MULTILINE)
_STDERR_TAIL = 1500
_QUIET = ("-nostdin", "-hide_banner", "-v", "error")
_PCM = ("-f", "f32le", "-ac", "1")
_PCM_SAMPLE_BYTES = 4
"""Raw PCM between normalisation and encoding: 32-bit float, mono, at the mix's sample rate."""


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

    def pad_after(self, index: int, count: int) -> float:
        """Seconds of silence after clip ``index`` of ``count``: the gap, after the last the tail."""
        return self.gap_seconds if index < count - 1 else self.tail_seconds


class Ffmpeg:
    def __init__(self, executable: str | None = None, *, timeout_seconds: float = 600.0) -> None:
        self.executable = resolve_ffmpeg(executable)
        self.timeout_seconds = timeout_seconds

    def run(self, args: Sequence[str], *, label: str) -> str:
        """Run ffmpeg with ``args``; return its stdout. Non-zero exit -> InfrastructureError."""
        return self.run_bytes(args, label=label).decode(errors="replace")

    def run_bytes(self, args: Sequence[str], *, label: str) -> bytes:
        """Run ffmpeg with ``args``; return its raw stdout (see :meth:`run`)."""
        command = [self.executable, *_QUIET, *args]
        try:
            done = subprocess.run(
                command, capture_output=True, timeout=self.timeout_seconds, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise InfrastructureError(
                f"{label}: ffmpeg timed out after {self.timeout_seconds:g}s"
            ) from exc
        except OSError as exc:
            raise FfmpegNotFoundError(f"{label}: cannot run ffmpeg: {exc}") from exc
        if done.returncode != 0:
            raise InfrastructureError(
                f"{label}: ffmpeg exited with code {done.returncode}: {_tail(done.stderr)}"
            )
        return done.stdout

    def normalized_pcm(self, clip: Path, *, mix: MixSettings, pad_seconds: float) -> bytes:
        """``clip`` (any format ffmpeg reads) as an :class:`Mp3Writer` takes it: mono,
        loudness-normalised, resampled to the mix's rate, then ``pad_seconds`` of silence."""
        steps = [
            "aformat=channel_layouts=mono",
            f"loudnorm=I={mix.loudness_lufs:g}:TP=-1.5:LRA=11",
            f"aresample={mix.sample_rate}",
        ]
        if pad_seconds > 0:
            steps.append(f"apad=pad_dur={pad_seconds:g}")
        args = ["-i", str(clip), "-af", ",".join(steps), *_PCM, "-ar", str(mix.sample_rate)]
        return self.run_bytes([*args, "pipe:1"], label=f"audio assembly of {clip.name}")

    def mp3_writer(self, out: Path, *, mix: MixSettings, title: str | None = None) -> "Mp3Writer":
        """An encoder writing the MP3 ``out`` from normalised clips (see :class:`Mp3Writer`)."""
        return Mp3Writer(self, out, mix=mix, title=title)

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


class Mp3Writer:
    """One ffmpeg encoder fed with :meth:`Ffmpeg.normalized_pcm` clips in order; it encodes while
    the later clips are still being synthesised.

    The MP3 is written under a temporary name and appears at ``out`` only when :meth:`finish` has
    checked it; leaving the ``with`` block without :meth:`finish` (an error) kills the encoder
    and removes the partial file.
    """

    def __init__(
        self, ffmpeg: Ffmpeg, out: Path, *, mix: MixSettings, title: str | None = None
    ) -> None:
        self._out = out
        self._tmp = temporary_sibling(out)
        self._timeout = ffmpeg.timeout_seconds
        self._sample_rate = mix.sample_rate
        self._samples = 0
        rate = str(mix.sample_rate)
        args = [ffmpeg.executable, *_QUIET, "-y", *_PCM, "-ar", rate, "-i", "pipe:0"]
        args += ["-c:a", "libmp3lame", "-b:a", mix.bitrate, "-ar", rate, "-ac", "1"]
        args += ["-id3v2_version", "3", "-write_id3v1", "0"]
        if title and title.strip():
            args += ["-metadata", f"title={title.strip()}"]
        self._stderr = tempfile.TemporaryFile()
        try:
            self._process = subprocess.Popen(
                [*args, "-f", "mp3", str(self._tmp)],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=self._stderr,
            )
        except OSError as exc:
            self._stderr.close()
            raise FfmpegNotFoundError(f"audio assembly: cannot run ffmpeg: {exc}") from exc

    def __enter__(self) -> "Mp3Writer":
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _error: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self._stderr.close()
        self._tmp.unlink(missing_ok=True)

    def write(self, pcm: bytes) -> None:
        """Append one normalised clip."""
        stdin = self._process.stdin
        assert stdin is not None  # Popen(stdin=PIPE)
        try:
            stdin.write(pcm)
        except BrokenPipeError:
            self._process.wait()
            raise self._failure() from None
        self._samples += len(pcm) // _PCM_SAMPLE_BYTES

    def finish(self) -> float:
        """End the input, wait for the encoder and move the checked MP3 to ``out``.

        Returns the duration of the audio written, in seconds (the samples fed; a decoder plays
        the same length, within a frame, as the encoder's delay and padding are in its tag)."""
        stdin = self._process.stdin
        assert stdin is not None  # Popen(stdin=PIPE)
        try:
            stdin.close()
        except BrokenPipeError:
            pass
        try:
            self._process.wait(timeout=self._timeout)
        except subprocess.TimeoutExpired as exc:
            raise InfrastructureError(
                f"audio assembly: ffmpeg timed out after {self._timeout:g}s"
            ) from exc
        if self._process.returncode != 0:
            raise self._failure()
        scan = scan_mp3(self._tmp.read_bytes())
        if not scan.complete:
            raise InfrastructureError(f"audio assembly produced an invalid MP3: {scan.reason}")
        os.replace(self._tmp, self._out)
        return self._samples / self._sample_rate

    def _failure(self) -> InfrastructureError:
        self._stderr.seek(0)
        detail = _tail(self._stderr.read())
        code = self._process.returncode
        return InfrastructureError(f"audio assembly: ffmpeg exited with code {code}: {detail}")


def _tail(stderr: bytes) -> str:
    return stderr.decode(errors="replace").strip()[-_STDERR_TAIL:]
