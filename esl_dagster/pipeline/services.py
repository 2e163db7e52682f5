"""The services one lesson job talks to, chosen once from the settings (design D5).

No ``NOTION_TOKEN``: Notion preview mode (the request payloads are written next to the manifest;
see :mod:`esl_dagster.pipeline.notion.service_contract`). No ``ELEVENLABS_API_KEY``: the offline espeak-ng
engine. No S3 settings: uploads go to Notion itself when it is live, else to the local upload
folder. ``ESL_PIPELINE_MANIFEST_STORE=s3``: manifests in S3, else next to each lesson. Every field
can also be built by hand (tests, the Dagster resources).

The service implementations (httpx clients, the settings model, the speech engines) are imported
by the builders, not by this module: the Dagster code location imports it for ``Services`` only.
"""

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from esl_dagster.pipeline.errors import ConfigurationError
from esl_dagster.pipeline.logs import EventLogger
from esl_dagster.pipeline.manifest import FilesystemManifestStore, ManifestStore, S3ManifestStore
from esl_dagster.pipeline.observability import NoopMetrics, PipelineMetrics

if TYPE_CHECKING:
    from esl_dagster.pipeline.config.provider import ConfigProvider
    from esl_dagster.pipeline.lesson.source import LessonReader
    from esl_dagster.pipeline.notion.client import NotionClient
    from esl_dagster.pipeline.notion.service_contract import NotionDefaults, NotionService
    from esl_dagster.pipeline.options import UploadMode
    from esl_dagster.pipeline.settings import Settings
    from esl_dagster.pipeline.storage import Uploader
    from esl_dagster.pipeline.tts.provider import SpeechProvider


@dataclass
class Services:
    """The services of one process; ``notion`` is live or preview (a dry run derives its own)."""

    settings: "Settings"
    config_provider: "ConfigProvider"
    manifest_store: ManifestStore
    notion: "NotionService"
    tts_provider: "SpeechProvider"
    uploader: "Uploader"
    logger: EventLogger
    metrics: PipelineMetrics
    lessons: "LessonReader | None" = field(default=None, repr=False)

    def lesson_reader(self) -> "LessonReader":
        """Reads the job's lesson (local file or S3 object); built on first use, then reused."""
        if self.lessons is None:
            from esl_dagster.pipeline.lesson.source import LessonReader

            self.lessons = LessonReader(self.settings)
        return self.lessons


def build_config_provider(settings: "Settings") -> "ConfigProvider":
    """The config provider the settings select (its one builder lives with the config package)."""
    from esl_dagster.pipeline.config.factory import config_provider_from_settings

    return config_provider_from_settings(settings)


def build_manifest_store(settings: "Settings") -> ManifestStore:
    """Filesystem store next to each lesson, or S3 when ESL_PIPELINE_MANIFEST_STORE=s3."""
    if settings.effective_manifest_store != "s3":
        return FilesystemManifestStore()
    bucket = settings.effective_manifest_bucket
    if not bucket:
        raise ConfigurationError(
            "ESL_PIPELINE_MANIFEST_STORE=s3 needs ESL_PIPELINE_MANIFEST_BUCKET"
        )
    from esl_dagster.pipeline.storage.s3_client import s3_client  # lazy: imports boto3

    client = s3_client(settings.s3_client_settings)
    return S3ManifestStore(
        client,
        bucket,
        prefix=settings.manifests.prefix,
        root_dir=str(settings.resolve_path(settings.manifests.root or settings.cwd)),
    )


def build_notion(
    settings: "Settings", metrics: PipelineMetrics | None = None
) -> "NotionClient | None":
    """The Notion client when NOTION_TOKEN is set, else None (preview mode)."""
    notion = settings.notion
    if notion.token is None:
        return None
    from esl_dagster.pipeline.notion.client import NotionClient

    return NotionClient(
        notion.token.get_secret_value(),
        base_url=notion.base_url,
        notion_version=notion.version,
        timeout=notion.timeout_seconds,
        max_attempts=notion.max_retries + 1,
        backoff_base=notion.retry_delay_seconds,
        metrics=metrics,
    )


def notion_defaults(settings: "Settings") -> "NotionDefaults":
    """The Notion target defaults the settings configure."""
    from esl_dagster.pipeline.notion.service_contract import NotionDefaults

    return NotionDefaults(
        database_id=settings.notion.db_id,
        data_source_id=settings.notion.data_source_id,
        students_data_source_id=settings.notion.students_data_source_id,
    )


def build_notion_service(
    settings: "Settings", store: ManifestStore, client: "NotionClient | None" = None
) -> "NotionService":
    """Live Notion when NOTION_TOKEN is set (``client``, built from the settings when not
    given), else preview mode writing next to the manifests."""
    from esl_dagster.pipeline.notion.live import LiveNotion
    from esl_dagster.pipeline.notion.offline import PreviewNotion

    client = client if client is not None else build_notion(settings)
    defaults = notion_defaults(settings)
    return PreviewNotion(store, defaults) if client is None else LiveNotion(client, defaults)


def build_tts_provider(
    settings: "Settings", metrics: PipelineMetrics | None = None
) -> "SpeechProvider":
    """ElevenLabs when ELEVENLABS_API_KEY is set, else the offline espeak-ng engine."""
    speech = settings.speech
    if speech.api_key is None:
        from esl_dagster.pipeline.tts.espeak import EspeakProvider

        return EspeakProvider(metrics=metrics)
    from esl_dagster.pipeline.tts.elevenlabs import ElevenLabsProvider

    return ElevenLabsProvider(speech, metrics=metrics)


def build_uploader(settings: "Settings", notion: "NotionClient | None" = None) -> "Uploader":
    """The ``auto`` upload target: S3 (or MinIO) when configured, else Notion itself when Notion
    is live (``notion``, its File Upload API), else the local upload folder.

    The key prefix is not baked in: each job passes its own (``--prefix``, else S3_PREFIX).
    """
    from esl_dagster.pipeline.storage import LocalUploader, NotionUploader, S3Uploader

    if settings.s3 is not None:
        return S3Uploader(settings.s3)
    if notion is not None:
        return NotionUploader(notion)
    return LocalUploader(settings.upload_dir, settings.storage.public_base_url)


def uploader_for(mode: "UploadMode", services: Services) -> "Uploader":
    """The target a job's ``upload`` option asks for; ``auto`` (and ``none``) keep the configured
    one. A target the settings cannot provide is a ``ConfigurationError`` naming them."""
    from esl_dagster.pipeline.notion.live import LiveNotion
    from esl_dagster.pipeline.storage import LocalUploader, NotionUploader, S3Uploader

    configured = services.uploader
    if mode == "s3" and not isinstance(configured, S3Uploader):
        raise ConfigurationError("--upload s3 needs S3 storage: set S3_BUCKET (or MINIO_ENABLED)")
    if mode == "notion" and not isinstance(configured, NotionUploader):
        if not isinstance(services.notion, LiveNotion):
            raise ConfigurationError("--upload notion needs a live Notion: set NOTION_TOKEN")
        return NotionUploader(services.notion.client)
    if mode == "local" and not isinstance(configured, LocalUploader):
        settings = services.settings
        return LocalUploader(settings.upload_dir, settings.storage.public_base_url)
    return configured


def build_services(
    settings: "Settings",
    *,
    logger: EventLogger | None = None,
    metrics: PipelineMetrics | None = None,
) -> Services:
    """Validate the settings, then pick each service per design D5."""
    settings.validate_for_start()
    metrics = metrics if metrics is not None else NoopMetrics()
    store = build_manifest_store(settings)
    notion = build_notion(settings, metrics)
    return Services(
        settings=settings,
        config_provider=build_config_provider(settings),
        manifest_store=store,
        notion=build_notion_service(settings, store, notion),
        tts_provider=build_tts_provider(settings, metrics),
        uploader=build_uploader(settings, notion),
        logger=logger if logger is not None else EventLogger(),
        metrics=metrics,
    )
