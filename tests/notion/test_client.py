import pytest

from esl_dagster.pipeline.notion.client import NotionAPIError, NotionClient
from tests.fakes.notion_server import FakeNotion, Seeded


def test_headers_and_retry_after_and_backoff(
    fake_notion: FakeNotion, seeded: Seeded, client: NotionClient, sleeps: list[float]
) -> None:
    fake_notion.add_fault("rate_limit", method="GET", times=1, retry_after=3)
    fake_notion.add_fault("service_unavailable", method="GET", times=2)
    client.retrieve_data_source(seeded.homework_ds)
    first = fake_notion.requests()[0]
    assert (
        first.headers["notion-version"] == "2025-09-03"
        and first.headers["authorization"] == f"Bearer {fake_notion.token}"
    )
    assert sleeps[0] == 3.0 and 0.5 <= sleeps[1] <= 1.0 and 1.0 <= sleeps[2] <= 2.0
    assert client.calls == 4


def test_exhausted_attempts_raise_a_transient_error(
    fake_notion: FakeNotion, seeded: Seeded, sleeps: list[float]
) -> None:
    fake_notion.add_fault("internal_error", times=10)
    with (
        NotionClient(
            fake_notion.token, base_url=fake_notion.base_url, sleep=sleeps.append, max_attempts=3
        ) as client,
        pytest.raises(NotionAPIError) as caught,
    ):
        client.retrieve_data_source(seeded.homework_ds)
    assert (
        caught.value.transient
        and caught.value.status == 500
        and "after 3 attempts" in str(caught.value)
    )
    assert len(sleeps) == 2


def test_404_fails_at_once_with_notions_message(
    fake_notion: FakeNotion, client: NotionClient, sleeps: list[float]
) -> None:
    with pytest.raises(
        NotionAPIError, match="object_not_found: Could not find data_source"
    ) as caught:
        client.retrieve_data_source("00000000-0000-4000-8000-0000000fffff")
    assert not caught.value.transient and sleeps == []


def test_unreachable_server_is_retried_then_transient(sleeps: list[float]) -> None:
    with (
        NotionClient(
            "t", base_url="http://127.0.0.1:9", sleep=sleeps.append, max_attempts=2, timeout=1
        ) as client,
        pytest.raises(NotionAPIError) as caught,
    ):
        client.retrieve_database("x")
    assert caught.value.transient and len(sleeps) == 1


def test_ambiguous_write_without_recover_is_not_retried(
    fake_notion: FakeNotion, seeded: Seeded, client: NotionClient
) -> None:
    fake_notion.add_fault("bad_gateway", method="POST", times=1, when="after_apply")
    with pytest.raises(NotionAPIError) as caught:
        client.create_page({"parent": {"data_source_id": seeded.homework_ds}, "properties": {}})
    assert caught.value.status == 502 and caught.value.transient
    assert len(fake_notion.requests("POST")) == 1
