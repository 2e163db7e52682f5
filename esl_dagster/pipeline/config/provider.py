"""Where the config files come from: a local folder (with bundled defaults) or an HTTP endpoint.

Both providers return the same typed models, so the pipeline never knows which one it has.
Lookups (``find_student``, ``get_preset``) are written once in ``BaseConfigProvider``.
"""

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

import httpx

from esl_dagster.pipeline.config.loaders import (
    DEFAULT_STUDENT_NAME,
    default_student_profile,
    load_presets,
    load_student_profiles,
    load_voice_catalog,
    load_voices_map,
    os_errors_as_configuration,
    parse_json,
    parse_presets,
    parse_student_profiles_array,
    parse_voice_catalog,
    parse_voices_map,
    student_profile_files,
)
from esl_dagster.pipeline.config.models import Preset, StudentProfile, VoiceCatalog, VoicesMap
from esl_dagster.pipeline.errors import ConfigurationError, ServiceError
from esl_dagster.pipeline.http_retry import HttpClientOwner, service_error_from_response

BUNDLED_CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
PRESETS_FILE = "presets.json"
VOICES_FILE = "voices.yml"
STUDENTS_DIR = "students"
CATALOG_FILE = "elevenlabs.voices.json"

T = TypeVar("T")


@runtime_checkable
class ConfigProvider(Protocol):
    """The config the pipeline reads: presets, student profiles, voices map, voice catalog."""

    def load_presets(self) -> dict[str, Preset]: ...

    def load_student_profiles(self) -> list[StudentProfile]: ...

    def load_voices_map(self) -> VoicesMap: ...

    def load_voice_catalog(self) -> VoiceCatalog: ...

    def find_student(self, name: str | None) -> StudentProfile: ...

    def get_preset(self, name: str) -> Preset: ...


def find_student(profiles: list[StudentProfile], name: str | None) -> StudentProfile:
    """The profile named ``name`` (trimmed, case-insensitive), else the ``Default`` profile."""
    wanted = (name or "").strip().casefold()
    default: StudentProfile | None = None
    for profile in profiles:
        key = profile.student.strip().casefold()
        if wanted and key == wanted:
            return profile
        if key == DEFAULT_STUDENT_NAME.casefold():
            default = profile
    return default if default is not None else default_student_profile()


def get_preset(presets: dict[str, Preset], name: str) -> Preset:
    """The preset called exactly ``name``; an unknown name lists the available ones."""
    try:
        return presets[name]
    except KeyError:
        available = ", ".join(sorted(presets)) or "none"
        raise ConfigurationError(f'unknown preset "{name}" (available: {available})') from None


class BaseConfigProvider(ABC):
    """Shared lookups over the four abstract loaders."""

    @abstractmethod
    def load_presets(self) -> dict[str, Preset]: ...

    @abstractmethod
    def load_student_profiles(self) -> list[StudentProfile]: ...

    @abstractmethod
    def load_voices_map(self) -> VoicesMap: ...

    @abstractmethod
    def load_voice_catalog(self) -> VoiceCatalog: ...

    def find_student(self, name: str | None) -> StudentProfile:
        return find_student(self.load_student_profiles(), name)

    def get_preset(self, name: str) -> Preset:
        return get_preset(self.load_presets(), name)


# ##### local folder


@dataclass(frozen=True)
class ConfigPaths:
    """Where each config item was found (each is resolved independently)."""

    presets: Path
    voices: Path
    students: Path
    catalog: Path


_Signature = tuple[Any, ...]


def _file_signature(path: Path) -> _Signature:
    with os_errors_as_configuration(path):
        stat = path.stat()
    return (str(path), stat.st_mtime_ns, stat.st_size)


def _folder_signature(path: Path) -> _Signature:
    return (str(path), *(_file_signature(entry) for entry in student_profile_files(path)))


class LocalConfigProvider(BaseConfigProvider):
    """Config files from disk, each item resolved on its own:

    1. the explicit path, if given: it must exist (a missing explicit path is an error, never a
       silent fallback as in the original); relative paths are taken from ``cwd``;
    2. ``config_dir`` (must exist when given);
    3. ``<cwd>/configs`` when ``cwd`` is given;
    4. the bundled defaults in ``esl_dagster/pipeline/configs/``.

    Parsed results are cached and reloaded when a file's mtime or size changes (for the students
    folder: when any ``*.json`` is added, removed or changed).
    """

    def __init__(
        self,
        config_dir: Path | None = None,
        *,
        presets_path: Path | None = None,
        voices_path: Path | None = None,
        students_dir: Path | None = None,
        catalog_path: Path | None = None,
        cwd: Path | None = None,
        bundled_dir: Path = BUNDLED_CONFIG_DIR,
    ) -> None:
        self._cwd = cwd
        self._explicit = {
            PRESETS_FILE: self._absolute(presets_path),
            VOICES_FILE: self._absolute(voices_path),
            STUDENTS_DIR: self._absolute(students_dir),
            CATALOG_FILE: self._absolute(catalog_path),
        }
        config_dir = self._absolute(config_dir)
        if config_dir is not None and not config_dir.is_dir():
            raise ConfigurationError(f"config folder {config_dir} does not exist")
        candidates = [config_dir, cwd / "configs" if cwd is not None else None, bundled_dir]
        self._search_dirs = [directory for directory in candidates if directory is not None]
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[_Signature, Any]] = {}
        self.paths()  # fail at construction when an explicit path is missing

    def _absolute(self, path: Path | None) -> Path | None:
        if path is None:
            return None
        path = path.expanduser()
        return path if path.is_absolute() or self._cwd is None else self._cwd / path

    def _resolve(self, name: str) -> Path:
        is_folder = name == STUDENTS_DIR
        explicit = self._explicit[name]
        if explicit is not None:
            if not (explicit.is_dir() if is_folder else explicit.is_file()):
                kind = "folder" if is_folder else "file"
                raise ConfigurationError(f"{name} {kind} {explicit} does not exist")
            return explicit
        checked = []
        for directory in self._search_dirs:
            candidate = directory / name
            if candidate.is_dir() if is_folder else candidate.is_file():
                return candidate
            checked.append(str(candidate))
        raise ConfigurationError(f"{name} not found; checked: {', '.join(checked)}")

    def paths(self) -> ConfigPaths:
        """Resolve all four items now (raises ``ConfigurationError`` naming what is missing)."""
        return ConfigPaths(
            presets=self._resolve(PRESETS_FILE),
            voices=self._resolve(VOICES_FILE),
            students=self._resolve(STUDENTS_DIR),
            catalog=self._resolve(CATALOG_FILE),
        )

    def _cached(
        self,
        name: str,
        signature: Callable[[Path], _Signature],
        load: Callable[[Path], T],
    ) -> T:
        path = self._resolve(name)
        with self._lock:
            current = signature(path)
            hit = self._cache.get(name)
            if hit is not None and hit[0] == current:
                value: T = hit[1]
                return value
            value = load(path)
            self._cache[name] = (current, value)
            return value

    def load_presets(self) -> dict[str, Preset]:
        return dict(self._cached(PRESETS_FILE, _file_signature, load_presets))

    def load_student_profiles(self) -> list[StudentProfile]:
        return list(self._cached(STUDENTS_DIR, _folder_signature, load_student_profiles))

    def load_voices_map(self) -> VoicesMap:
        return self._cached(VOICES_FILE, _file_signature, load_voices_map)

    def load_voice_catalog(self) -> VoiceCatalog:
        return self._cached(CATALOG_FILE, _file_signature, load_voice_catalog)


# ##### remote HTTP endpoint

_SERVICE = "remote config"


def _join_url(base_url: str, path: str) -> str:
    """Join relative to the base URL's path (the original dropped it for paths starting with /).

    ``https://x/api`` + ``/presets.json`` -> ``https://x/api/presets.json``. A full URL is kept.
    """
    if "://" in path:
        return path
    base = base_url if base_url.endswith("/") else f"{base_url}/"
    return str(httpx.URL(base).join(path.lstrip("/")))


@dataclass
class _CacheEntry:
    fetched_at: float
    etag: str | None
    value: Any


class RemoteConfigProvider(BaseConfigProvider, HttpClientOwner):
    """Config served over HTTP.

    Each item is a GET of ``<base_url>/<path>`` (relative joining keeps the base path) with
    ``Authorization: Bearer <token>`` when a token is set. Responses are validated into the same
    models as the local files (students: a JSON array; ``Default`` added when missing; voices:
    YAML parsed in memory). Parsed values are cached for ``cache_ttl`` seconds, then revalidated
    with ``If-None-Match`` when the server sent an ``ETag``. HTTP errors raise ``ServiceError``
    naming the URL, transient for 408/409/425/429/5xx, timeouts and connection errors. The voice
    catalog comes from ``catalog_path`` when given, else from the local (bundled) file.
    """

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        presets_path: str = PRESETS_FILE,
        students_path: str = "students.json",
        voices_path: str = VOICES_FILE,
        catalog_path: str | None = None,
        timeout: float = 10.0,
        cache_ttl: float = 60.0,
        transport: httpx.BaseTransport | None = None,
        *,
        local_catalog_path: Path | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not base_url.strip():
            raise ConfigurationError("remote config provider needs a base URL")
        self.base_url = base_url.strip()
        self._urls = {
            "presets": _join_url(self.base_url, presets_path),
            "students": _join_url(self.base_url, students_path),
            "voices": _join_url(self.base_url, voices_path),
        }
        if catalog_path is not None:
            self._urls["catalog"] = _join_url(self.base_url, catalog_path)
        self._local_catalog = LocalConfigProvider(catalog_path=local_catalog_path)
        self._token = token
        self._timeout = timeout
        self._cache_ttl = cache_ttl
        self._clock = clock
        self._http = httpx.Client(transport=transport, timeout=timeout, follow_redirects=True)
        self._lock = threading.Lock()
        self._cache: dict[str, _CacheEntry] = {}

    def __repr__(self) -> str:
        return f"RemoteConfigProvider(base_url={self.base_url!r})"

    def url(self, item: str) -> str:
        """The URL fetched for ``presets``, ``students``, ``voices`` (or ``catalog``)."""
        return self._urls[item]

    def _request(self, url: str, accept: str, etag: str | None) -> httpx.Response:
        headers = {"Accept": accept}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        if etag:
            headers["If-None-Match"] = etag
        try:
            return self._http.get(url, headers=headers)
        except httpx.TimeoutException as exc:
            raise ServiceError(
                _SERVICE, f"GET {url} timed out after {self._timeout:g} s", transient=True
            ) from exc
        except httpx.TransportError as exc:
            raise ServiceError(_SERVICE, f"GET {url} failed: {exc}", transient=True) from exc

    def _fetch(self, item: str, accept: str, parse: Callable[[str, str], T]) -> T:
        url = self._urls[item]
        with self._lock:
            entry = self._cache.get(url)
            now = self._clock()
            if entry is not None and now - entry.fetched_at < self._cache_ttl:
                cached: T = entry.value
                return cached
            response = self._request(url, accept, entry.etag if entry else None)
            if response.status_code == 304 and entry is not None:
                entry.fetched_at = now
                revalidated: T = entry.value
                return revalidated
            if not response.is_success:
                raise service_error_from_response(
                    _SERVICE, response, f"GET {url} returned HTTP {response.status_code}"
                )
            value = parse(response.text, url)
            self._cache[url] = _CacheEntry(now, response.headers.get("ETag"), value)
            return value

    def load_presets(self) -> dict[str, Preset]:
        presets = self._fetch(
            "presets",
            "application/json",
            lambda text, url: parse_presets(parse_json(text, url), url),
        )
        return dict(presets)

    def load_student_profiles(self) -> list[StudentProfile]:
        profiles = self._fetch(
            "students",
            "application/json",
            lambda text, url: parse_student_profiles_array(parse_json(text, url), url),
        )
        return list(profiles)

    def load_voices_map(self) -> VoicesMap:
        return self._fetch(
            "voices", "application/yaml, text/yaml, text/plain;q=0.9, */*;q=0.5", parse_voices_map
        )

    def load_voice_catalog(self) -> VoiceCatalog:
        if "catalog" not in self._urls:
            return self._local_catalog.load_voice_catalog()
        return self._fetch(
            "catalog",
            "application/json",
            lambda text, url: parse_voice_catalog(parse_json(text, url), url),
        )


__all__ = [
    "BUNDLED_CONFIG_DIR",
    "BaseConfigProvider",
    "ConfigPaths",
    "ConfigProvider",
    "LocalConfigProvider",
    "RemoteConfigProvider",
    "find_student",
    "get_preset",
]
