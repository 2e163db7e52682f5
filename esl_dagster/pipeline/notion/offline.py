"""Offline Notion: preview mode (the planned requests written next to the manifest, marked as not
imported) and dry runs (the planned requests reported, nothing written). Nothing is sent."""

from esl_dagster.pipeline.config.models import Preset
from esl_dagster.pipeline.manifest import ManifestStore, NotionRecord
from esl_dagster.pipeline.notion.preview import (
    ImportPreview,
    colour_requests,
    plan_audio,
    plan_colorize,
)
from esl_dagster.pipeline.notion.service_contract import (
    AudioRequest,
    ColorizeRequest,
    ImportRequest,
    LessonPage,
    NotionDefaults,
    NotionEffect,
    NotionService,
)


def counts_token(preset_name: str, counts: dict[str, int]) -> str:
    """The original's step token after a colorize: ``colorize:<preset>:<h2>/<h3>/<toggles>``."""
    return f"colorize:{preset_name}:{counts['h2']}/{counts['h3']}/{counts['toggles']}"


def plan_import_effect(planned: ImportPreview) -> NotionEffect:
    detail = {"imported": False, "blocks": planned.total_blocks, "requests": len(planned.requests)}
    return NotionEffect(detail=detail, tokens=["import"])


def plan_colorize_effect(
    planned: ImportPreview, preset_name: str, preset: Preset, *, like_live: bool
) -> NotionEffect:
    """The colours ``preset`` gives the planned page. A plan standing in for a live page
    (``like_live``) reports like the live colorizer; a preview lists the updates and adds them to
    ``planned``."""
    plan = plan_colorize(planned, preset)
    counts = plan.counts.as_dict()
    token = counts_token(preset_name, counts)
    effect = NotionEffect(
        detail={"preset": preset_name, "counts": counts}, tokens=[token], outputs={"counts": counts}
    )
    if like_live:
        effect.tokens.insert(0, "colorize")
        return effect
    planned.colors = colour_requests(plan)
    effect.detail["preview"] = True
    effect.detail["updates"] = [request.to_dict() for request in planned.colors]
    return effect


def plan_audio_effect(planned: ImportPreview, request: AudioRequest) -> NotionEffect:
    """The add-audio request for the planned page, added to ``planned``."""
    planned.audio = plan_audio(planned, request.url, page_id=request.page_id)
    detail = {
        "pageId": request.page_id,
        "url": request.url,
        "preview": True,
        "payload": planned.audio.to_dict(),
    }
    return NotionEffect(detail=detail, tokens=["add-audio"])


class PreviewNotion:
    """Preview mode: writes the planned requests next to the manifest, marked as not imported."""

    mode = "preview"
    page_required = False

    def __init__(self, store: ManifestStore, defaults: NotionDefaults) -> None:
        self.store = store
        self.defaults = defaults

    def imported(self, page_id: str | None, record: NotionRecord | None) -> bool:  # noqa: ARG002
        return record is not None

    def for_dry_run(self) -> NotionService:
        return DryRunNotion(self)

    def _write(
        self, lesson: LessonPage, planned: ImportPreview, effect: NotionEffect
    ) -> NotionEffect:
        """Write the preview and record the lesson as not imported (a page imported earlier with
        a token stays recorded: preview mode never forgets it)."""
        location = self.store.write_preview(lesson.md_path, planned.to_dict())
        effect.detail["previewPath"] = location
        effect.outputs["previewPath"] = location
        effect.record = NotionRecord(imported=False, preview_path=location)
        return effect

    def import_lesson(self, request: ImportRequest) -> NotionEffect:
        planned = request.lesson.preview()
        return self._write(request.lesson, planned, plan_import_effect(planned))

    def colorize(self, request: ColorizeRequest) -> NotionEffect:
        lesson = request.lesson()
        planned = lesson.preview()
        effect = plan_colorize_effect(planned, request.preset_name, request.preset, like_live=False)
        return self._write(lesson, planned, effect)

    def attach_audio(self, request: AudioRequest) -> NotionEffect:
        lesson = request.lesson()
        planned = lesson.preview()
        return self._write(lesson, planned, plan_audio_effect(planned, request))


class DryRunNotion:
    """A dry run: sends and writes nothing; reports what ``real`` (live or preview) would do."""

    page_required = False

    def __init__(self, real: NotionService) -> None:
        self.real = real
        self.mode = real.mode
        self.defaults = real.defaults

    def imported(self, page_id: str | None, record: NotionRecord | None) -> bool:
        return self.real.imported(page_id, record)

    def for_dry_run(self) -> NotionService:
        return self

    def import_lesson(self, request: ImportRequest) -> NotionEffect:
        planned = request.lesson.preview()
        effect = plan_import_effect(planned)
        page_id = request.recorded.page_id if self.real.page_required else None
        effect.detail["wouldUpdatePage"] = page_id
        effect.detail["payload"] = planned.to_dict()
        return effect

    def colorize(self, request: ColorizeRequest) -> NotionEffect:
        planned = request.lesson().preview()
        like_live = self.real.page_required
        return plan_colorize_effect(
            planned, request.preset_name, request.preset, like_live=like_live
        )

    def attach_audio(self, request: AudioRequest) -> NotionEffect:
        return plan_audio_effect(request.lesson().preview(), request)
