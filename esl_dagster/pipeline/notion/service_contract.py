"""Notion as one service, chosen once: live, preview or dry run behind one interface.

``build_services`` picks :class:`LiveNotion` when ``NOTION_TOKEN`` is set and :class:`PreviewNotion`
otherwise; a dry run wraps either in :class:`DryRunNotion` (:meth:`NotionService.for_dry_run`).
The stages call the same three methods whatever the mode and record the :class:`NotionEffect`
they get back:

- live: the requests are sent (import, colours, audio block); nothing offline is computed;
- preview: nothing is sent; the exact requests are written next to the manifest, marked as not
  imported (colours and the audio block are added to that file as the stages run);
- dry run: nothing is sent and nothing is written; the planned requests are reported.

The lesson itself (:class:`LessonPage`) is passed as a function, so live colorize and add-audio,
which only need the page id, never read or convert the lesson. The implementations live in
:mod:`.live` and :mod:`.offline`; ``services.build_notion_service`` chooses one.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from esl_dagster.pipeline.config.models import Preset, StudentProfile
from esl_dagster.pipeline.errors import ConfigurationError
from esl_dagster.pipeline.lesson.models import LessonMeta
from esl_dagster.pipeline.manifest import NotionRecord
from esl_dagster.pipeline.notion.import_progress import DEFAULT_KEY_PROPERTY, ImportProgress
from esl_dagster.pipeline.notion.preview import (
    ImportPreview,
    colour_requests,
    plan_colorize,
    planned_import,
)
from esl_dagster.pipeline.notion.target import TargetIds


@dataclass(frozen=True)
class NotionDefaults:
    """Settings the service needs besides the token (mapped from the environment by the settings package)."""

    database_id: str | None = None
    data_source_id: str | None = None
    students_data_source_id: str | None = None
    key_property: str = DEFAULT_KEY_PROPERTY


@dataclass(frozen=True)
class TargetChoice:
    """Where the lesson goes, before resolution: the job's explicit target, then the student
    profile's ids, then the configured defaults (see :mod:`.target`)."""

    defaults: NotionDefaults = NotionDefaults()
    profile: StudentProfile | None = None
    data_source_id: str | None = None
    database_id: str | None = None
    database_name: str | None = None
    data_source_name: str | None = None

    def ids(self) -> TargetIds:
        """The target by precedence; ConfigurationError when none is known."""
        profile = self.profile
        levels = [
            (self.data_source_id, self.database_id, self.database_name),
            (profile.data_source_id, profile.db_id, None) if profile else (None, None, None),
            (self.defaults.data_source_id, self.defaults.database_id, None),
        ]
        for ds, db, db_name in levels:
            if ds or db or db_name:
                return TargetIds(ds or None, db or None, self.data_source_name, db_name or None)
        if self.data_source_name:
            return TargetIds(data_source_name=self.data_source_name)
        raise ConfigurationError(
            "No Notion target: pass a data source id or name or a database id or name, set "
            "dbId/dataSourceId in the student profile, or set NOTION_DATA_SOURCE_ID / NOTION_DB_ID."
        )

    def preview_ids(self) -> TargetIds | None:
        """The target as far as it is known offline (None: nothing configured; a target known
        only by name keeps a placeholder id)."""
        explicit = (self.data_source_id, self.database_id, self.database_name)
        known = (*explicit, self.data_source_name, self.defaults.data_source_id)
        if any(known) or self.profile or self.defaults.database_id:
            return self.ids()
        return None


@dataclass(frozen=True)
class LessonPage:
    """The lesson as Notion receives it: content, identity (``lesson_key``) and target.

    ``preset`` is the preset that colours the page in this run's lineage (the preview's colours).
    """

    md_path: str
    lesson_key: str
    meta: LessonMeta
    body: str
    target: TargetChoice
    student: str | None = None
    preset: Preset | None = None

    def preview(self) -> ImportPreview:
        """The import's requests, with the colours of ``preset`` when it is set."""
        planned = planned_import(
            meta=self.meta,
            body=self.body,
            target_ids=self.target.preview_ids(),
            student=self.student,
        )
        if self.preset is not None:
            planned.colors = colour_requests(plan_colorize(planned, self.preset))
        return planned


LessonSource = Callable[[], LessonPage]
"""Reads the lesson when a mode needs its content (preview, dry run, live import)."""


@dataclass(frozen=True)
class RecordedImport:
    """What the manifest says about the page: its id, the append progress, and whether a create
    was started without its page id being recorded (then the lesson key is looked up)."""

    page_id: str | None = None
    progress: ImportProgress | None = None
    create_started: bool = False


class ImportCheckpoint(Protocol):
    """Where a live import records its state at once, so a retry resumes instead of repeating."""

    def create_started(self) -> None:
        """Called right before a page is created."""
        ...

    def progress(self, progress: ImportProgress) -> None:
        """Called once the page exists and after every completed batch."""
        ...


@dataclass(frozen=True)
class ImportRequest:
    """Create or update the lesson's page (``force``: rewrite its blocks even when unchanged)."""

    lesson: LessonPage
    recorded: RecordedImport
    checkpoint: ImportCheckpoint
    force: bool = False


@dataclass(frozen=True)
class ColorizeRequest:
    """Colour the page's headings and toggles with the preset ``preset_name``."""

    page_id: str | None
    preset_name: str
    preset: Preset
    lesson: LessonSource


@dataclass(frozen=True)
class AudioRequest:
    """Place the audio block above the study-text toggle, replacing ours (the manifest records
    ``previous_block_id``)."""

    page_id: str | None
    url: str
    lesson: LessonSource
    previous_block_id: str | None = None


@dataclass
class NotionEffect:
    """What a Notion call did, for the stage to record.

    ``page`` is the lesson's page (id, url) when the call made or confirmed one; ``record`` the
    manifest's new ``notion`` entry (None: unchanged).
    """

    detail: dict[str, Any]
    tokens: list[str]
    outputs: dict[str, Any] = field(default_factory=dict)
    page: tuple[str, str | None] | None = None
    record: NotionRecord | None = None


class NotionService(Protocol):
    """One interface for live, preview and dry-run Notion."""

    mode: str
    """``notion`` (live) or ``preview``: part of the input hashes (a dry run keeps its real mode)."""
    page_required: bool
    """True when colorize and add-audio need the page id the import recorded."""
    defaults: NotionDefaults

    def imported(self, page_id: str | None, record: NotionRecord | None) -> bool:
        """Whether the manifest shows the lesson imported in this mode."""
        ...

    def for_dry_run(self) -> "NotionService":
        """The stand-in that reports what this service would do and changes nothing."""
        ...

    def import_lesson(self, request: ImportRequest) -> NotionEffect: ...

    def colorize(self, request: ColorizeRequest) -> NotionEffect: ...

    def attach_audio(self, request: AudioRequest) -> NotionEffect: ...
