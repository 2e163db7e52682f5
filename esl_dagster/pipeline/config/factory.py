"""Build the config provider the settings ask for."""

from esl_dagster.pipeline.config.provider import (
    ConfigProvider,
    LocalConfigProvider,
    RemoteConfigProvider,
)
from esl_dagster.pipeline.errors import ConfigurationError
from esl_dagster.pipeline.settings import Settings


def config_provider_from_settings(settings: Settings) -> ConfigProvider:
    """``remote`` -> ``RemoteConfigProvider`` over ESL_PIPELINE_CONFIG_*; else the local folders.

    The voice catalog path (ELEVENLABS_VOICES_PATH) applies to both: the remote provider reads its
    catalog from that local file (or the bundled one).
    """
    catalog_path = settings.resolve_optional_path(settings.speech.voices_path)
    if settings.config_files.provider == "remote":
        if not settings.config_files.endpoint:
            raise ConfigurationError(
                "ESL_PIPELINE_CONFIG_PROVIDER=remote needs ESL_PIPELINE_CONFIG_ENDPOINT"
            )
        token = (
            settings.config_files.token.get_secret_value() if settings.config_files.token else None
        )
        return RemoteConfigProvider(
            settings.config_files.endpoint,
            token=token,
            presets_path=settings.config_files.presets_path,
            students_path=settings.config_files.students_path,
            voices_path=settings.config_files.voices_path,
            timeout=settings.config_files.timeout_seconds,
            cache_ttl=settings.config_files.cache_ttl_seconds,
            local_catalog_path=catalog_path,
        )
    return LocalConfigProvider(
        settings.resolve_optional_path(settings.config_files.dir),
        catalog_path=catalog_path,
        cwd=settings.cwd,
    )


__all__ = ["config_provider_from_settings"]
