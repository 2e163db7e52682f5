"""Transient and permanent faults: retries never duplicate a page; permanent errors fail fast."""

from typing import Any

import httpx
import pytest

from esl_dagster.pipeline.errors import ServiceError
from esl_dagster.pipeline.notion.blocks import markdown_to_blocks
from esl_dagster.pipeline.notion.client import NotionAPIError, NotionClient
from esl_dagster.pipeline.notion.importer import ImportResult
from esl_dagster.pipeline.notion.target import TargetIds
from tests.conftest import VALID_LESSONS
from tests.fakes.notion_server import FakeNotion, Seeded, seed_homework
from tests.notion.conftest import RecordingCheckpoint, direct_import, load_lesson
from tests.notion.test_import import strip_ids

BIG_BODY = "\n".join(f"paragraph {i}" for i in range(230))


def do_import(client: NotionClient, seeded: Seeded, body: str, **kwargs: Any) -> ImportResult:
    meta, _ = load_lesson(VALID_LESSONS[0])
    return direct_import(client, meta, body, TargetIds(data_source_id=seeded.homework_ds), **kwargs)


def test_429_storm_is_survived_honouring_retry_after(
    fake_notion: FakeNotion, seeded: Seeded, client: NotionClient, sleeps: list[float]
) -> None:
    fake_notion.add_fault(
        "rate_limit", method="POST", path_regex="/v1/pages", times=3, retry_after=2
    )
    fake_notion.add_fault(
        "rate_limit", method="PATCH", path_regex="/children", times=3, retry_after=1
    )
    result = do_import(client, seeded, BIG_BODY)
    assert fake_notion.page_count(seeded.homework_ds) == 1
    assert sleeps == [2.0, 2.0, 2.0, 1.0, 1.0, 1.0]
    assert strip_ids(fake_notion.page_tree(result.page_id)) == markdown_to_blocks(BIG_BODY)


@pytest.mark.parametrize("key_property", [True, False])
def test_502_storm_after_the_create_took_effect_creates_no_duplicate(
    fake_notion: FakeNotion, client: NotionClient, key_property: bool
) -> None:
    seeded = seed_homework(fake_notion, key_property=key_property)
    fake_notion.add_fault(
        "bad_gateway", method="POST", path_regex="/v1/pages$", times=1, when="after_apply"
    )
    fake_notion.add_fault(
        "bad_gateway", method="PATCH", path_regex="/children", times=2, when="after_apply"
    )
    fake_notion.add_fault("bad_gateway", method="GET", times=2)
    result = do_import(client, seeded, BIG_BODY)
    assert fake_notion.page_count(seeded.homework_ds) == 1
    assert strip_ids(fake_notion.page_tree(result.page_id)) == markdown_to_blocks(BIG_BODY)


def test_502_before_the_create_retries_the_create(
    fake_notion: FakeNotion, seeded: Seeded, client: NotionClient
) -> None:
    fake_notion.add_fault("bad_gateway", method="POST", path_regex="/v1/pages$", times=3)
    do_import(client, seeded, BIG_BODY)
    assert fake_notion.page_count(seeded.homework_ds) == 1
    assert len(fake_notion.requests("POST", r"/v1/pages$")) == 4


def test_dropped_connection_mid_import(
    fake_notion: FakeNotion, seeded: Seeded, client: NotionClient
) -> None:
    fake_notion.add_fault(
        "reset_connection", method="PATCH", path_regex="/children", times=1, when="after_apply"
    )
    fake_notion.add_fault("reset_connection", method="POST", path_regex="/v1/pages$", times=1)
    result = do_import(client, seeded, BIG_BODY)
    assert fake_notion.page_count(seeded.homework_ds) == 1
    assert strip_ids(fake_notion.page_tree(result.page_id)) == markdown_to_blocks(BIG_BODY)


def test_permanent_400_fails_fast_with_notions_message(
    fake_notion: FakeNotion, seeded: Seeded, client: NotionClient, sleeps: list[float]
) -> None:
    meta, body = load_lesson(VALID_LESSONS[0])
    meta = meta.model_copy(update={"properties": {"Status": "Nope"}})
    with pytest.raises(NotionAPIError) as caught:
        direct_import(client, meta, body, TargetIds(data_source_id=seeded.homework_ds))
    assert 'Status option "Nope" does not exist' in str(caught.value)
    assert (
        caught.value.status == 400
        and caught.value.notion_code == "validation_error"
        and not caught.value.transient
    )
    assert len(fake_notion.requests("POST", r"/v1/pages$")) == 1 and sleeps == []


def test_exhausted_retries_leave_resumable_progress(
    fake_notion: FakeNotion, seeded: Seeded, client: NotionClient
) -> None:
    checkpoint = RecordingCheckpoint()
    fake_notion.add_fault("service_unavailable", method="PATCH", path_regex="/children", times=5)
    with pytest.raises(ServiceError) as caught:
        do_import(client, seeded, BIG_BODY, checkpoint=checkpoint)
    assert caught.value.transient
    progress = checkpoint.seen[-1]
    assert progress.blocks_done == 100 and not progress.complete
    result = do_import(client, seeded, BIG_BODY, page_id=progress.page_id, progress=progress)
    assert result.page_id == progress.page_id and fake_notion.page_count(seeded.homework_ds) == 1
    assert strip_ids(fake_notion.page_tree(progress.page_id)) == markdown_to_blocks(BIG_BODY)
    assert not fake_notion.requests("DELETE")


def test_fake_rejects_missing_auth_and_version(fake_notion: FakeNotion) -> None:
    no_auth = httpx.get(
        f"{fake_notion.base_url}/v1/users/me", headers={"Notion-Version": "2025-09-03"}
    )
    assert no_auth.status_code == 401 and no_auth.json()["code"] == "unauthorized"
    no_version = httpx.get(
        f"{fake_notion.base_url}/v1/users/me",
        headers={"Authorization": f"Bearer {fake_notion.token}"},
    )
    assert no_version.status_code == 400 and no_version.json()["code"] == "missing_version"


def test_fake_rejects_what_notion_rejects(
    fake_notion: FakeNotion, seeded: Seeded, client: NotionClient
) -> None:
    page = fake_notion.add_page(seeded.homework_ds, "x")
    para = {"type": "paragraph", "paragraph": {"rich_text": [{"text": {"content": "a"}}]}}
    deep = {
        "type": "toggle",
        "toggle": {
            "rich_text": [],
            "children": [
                {
                    "type": "toggle",
                    "toggle": {
                        "rich_text": [],
                        "children": [
                            {"type": "toggle", "toggle": {"rich_text": [], "children": [para]}}
                        ],
                    },
                }
            ],
        },
    }
    cases = [
        ([para] * 101, "length should be ≤ `100`"),
        (
            [
                {
                    "type": "paragraph",
                    "paragraph": {"rich_text": [{"text": {"content": "a" * 2001}}]},
                }
            ],
            "≤ `2000`",
        ),
        (
            [{"type": "paragraph", "paragraph": {"rich_text": [{"text": {"content": ""}}]}}],
            "non-empty",
        ),
        ([deep], "children should be not present"),
    ]
    for children, message in cases:
        with pytest.raises(NotionAPIError, match=message):
            client.append_block_children(page, children)
    with pytest.raises(NotionAPIError, match="Foo is not a property that exists"):
        client.create_page(
            {
                "parent": {"data_source_id": seeded.homework_ds},
                "properties": {"Foo": {"rich_text": []}},
            }
        )
    with pytest.raises(NotionAPIError, match="url"):
        client.create_page(
            {
                "parent": {"data_source_id": seeded.homework_ds},
                "properties": {"Audio": {"rich_text": []}},
            }
        )
