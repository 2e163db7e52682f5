"""Resource bindings: secrets through ``dg.EnvVar``, embedded defaults when a setting is absent.

A secret is bound as ``dg.EnvVar(NAME)`` only when ``NAME`` is set in the code location's
environment (the run workers inherit it); otherwise the field stays ``None`` and the engine picks
the embedded default (design D5). Binding an unset ``EnvVar`` would instead fail every run.
"""

import os

import dagster as dg

from esl_dagster.resources.lesson_sources import LessonSourcesResource
from esl_dagster.resources.s3 import S3StorageResource
from esl_dagster.resources.services import (
    ConfigProviderKind,
    ConfigProviderResource,
    ManifestStoreKind,
    ManifestStoreResource,
    NotionResource,
    PipelineResource,
    TTSResource,
)


def optional_env(name: str) -> dg.EnvVar | None:
    """``dg.EnvVar(name)`` when the variable is set and not empty, else ``None``.

    ``None`` leaves the field to the engine's settings parser, which also knows the original's
    alternative names (e.g. ELEVENLABS_API_TOKEN) and the MinIO variables.
    """
    return dg.EnvVar(name) if os.environ.get(name) else None


def _env_or(name: str, default: str) -> str:
    return os.environ.get(name) or default


def s3_storage_from_env() -> S3StorageResource:
    return S3StorageResource(
        bucket=optional_env("S3_BUCKET"),
        prefix=optional_env("S3_PREFIX"),
        endpoint_url=optional_env("S3_ENDPOINT_URL"),
        region_name=optional_env("AWS_REGION"),
        access_key_id=optional_env("AWS_ACCESS_KEY_ID"),
        secret_access_key=optional_env("AWS_SECRET_ACCESS_KEY"),
    )


def pipeline_from_env() -> PipelineResource:
    """The services of lesson runs, configured from the environment."""
    return PipelineResource(
        notion=NotionResource(
            token=optional_env("NOTION_TOKEN"),
            base_url=optional_env("NOTION_BASE_URL"),
        ),
        tts=TTSResource(
            elevenlabs_api_key=optional_env("ELEVENLABS_API_KEY"),
            base_url=optional_env("ELEVENLABS_BASE_URL"),
            voices_path=optional_env("ELEVENLABS_VOICES_PATH"),
        ),
        s3=s3_storage_from_env(),
        manifests=ManifestStoreResource(
            kind=ManifestStoreKind.S3
            if os.environ.get("ESL_PIPELINE_MANIFEST_STORE") == "s3"
            else None,
            bucket=optional_env("ESL_PIPELINE_MANIFEST_BUCKET"),
            prefix=optional_env("ESL_PIPELINE_MANIFEST_PREFIX"),
        ),
        config=ConfigProviderResource(
            kind=ConfigProviderKind.REMOTE
            if os.environ.get("ESL_PIPELINE_CONFIG_ENDPOINT")
            else None,
            config_dir=optional_env("ESL_PIPELINE_CONFIG_DIR"),
            endpoint=optional_env("ESL_PIPELINE_CONFIG_ENDPOINT"),
            token=optional_env("ESL_PIPELINE_CONFIG_TOKEN"),
        ),
        pipeline_cwd=optional_env("PIPELINE_CWD"),
    )


def lesson_sources_from_env() -> LessonSourcesResource:
    """Watched sources: ``ESL_LESSON_FOLDERS`` (os.pathsep-separated) and ``ESL_LESSON_S3_URI``."""
    folders = [part for part in os.environ.get("ESL_LESSON_FOLDERS", "").split(os.pathsep) if part]
    return LessonSourcesResource(
        folders=folders,
        s3_uri=os.environ.get("ESL_LESSON_S3_URI") or None,
        s3=s3_storage_from_env(),
        staging_dir=_env_or("ESL_LESSON_STAGING_DIR", "var/s3-lessons"),
    )


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(
        resources={"esl": pipeline_from_env(), "lesson_sources": lesson_sources_from_env()}
    )
