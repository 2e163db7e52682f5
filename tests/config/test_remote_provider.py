"""RemoteConfigProvider against a real HTTP server on 127.0.0.1 (tests/fakes/config_server.py)."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from esl_dagster.pipeline.config.provider import ConfigProvider, RemoteConfigProvider
from esl_dagster.pipeline.errors import ConfigurationError, ServiceError, is_transient
from tests.conftest import CONFIGS_DIR
from tests.fakes.config_server import ConfigServer, etag_of

TOKEN = "cfg-token-0123456789"
PRESETS = (CONFIGS_DIR / "presets.json").read_text(encoding="utf-8")
VOICES = (CONFIGS_DIR / "voices.yml").read_text(encoding="utf-8")
STUDENTS = json.dumps([json.loads((CONFIGS_DIR / "students" / "leonie.json").read_text("utf-8"))])


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def served(config_server: ConfigServer) -> ConfigServer:
    """The example configs served under /api/v1/ with a bearer token."""
    state = config_server.state
    state.token = TOKEN
    state.put("/api/v1/presets.json", PRESETS)
    state.put("/api/v1/students.json", STUDENTS)
    state.put("/api/v1/voices.yml", VOICES, "application/yaml")
    return config_server


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def provider(served: ConfigServer, clock: FakeClock) -> Iterator[RemoteConfigProvider]:
    with RemoteConfigProvider(
        f"{served.base_url}/api/v1", token=TOKEN, cache_ttl=30.0, timeout=2.0, clock=clock
    ) as remote:
        yield remote


def test_loads_every_item_into_typed_models(provider: RemoteConfigProvider) -> None:
    assert isinstance(provider, ConfigProvider)
    assert sorted(provider.load_presets()) == ["a2-calm", "b2-warm", "sections-only"]
    assert [p.student for p in provider.load_student_profiles()] == ["Default", "Leonie"]
    assert provider.find_student("leonie").db_id == "5c1f0e9a2b7d4e3f8a6b1c0d9e8f7a6b"
    assert provider.find_student("someone").student == "Default"
    voices = provider.load_voices_map()
    assert voices.speakers["Aunt Rosa"] == "Delphine"
    # no remote catalog: the bundled local one
    assert len(provider.load_voice_catalog().voices) == 30


def test_relative_joining_keeps_the_base_path(served: ConfigServer) -> None:
    remote = RemoteConfigProvider(
        f"{served.base_url}/api/v1/", token=TOKEN, presets_path="/presets.json"
    )
    with remote:
        assert remote.url("presets") == f"{served.base_url}/api/v1/presets.json"
        assert "a2-calm" in remote.load_presets()


def test_bearer_token_is_sent_and_checked(
    served: ConfigServer, provider: RemoteConfigProvider
) -> None:
    provider.load_presets()
    [request] = served.state.hits("/api/v1/presets.json")
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    with RemoteConfigProvider(f"{served.base_url}/api/v1", token="wrong") as wrong:
        with pytest.raises(ServiceError) as caught:
            wrong.load_presets()
    assert caught.value.status == 401
    assert not is_transient(caught.value)
    assert f"{served.base_url}/api/v1/presets.json" in str(caught.value)
    assert TOKEN not in str(caught.value) and "wrong" not in repr(wrong)


def test_ttl_cache_then_etag_revalidation(
    served: ConfigServer, provider: RemoteConfigProvider, clock: FakeClock
) -> None:
    first = provider.load_presets()
    provider.load_presets()
    assert len(served.state.hits("/api/v1/presets.json")) == 1  # within the TTL: no request
    clock.now += 31
    again = provider.load_presets()
    hits = served.state.hits("/api/v1/presets.json")
    assert [hit.status for hit in hits] == [200, 304]
    assert "If-None-Match" not in hits[0].headers
    assert hits[1].headers["If-None-Match"] == etag_of(PRESETS.encode("utf-8"))
    assert again["a2-calm"] is first["a2-calm"]  # the 304 kept the parsed value
    served.state.put("/api/v1/presets.json", json.dumps({"fresh": {"h2": "red"}}))
    clock.now += 31
    assert list(provider.load_presets()) == ["fresh"]
    assert [hit.status for hit in served.state.hits("/api/v1/presets.json")] == [200, 304, 200]


def test_server_error_is_transient_then_success(
    served: ConfigServer, provider: RemoteConfigProvider
) -> None:
    served.state.fail_next(503, headers={"Retry-After": "7"})
    with pytest.raises(ServiceError) as caught:
        provider.load_voices_map()
    error = caught.value
    assert error.status == 503 and is_transient(error) and error.retry_after == 7.0
    assert f"GET {served.base_url}/api/v1/voices.yml returned HTTP 503" in str(error)
    assert provider.load_voices_map().default == "Quinn"


def test_500_429_transient_404_permanent(
    served: ConfigServer, provider: RemoteConfigProvider
) -> None:
    for status, transient in ((500, True), (429, True), (404, False)):
        served.state.fail_next(status)
        with pytest.raises(ServiceError) as caught:
            provider.load_student_profiles()
        assert (caught.value.status, caught.value.transient) == (status, transient)


def test_timeout_is_a_transient_service_error(served: ConfigServer) -> None:
    served.state.latency = 0.6
    with RemoteConfigProvider(f"{served.base_url}/api/v1", token=TOKEN, timeout=0.15) as slow:
        with pytest.raises(ServiceError, match=r"timed out after 0\.15 s") as caught:
            slow.load_presets()
    assert is_transient(caught.value)


def test_connection_refused_is_transient() -> None:
    with RemoteConfigProvider("http://127.0.0.1:9/", timeout=1.0) as remote:
        with pytest.raises(ServiceError) as caught:
            remote.load_presets()
    assert is_transient(caught.value)


def test_invalid_remote_content_is_a_configuration_error_naming_the_url(
    served: ConfigServer, provider: RemoteConfigProvider
) -> None:
    url = f"{served.base_url}/api/v1"
    served.state.put("/api/v1/presets.json", json.dumps({"x": {"h3": "purpel"}}))
    with pytest.raises(ConfigurationError, match=rf'{url}/presets\.json: preset "x" field h3'):
        provider.load_presets()
    served.state.put("/api/v1/students.json", json.dumps({"student": "A"}))
    with pytest.raises(ConfigurationError, match="expected a JSON array"):
        provider.load_student_profiles()
    served.state.put("/api/v1/voices.yml", "Alex:\n  voice_id: x\n", "text/plain")
    with pytest.raises(ConfigurationError, match=rf'{url}/voices\.yml: field "Alex": nested'):
        provider.load_voices_map()


def test_remote_catalog_when_configured(served: ConfigServer) -> None:
    sample = (CONFIGS_DIR / "elevenlabs.voices.sample.json").read_text(encoding="utf-8")
    served.state.put("/api/v1/catalog.json", sample)
    with RemoteConfigProvider(
        f"{served.base_url}/api/v1", token=TOKEN, catalog_path="catalog.json"
    ) as remote:
        assert remote.load_voice_catalog().find("Marlowe") is not None


def test_local_catalog_override(served: ConfigServer, tmp_path: Path) -> None:
    with RemoteConfigProvider(
        served.base_url,
        local_catalog_path=CONFIGS_DIR / "elevenlabs.voices.sample.json",
    ) as remote:
        assert len(remote.load_voice_catalog().voices) == 8


def test_remote_unknown_preset_lists_available(provider: RemoteConfigProvider) -> None:
    with pytest.raises(ConfigurationError, match=r"available: a2-calm, b2-warm, sections-only"):
        provider.get_preset("nope")
