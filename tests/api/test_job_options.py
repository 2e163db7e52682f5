"""GET /config/job-options from the local folders or the remote config provider, and POST /jobs's
`unknown_preset` answer from the same reader."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import MISSION, ClientFactory
from tests.fakes.config_server import ConfigServer, run_config_server
from tests.fakes.dagster_graphql import FakeDagster

CONFIG_ENV = (
    "ESL_PIPELINE_CONFIG_PROVIDER",
    "ESL_PIPELINE_CONFIG_DIR",
    "ESL_PIPELINE_CONFIG_ENDPOINT",
    "ESL_PIPELINE_CONFIG_TOKEN",
    "ESL_PIPELINE_CONFIG_PRESETS_PATH",
    "ESL_PIPELINE_CONFIG_STUDENTS_PATH",
    "ESL_PIPELINE_CONFIG_CACHE_TTL_SECONDS",
    "ELEVENLABS_VOICES_PATH",
    "ELEVENLABS_TTS_MODE",
    "ELEVENLABS_API_KEY",
    "ELEVENLABS_API_TOKEN",
)
BUNDLED_PRESETS = ["a2-calm", "b1-default", "b2-warm", "sections-only"]


@pytest.fixture(autouse=True)
def clean_config_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in CONFIG_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "site-config"
    (folder / "students").mkdir(parents=True)
    (folder / "presets.json").write_text(json.dumps({"warm": {"h2": "red"}, "calm": {}}))
    (folder / "students" / "default.json").write_text(
        json.dumps({"student": "Default", "colorPreset": "warm", "accentPreference": "british"})
    )
    (folder / "students" / "ann.json").write_text(json.dumps({"student": "Ann", "dbId": "db-ann"}))
    return folder


@pytest.fixture
def config_server() -> Iterator[ConfigServer]:
    with run_config_server() as server:
        yield server


def test_bundled_config_with_the_offline_speech_engine(client: TestClient) -> None:
    response = client.get("/config/job-options")

    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "private, max-age=60"
    body = response.json()
    assert body["presets"] == BUNDLED_PRESETS
    assert body["students"] == ["Anna", "Default"]
    assert body["ttsProvider"] == "espeak"
    assert {voice["provider"] for voice in body["voices"]} == {"espeak"}
    assert body["voiceAccents"] == ["american", "british"]
    assert body["modes"] == ["auto", "dialogue", "monologue"]
    assert body["uploadOptions"] == ["auto", "s3", "notion", "local", "none"]
    assert body["configSource"] == "local"
    assert body["defaults"] == {
        "preset": "b1-default",
        "withTts": False,
        "mode": "auto",
        "upload": "auto",
        "voiceAccent": None,
    }


def test_a_config_folder_and_elevenlabs(
    make_client: ClientFactory, config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ESL_PIPELINE_CONFIG_DIR", str(config_dir))
    monkeypatch.setenv("ELEVENLABS_API_KEY", "el-test-key")
    monkeypatch.setenv("ELEVENLABS_TTS_MODE", "dialogue")

    body = make_client().get("/config/job-options").json()

    assert body["presets"] == ["calm", "warm"]
    assert body["students"] == ["Ann", "Default"]
    assert body["notionDatabases"] == [{"id": "db-ann", "name": "Ann"}]
    assert body["ttsProvider"] == "elevenlabs"
    rachel = next(voice for voice in body["voices"] if voice["name"] == "Rachel")
    assert rachel == {
        "id": "21m00Tcm4TlvDq8ikWAM",
        "name": "Rachel",
        "accent": "american",
        "gender": "female",
        "category": "premade",
        "provider": "elevenlabs",
    }
    assert body["defaults"]["preset"] == "warm"
    assert body["defaults"]["voiceAccent"] == "british"
    assert body["defaults"]["mode"] == "dialogue"


def test_the_remote_config_provider(
    make_client: ClientFactory, config_server: ConfigServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_server.state.token = "cfg-token"
    config_server.state.put("/site/presets.json", json.dumps({"remote-preset": {}}))
    config_server.state.put("/site/students.json", json.dumps([{"student": "Remy"}]))
    monkeypatch.setenv("ESL_PIPELINE_CONFIG_PROVIDER", "http")
    monkeypatch.setenv("ESL_PIPELINE_CONFIG_ENDPOINT", f"{config_server.base_url}/site")
    monkeypatch.setenv("ESL_PIPELINE_CONFIG_TOKEN", "cfg-token")
    client = make_client()

    body = client.get("/config/job-options").json()
    client.get("/config/job-options")

    assert body["presets"] == ["remote-preset"]
    assert body["students"] == ["Remy"]
    assert body["configSource"] == "remote"
    assert body["defaults"]["preset"] == "b1-default"  # the built-in Default profile
    hits = config_server.state.hits("/site/presets.json")
    assert len(hits) == 1, "a second request within the cache TTL reads no config"
    assert hits[0].headers.get("Authorization") == "Bearer cfg-token"


def test_an_unreadable_config_is_503_without_details(
    make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ESL_PIPELINE_CONFIG_PROVIDER", "remote")
    monkeypatch.setenv("ESL_PIPELINE_CONFIG_ENDPOINT", "http://127.0.0.1:9/")

    response = make_client().get("/config/job-options")

    assert response.status_code == 503
    assert response.json()["code"] == "config_unavailable"
    assert "127.0.0.1" not in response.text
    assert response.headers["retry-after"]


def test_job_options_need_the_api_key_when_keys_are_set(make_client: ClientFactory) -> None:
    client = make_client(api_keys=["k-1234567890"])
    assert client.get("/config/job-options").status_code == 401
    authorized = {"Authorization": "Bearer k-1234567890"}
    assert client.get("/config/job-options", headers=authorized).status_code == 200


def test_an_unknown_preset_is_refused_before_launch(client: TestClient, fake: FakeDagster) -> None:
    response = client.post("/jobs", json={"md": MISSION, "preset": "nonexistent-preset"})

    assert response.status_code == 400
    assert response.json() == {
        "error": "validation_failed",
        "code": "unknown_preset",
        "message": 'unknown preset "nonexistent-preset"; available: ' + ", ".join(BUNDLED_PRESETS),
    }
    assert fake.launches == []
    assert client.post("/jobs", json={"md": MISSION, "preset": "a2-calm"}).status_code == 202


def test_an_unreadable_config_does_not_block_a_submission(
    make_client: ClientFactory, fake: FakeDagster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ESL_PIPELINE_CONFIG_PROVIDER", "remote")
    monkeypatch.setenv("ESL_PIPELINE_CONFIG_ENDPOINT", "http://127.0.0.1:9/")
    response = make_client().post("/jobs", json={"md": MISSION, "preset": "anything"})
    assert response.status_code == 202
    assert len(fake.launches) == 1
