"""Live Notion: the requests are sent; nothing offline is computed."""

import time

from esl_dagster.pipeline.errors import ManifestError
from esl_dagster.pipeline.manifest import NotionRecord
from esl_dagster.pipeline.notion.audio_block import add_or_replace_audio
from esl_dagster.pipeline.notion.client import NotionClient
from esl_dagster.pipeline.notion.colorize import apply_preset
from esl_dagster.pipeline.notion.importer import import_lesson
from esl_dagster.pipeline.notion.offline import DryRunNotion, counts_token
from esl_dagster.pipeline.notion.service_contract import (
    AudioRequest,
    ColorizeRequest,
    ImportRequest,
    NotionDefaults,
    NotionEffect,
    NotionService,
)
from esl_dagster.pipeline.notion.target import (
    CACHE_TTL_SECONDS,
    NotionTarget,
    TargetIds,
    resolve_target,
)


class LiveNotion:
    """Sends the requests. Data-source schemas are cached for the service's lifetime (one run
    process), at most ``CACHE_TTL_SECONDS``; the page id the manifest records is trusted and
    checked by the update that uses it (a 404 there creates the page anew)."""

    mode = "notion"
    page_required = True

    def __init__(self, client: NotionClient, defaults: NotionDefaults) -> None:
        self.client = client
        self.defaults = defaults
        self._targets: dict[TargetIds, tuple[float, NotionTarget]] = {}

    def imported(self, page_id: str | None, record: NotionRecord | None) -> bool:  # noqa: ARG002
        return bool(page_id)

    def for_dry_run(self) -> NotionService:
        return DryRunNotion(self)

    def _resolve(self, client: NotionClient, ids: TargetIds) -> NotionTarget:
        cached = self._targets.get(ids)
        if cached is not None and time.monotonic() - cached[0] < CACHE_TTL_SECONDS:
            return cached[1]
        target = resolve_target(client, ids)
        self._targets[ids] = (time.monotonic(), target)
        return target

    def import_lesson(self, request: ImportRequest) -> NotionEffect:
        result = import_lesson(self.client, request, self.defaults, resolve=self._resolve)
        return NotionEffect(
            detail={
                "pageId": result.page_id,
                "pageUrl": result.url,
                "created": result.created,
                "studentLinked": result.student_linked,
                "warnings": result.warnings,
            },
            tokens=["import"],
            outputs={"pageId": result.page_id},
            page=(result.page_id, result.url),
            record=NotionRecord(imported=True, progress=result.progress.to_dict()),
        )

    def colorize(self, request: ColorizeRequest) -> NotionEffect:
        counts = apply_preset(self.client, _page(request.page_id), request.preset).as_dict()
        return NotionEffect(
            detail={"preset": request.preset_name, "counts": counts},
            tokens=["colorize", counts_token(request.preset_name, counts)],
            outputs={"counts": counts},
        )

    def attach_audio(self, request: AudioRequest) -> NotionEffect:
        page_id = _page(request.page_id)
        result = add_or_replace_audio(
            self.client, page_id, request.url, previous_block_id=request.previous_block_id
        )
        return NotionEffect(
            detail={
                "pageId": page_id,
                "url": request.url,
                "blockId": result.block_id,
                "appended": result.appended,
                "replaced": result.replaced,
            },
            tokens=["add-audio"],
            outputs={"blockId": result.block_id},
        )


def _page(page_id: str | None) -> str:
    if not page_id:
        raise ManifestError("no Notion page recorded: the import stage must run first")
    return page_id
