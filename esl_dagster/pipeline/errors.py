"""Error hierarchy shared by every stage.

The split that matters to callers is *transient* versus *permanent*: the Dagster ops retry only
transient faults (design D2), and the CLI and API print ``str(error)`` as a one-line reason.
"""


class PipelineError(Exception):
    """Base class. ``code`` is a stable machine-readable identifier; ``transient`` drives retries."""

    code: str = "pipeline_error"
    transient: bool = False


class ConfigurationError(PipelineError):
    """A setting, config file or option is missing or wrong. Never retried."""

    code = "configuration_error"


class ValidationError(PipelineError):
    """The lesson (or a request) is invalid. Never retried.

    ``details`` holds the individual messages (e.g. one per validator error).
    """

    code = "validation_failed"

    def __init__(self, message: str, details: list[str] | None = None) -> None:
        super().__init__(message)
        self.details: list[str] = list(details or [])


class ManifestError(PipelineError):
    """The manifest is missing something a stage needs (e.g. ``--skip-tts`` with no audio)."""

    code = "manifest_error"


class InfrastructureError(PipelineError):
    """A local tool or resource failed (ffmpeg, espeak, disk)."""

    code = "infrastructure_error"


class FfmpegNotFoundError(InfrastructureError):
    code = "ffmpeg_not_found"


class ServiceError(PipelineError):
    """An external service (Notion, ElevenLabs, S3, remote config) answered with an error.

    ``transient`` is True for timeouts, connection errors and HTTP 408/409/425/429/5xx;
    ``retry_after`` carries the server's ``Retry-After`` in seconds when it sent one. ``retried``
    is True when the client already retried the call as far as its budget allows: the op then
    does not retry it again (one retry layer per call, see ``pipeline/retry_budget.py``).
    """

    code = "service_error"

    def __init__(
        self,
        service: str,
        message: str,
        *,
        status: int | None = None,
        transient: bool = False,
        retry_after: float | None = None,
        retried: bool = False,
    ) -> None:
        super().__init__(f"{service}: {message}")
        self.service = service
        self.status = status
        self.transient = transient
        self.retry_after = retry_after
        self.retried = retried


TRANSIENT_HTTP_STATUSES: frozenset[int] = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


def is_transient_status(status: int) -> bool:
    """HTTP statuses worth retrying (design D2): 408, 409, 425, 429 and every 5xx."""
    return status in TRANSIENT_HTTP_STATUSES or 500 <= status <= 599


def is_transient(exc: BaseException) -> bool:
    """True when retrying the operation that raised ``exc`` may succeed."""
    return isinstance(exc, PipelineError) and exc.transient


def needs_step_retry(exc: BaseException) -> bool:
    """True when a retry of the whole step may help: the fault is transient and no client has
    retried it already (a client that used up its retries has had its turn)."""
    return is_transient(exc) and not (isinstance(exc, ServiceError) and exc.retried)
