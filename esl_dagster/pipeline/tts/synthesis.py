"""Synthesis pipelined with assembly: provider requests, cache writes and ffmpeg overlap.

Up to ``concurrency`` clips are requested at once; a worker that finishes a clip writes it to the
cache and takes the next request at once, so no line waits for another line's assembly. Each
finished (or already cached) clip is normalised by a small pool of ffmpeg runs, and the
normalised clips are fed in order to one MP3 encoder, so when the last request returns only that
clip's normalisation and the end of the encoding remain.

On the first failure no new request starts (requests already in flight finish and their clips
stay cached for a resume) and the partial MP3 is removed.
"""

import io
import os
import threading
import wave
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from esl_dagster.pipeline.errors import InfrastructureError
from esl_dagster.pipeline.files import atomic_write_bytes
from esl_dagster.pipeline.tts.audio import Ffmpeg, MixSettings, Mp3Writer
from esl_dagster.pipeline.tts.mp3 import scan_mp3

_MAX_MIX_WORKERS = 8


@dataclass(frozen=True)
class Clip:
    """One synthesis request and where its audio is cached."""

    key: str
    path: Path
    render: Callable[[], bytes]


def clip_is_valid(data: bytes, suffix: str) -> bool:
    """A whole MP3 (every frame complete), a WAV with all its frames, or any other non-empty body."""
    if suffix == ".mp3":
        return scan_mp3(data).complete
    if suffix == ".wav":
        try:
            with wave.open(io.BytesIO(data), "rb") as reader:
                return reader.getnframes() > 0 and len(data) >= 44 + reader.getnframes() * 2
        except (wave.Error, EOFError):
            return False
    return len(data) > 0


def cached_file_ok(path: Path, suffix: str) -> bool:
    try:
        return path.is_file() and clip_is_valid(path.read_bytes(), suffix)
    except OSError:
        return False


def _render(clip: Clip, stop: threading.Event) -> bool:
    """Request ``clip`` and cache it; False (no request) once ``stop`` is set by a failure."""
    if stop.is_set():
        return False
    try:
        data = clip.render()
        if not clip_is_valid(data, clip.path.suffix):
            raise InfrastructureError(f"TTS returned invalid {clip.path.suffix} audio for a clip")
        atomic_write_bytes(clip.path, data)
    except BaseException:
        stop.set()  # before this worker takes the next clip
        raise
    return True


class _Pipeline:
    """The state of one build: request futures by clip key, and one normalised-PCM future per
    position of the final MP3 (None until its clip is on disk)."""

    def __init__(self, clips: Sequence[Clip], ffmpeg: Ffmpeg, mix: MixSettings) -> None:
        self.clips = clips
        self.ffmpeg = ffmpeg
        self.mix = mix
        self.positions: dict[str, list[int]] = {}
        for index, clip in enumerate(clips):
            self.positions.setdefault(clip.key, []).append(index)
        self.pcm: list[Future[bytes] | None] = [None] * len(clips)
        self.requests: dict[Future[bool], str] = {}
        self.stop = threading.Event()

    def start(self, requests: ThreadPoolExecutor, mixing: ThreadPoolExecutor, force: bool) -> None:
        for key, indexes in self.positions.items():
            clip = self.clips[indexes[0]]
            if force or not cached_file_ok(clip.path, clip.path.suffix):
                self.requests[requests.submit(_render, clip, self.stop)] = key
            else:
                self.normalise(mixing, key)

    def normalise(self, mixing: ThreadPoolExecutor, key: str) -> None:
        for index in self.positions[key]:
            self.pcm[index] = mixing.submit(
                self.ffmpeg.normalized_pcm,
                self.clips[index].path,
                mix=self.mix,
                pad_seconds=self.mix.pad_after(index, len(self.clips)),
            )

    def next_pcm(self, index: int, mixing: ThreadPoolExecutor) -> bytes:
        """Clip ``index`` normalised; meanwhile every finished request goes to normalisation and
        a failed one raises at once."""
        while True:
            target = self.pcm[index]
            if target is not None and target.done():
                self.pcm[index] = None
                return target.result()
            waiting: set[Future[Any]] = set(self.requests)
            if target is not None:
                waiting.add(target)
            done, _ = wait(waiting, return_when=FIRST_COMPLETED)
            for future in [f for f in self.requests if f in done]:
                key = self.requests.pop(future)
                if future.result():
                    self.normalise(mixing, key)

    def feed(self, writer: Mp3Writer, mixing: ThreadPoolExecutor) -> None:
        for index in range(len(self.clips)):
            writer.write(self.next_pcm(index, mixing))


def synthesize_into(
    clips: Sequence[Clip],
    out: Path,
    *,
    concurrency: int,
    force: bool,
    ffmpeg: Ffmpeg,
    mix: MixSettings,
    title: str | None,
) -> float:
    """Render every clip not cached yet (all with ``force``), up to ``concurrency`` at a time,
    and assemble ``clips`` in order into the MP3 ``out`` while they arrive (module docstring).

    Returns the duration of the audio encoded, in seconds. A wave of finished clips is
    normalised by up to ``concurrency`` ffmpeg runs at once (at least one per CPU)."""
    pipeline = _Pipeline(clips, ffmpeg, mix)
    requests = ThreadPoolExecutor(max(1, min(concurrency, len(clips))), thread_name_prefix="tts")
    mix_workers = min(_MAX_MIX_WORKERS, max(concurrency, os.cpu_count() or 1))
    mixing = ThreadPoolExecutor(mix_workers, thread_name_prefix="tts-mix")
    try:
        pipeline.start(requests, mixing, force)
        with ffmpeg.mp3_writer(out, mix=mix, title=title) as writer:
            pipeline.feed(writer, mixing)
            return writer.finish()
    except BaseException:
        pipeline.stop.set()
        raise
    finally:
        requests.shutdown(wait=True, cancel_futures=True)
        mixing.shutdown(wait=True, cancel_futures=True)
