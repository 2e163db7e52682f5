"""Typed config files. Loaders turn pydantic errors into ConfigurationErrors naming file and field."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

NotionColor = Literal[
    "default",
    "gray",
    "brown",
    "orange",
    "yellow",
    "green",
    "blue",
    "purple",
    "pink",
    "red",
    "gray_background",
    "brown_background",
    "orange_background",
    "yellow_background",
    "green_background",
    "blue_background",
    "purple_background",
    "pink_background",
    "red_background",
]


class ToggleMap(BaseModel):
    model_config = ConfigDict(extra="ignore")

    h2: NotionColor | None = None


class Preset(BaseModel):
    """A heading colour preset (presets.json value). Unknown keys are ignored, as in the original."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    h2: NotionColor | None = None
    h3: NotionColor | None = None
    toggle_map: ToggleMap | None = Field(default=None, alias="toggleMap")


class StudentProfile(BaseModel):
    """A students/*.json profile. Only db_id, color_preset and accent_preference drive a run."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    student: str = Field(min_length=1)
    db_id: str | None = Field(default=None, alias="dbId")
    data_source_id: str | None = Field(default=None, alias="dataSourceId")
    page_parent_id: str | None = Field(default=None, alias="pageParentId")
    color_preset: str | None = Field(default=None, alias="colorPreset")
    accent_preference: str | None = Field(default=None, alias="accentPreference")
    voices: dict[str, str] = Field(default_factory=dict)
    manifest_preset: str | None = Field(default=None, alias="manifestPreset")


class VoicesMap(BaseModel):
    """voices.yml: ``auto``, ``default`` and exact-case speaker -> voice (catalog name or id)."""

    auto: bool = True
    default: str | None = None
    speakers: dict[str, str] = Field(default_factory=dict)


class VoiceLabels(BaseModel):
    model_config = ConfigDict(extra="allow")

    accent: str | None = None
    descriptive: str | None = None
    age: str | None = None
    gender: str | None = None
    language: str | None = None
    use_case: str | None = None


class CatalogVoice(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    name: str
    category: str | None = None
    labels: VoiceLabels = Field(default_factory=VoiceLabels)
    preview_url: str | None = None


class VoiceCatalog(BaseModel):
    """The ElevenLabs voice catalog (elevenlabs.voices.json)."""

    voices: list[CatalogVoice] = Field(default_factory=list)

    def find(self, token: str) -> CatalogVoice | None:
        """Resolve a voice by exact id, then by name (case-insensitive, trimmed)."""
        token = token.strip()
        for voice in self.voices:
            if voice.id == token:
                return voice
        lowered = token.lower()
        for voice in self.voices:
            if voice.name.strip().lower() == lowered:
                return voice
        return None
