"""ElevenLabs over plain httpx: text-to-speech per line, text-to-dialogue, the voice list.

Every request is retried on transient faults (timeouts, dropped connections, HTTP 408/409/425/
429/5xx, and a 200 whose body is not a complete MP3), waiting ``Retry-After`` when the server
sends one and exponential backoff otherwise. Permanent faults (400/401/403/404/422) fail at once.

Speech requests stay within the key's concurrency limit (:mod:`.concurrency`): at most
``concurrency`` in flight, fewer when the ``maximum-concurrent-requests`` header says so. A 429
``too_many_concurrent_requests`` lowers that limit and its retry waits for one of this provider's
own requests to end rather than sleeping (it sleeps, as for ``system_busy`` or
``rate_limit_exceeded``, when the server sends ``Retry-After`` or when other users of the key
fill the limit).
"""

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from esl_dagster.pipeline.config.models import CatalogVoice, VoiceCatalog, VoiceLabels
from esl_dagster.pipeline.errors import ConfigurationError, ServiceError
from esl_dagster.pipeline.http_retry import (
    HttpClientOwner,
    retry_delay,
    service_error_from_response,
)
from esl_dagster.pipeline.http_retry import (
    parse_retry_after as parse_retry_after,  # public name kept for existing importers
)
from esl_dagster.pipeline.observability import (
    TTS_CHARACTERS,
    NoopMetrics,
    PipelineMetrics,
    record_request,
)
from esl_dagster.pipeline.settings.services import SpeechSettings
from esl_dagster.pipeline.tts.concurrency import ConcurrencyGate
from esl_dagster.pipeline.tts.mp3 import scan_mp3
from esl_dagster.pipeline.tts.provider import DialogueLine, DialogueOptions

DIALOGUE_MAX_INPUTS = 100
DIALOGUE_MAX_CHARS = 5000
_SERVICE = "elevenlabs"
_BACKOFF_BASE_SECONDS = 0.5
_ERROR_BODY_LIMIT = 300
_TOO_MANY_CONCURRENT = "too_many_concurrent_requests"


def chunk_dialogue_lines(
    lines: Sequence[DialogueLine],
    *,
    max_inputs: int = DIALOGUE_MAX_INPUTS,
    max_chars: int = DIALOGUE_MAX_CHARS,
) -> list[list[DialogueLine]]:
    """Greedy, in order: a chunk closes at ``max_inputs`` lines or before exceeding
    ``max_chars`` characters; a single longer line is sent alone."""
    chunks: list[list[DialogueLine]] = []
    current: list[DialogueLine] = []
    size = 0
    for line in lines:
        length = len(line.text)
        if current and (len(current) >= max_inputs or size + length > max_chars):
            chunks.append(current)
            current, size = [], 0
        current.append(line)
        size += length
    if current:
        chunks.append(current)
    return chunks


def _error_detail(response: httpx.Response) -> str:
    try:
        payload = response.json()
    except ValueError:
        return response.text[:_ERROR_BODY_LIMIT] or response.reason_phrase
    detail = payload.get("detail") if isinstance(payload, dict) else None
    if isinstance(detail, dict):
        return str(detail.get("message") or detail.get("status") or detail)[:_ERROR_BODY_LIMIT]
    return str(detail or payload)[:_ERROR_BODY_LIMIT]


def _error_code(response: httpx.Response) -> str | None:
    """``detail.status`` of an error body (``too_many_concurrent_requests``, ``system_busy``)."""
    try:
        payload = response.json()
    except ValueError:
        return None
    detail = payload.get("detail") if isinstance(payload, dict) else None
    code = detail.get("status") if isinstance(detail, dict) else None
    return code if isinstance(code, str) else None


def _server_limit(response: httpx.Response) -> int | None:
    """The ``maximum-concurrent-requests`` header, None when absent or unreadable."""
    try:
        return int(response.headers["maximum-concurrent-requests"])
    except (KeyError, ValueError):
        return None


class ElevenLabsProvider(HttpClientOwner):
    """The ElevenLabs provider (see the module docstring)."""

    name = "elevenlabs"
    clip_suffix = ".mp3"
    accepts_any_voice_id = True

    def __init__(
        self,
        settings: SpeechSettings,
        *,
        dialogue_model_id: str = "eleven_v3",
        sleep: Callable[[float], None] = time.sleep,
        metrics: PipelineMetrics | None = None,
    ) -> None:
        """The provider the speech settings section configures (its ``api_key`` is required)."""
        api_key = settings.api_key.get_secret_value().strip() if settings.api_key else ""
        if not api_key:
            raise ConfigurationError("ElevenLabs needs an API key (ELEVENLABS_API_KEY)")
        if not settings.output_format.startswith("mp3_"):
            raise ConfigurationError(
                f"ElevenLabs output format {settings.output_format!r} is not MP3 "
                "(use e.g. mp3_22050_32)"
            )
        self.model = settings.model_id
        self.dialogue_model = dialogue_model_id
        self.output_format = settings.output_format
        self.concurrency = settings.concurrency
        self.max_retries = settings.max_retries
        self.dialogue_defaults = DialogueOptions.of(settings)
        self._sleep = sleep
        self._gate = ConcurrencyGate(settings.concurrency)
        self._metrics: PipelineMetrics = metrics if metrics is not None else NoopMetrics()
        self._http = httpx.Client(
            base_url=settings.base_url.rstrip("/"),
            headers={"xi-api-key": api_key, "user-agent": "esl-dagster"},
            timeout=httpx.Timeout(settings.timeout_seconds),
            limits=httpx.Limits(max_connections=settings.concurrency + 2),
        )

    @property
    def in_flight_limit(self) -> int:
        """Speech requests allowed in flight now: ``concurrency`` or the server's lower limit."""
        return self._gate.limit

    def voice_catalog(self, configured: VoiceCatalog) -> VoiceCatalog:
        return configured

    def dialogue_settings(self, options: DialogueOptions | None = None) -> dict[str, object]:
        chosen = (options or DialogueOptions()).over(self.dialogue_defaults)
        settings: dict[str, object] = {}
        if chosen.language:
            settings["language_code"] = chosen.language
        if chosen.stability is not None:
            settings["stability"] = chosen.stability
        if chosen.seed is not None:
            settings["seed"] = chosen.seed
        return settings

    def split_dialogue(self, lines: Sequence[DialogueLine]) -> list[list[DialogueLine]]:
        return chunk_dialogue_lines(lines)

    def synthesize_line(self, text: str, voice_id: str) -> bytes:
        return self._audio_request(
            f"/v1/text-to-speech/{voice_id}",
            {"text": text, "model_id": self.model},
            what=f"text-to-speech with voice {voice_id!r}",
            characters=len(text),
        )

    def synthesize_dialogue(
        self, lines: Sequence[DialogueLine], options: DialogueOptions | None = None
    ) -> bytes:
        settings = self.dialogue_settings(options)
        body: dict[str, Any] = {
            "inputs": [{"text": line.text, "voice_id": line.voice_id} for line in lines],
            "model_id": self.dialogue_model,
            "apply_text_normalization": "auto",
        }
        if "language_code" in settings:
            body["language_code"] = settings["language_code"]
        if "stability" in settings:
            body["settings"] = {"stability": settings["stability"]}
        if "seed" in settings:
            body["seed"] = settings["seed"]
        return self._audio_request(
            "/v1/text-to-dialogue",
            body,
            what=f"text-to-dialogue ({len(lines)} lines)",
            characters=sum(len(line.text) for line in lines),
        )

    def list_voices(self) -> VoiceCatalog:
        """``GET /v1/voices`` as a catalog (the voices sync command)."""
        response = self._with_retries(lambda: self._http.get("/v1/voices"), what="list voices")
        try:
            payload = response.json()
            voices = [
                CatalogVoice(
                    id=item["voice_id"],
                    name=item.get("name") or item["voice_id"],
                    category=item.get("category"),
                    labels=VoiceLabels.model_validate(item.get("labels") or {}),
                    preview_url=item.get("preview_url"),
                )
                for item in payload["voices"]
            ]
        except (ValueError, KeyError, TypeError) as exc:
            raise ServiceError(_SERVICE, f"unexpected voices list: {exc}") from exc
        return VoiceCatalog(voices=voices)

    def _audio_request(
        self, path: str, body: dict[str, Any], *, what: str, characters: int
    ) -> bytes:
        """POST a speech request; the characters of a delivered clip are counted (billed)."""

        def send() -> httpx.Response:
            with self._gate.slot():
                response = self._http.post(
                    path, params={"output_format": self.output_format}, json=body
                )
            self._gate.follow_server(_server_limit(response))
            if response.status_code == 200:
                scan = scan_mp3(response.content)
                if not scan.complete:
                    raise ServiceError(
                        _SERVICE,
                        f"{what}: response is not a complete MP3 ({scan.reason})",
                        transient=True,
                    )
            return response

        audio = self._with_retries(send, what=what).content
        self._metrics.increment(TTS_CHARACTERS, characters, {"provider": self.name})
        return audio

    def _with_retries(self, send: Callable[[], httpx.Response], *, what: str) -> httpx.Response:
        attempts = self.max_retries + 1
        for attempt in range(attempts):
            outcome = self._attempt(send, what=what, retry=attempt > 0)
            if isinstance(outcome, httpx.Response):
                return outcome
            failure = outcome.error
            if not failure.transient or attempt + 1 == attempts:
                break
            if failure.retry_after is not None or not outcome.wait_for_slot:
                self._sleep(
                    retry_delay(attempt + 1, failure.retry_after, base=_BACKOFF_BASE_SECONDS)
                )
        if failure.transient and attempts > 1:
            raise ServiceError(
                _SERVICE,
                f"{what}: gave up after {attempts} attempts; last error: {failure}",
                status=failure.status,
                transient=True,
                retry_after=failure.retry_after,
                retried=True,
            ) from failure
        raise failure

    def _attempt(
        self, send: Callable[[], httpx.Response], *, what: str, retry: bool
    ) -> "httpx.Response | _Failed":
        """One request: the 200 response, or why it failed."""
        try:
            response = send()
        except httpx.TimeoutException as exc:
            record_request(self._metrics, _SERVICE, None, retry=retry)
            return _Failed(ServiceError(_SERVICE, f"{what} timed out: {exc}", transient=True))
        except httpx.TransportError as exc:
            record_request(self._metrics, _SERVICE, None, retry=retry)
            return _Failed(
                ServiceError(_SERVICE, f"{what}: connection error: {exc}", transient=True)
            )
        except ServiceError as exc:
            return _Failed(exc)
        record_request(self._metrics, _SERVICE, response.status_code, retry=retry)
        if response.status_code == 200:
            return response
        failure = service_error_from_response(
            _SERVICE, response, f"{what} failed ({response.status_code}): {_error_detail(response)}"
        )
        if response.status_code == 429 and _error_code(response) == _TOO_MANY_CONCURRENT:
            return _Failed(failure, self._gate.after_rejection(_server_limit(response)))
        return _Failed(failure)


@dataclass(frozen=True)
class _Failed:
    """A failed attempt. ``wait_for_slot``: a concurrency 429 while this provider's own requests
    fill the (lowered) limit, so the retry waits for one of them to end instead of sleeping."""

    error: ServiceError
    wait_for_slot: bool = False
