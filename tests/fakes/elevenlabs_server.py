"""A fake ElevenLabs API on 127.0.0.1 for tests and benchmarks.

Speaks the real protocol of the endpoints the engine uses (``xi-api-key`` auth,
``POST /v1/text-to-speech/{voice_id}``, ``POST /v1/text-to-dialogue``, ``GET /v1/voices``) and
answers with real MP3 audio: a sine tone whose length is ``seconds_per_char`` times the text
length, encoded once per (duration, pitch) by the ffmpeg of the imageio-ffmpeg wheel and cached
for the whole test session. Faults are injected per request (``Fault``): an HTTP error status
(with ``Retry-After`` and the ``detail.status`` code, e.g. ``system_busy``), a connection dropped
half-way through the body, a truncated MP3 served as if complete, or a 200 whose body is not
audio. Every request is recorded.

Like the real API, speech requests (text-to-speech, text-to-dialogue) are limited per key to
``max_concurrent`` in flight (the plan's concurrency limit): one more is answered at once with
429 ``too_many_concurrent_requests``. Every speech answer carries the
``current-concurrent-requests`` and ``maximum-concurrent-requests`` headers, and the most
requests seen in flight at once (``max_in_flight``) and the 429s for the limit (``rejected``)
are recorded. A request stops counting as in flight when its answer starts.

    with FakeElevenLabs(latency_s=0.3) as fake:
        provider = ElevenLabsProvider(SpeechSettings(api_key="test-key", base_url=fake.base_url))
"""

import hashlib
import json
import re
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

import imageio_ffmpeg

SAMPLE_CATALOG = (
    Path(__file__).resolve().parents[2] / "examples" / "configs" / "elevenlabs.voices.sample.json"
)
FaultKind = Literal["status", "drop_mid_body", "truncated_mp3", "not_audio"]

_MP3_CACHE: dict[tuple[float, int, int, int], bytes] = {}
_MP3_LOCK = threading.Lock()
_FORMAT = re.compile(r"^mp3_(\d+)_(\d+)$")
_SPEECH_PATHS = ("/v1/text-to-speech/", "/v1/text-to-dialogue")


def tone_mp3(duration: float, frequency: int, sample_rate: int = 22050, kbps: int = 32) -> bytes:
    """A real MP3 sine tone (cached per arguments for the session)."""
    key = (round(duration, 2), frequency, sample_rate, kbps)
    with _MP3_LOCK:
        cached = _MP3_CACHE.get(key)
        if cached is not None:
            return cached
        done = subprocess.run(
            [
                imageio_ffmpeg.get_ffmpeg_exe(),
                "-nostdin", "-v", "error",
                "-f", "lavfi", "-i", f"sine=frequency={frequency}:duration={key[0]}",
                "-ar", str(sample_rate), "-ac", "1", "-c:a", "libmp3lame", "-b:a", f"{kbps}k",
                "-f", "mp3", "pipe:1",
            ],
            capture_output=True,
            check=True,
            timeout=60,
        )  # fmt: skip
        _MP3_CACHE[key] = done.stdout
        return done.stdout


@dataclass
class Fault:
    """One injected failure, consumed by the next ``times`` requests whose path matches."""

    kind: FaultKind = "status"
    status: int = 500
    times: int = 1
    path_regex: str = ".*"
    retry_after: str | None = None
    code: str = "injected_fault"
    """The ``detail.status`` of an injected status (ElevenLabs: ``system_busy``, ...)."""


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    at: float


@dataclass
class FakeState:
    api_keys: set[str] = field(default_factory=lambda: {"test-key"})
    latency_s: float = 0.0
    seconds_per_char: float = 0.03
    min_seconds: float = 0.3
    voices: list[dict[str, Any]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    requests: list[RecordedRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    max_concurrent: int = 5
    concurrency_retry_after: str | None = None
    in_flight: int = 0
    max_in_flight: int = 0
    rejected: int = 0

    def admit(self) -> bool:
        """Count a speech request in flight; False (and counted as rejected) beyond the limit."""
        with self.lock:
            if self.in_flight >= self.max_concurrent:
                self.rejected += 1
                return False
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            return True

    def leave(self) -> None:
        with self.lock:
            self.in_flight -= 1

    def concurrency_headers(self) -> dict[str, str]:
        with self.lock:
            return {
                "current-concurrent-requests": str(self.in_flight),
                "maximum-concurrent-requests": str(self.max_concurrent),
            }

    def take_fault(self, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.times > 0 and re.search(fault.path_regex, path):
                    fault.times -= 1
                    return fault
        return None

    def clip_seconds(self, text: str) -> float:
        return max(self.min_seconds, round(len(text) * self.seconds_per_char, 2))


def _voice_frequency(voice_id: str) -> int:
    return 220 + int(hashlib.sha256(voice_id.encode()).hexdigest()[:4], 16) % 440


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes: no 40 ms stall
    server: "_Server"
    _counted = False
    """True while this handler's current request counts as in flight."""

    def _answering(self) -> dict[str, str]:
        """Stop counting the current request as in flight (its answer starts now); the
        concurrency headers for a speech answer, else none."""
        if not self._counted:
            return {}
        self._counted = False
        headers = self.server.state.concurrency_headers()
        self.server.state.leave()
        return headers

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode()
        headers = {**self._answering(), **(headers or {})}
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _error(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        self._send_json(status, {"detail": {"status": code, "message": message}}, headers)

    def _read_json(self) -> Any:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return raw.decode(errors="replace")

    def _handle(self, method: str) -> None:
        state = self.server.state
        url = urlsplit(self.path)
        body = self._read_json() if method == "POST" else None
        with state.lock:
            state.requests.append(
                RecordedRequest(
                    method=method,
                    path=url.path,
                    query=parse_qs(url.query),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                    at=time.monotonic(),
                )
            )
        if method == "POST" and url.path.startswith(_SPEECH_PATHS) and not self._admit():
            return
        if state.latency_s:
            time.sleep(state.latency_s)
        if self.headers.get("xi-api-key") not in state.api_keys:
            self._error(401, "invalid_api_key", "Invalid API key")
            return
        fault = state.take_fault(url.path)
        if fault is not None and fault.kind == "status":
            extra = {"retry-after": fault.retry_after} if fault.retry_after else None
            self._error(fault.status, fault.code, f"injected {fault.status}", extra)
            return
        if method == "GET" and url.path == "/v1/voices":
            self._send_json(
                200, {"voices": state.voices, "has_more": False, "total_count": len(state.voices)}
            )
            return
        if method == "POST" and url.path.startswith("/v1/text-to-speech/"):
            self._speech(
                url.path.removeprefix("/v1/text-to-speech/"), parse_qs(url.query), body, fault
            )
            return
        if method == "POST" and url.path == "/v1/text-to-dialogue":
            self._dialogue(parse_qs(url.query), body, fault)
            return
        self._error(404, "not_found", f"no route {method} {url.path}")

    def _admit(self) -> bool:
        state = self.server.state
        if state.admit():
            self._counted = True
            return True
        headers = state.concurrency_headers()
        if state.concurrency_retry_after is not None:
            headers["retry-after"] = state.concurrency_retry_after
        self._error(
            429,
            "too_many_concurrent_requests",
            f"Too many concurrent requests. Your current subscription is associated with a "
            f"maximum of {state.max_concurrent} concurrent requests (running in parallel).",
            headers,
        )
        return False

    def _format(self, query: dict[str, list[str]]) -> tuple[int, int] | None:
        match = _FORMAT.match((query.get("output_format") or ["mp3_44100_128"])[0])
        if match is None or int(match.group(1)) not in (22050, 24000, 44100):
            self._error(422, "invalid_output_format", "unsupported output_format")
            return None
        return int(match.group(1)), int(match.group(2))

    def _known_voice(self, voice_id: Any) -> bool:
        return any(v["voice_id"] == voice_id for v in self.server.state.voices)

    def _speech(
        self, voice_id: str, query: dict[str, list[str]], body: Any, fault: Fault | None
    ) -> None:
        fmt = self._format(query)
        if fmt is None:
            return
        if not self._known_voice(voice_id):
            self._error(404, "voice_not_found", f"voice {voice_id} not found")
            return
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("text"), str)
            or not body["text"].strip()
        ):
            self._error(422, "invalid_text", "text must be a non-empty string")
            return
        seconds = self.server.state.clip_seconds(body["text"])
        self._audio(tone_mp3(seconds, _voice_frequency(voice_id), *fmt), fault, len(body["text"]))

    def _dialogue(self, query: dict[str, list[str]], body: Any, fault: Fault | None) -> None:
        fmt = self._format(query)
        if fmt is None:
            return
        inputs = body.get("inputs") if isinstance(body, dict) else None
        if not isinstance(inputs, list) or not inputs or len(inputs) > 100:
            self._error(422, "invalid_inputs", "inputs must be a list of 1 to 100 items")
            return
        for item in inputs:
            if not isinstance(item, dict) or not isinstance(item.get("text"), str):
                self._error(422, "invalid_inputs", "every input needs text and voice_id")
                return
            if not self._known_voice(item.get("voice_id")):
                self._error(404, "voice_not_found", f"voice {item.get('voice_id')} not found")
                return
        text = "".join(item["text"] for item in inputs)
        seconds = self.server.state.clip_seconds(text)
        self._audio(
            tone_mp3(seconds, _voice_frequency(inputs[0]["voice_id"]), *fmt), fault, len(text)
        )

    def _audio(self, audio: bytes, fault: Fault | None, characters: int) -> None:
        kind = fault.kind if fault else None
        if kind == "not_audio":
            audio = b"<html><body>upstream error</body></html>"
        if kind == "truncated_mp3":
            audio = audio[: len(audio) // 2 + 7]
        headers = self._answering()
        self.send_response(200)
        self.send_header("content-type", "audio/mpeg")
        self.send_header("content-length", str(len(audio)))
        self.send_header("x-character-count", str(characters))
        self.send_header("request-id", hashlib.sha256(audio).hexdigest()[:16])
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if kind == "drop_mid_body":
            self.wfile.write(audio[: len(audio) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(audio)

    def do_GET(self) -> None:
        self._safely("GET")

    def do_POST(self) -> None:
        self._safely("POST")

    def _safely(self, method: str) -> None:
        try:
            self._handle(method)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            self._answering()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: FakeState) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state


def sample_voices() -> list[dict[str, Any]]:
    """The sample catalog as the API's voice objects."""
    catalog = json.loads(SAMPLE_CATALOG.read_text())
    return [
        {
            "voice_id": voice["id"],
            "name": voice["name"],
            "category": voice.get("category"),
            "labels": voice.get("labels") or {},
            "preview_url": None,
        }
        for voice in catalog["voices"]
    ]


class FakeElevenLabs:
    """The server as a context manager (see the module docstring)."""

    def __init__(
        self,
        *,
        latency_s: float = 0.0,
        seconds_per_char: float = 0.03,
        api_keys: set[str] | None = None,
        voices: list[dict[str, Any]] | None = None,
        max_concurrent: int = 5,
        concurrency_retry_after: str | None = None,
    ) -> None:
        """``max_concurrent`` defaults to the Creator plan's limit for Multilingual v2;
        ``concurrency_retry_after`` is the ``Retry-After`` of its 429s (none by default)."""
        self.state = FakeState(
            api_keys=api_keys or {"test-key"},
            latency_s=latency_s,
            seconds_per_char=seconds_per_char,
            voices=voices if voices is not None else sample_voices(),
            max_concurrent=max_concurrent,
            concurrency_retry_after=concurrency_retry_after,
        )
        self._server = _Server(self.state)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> "FakeElevenLabs":
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self.state.lock:
            return list(self.state.requests)

    def audio_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == "POST"]

    @property
    def max_in_flight(self) -> int:
        """The most speech requests that were in flight at once."""
        with self.state.lock:
            return self.state.max_in_flight

    @property
    def rejected(self) -> int:
        """Speech requests answered 429 ``too_many_concurrent_requests``."""
        with self.state.lock:
            return self.state.rejected

    def add_fault(self, fault: Fault) -> None:
        with self.state.lock:
            self.state.faults.append(fault)

    def reset(self) -> None:
        with self.state.lock:
            self.state.requests.clear()
            self.state.faults.clear()
            self.state.max_in_flight = self.state.rejected = 0
