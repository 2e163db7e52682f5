"""Offline speech with espeak-ng from the ``espeakng-loader`` wheel, driven through ctypes.

espeak-ng keeps global state (one voice, one callback, one output buffer per process), so the
library is initialised once and every synthesis runs under one process-wide lock.

Voice ids have the form ``<espeak voice>[+<variant>]@<pitch>`` (e.g. ``en-us+f3@60``). The
casting catalog (:func:`espeak_catalog`) is the labelled voice table of
:mod:`esl_common.espeak_voices` (the API offers the same voices), so the same scoring algorithm
as for ElevenLabs gives each speaker a distinct espeak voice.
"""

import ctypes
import io
import threading
import wave
from typing import Any

from esl_common.espeak_voices import espeak_voices
from esl_dagster.pipeline.config.models import CatalogVoice, VoiceCatalog, VoiceLabels
from esl_dagster.pipeline.errors import ConfigurationError, InfrastructureError
from esl_dagster.pipeline.observability import TTS_CHARACTERS, NoopMetrics, PipelineMetrics

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_PARAM_RATE = 1
_PARAM_PITCH = 3
_MAX_TEXT_BYTES = 100_000

_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


def espeak_catalog() -> VoiceCatalog:
    """The labelled espeak voices used for casting when the provider is espeak."""
    return VoiceCatalog(
        voices=[
            CatalogVoice(
                id=voice.id,
                name=voice.name,
                category="espeak",
                labels=VoiceLabels(
                    gender=voice.gender,
                    accent=voice.accent,
                    age=voice.age,
                    use_case=voice.use_case,
                    descriptive=voice.descriptive,
                    language="en",
                ),
            )
            for voice in espeak_voices()
        ]
    )


def parse_voice_id(voice_id: str) -> tuple[str, int]:
    """``en-us+f3@60`` -> (``en-us+f3``, 60); the pitch defaults to 50 (espeak's own default)."""
    spec, _, pitch_text = voice_id.strip().partition("@")
    if not spec or not all(ch.isalnum() or ch in "+-_" for ch in spec):
        raise ConfigurationError(f"invalid espeak voice id {voice_id!r}")
    if not pitch_text:
        return spec, 50
    if not pitch_text.isdigit() or not 0 <= int(pitch_text) <= 100:
        raise ConfigurationError(f"invalid espeak pitch in voice id {voice_id!r} (0-100)")
    return spec, int(pitch_text)


class _Engine:
    """The one espeak-ng instance of this process (see the module docstring)."""

    def __init__(self, library_path: str, data_path: str) -> None:
        lib: Any = ctypes.CDLL(library_path)
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_Synchronize.restype = ctypes.c_int
        lib.espeak_Info.argtypes = [ctypes.c_void_p]
        lib.espeak_Info.restype = ctypes.c_char_p
        sample_rate = lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path.encode(), _INITIALIZE_DONT_EXIT
        )
        if sample_rate <= 0:
            raise InfrastructureError(f"espeak-ng failed to initialise with data at {data_path}")
        self._lib = lib
        self._buffer = bytearray()
        self._callback = _SynthCallback(self._collect)
        lib.espeak_SetSynthCallback(self._callback)
        self.sample_rate: int = sample_rate
        self.version: str = lib.espeak_Info(None).decode()

    def _collect(self, wav: Any, samples: int, _events: Any) -> int:
        if samples > 0:
            self._buffer.extend(ctypes.string_at(wav, samples * 2))
        return 0

    def synthesize(self, text: str, spec: str, pitch: int, rate_wpm: int) -> bytes:
        """16-bit mono PCM. The caller holds the process lock."""
        if self._lib.espeak_SetVoiceByName(spec.encode()) != 0:
            raise ConfigurationError(f"espeak-ng has no voice {spec!r}")
        self._lib.espeak_SetParameter(_PARAM_RATE, rate_wpm, 0)
        self._lib.espeak_SetParameter(_PARAM_PITCH, pitch, 0)
        data = text.encode()
        self._buffer = bytearray()
        status = self._lib.espeak_Synth(
            data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None
        )
        self._lib.espeak_Synchronize()
        if status != 0:
            raise InfrastructureError(f"espeak-ng synthesis failed with status {status}")
        return bytes(self._buffer)


_LOCK = threading.Lock()
_ENGINE: _Engine | None = None


def _engine(library_path: str | None, data_path: str | None) -> _Engine:
    """Initialise espeak-ng once per process. Call with ``_LOCK`` held."""
    global _ENGINE  # noqa: PLW0603 - the library itself is a process-wide singleton
    if _ENGINE is None:
        if library_path is None or data_path is None:
            try:
                import espeakng_loader  # optional wheel, loaded on first use
            except ImportError as exc:
                raise InfrastructureError("offline TTS requires the espeakng-loader wheel") from exc
            library_path = library_path or espeakng_loader.get_library_path()
            data_path = data_path or espeakng_loader.get_data_path()
        try:
            _ENGINE = _Engine(str(library_path), str(data_path))
        except OSError as exc:
            raise InfrastructureError(f"cannot load espeak-ng from {library_path}: {exc}") from exc
    return _ENGINE


def _wav_bytes(pcm: bytes, sample_rate: int) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(sample_rate)
        writer.writeframes(pcm)
    return out.getvalue()


class EspeakProvider:
    """The offline provider (embedded default): one 16-bit mono WAV per line."""

    name = "espeak"
    output_format = "wav_pcm16_mono"
    clip_suffix = ".wav"
    concurrency = 1
    accepts_any_voice_id = False

    def __init__(
        self,
        *,
        rate_wpm: int = 160,
        library_path: str | None = None,
        data_path: str | None = None,
        metrics: PipelineMetrics | None = None,
    ) -> None:
        if not 80 <= rate_wpm <= 450:
            raise ConfigurationError("espeak rate must be between 80 and 450 words per minute")
        self.rate_wpm = rate_wpm
        self._metrics: PipelineMetrics = metrics if metrics is not None else NoopMetrics()
        with _LOCK:
            version = _engine(library_path, data_path).version
        self.model = f"espeak-ng-{version}-{rate_wpm}wpm"

    def voice_catalog(self, configured: VoiceCatalog) -> VoiceCatalog:
        del configured  # espeak can only speak with its own voices
        return espeak_catalog()

    def synthesize_line(self, text: str, voice_id: str) -> bytes:
        spec, pitch = parse_voice_id(voice_id)
        if not text.strip():
            raise ConfigurationError("espeak: cannot synthesise an empty line")
        if len(text.encode()) > _MAX_TEXT_BYTES:
            raise ConfigurationError(f"espeak: line longer than {_MAX_TEXT_BYTES} bytes")
        with _LOCK:
            engine = _engine(None, None)
            pcm = engine.synthesize(text, spec, pitch, self.rate_wpm)
            sample_rate = engine.sample_rate
        if not pcm:
            raise InfrastructureError(f"espeak-ng produced no audio for voice {voice_id!r}")
        self._metrics.increment(TTS_CHARACTERS, len(text), {"provider": self.name})
        return _wav_bytes(pcm, sample_rate)
