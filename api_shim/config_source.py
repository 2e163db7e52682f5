"""A read-only reader of the pipeline's config (presets, student profiles, voice catalog).

The shim never imports the engine, so this reads the same files with the same rules and the same
environment variables (a contract test checks both sides see the same names):

- `ESL_PIPELINE_CONFIG_PROVIDER=local` (default; aliases `filesystem`, `fs`): each item is
  searched on its own in `ESL_PIPELINE_CONFIG_DIR`, then `<PIPELINE_CWD>/configs`, then the
  bundled defaults of the installed `esl_dagster` package (found without importing it):
  `presets.json` (object: preset name -> preset), `students/*.json` (one profile each),
  `elevenlabs.voices.json` (`{"voices": [...]}`, or the file `ELEVENLABS_VOICES_PATH`).
- `ESL_PIPELINE_CONFIG_PROVIDER=remote` (alias `http`): `GET <ESL_PIPELINE_CONFIG_ENDPOINT>/
  <path>` for `ESL_PIPELINE_CONFIG_PRESETS_PATH` (default `presets.json`) and
  `ESL_PIPELINE_CONFIG_STUDENTS_PATH` (default `students.json`, a JSON array of profiles), with
  `Authorization: Bearer <ESL_PIPELINE_CONFIG_TOKEN>` when set; relative paths keep the
  endpoint's base path. The voice catalog stays local (`ELEVENLABS_VOICES_PATH` or bundled).
"""

import importlib.util
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import anyio.to_thread
import httpx
from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PRESETS_FILE = "presets.json"
STUDENTS_DIR = "students"
CATALOG_FILE = "elevenlabs.voices.json"
DEFAULT_STUDENT = "Default"
# The engine's built-in `Default` profile when no profile has that name.
BUILTIN_DEFAULT_PRESET = "b1-default"


class ConfigUnavailable(Exception):
    """The config cannot be read (missing or broken file, remote endpoint down)."""


class ConfigSourceSettings(BaseSettings):
    """The engine's config settings, read from the same environment variables (and `.env`)."""

    model_config = SettingsConfigDict(env_file=".env", env_ignore_empty=True, extra="ignore")

    provider: Literal["local", "remote"] = Field(
        "local", validation_alias=AliasChoices("ESL_PIPELINE_CONFIG_PROVIDER")
    )
    config_dir: Path | None = Field(None, validation_alias=AliasChoices("ESL_PIPELINE_CONFIG_DIR"))
    endpoint: str | None = Field(
        None, validation_alias=AliasChoices("ESL_PIPELINE_CONFIG_ENDPOINT")
    )
    token: SecretStr | None = Field(
        None, validation_alias=AliasChoices("ESL_PIPELINE_CONFIG_TOKEN")
    )
    presets_path: str = Field(
        PRESETS_FILE, validation_alias=AliasChoices("ESL_PIPELINE_CONFIG_PRESETS_PATH")
    )
    students_path: str = Field(
        "students.json", validation_alias=AliasChoices("ESL_PIPELINE_CONFIG_STUDENTS_PATH")
    )
    timeout_s: float = Field(
        10.0, gt=0, validation_alias=AliasChoices("ESL_PIPELINE_CONFIG_TIMEOUT_SECONDS")
    )
    cache_ttl_s: float = Field(
        60.0, ge=0, validation_alias=AliasChoices("ESL_PIPELINE_CONFIG_CACHE_TTL_SECONDS")
    )
    catalog_path: Path | None = Field(None, validation_alias=AliasChoices("ELEVENLABS_VOICES_PATH"))
    tts_mode: Literal["auto", "dialogue", "monologue"] = Field(
        "auto", validation_alias=AliasChoices("ELEVENLABS_TTS_MODE")
    )
    elevenlabs_api_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("ELEVENLABS_API_KEY", "ELEVENLABS_API_TOKEN")
    )

    @field_validator("provider", "tts_mode", mode="before")
    @classmethod
    def _normalise(cls, value: object) -> object:
        if isinstance(value, str):
            lowered = value.strip().lower()
            return {"http": "remote", "filesystem": "local", "fs": "local"}.get(lowered, lowered)
        return value


@dataclass(frozen=True)
class Student:
    name: str
    db_id: str | None
    color_preset: str | None
    accent_preference: str | None


@dataclass(frozen=True)
class CatalogVoice:
    id: str
    name: str
    category: str | None
    accent: str | None
    gender: str | None


@dataclass(frozen=True)
class ConfigSnapshot:
    """What a job form needs from the config: preset names, student profiles, catalog voices."""

    presets: tuple[str, ...]
    students: tuple[Student, ...]
    catalog: tuple[CatalogVoice, ...]

    def default_student(self) -> Student:
        """The profile named `Default` (any case), else the engine's built-in one."""
        for student in self.students:
            if student.name.casefold() == DEFAULT_STUDENT.casefold():
                return student
        return Student(DEFAULT_STUDENT, None, BUILTIN_DEFAULT_PRESET, None)


def bundled_config_dir() -> Path | None:
    """`esl_dagster/pipeline/configs` of the installed engine package (not imported), if any."""
    spec = importlib.util.find_spec("esl_dagster")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "pipeline" / "configs"
    return folder if folder.is_dir() else None


def _text(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def parse_presets(data: object, source: str) -> tuple[str, ...]:
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ConfigUnavailable(f"{source}: expected a JSON object of preset objects")
    return tuple(sorted(data))


def parse_student(data: object, source: str) -> Student:
    name = _text(data.get("student")) if isinstance(data, dict) else None
    if not isinstance(data, dict) or name is None:
        raise ConfigUnavailable(f"{source}: expected a student profile with a `student` name")
    return Student(
        name=name,
        db_id=_text(data.get("dbId", data.get("db_id"))),
        color_preset=_text(data.get("colorPreset", data.get("color_preset"))),
        accent_preference=_text(data.get("accentPreference", data.get("accent_preference"))),
    )


def parse_catalog(data: object, source: str) -> tuple[CatalogVoice, ...]:
    voices = data.get("voices") if isinstance(data, dict) else None
    if not isinstance(voices, list):
        raise ConfigUnavailable(f'{source}: expected a JSON object with a "voices" array')
    catalog = []
    for voice in voices:
        if (
            not isinstance(voice, dict)
            or not _text(voice.get("id"))
            or not _text(voice.get("name"))
        ):
            raise ConfigUnavailable(f"{source}: every voice needs an id and a name")
        raw_labels = voice.get("labels")
        labels: dict[str, Any] = raw_labels if isinstance(raw_labels, dict) else {}
        catalog.append(
            CatalogVoice(
                id=str(voice["id"]),
                name=str(voice["name"]),
                category=_text(voice.get("category")),
                accent=_text(labels.get("accent")),
                gender=_text(labels.get("gender")),
            )
        )
    return tuple(catalog)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigUnavailable(f"{path}: cannot be read as JSON ({exc})") from exc


class ConfigReader:
    """Reads a `ConfigSnapshot` from the active provider (local folders or the remote endpoint)."""

    def __init__(self, settings: ConfigSourceSettings, cwd: Path) -> None:
        self.settings = settings
        self._cwd = cwd
        bundled = bundled_config_dir()
        config_dir = self._absolute(settings.config_dir)
        candidates = [config_dir, cwd / "configs", bundled]
        self._search_dirs = [folder for folder in candidates if folder is not None]
        self._bundled = [bundled] if bundled is not None else []
        self._remote_cache: tuple[float, ConfigSnapshot] | None = None

    def _absolute(self, path: Path | None) -> Path | None:
        if path is None:
            return None
        path = path.expanduser()
        return path if path.is_absolute() else self._cwd / path

    def _find(self, name: str, folders: list[Path]) -> Path:
        is_folder = name == STUDENTS_DIR
        for folder in folders:
            candidate = folder / name
            if candidate.is_dir() if is_folder else candidate.is_file():
                return candidate
        checked = ", ".join(str(folder / name) for folder in folders) or "no config folder"
        raise ConfigUnavailable(f"{name} not found; checked: {checked}")

    def _catalog(self, folders: list[Path]) -> tuple[CatalogVoice, ...]:
        explicit = self._absolute(self.settings.catalog_path)
        path = explicit if explicit is not None else self._find(CATALOG_FILE, folders)
        return parse_catalog(_read_json(path), str(path))

    def _read_local(self) -> ConfigSnapshot:
        presets_path = self._find(PRESETS_FILE, self._search_dirs)
        students_dir = self._find(STUDENTS_DIR, self._search_dirs)
        students = tuple(
            parse_student(_read_json(path), str(path))
            for path in sorted(students_dir.iterdir(), key=lambda entry: entry.name)
            if path.suffix.lower() == ".json" and path.is_file()
        )
        return ConfigSnapshot(
            presets=parse_presets(_read_json(presets_path), str(presets_path)),
            students=students,
            catalog=self._catalog(self._search_dirs),
        )

    def url(self, path: str) -> str:
        """`path` joined to the endpoint, keeping the endpoint's base path (as the engine)."""
        if "://" in path:
            return path
        base = str(self.settings.endpoint or "").strip()
        base = base if base.endswith("/") else f"{base}/"
        return str(httpx.URL(base).join(path.lstrip("/")))

    async def _get_json(self, client: httpx.AsyncClient, path: str) -> Any:
        url = self.url(path)
        headers = {"Accept": "application/json"}
        if self.settings.token is not None:
            headers["Authorization"] = f"Bearer {self.settings.token.get_secret_value()}"
        try:
            response = await client.get(url, headers=headers)
        except httpx.HTTPError as exc:
            raise ConfigUnavailable(f"GET {url} failed: {exc!r}") from exc
        if not response.is_success:
            raise ConfigUnavailable(f"GET {url} returned HTTP {response.status_code}")
        try:
            return response.json()
        except ValueError as exc:
            raise ConfigUnavailable(f"GET {url}: body is not JSON") from exc

    async def _read_remote(self) -> ConfigSnapshot:
        if not self.settings.endpoint:
            raise ConfigUnavailable(
                "ESL_PIPELINE_CONFIG_PROVIDER=remote needs ESL_PIPELINE_CONFIG_ENDPOINT"
            )
        timeout = httpx.Timeout(self.settings.timeout_s)
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=True, trust_env=False) as c:
            presets = await self._get_json(c, self.settings.presets_path)
            students = await self._get_json(c, self.settings.students_path)
        source = self.url(self.settings.students_path)
        if not isinstance(students, list):
            raise ConfigUnavailable(f"{source}: expected a JSON array of student profiles")
        catalog = await anyio.to_thread.run_sync(self._catalog, self._bundled)
        return ConfigSnapshot(
            presets=parse_presets(presets, self.url(self.settings.presets_path)),
            students=tuple(
                parse_student(item, f"{source}[{i}]") for i, item in enumerate(students)
            ),
            catalog=catalog,
        )

    async def read(self) -> ConfigSnapshot:
        """The current config; raises `ConfigUnavailable` naming what could not be read.

        Local files are read on every call (a few small files); a remote snapshot is reused for
        `ESL_PIPELINE_CONFIG_CACHE_TTL_SECONDS`, as the engine does.
        """
        if self.settings.provider == "local":
            return await anyio.to_thread.run_sync(self._read_local)
        now = time.monotonic()
        cached = self._remote_cache
        if cached is not None and now - cached[0] < self.settings.cache_ttl_s:
            return cached[1]
        snapshot = await self._read_remote()
        self._remote_cache = (now, snapshot)
        return snapshot
