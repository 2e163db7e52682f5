"""The espeak-ng voices that offline speech casts from (no ElevenLabs key set): one table,
``espeak_voices.json``, for the engine, which speaks with them, and for the shim, which offers
them as job options.

Each voice is an espeak-ng voice spec (``en-us`` for American speakers, ``en-GB-x-rp`` for
British ones, ``+f*`` / ``+m*`` variants for women and men) at its own pitch, labelled like a
catalog voice so that casting scores them as it scores ElevenLabs voices.
"""

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources


@dataclass(frozen=True)
class EspeakVoice:
    spec: str
    pitch: int
    name: str
    gender: str
    accent: str
    age: str
    use_case: str
    descriptive: str

    @property
    def id(self) -> str:
        """The voice id jobs name: ``<spec>@<pitch>`` (e.g. ``en-us+f3@62``)."""
        return f"{self.spec}@{self.pitch}"


@cache
def espeak_voices() -> tuple[EspeakVoice, ...]:
    """The table, in casting order."""
    text = resources.files(__package__).joinpath("espeak_voices.json").read_text("utf-8")
    return tuple(EspeakVoice(**row) for row in json.loads(text))
