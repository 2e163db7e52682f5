"""What the audio builder needs from a speech provider; it never knows which one it talks to."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from esl_dagster.pipeline.config.models import VoiceCatalog
from esl_dagster.pipeline.errors import ConfigurationError


@dataclass(frozen=True)
class DialogueLine:
    """One turn sent to a text-to-dialogue endpoint."""

    text: str
    voice_id: str


class DialogueFields(Protocol):
    """Dialogue options kept as ``dialogue_*`` fields: the speech settings (the configured
    defaults) and a job's options."""

    dialogue_language: str | None
    dialogue_stability: float | None
    dialogue_seed: int | None


@dataclass(frozen=True)
class DialogueOptions:
    """Options that shape dialogue audio; None leaves the provider's configured default."""

    language: str | None = None
    stability: float | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.stability is not None and not 0 <= self.stability <= 1:
            raise ConfigurationError("dialogue stability must be between 0 and 1")

    @classmethod
    def of(cls, fields: DialogueFields) -> "DialogueOptions":
        """The dialogue options ``fields`` hold."""
        return cls(
            language=fields.dialogue_language,
            stability=fields.dialogue_stability,
            seed=fields.dialogue_seed,
        )

    def over(self, defaults: "DialogueOptions") -> "DialogueOptions":
        """These options, with ``defaults`` filling every field left as None."""
        return DialogueOptions(
            language=self.language if self.language is not None else defaults.language,
            stability=self.stability if self.stability is not None else defaults.stability,
            seed=self.seed if self.seed is not None else defaults.seed,
        )


@runtime_checkable
class SpeechProvider(Protocol):
    """A text-to-speech engine.

    ``name``, ``model`` and ``output_format`` go into the audio cache hash; ``clip_suffix`` is the
    file extension of what ``synthesize_line`` returns (``.mp3`` or ``.wav``); ``concurrency`` is
    how many ``synthesize_line`` calls the builder may run at once. ``accepts_any_voice_id`` is
    False when only the voices of ``voice_catalog`` exist (voice tokens outside it are ignored
    during casting instead of being passed through as raw ids).
    """

    name: str
    model: str
    output_format: str
    clip_suffix: str
    concurrency: int
    accepts_any_voice_id: bool

    def voice_catalog(self, configured: VoiceCatalog) -> VoiceCatalog:
        """The voices to cast from, given the configured catalog."""
        ...

    def synthesize_line(self, text: str, voice_id: str) -> bytes:
        """The complete audio of one line (never a partial body)."""
        ...


@runtime_checkable
class DialogueProvider(SpeechProvider, Protocol):
    """A provider with a whole-conversation endpoint (used in dialogue mode)."""

    dialogue_model: str

    def dialogue_settings(self, options: DialogueOptions | None = None) -> dict[str, object]:
        """Request options that shape dialogue audio (language, stability, seed): ``options``
        over the provider's configured defaults."""
        ...

    def split_dialogue(self, lines: Sequence[DialogueLine]) -> list[list[DialogueLine]]:
        """Split a conversation into chunks within the endpoint's request limits."""
        ...

    def synthesize_dialogue(
        self, lines: Sequence[DialogueLine], options: DialogueOptions | None = None
    ) -> bytes:
        """The complete audio of one chunk, with ``options`` over the configured defaults."""
        ...
