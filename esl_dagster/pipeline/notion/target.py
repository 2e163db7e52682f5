"""Which data source a lesson goes to, and its schema (API 2025-09-03).

Precedence for the target (applied by :meth:`.service_contract.TargetChoice.ids`): explicit options, then the student profile (``dbId`` /
``dataSourceId``), then the settings defaults (``NOTION_DATA_SOURCE_ID`` / ``NOTION_DB_ID``); within
one level a data-source id wins over a database id, which wins over a database name (explicit
options only). A database id is resolved through its ``data_sources`` list: one source is used,
several need a data-source name. A data-source name with no id or database name anywhere names
the data source itself.

Names are found with ``POST /v1/search`` filtered to ``data_source`` objects (the original
searched for ``database`` objects, a filter 2025-09-03 rejects): a title equal to the name
(trimmed, case-insensitive) matches. A database is reached through its data sources: a database
name first matches the databases whose data source carries that title; when none does (e.g. the
database "Homework Assignments" whose only source is "Primary"), the shared data sources are listed
(search without a query, at most ``MAX_SOURCES_LISTED``) and each distinct parent database is
retrieved once (at most ``MAX_DATABASES_CHECKED``) to compare the database's own title. No match
or several matches is a ConfigurationError listing the candidates. The schema is always read from
the DATA SOURCE (the original read the database object, whose ``properties`` no longer exist
under 2025-09-03). Database lookups are cached for five minutes per token and database.
"""

import itertools
import time
from dataclasses import dataclass, field
from typing import Any

from esl_dagster.pipeline.errors import ConfigurationError
from esl_dagster.pipeline.notion.client import NotionClient
from esl_dagster.pipeline.notion.rich_text import plain_text_of

CACHE_TTL_SECONDS = 300.0
MAX_SOURCES_LISTED = 500
MAX_DATABASES_CHECKED = 30
TITLE_PROPERTY_ID = "title"
_database_cache: dict[str, tuple[float, str, list[dict[str, Any]]]] = {}


@dataclass(frozen=True)
class TargetIds:
    data_source_id: str | None = None
    database_id: str | None = None
    data_source_name: str | None = None
    database_name: str | None = None


@dataclass(frozen=True)
class NotionTarget:
    """A resolved data source: its ids and its property schema (name -> schema object)."""

    data_source_id: str
    database_id: str | None
    schema: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def title_property(self) -> str:
        return next((name for name, p in self.schema.items() if p.get("type") == "title"), "Name")

    def find(self, name: str) -> tuple[str, dict[str, Any]] | None:
        """The schema property named ``name`` (trimmed, case-insensitive)."""
        wanted = name.strip().lower()
        for prop_name, prop in self.schema.items():
            if prop_name.strip().lower() == wanted:
                return prop_name, prop
        return None


def resolve_target(client: NotionClient, ids: TargetIds) -> NotionTarget:
    """Resolve ``ids`` to a data source and read its schema.

    One call for a data-source id, two with an uncached database id; a name adds the search.
    """
    data_source_id = ids.data_source_id
    database_id = ids.database_id
    if data_source_id is None and database_id is None:
        if ids.database_name:
            database_id = find_database_by_name(client, ids.database_name)
        elif ids.data_source_name:
            data_source_id = find_data_source_by_name(client, ids.data_source_name)
        else:
            raise ConfigurationError("No Notion target: no data source or database id or name.")
    if data_source_id is None:
        assert database_id is not None
        database_id, data_source_id = _pick_source(client, database_id, ids.data_source_name)
    source = client.retrieve_data_source(data_source_id)
    parent = source.get("parent") or {}
    return NotionTarget(
        data_source_id=str(source.get("id", data_source_id)),
        database_id=parent.get("database_id") or database_id,
        schema=dict(source.get("properties") or {}),
    )


@dataclass(frozen=True)
class _FoundSource:
    """A data source returned by the search: its id, title and parent database id."""

    id: str
    title: str
    database_id: str | None

    def describe(self) -> str:
        return f'"{self.title}" (data source {self.id}, database {self.database_id or "unknown"})'


def find_database_by_name(client: NotionClient, name: str) -> str:
    """The id of the one database titled ``name``, or whose data source is titled ``name``."""
    found, seen = _search_sources(client, name)
    databases = {s.database_id: s.describe() for s in found if s.database_id}
    checked = 0
    if not databases:
        databases, checked = _databases_titled(client, name)
    if len(databases) == 1:
        return next(iter(databases))
    if not databases:
        limit = (
            f" Only the first {MAX_DATABASES_CHECKED} databases were checked by title;"
            " pass the database id."
            if checked >= MAX_DATABASES_CHECKED
            else ""
        )
        raise ConfigurationError(
            f'Notion database not found by name: "{name}". '
            f"{_candidates('Similar titles', [s.describe() for s in seen])}{limit}"
        )
    raise ConfigurationError(
        f'Several Notion databases are named "{name}"; pass the database id. '
        + _candidates("Candidates", list(databases.values()))
    )


def _databases_titled(client: NotionClient, name: str) -> tuple[dict[str, str], int]:
    """Databases whose own title is ``name`` (id -> description) and how many were retrieved.

    Search only matches data source titles, so the shared data sources are listed without a
    query and each distinct parent database is retrieved once; every retrieved database also
    fills the data-source cache that :func:`_pick_source` reads next.
    """
    body = {"filter": {"property": "object", "value": "data_source"}}
    database_ids: list[str] = []
    for result in itertools.islice(client.iter_search(body), MAX_SOURCES_LISTED):
        db_id = str((result.get("parent") or {}).get("database_id") or "")
        if result.get("object") == "data_source" and db_id and db_id not in database_ids:
            database_ids.append(db_id)
    wanted = name.strip().lower()
    matches: dict[str, str] = {}
    checked = database_ids[:MAX_DATABASES_CHECKED]
    for db_id in checked:
        database = client.retrieve_database(db_id)
        found_id = str(database.get("id", db_id))
        sources = list(database.get("data_sources") or [])
        _database_cache[f"{client.cache_key}:{db_id}"] = (time.monotonic(), found_id, sources)
        title = plain_text_of(database.get("title") or []).strip()
        if title.lower() == wanted:
            matches[found_id] = f'"{title}" (database {found_id})'
    return matches, len(checked)


def find_data_source_by_name(client: NotionClient, name: str) -> str:
    """The id of the one data source titled ``name``."""
    found, seen = _search_sources(client, name)
    if len(found) == 1:
        return found[0].id
    if not found:
        raise ConfigurationError(
            f'Notion data source not found by name: "{name}". '
            + _candidates("Similar titles", [s.describe() for s in seen])
        )
    raise ConfigurationError(
        f'Several Notion data sources are named "{name}"; '
        "pass the data source id or the database id. "
        + _candidates("Candidates", [s.describe() for s in found])
    )


def _search_sources(
    client: NotionClient, name: str
) -> tuple[list[_FoundSource], list[_FoundSource]]:
    """The data sources titled ``name`` (trimmed, case-insensitive) and every one the search saw."""
    body = {"query": name.strip(), "filter": {"property": "object", "value": "data_source"}}
    seen: list[_FoundSource] = []
    for result in client.iter_search(body):
        if result.get("object") != "data_source" or result.get("id") is None:
            continue
        parent = result.get("parent") or {}
        seen.append(
            _FoundSource(
                id=str(result["id"]),
                title=plain_text_of(result.get("title") or []).strip(),
                database_id=str(parent["database_id"]) if parent.get("database_id") else None,
            )
        )
    wanted = name.strip().lower()
    return [s for s in seen if s.title.lower() == wanted], seen


def _candidates(label: str, described: list[str]) -> str:
    listed = ", ".join(described) if described else "(none)"
    return f"{label}: {listed}."


def _pick_source(client: NotionClient, database_id: str, name: str | None) -> tuple[str, str]:
    key = f"{client.cache_key}:{database_id}"
    cached = _database_cache.get(key)
    if cached and time.monotonic() - cached[0] < CACHE_TTL_SECONDS:
        db_id, sources = cached[1], cached[2]
    else:
        database = client.retrieve_database(database_id)
        db_id, sources = (
            str(database.get("id", database_id)),
            list(database.get("data_sources") or []),
        )
        _database_cache[key] = (time.monotonic(), db_id, sources)
    if name:
        wanted = name.strip().lower()
        for source in sources:
            if str(source.get("name", "")).strip().lower() == wanted:
                return db_id, str(source["id"])
        raise ConfigurationError(f'Data source named "{name}" not found under database {db_id}.')
    if len(sources) == 1:
        return db_id, str(sources[0]["id"])
    if not sources:
        raise ConfigurationError(f"No data sources found for database {db_id}.")
    listed = ", ".join(f'"{s["name"]}"' if s.get("name") else str(s["id"]) for s in sources)
    raise ConfigurationError(
        f"Multiple data sources found under {db_id}. Pass a data source name or id. Available: {listed}"
    )


def find_page_by_title(client: NotionClient, data_source_id: str, title: str) -> str | None:
    """The id of the first page whose title equals ``title`` exactly, or None.

    One request, no schema read: the filter names the title property by its id, which Notion
    fixes as ``title`` in every data source.
    """
    answer = client.query_data_source(
        data_source_id,
        {"filter": {"property": TITLE_PROPERTY_ID, "title": {"equals": title}}, "page_size": 10},
    )
    for page in answer.get("results", []):
        titles = [p for p in (page.get("properties") or {}).values() if p.get("type") == "title"]
        text = plain_text_of(titles[0].get("title") or []).strip() if titles else ""
        if page.get("object") == "page" and text == title:
            return str(page["id"])
    return None
