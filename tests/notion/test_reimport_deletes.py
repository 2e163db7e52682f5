"""Re-importing a changed lesson trashes the old children a few at a time, safely."""

from typing import Any

import pytest

from esl_dagster.pipeline.errors import ServiceError
from esl_dagster.pipeline.notion.blocks import markdown_to_blocks
from esl_dagster.pipeline.notion.client import DEFAULT_DELETE_CONCURRENCY, NotionClient
from esl_dagster.pipeline.notion.importer import ImportResult
from tests.conftest import VALID_LESSONS
from tests.fakes.notion_server import FakeNotion, Seeded
from tests.notion.conftest import load_lesson
from tests.notion.test_import import run_import, strip_ids

OLD = "\n".join(f"old paragraph {i}" for i in range(12))
NEW = "\n".join(f"new paragraph {i}" for i in range(5))


def import_body(client: NotionClient, seeded: Seeded, body: str, **kwargs: Any) -> ImportResult:
    meta, _ = load_lesson(VALID_LESSONS[0])
    result: ImportResult = run_import(client, seeded, meta, body, **kwargs)
    return result


def test_old_children_are_deleted_a_few_at_a_time_before_any_append(
    fake_notion: FakeNotion, seeded: Seeded, client: NotionClient
) -> None:
    first = import_body(client, seeded, OLD)
    fake_notion.latency, fake_notion.max_in_flight = 0.03, 0
    fake_notion.reset_log()
    import_body(client, seeded, NEW, page_id=first.page_id, progress=first.progress)
    deletes = fake_notion.requests("DELETE")
    assert len(deletes) == 12 and all(d.status == 200 for d in deletes)
    assert 1 < fake_notion.max_in_flight <= DEFAULT_DELETE_CONCURRENCY
    (append,) = fake_notion.requests("PATCH", r"/children$")
    assert max(d.at for d in deletes) < append.at
    assert strip_ids(fake_notion.page_tree(first.page_id)) == markdown_to_blocks(NEW)


def test_a_failed_deletion_appends_nothing_and_a_rerun_resumes_it(
    fake_notion: FakeNotion, seeded: Seeded, client: NotionClient
) -> None:
    first = import_body(client, seeded, OLD)
    stuck = fake_notion.page_tree(first.page_id)[4]["id"]
    fake_notion.add_fault("service_unavailable", method="DELETE", path_regex=stuck, times=5)
    with pytest.raises(ServiceError) as caught:
        import_body(client, seeded, NEW, page_id=first.page_id, progress=first.progress)
    assert caught.value.transient
    assert not fake_notion.requests("PATCH", r"/children$")
    left = [b["id"] for b in fake_notion.page_tree(first.page_id)]
    assert stuck in left and len(left) < 12
    fake_notion.reset_log()
    again = import_body(client, seeded, NEW, page_id=first.page_id, progress=first.progress)
    assert sorted(r.path.rsplit("/", 1)[1] for r in fake_notion.requests("DELETE")) == sorted(left)
    assert all(r.status == 200 for r in fake_notion.requests("DELETE"))
    assert again.progress.complete and fake_notion.page_count(seeded.homework_ds) == 1
    assert strip_ids(fake_notion.page_tree(first.page_id)) == markdown_to_blocks(NEW)


def test_a_429_holds_back_every_worker_for_its_retry_after(
    fake_notion: FakeNotion, seeded: Seeded
) -> None:
    with NotionClient(fake_notion.token, base_url=fake_notion.base_url, timeout=5.0) as client:
        first = import_body(client, seeded, OLD)
        fake_notion.latency = 0.05
        fake_notion.add_fault("rate_limit", method="DELETE", retry_after=1)
        fake_notion.reset_log()
        import_body(client, seeded, NEW, page_id=first.page_id, progress=first.progress)
    deletes = fake_notion.requests("DELETE")
    (limited,) = [d for d in deletes if d.status == 429]
    pause = [d for d in deletes if limited.at + 0.1 < d.at < limited.at + 0.9]
    assert pause == []
    assert sum(d.status == 200 for d in deletes) == 12
    assert strip_ids(fake_notion.page_tree(first.page_id)) == markdown_to_blocks(NEW)


def test_fake_rate_limiter_answers_429_with_whole_second_retry_after(
    fake_notion: FakeNotion, seeded: Seeded
) -> None:
    fake_notion.rate_limit = (1.0, 2.0)
    with NotionClient(fake_notion.token, base_url=fake_notion.base_url, max_attempts=1) as client:
        for _ in range(2):
            client.retrieve_data_source(seeded.homework_ds)
        with pytest.raises(ServiceError, match="rate_limited") as caught:
            client.retrieve_data_source(seeded.homework_ds)
    assert (caught.value.status, caught.value.retry_after) == (429, 1.0)
