"""The resources bind every set settings variable as ``dg.EnvVar`` and map them with the engine's
one table, so every accepted variable name (the original's aliases, MinIO) works inside Dagster
runs as it does in the ``esl`` CLI."""

from typing import Any

import dagster as dg
import pytest

from esl_dagster.defs.resource_bindings import pipeline_from_env


def resolved(resource: dg.ConfigurableResource) -> Any:  # type: ignore[type-arg]
    """The resource as a run gets it: Dagster resolves its ``dg.EnvVar`` values."""
    with dg.build_resources({"resource": resource}) as resources:
        return resources.resource


def test_embedded_default_when_nothing_is_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NOTION_TOKEN", "ELEVENLABS_API_KEY", "S3_BUCKET", "MINIO_ENABLED"):
        monkeypatch.delenv(name, raising=False)
    assert resolved(pipeline_from_env()).modes() == {
        "notion": "preview",
        "tts": "espeak",
        "upload": "local",
    }


def test_aliases_and_minio_reach_the_run_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ELEVENLABS_API_TOKEN", "key-from-the-original-alias")
    monkeypatch.setenv("NOTION_API_BASE_URL", "http://127.0.0.1:9/notion")
    monkeypatch.setenv("NOTION_TOKEN", "secret_token")
    monkeypatch.setenv("MINIO_ENABLED", "true")
    monkeypatch.setenv("MINIO_ENDPOINT", "127.0.0.1")
    monkeypatch.setenv("MINIO_ACCESS_KEY", "minio")
    monkeypatch.setenv("MINIO_SECRET_KEY", "minio-secret")
    pipeline = resolved(pipeline_from_env())
    settings = pipeline.settings()
    assert pipeline.modes() == {"notion": "notion", "tts": "elevenlabs", "upload": "s3"}
    assert settings.notion.base_url == "http://127.0.0.1:9/notion"
    assert settings.s3 is not None and settings.s3.endpoint_url == "http://127.0.0.1:9000"
    assert settings.effective_manifest_store == "s3"
