"""Targets named instead of identified: ``POST /v1/search`` over data sources (API 2025-09-03)."""

import httpx
import pytest

from esl_dagster.pipeline.errors import ConfigurationError
from esl_dagster.pipeline.notion import target as target_module
from esl_dagster.pipeline.notion.client import NotionClient
from esl_dagster.pipeline.notion.service_contract import NotionDefaults, TargetChoice
from esl_dagster.pipeline.notion.target import TargetIds, resolve_target
from tests.fakes.notion_server import FakeNotion, seed_homework

SCHEMA = {"Name": {"type": "title", "title": {}}}


def test_database_found_by_its_data_source_title(
    fake_notion: FakeNotion, client: NotionClient
) -> None:
    fake_notion.add_database("Homework Archive", {"Homework Archive": SCHEMA})
    db, (ds,) = fake_notion.add_database("Homework", {"Homework": SCHEMA})
    target = resolve_target(client, TargetIds(database_name="  HOMEWORK "))
    assert (target.data_source_id, target.database_id) == (ds, db)
    (search,) = fake_notion.requests("POST", r"^/v1/search$")
    assert search.status == 200
    assert search.body == {
        "query": "HOMEWORK",
        "filter": {"property": "object", "value": "data_source"},
    }


def test_database_name_then_data_source_name_picks_among_its_sources(
    fake_notion: FakeNotion, client: NotionClient
) -> None:
    db, (_first, second) = fake_notion.add_database("Terms", {"Terms": SCHEMA, "Spring": SCHEMA})
    with pytest.raises(ConfigurationError, match='Available: "Terms", "Spring"'):
        resolve_target(client, TargetIds(database_name="terms"))
    target = resolve_target(client, TargetIds(database_name="terms", data_source_name="spring"))
    assert (target.data_source_id, target.database_id) == (second, db)


def test_data_source_name_without_ids_names_the_data_source(
    fake_notion: FakeNotion, client: NotionClient
) -> None:
    db, (_alpha, beta) = fake_notion.add_database("Multi", {"Alpha": SCHEMA, "Beta": SCHEMA})
    ids = TargetChoice(data_source_name="beta").ids()
    assert ids == TargetIds(data_source_name="beta")
    target = resolve_target(client, ids)
    assert (target.data_source_id, target.database_id) == (beta, db)


def test_explicit_database_name_wins_over_profile_and_default_ids() -> None:
    defaults = NotionDefaults(database_id="db-default", data_source_id="ds")
    ids = TargetChoice(defaults, database_name="Homework").ids()
    assert ids == TargetIds(database_name="Homework")
    explicit = TargetChoice(database_id="db-1", database_name="Homework")
    assert explicit.ids().database_id == "db-1"


def test_name_not_found_lists_the_similar_titles(
    fake_notion: FakeNotion, client: NotionClient
) -> None:
    fake_notion.add_database("Homework", {"Homework": SCHEMA})
    fake_notion.add_database("Homework Archive", {"Homework Archive": SCHEMA})
    with pytest.raises(ConfigurationError) as caught:
        resolve_target(client, TargetIds(database_name="Home"))
    message = str(caught.value)
    assert message.startswith('Notion database not found by name: "Home".')
    assert '"Homework"' in message and '"Homework Archive"' in message
    with pytest.raises(ConfigurationError, match=r'not found by name: "Nowhere"\. .*\(none\)'):
        resolve_target(client, TargetIds(data_source_name="Nowhere"))
    assert not fake_notion.requests("POST", r"/v1/pages")


def test_ambiguous_names_list_the_candidates(fake_notion: FakeNotion, client: NotionClient) -> None:
    first_db, (first_ds,) = fake_notion.add_database("Shared", {"Shared": SCHEMA})
    second_db, (second_ds,) = fake_notion.add_database("Shared", {"shared ": SCHEMA})
    with pytest.raises(
        ConfigurationError, match='Several Notion databases are named "Shared"'
    ) as db:
        resolve_target(client, TargetIds(database_name="Shared"))
    assert first_db in str(db.value) and second_db in str(db.value)
    with pytest.raises(ConfigurationError, match="Several Notion data sources") as ds:
        resolve_target(client, TargetIds(data_source_name="shared"))
    assert first_ds in str(ds.value) and second_ds in str(ds.value)


def test_search_is_followed_across_pages(fake_notion: FakeNotion, client: NotionClient) -> None:
    db, (ds,) = fake_notion.add_database("Lesson", {"Lesson": SCHEMA})  # oldest: on the last page
    fake_notion.add_database("Lesson fillers", {f"Lesson {n}": SCHEMA for n in range(120)})
    target = resolve_target(client, TargetIds(database_name="lesson"))
    assert (target.data_source_id, target.database_id) == (ds, db)
    searches = fake_notion.requests("POST", r"^/v1/search$")
    assert len(searches) == 2
    assert "start_cursor" not in searches[0].body
    assert searches[1].body["start_cursor"]


def test_fake_search_checks_auth_version_and_filter(fake_notion: FakeNotion) -> None:
    fake_notion.add_database("Homework", {"Homework": SCHEMA})
    url = f"{fake_notion.base_url}/v1/search"
    version = {"Notion-Version": "2025-09-03"}
    auth = {"Authorization": f"Bearer {fake_notion.token}"}
    with httpx.Client(timeout=5.0) as http:
        assert http.post(url, json={}, headers=version).status_code == 401
        missing = http.post(url, json={}, headers=auth)
        assert (missing.status_code, missing.json()["code"]) == (400, "missing_version")
        headers = {**auth, **version}
        database = http.post(
            url, json={"filter": {"property": "object", "value": "database"}}, headers=headers
        )
        assert (database.status_code, database.json()["code"]) == (400, "validation_error")
        answer = http.post(url, json={"query": "home", "page_size": 1}, headers=headers).json()
    assert answer["object"] == "list" and answer["type"] == "page_or_data_source"
    assert answer["has_more"] is False and answer["next_cursor"] is None
    (result,) = answer["results"]
    assert result["object"] == "data_source"
    assert result["title"][0]["plain_text"] == "Homework"
    assert result["parent"]["type"] == "database_id"


def test_database_found_by_its_own_title_when_no_source_carries_it(
    fake_notion: FakeNotion, client: NotionClient
) -> None:
    seeded = seed_homework(
        fake_notion
    )  # "Homework Assignments" whose only data source is "Primary"
    fake_notion.reset_log()
    target = resolve_target(client, TargetIds(database_name=" homework assignments"))
    assert (target.data_source_id, target.database_id) == (seeded.homework_ds, seeded.homework_db)
    first, listing = (r.body for r in fake_notion.requests("POST", r"^/v1/search$"))
    assert first["query"] == "homework assignments"
    assert listing == {"filter": {"property": "object", "value": "data_source"}}
    fetched = [r.path for r in fake_notion.requests("GET", r"^/v1/databases/")]
    assert f"/v1/databases/{seeded.homework_db}" in fetched
    assert len(fetched) == len(set(fetched)) == 2  # Students and Homework, each once, no re-read


def test_database_title_shared_by_two_databases_is_ambiguous(
    fake_notion: FakeNotion, client: NotionClient
) -> None:
    first, _ = fake_notion.add_database("Term", {"Alpha": SCHEMA})
    second, _ = fake_notion.add_database("term", {"Beta": SCHEMA, "Gamma": SCHEMA})
    with pytest.raises(ConfigurationError, match='Several Notion databases are named "Term"') as e:
        resolve_target(client, TargetIds(database_name="Term"))
    assert first in str(e.value) and second in str(e.value)


def test_database_title_lookup_is_bounded(
    fake_notion: FakeNotion, client: NotionClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(target_module, "MAX_DATABASES_CHECKED", 2)
    fake_notion.add_database("Oldest", {"Primary": SCHEMA})  # listed last: newest first
    for n in range(3):
        fake_notion.add_database(f"Newer {n}", {f"Source {n}": SCHEMA})
    with pytest.raises(ConfigurationError, match="Only the first 2 databases were checked"):
        resolve_target(client, TargetIds(database_name="Oldest"))
    assert len(fake_notion.requests("GET", r"^/v1/databases/")) == 2
