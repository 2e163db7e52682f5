"""A read-only check of a real Notion set-up (``esl notion check``).

It reads the configured database and data source (``GET`` only, nothing is written) and reports,
with the fix for each: a token Notion refuses, a database or data source the integration cannot
see (not shared with it), several data sources where one is needed, and the properties the import
writes that are missing or of the wrong type. The properties are those of
:mod:`~esl_dagster.pipeline.notion.properties` and the importer: the title, ``Topic``, the
``Student`` relation (whose students data source must be shared too) and the lesson key
(``Lesson Key``); with lessons given, also each front-matter property they set.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from esl_dagster.pipeline.notion.client import NotionAPIError, NotionClient
from esl_dagster.pipeline.notion.import_progress import DEFAULT_KEY_PROPERTY
from esl_dagster.pipeline.notion.target import NotionTarget, TargetIds

SHARE_FIX = (
    "share the database with the integration: open it in Notion, ••• menu > Connections > "
    "add your integration (and check the id)"
)
TYPE_LABELS = {
    "title": "Title",
    "rich_text": "Text",
    "multi_select": "Multi-select",
    "select": "Select",
    "relation": "Relation",
    "status": "Status",
    "url": "URL",
    "number": "Number",
    "checkbox": "Checkbox",
    "date": "Date",
}


@dataclass(frozen=True)
class ExpectedProperty:
    """A property the import writes: its name, the types it can write, what it is for."""

    name: str
    types: tuple[str, ...]
    purpose: str


EXPECTED_PROPERTIES = (
    ExpectedProperty("Topic", ("multi_select", "select", "rich_text"), "the lesson's topic"),
    ExpectedProperty("Student", ("relation",), "the link to the student's page"),
    ExpectedProperty(
        DEFAULT_KEY_PROPERTY, ("rich_text",), "finds the lesson's page again on reruns"
    ),
)


@dataclass
class CheckReport:
    """What was checked: ``(ok, line)`` pairs in order; ``problems`` counts the failed ones."""

    lines: list[tuple[bool, str]] = field(default_factory=list)

    def ok(self, text: str) -> None:
        self.lines.append((True, text))

    def problem(self, text: str) -> None:
        self.lines.append((False, text))

    @property
    def problems(self) -> int:
        return sum(1 for ok, _ in self.lines if not ok)


def check_notion(
    client: NotionClient, ids: TargetIds, *, lesson_properties: Sequence[str] = ()
) -> CheckReport:
    """Check the target ``ids`` name (a data source id, or a database id with one source)."""
    report = CheckReport()
    data_source_id = ids.data_source_id
    if data_source_id is None and ids.database_id:
        data_source_id = _only_source(client, ids.database_id, report)
    if data_source_id is None:
        return report
    source = _read(client, "data source", data_source_id, report)
    if source is None:
        return report
    target = NotionTarget(
        data_source_id=str(source.get("id", data_source_id)),
        database_id=(source.get("parent") or {}).get("database_id"),
        schema=dict(source.get("properties") or {}),
    )
    report.ok(f"data source {target.data_source_id} is shared with the integration")
    report.ok(f'title property "{target.title_property}" holds the lesson title')
    for expected in EXPECTED_PROPERTIES:
        _check_property(client, target, expected, report)
    for name in dict.fromkeys(lesson_properties):
        found = target.find(name)
        if found is None:
            report.problem(
                f'"{name}" (set by a lesson\'s front matter) is missing: add a property named '
                f'"{name}" or remove it from the lesson'
            )
        else:
            report.ok(f'"{found[0]}" ({found[1].get("type")}) receives the lesson\'s "{name}"')
    return report


def _only_source(client: NotionClient, database_id: str, report: CheckReport) -> str | None:
    database = _read(client, "database", database_id, report)
    if database is None:
        return None
    sources = database.get("data_sources") or []
    report.ok(f"database {database_id} is shared with the integration")
    if len(sources) == 1:
        return str(sources[0]["id"])
    if not sources:
        report.problem(f"database {database_id} has no data source: add a table view to it")
        return None
    listed = ", ".join(f"{s.get('name') or '?'} ({s['id']})" for s in sources)
    report.problem(
        f"database {database_id} has {len(sources)} data sources ({listed}): set "
        "NOTION_DATA_SOURCE_ID (or --data-source-id) to the one lessons go to"
    )
    return None


def _read(client: NotionClient, kind: str, object_id: str, report: CheckReport) -> Any:
    """``GET`` the object; a refusal is reported with its fix and gives None."""
    try:
        if kind == "database":
            return client.retrieve_database(object_id)
        return client.retrieve_data_source(object_id)
    except NotionAPIError as error:
        if error.status == 401:
            report.problem(
                "Notion refused the token (401): set NOTION_TOKEN to the integration's "
                "internal integration secret"
            )
        elif error.status in (403, 404):
            report.problem(f"{kind} {object_id} is not visible to the integration: {SHARE_FIX}")
        elif error.status == 400:
            report.problem(f"{kind} id {object_id!r} is not valid: {error.args[0]}")
        else:
            raise
        return None


def _check_property(
    client: NotionClient, target: NotionTarget, expected: ExpectedProperty, report: CheckReport
) -> None:
    found = target.find(expected.name)
    wanted = " or ".join(TYPE_LABELS.get(kind, kind) for kind in expected.types)
    if found is None:
        report.problem(
            f'"{expected.name}" is missing: add a {wanted} property named "{expected.name}" '
            f"({expected.purpose})"
        )
        return
    name, schema = found
    kind = str(schema.get("type"))
    if kind not in expected.types:
        report.problem(
            f'"{name}" is a {TYPE_LABELS.get(kind, kind)} property: change its type to {wanted} '
            f"({expected.purpose})"
        )
        return
    report.ok(f'"{name}" ({kind}) holds {expected.purpose}')
    if kind == "relation":
        related = (schema.get("relation") or {}).get("data_source_id")
        if related and _read(client, "data source", str(related), report) is None:
            return
        if related:
            report.ok(f'"{name}" points to data source {related}, shared with the integration')
