"""Import a lesson as a Notion page, idempotently (design D3).

How a retry never creates a second page:

1. The caller passes what the manifest records (``request.recorded``): the page id and the last
   :class:`ImportProgress`. A known page is updated in place (properties, icon, cover) and its
   children are replaced; nothing is created.
2. The request's checkpoint is told the progress right after the page is created, before any
   further request, and after every completed top-level batch, so the caller can store the page
   id and progress in the manifest at once. A crash after that point is resumed, never repeated.
3. The page carries the lesson key in a rich-text property (``key_property``, default
   ``Lesson Key``) when the data source has one; before creating, the data source is queried for a
   page with that key and such a page is adopted, unless the caller's record proves that no page
   was made (no page id and no create started), which saves that request; the checkpoint is told
   when a create starts, before it is sent.
4. The create request itself is never blindly retried: when its outcome is unknown (5xx, timeout,
   dropped connection) the data source is queried for the page (by key, or else by exact title and
   a creation time after the request started) and a found page is adopted.

Resume: ``ImportProgress.blocks_done`` counts the top-level blocks that were appended completely
(with all their deferred descendants). When the lesson content is unchanged (same
``content_hash``), a rerun trims whatever the failed batch left behind and appends from there;
when it changed, all old children are deleted (a few requests in flight) and the new ones
appended. Appends whose outcome is unknown are checked against the parent's children count before
being sent again.
"""

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from esl_dagster.pipeline.notion.batching import Batch, plan_batches
from esl_dagster.pipeline.notion.block_payloads import Block, children_of
from esl_dagster.pipeline.notion.blocks import markdown_to_blocks
from esl_dagster.pipeline.notion.client import JSON, NotionAPIError, NotionClient
from esl_dagster.pipeline.notion.import_progress import ImportProgress
from esl_dagster.pipeline.notion.properties import (
    PageFields,
    build_page_fields,
    lesson_student,
    value_for,
)
from esl_dagster.pipeline.notion.target import (
    NotionTarget,
    TargetIds,
    find_page_by_title,
    resolve_target,
)

if TYPE_CHECKING:
    from esl_dagster.pipeline.notion.service_contract import ImportRequest, NotionDefaults

Resolver = Callable[[NotionClient, TargetIds], NotionTarget]

_CLOCK_SKEW = timedelta(minutes=2)


@dataclass
class ImportResult:
    page_id: str
    url: str | None
    created: bool
    progress: ImportProgress
    student_linked: bool
    warnings: list[str] = field(default_factory=list)


def content_hash(blocks: list[Block]) -> str:
    return hashlib.sha256(
        json.dumps(blocks, sort_keys=True, ensure_ascii=False).encode()
    ).hexdigest()


def import_lesson(
    client: NotionClient,
    request: "ImportRequest",
    defaults: "NotionDefaults",
    *,
    resolve: Resolver = resolve_target,
) -> ImportResult:
    """Create or update the lesson's page. See the module docstring for the idempotency rules.

    ``defaults`` gives the students' data source and the key property; ``resolve`` turns the
    target ids into the data source and its schema (a caller may cache).
    """
    lesson, recorded, checkpoint = request.lesson, request.recorded, request.checkpoint
    blocks = markdown_to_blocks(lesson.body)
    target = resolve(client, lesson.target.ids())
    warnings: list[str] = []
    student_prop = _student_property(
        client,
        target,
        lesson_student(lesson.meta, lesson.student),
        defaults.students_data_source_id,
        warnings,
    )
    key = _page_key(target, defaults.key_property, lesson.lesson_key)
    fields = build_page_fields(
        lesson.meta,
        target=target,
        student_value=student_prop[1] if student_prop else None,
        student_property=student_prop[0] if student_prop else None,
        key=key,
    )
    warnings.extend(fields.warnings)
    progress = recorded.progress
    existing = recorded.page_id or (progress.page_id if progress else None)
    if existing is None and key is not None and recorded.create_started:
        existing = _find_by_key(client, target, key)
    page = _update_existing(client, existing, fields, warnings)
    report = _Reporter(content_hash(blocks), len(blocks), checkpoint.progress)
    if page is None:
        checkpoint.create_started()
        page = _create(client, target, fields, blocks, key, report)
    else:
        report.page_id = str(page["id"])
        _refresh_children(client, blocks, progress, report, force=request.force)
    return ImportResult(
        page_id=report.page_id,
        url=page.get("url"),
        created=report.created,
        progress=report.snapshot(),
        student_linked=bool(student_prop and "relation" in student_prop[1]),
        warnings=warnings,
    )


def _page_key(target: NotionTarget, key_property: str, lesson_key: str) -> tuple[str, str] | None:
    """The (property, value) that identifies the lesson's page: None when the data source has no
    rich-text property named ``key_property``."""
    found = target.find(key_property)
    return (found[0], lesson_key) if found and found[1].get("type") == "rich_text" else None


def _update_existing(
    client: NotionClient, page_id: str | None, fields: PageFields, warnings: list[str]
) -> JSON | None:
    """Update the known page in place; None when there is none or Notion answers 404 (the update
    is what checks that the recorded page still exists: no separate request)."""
    if page_id is None:
        return None
    try:
        return client.update_page(page_id, fields.body())
    except NotionAPIError as error:
        if error.status != 404:
            raise
        warnings.append(f"Page {page_id} no longer exists; a new page was created.")
        return None


def _refresh_children(
    client: NotionClient,
    blocks: list[Block],
    progress: ImportProgress | None,
    report: "_Reporter",
    *,
    force: bool,
) -> None:
    """Bring an existing page's children to ``blocks``: nothing when the recorded import of the
    same content is complete, else resume the append (same content) or replace them all."""
    same = (
        progress is not None
        and progress.page_id == report.page_id
        and progress.content_hash == report.digest
    )
    if same and progress is not None and progress.complete and not force:
        report.done = progress.blocks_done
        return
    start = progress.blocks_done if same and progress is not None else 0
    _trim_children(client, report.page_id, keep=start)
    report.advance(start)
    _append_tree(client, report.page_id, blocks[start:], before=start, on_batch=report.advance)


class _Reporter:
    def __init__(self, digest: str, total: int, callback: Callable[[ImportProgress], None]) -> None:
        self.digest, self.total, self.callback = digest, total, callback
        self.page_id = ""
        self.done = 0
        self.created = False

    def snapshot(self) -> ImportProgress:
        return ImportProgress(self.page_id, self.digest, self.done, self.total)

    def advance(self, count: int) -> None:
        self.done = count
        self.callback(self.snapshot())


def _create(
    client: NotionClient,
    target: NotionTarget,
    fields: PageFields,
    blocks: list[Block],
    key: tuple[str, str] | None,
    report: _Reporter,
) -> JSON:
    batches = plan_batches(blocks)
    first = batches[0] if batches else Batch()
    body: JSON = {"parent": {"data_source_id": target.data_source_id}, **fields.body()}
    if first.blocks:
        body["children"] = first.blocks
    started = datetime.now(UTC) - _CLOCK_SKEW
    title = "".join(i["text"]["content"] for i in fields.properties[target.title_property]["title"])

    def recover() -> JSON | None:
        if key is not None:
            return _find_by_key_page(client, target, key)
        return _find_recent(client, target, title, started)

    page = client.create_page(body, recover=recover)
    report.page_id = str(page["id"])
    report.created = True
    report.advance(0)
    if first.deferred:
        top_ids = [c["id"] for c in client.iter_block_children(report.page_id)]
        _finish_deferred(client, top_ids, first)
    report.advance(len(first.blocks))
    rest = blocks[len(first.blocks) :]
    _append_tree(client, report.page_id, rest, before=len(first.blocks), on_batch=report.advance)
    return page


def _append_tree(
    client: NotionClient,
    parent_id: str,
    blocks: list[Block],
    *,
    before: int,
    on_batch: Callable[[int], None] | None = None,
) -> None:
    """Append ``blocks`` under ``parent_id`` (which has ``before`` children) in valid requests.

    ``on_batch`` receives the parent's children count after each completed batch.
    """
    for batch in plan_batches(blocks):
        results = _append_checked(client, parent_id, batch.blocks, before)
        before += len(batch.blocks)
        _finish_deferred(client, [r["id"] for r in results], batch)
        if on_batch is not None:
            on_batch(before)


def _finish_deferred(client: NotionClient, top_ids: list[str], batch: Batch) -> None:
    listed: dict[str, list[str]] = {}
    for deferred in batch.deferred:
        node_id = top_ids[deferred.path[0]]
        payload = batch.blocks[deferred.path[0]]
        for index in deferred.path[1:]:
            if node_id not in listed:
                listed[node_id] = [c["id"] for c in client.iter_block_children(node_id)]
            node_id = listed[node_id][index]
            payload = children_of(payload)[index]
        _append_tree(client, node_id, deferred.children, before=len(children_of(payload)))


def _append_checked(
    client: NotionClient, parent_id: str, blocks: list[Block], before: int
) -> list[JSON]:
    def recover() -> JSON | None:
        children = list(client.iter_block_children(parent_id))
        if len(children) == before + len(blocks):
            return {"results": children[before:]}
        client.delete_blocks([extra["id"] for extra in children[before:]])
        return None

    results: list[JSON] = client.append_block_children(parent_id, blocks, recover=recover)[
        "results"
    ]
    return results


def _trim_children(client: NotionClient, parent_id: str, *, keep: int) -> None:
    """Trash the children after the first ``keep`` (a few at a time; a top-level block takes its
    descendants along). The append starts only after every deletion succeeded; after a failure
    the progress is unchanged and a rerun lists the remaining children and trims them again."""
    client.delete_blocks(
        [child["id"] for child in list(client.iter_block_children(parent_id))[keep:]]
    )


def _find_by_key(client: NotionClient, target: NotionTarget, key: tuple[str, str]) -> str | None:
    page = _find_by_key_page(client, target, key)
    return str(page["id"]) if page else None


def _find_by_key_page(
    client: NotionClient, target: NotionTarget, key: tuple[str, str]
) -> JSON | None:
    answer = client.query_data_source(
        target.data_source_id,
        {"filter": {"property": key[0], "rich_text": {"equals": key[1]}}, "page_size": 1},
    )
    results: list[JSON] = answer.get("results", [])
    return results[0] if results else None


def _find_recent(
    client: NotionClient, target: NotionTarget, title: str, since: datetime
) -> JSON | None:
    answer = client.query_data_source(
        target.data_source_id,
        {
            "filter": {
                "and": [
                    {"property": target.title_property, "title": {"equals": title}},
                    {
                        "timestamp": "created_time",
                        "created_time": {"on_or_after": since.isoformat()},
                    },
                ]
            },
            "sorts": [{"timestamp": "created_time", "direction": "descending"}],
            "page_size": 1,
        },
    )
    results: list[JSON] = answer.get("results", [])
    return results[0] if results else None


def _student_property(
    client: NotionClient,
    target: NotionTarget,
    name: str,
    students_data_source_id: str | None,
    warnings: list[str],
) -> tuple[str, JSON] | None:
    if not name:
        return None
    found = target.find("student")
    if found is None:
        warnings.append("The data source has no Student property; the student was not linked.")
        return None
    prop_name, prop = found
    kind = str(prop.get("type"))
    if kind != "relation":
        return prop_name, value_for(kind, name, prop_name)
    source_id = students_data_source_id or (prop.get("relation") or {}).get("data_source_id")
    if not source_id:
        warnings.append(
            "The Student relation has no target data source; the student was not linked."
        )
        return None
    page_id = find_page_by_title(client, str(source_id), name)
    if page_id is None:
        warnings.append(
            f'Student page not found: "{name}"; the lesson was imported without a student link.'
        )
        return None
    return prop_name, {"relation": [{"id": page_id}]}
