"""Notion-hosted audio: the File Upload API client against the fake server's rules, and the
audio block that attaches an upload above the study-text toggle."""

from pathlib import Path

import pytest

from esl_dagster.pipeline.errors import ValidationError
from esl_dagster.pipeline.notion.audio_block import add_or_replace_audio
from esl_dagster.pipeline.notion.block_payloads import text_block
from esl_dagster.pipeline.notion.client import NotionAPIError, NotionClient
from esl_dagster.pipeline.notion.file_uploads import (
    PartPlan,
    file_upload_id_of,
    file_upload_reference,
    upload_file,
)
from esl_dagster.pipeline.notion.rich_text import plain
from tests.fakes.notion_server import FakeNotion, Seeded

KIB = 1024


@pytest.fixture
def mp3(tmp_path: Path) -> Path:
    path = tmp_path / "lesson-3f2a.mp3"
    path.write_bytes(b"ID3" + bytes(range(256)) * 40)
    return path


@pytest.fixture
def small_limits(fake_notion: FakeNotion) -> PartPlan:
    """The fake's limits scaled from MiB to KiB (same rules, small files)."""
    fake_notion.file_uploads.single_part_limit = 20 * KIB
    fake_notion.file_uploads.min_part = 5 * KIB
    fake_notion.file_uploads.max_part = 20 * KIB
    return PartPlan(single_part_limit=20 * KIB, part_size=10 * KIB)


def study_page(fake_notion: FakeNotion, seeded: Seeded) -> str:
    toggle = {"type": "toggle", "toggle": {"rich_text": plain("study-text")}}
    return fake_notion.add_page(
        seeded.homework_ds, "L", [text_block("paragraph", plain("intro")), toggle]
    )


def test_single_part_upload_arrives_intact(
    fake_notion: FakeNotion, client: NotionClient, mp3: Path
) -> None:
    uploaded = upload_file(client, mp3, content_type="audio/mpeg")
    assert (uploaded.status, uploaded.parts, uploaded.reused) == ("uploaded", 1, False)
    assert fake_notion.file_uploads.content(uploaded.id) == mp3.read_bytes()
    sends = fake_notion.requests("POST", r"/send$")
    assert len(sends) == 1
    assert sends[0].headers["content-type"].startswith("multipart/form-data; boundary=")
    created = fake_notion.requests("POST", r"/v1/file_uploads$")[0].body
    assert created == {"mode": "single_part", "filename": mp3.name, "content_type": "audio/mpeg"}


def test_file_over_the_single_part_limit_goes_in_parts(
    fake_notion: FakeNotion, client: NotionClient, tmp_path: Path, small_limits: PartPlan
) -> None:
    big = tmp_path / "long.mp3"
    big.write_bytes(bytes(range(256)) * 100)  # 25,600 bytes: 3 parts of <= 10 KiB
    uploaded = upload_file(client, big, content_type="audio/mpeg", plan=small_limits)
    assert (uploaded.status, uploaded.parts) == ("uploaded", 3)
    assert fake_notion.file_uploads.content(uploaded.id) == big.read_bytes()
    assert len(fake_notion.requests("POST", r"/complete$")) == 1
    created = fake_notion.requests("POST", r"/v1/file_uploads$")[0].body
    assert created["mode"] == "multi_part" and created["number_of_parts"] == 3


def test_fake_enforces_notions_upload_rules(
    fake_notion: FakeNotion, client: NotionClient, small_limits: PartPlan
) -> None:
    del small_limits
    single = client.create_file_upload({"filename": "a.mp3", "content_type": "audio/mpeg"})
    with pytest.raises(NotionAPIError, match="single_part limit"):
        client.send_file_upload(
            single["id"], bytes(21 * KIB), filename="a.mp3", content_type="audio/mpeg"
        )
    with pytest.raises(NotionAPIError, match="does not match the content type"):
        client.send_file_upload(single["id"], b"x", filename="a.mp3", content_type="audio/wav")
    with pytest.raises(NotionAPIError, match="not supported"):
        client.create_file_upload({"filename": "a.exe", "content_type": "application/x-exe"})
    parts = client.create_file_upload(
        {
            "mode": "multi_part",
            "filename": "b.mp3",
            "content_type": "audio/mpeg",
            "number_of_parts": 2,
        }
    )
    with pytest.raises(NotionAPIError, match="only the last may be smaller"):
        client.send_file_upload(
            parts["id"], bytes(KIB), filename="b.mp3", content_type="audio/mpeg", part_number=1
        )
    with pytest.raises(NotionAPIError, match="Expected 2 parts"):
        client.complete_file_upload(parts["id"])
    with pytest.raises(NotionAPIError, match="multipart/form-data"):
        client.request("POST", f"file_uploads/{single['id']}/send", body={"file": "x"})
    pending = client.retrieve_file_upload(parts["id"])
    assert pending["status"] == "pending"
    assert pending["number_of_parts"] == {"total": 2, "sent": 0}


def test_only_uploaded_uploads_attach_and_they_read_back_as_signed_files(
    fake_notion: FakeNotion, seeded: Seeded, client: NotionClient, mp3: Path
) -> None:
    page = study_page(fake_notion, seeded)
    pending = client.create_file_upload({"filename": "x.mp3", "content_type": "audio/mpeg"})
    with pytest.raises(ValidationError, match="status `pending`"):
        add_or_replace_audio(client, page, file_upload_reference(pending["id"]))
    uploaded = upload_file(client, mp3, content_type="audio/mpeg")
    result = add_or_replace_audio(client, page, file_upload_reference(uploaded.id))
    tree = fake_notion.page_tree(page)
    assert [b["type"] for b in tree] == ["paragraph", "audio", "toggle"]
    hosted = client.retrieve_block(result.block_id)["audio"]
    assert hosted["type"] == "file" and hosted["file"]["expiry_time"]
    assert fake_notion.file_uploads.id_in_url(hosted["file"]["url"]) == uploaded.id
    assert client.retrieve_file_upload(uploaded.id)["expiry_time"] is None  # attached


def test_reupload_reuses_a_usable_upload_and_recreates_an_expired_one(
    fake_notion: FakeNotion, client: NotionClient, mp3: Path
) -> None:
    first = upload_file(client, mp3, content_type="audio/mpeg")
    again = upload_file(client, mp3, content_type="audio/mpeg", previous_id=first.id)
    assert again.id == first.id and again.reused
    assert len(fake_notion.requests("POST", r"/send$")) == 1
    fake_notion.file_uploads.expire(first.id)
    assert client.retrieve_file_upload(first.id)["status"] == "expired"
    renewed = upload_file(client, mp3, content_type="audio/mpeg", previous_id=first.id)
    assert renewed.id != first.id and not renewed.reused
    assert fake_notion.file_uploads.content(renewed.id) == mp3.read_bytes()


def test_attached_upload_never_expires_and_is_reused(
    fake_notion: FakeNotion, seeded: Seeded, client: NotionClient, mp3: Path
) -> None:
    page = study_page(fake_notion, seeded)
    first = upload_file(client, mp3, content_type="audio/mpeg")
    add_or_replace_audio(client, page, file_upload_reference(first.id))
    fake_notion.file_uploads.expire(first.id)  # the hour passes; attached uploads stay
    again = upload_file(client, mp3, content_type="audio/mpeg", previous_id=first.id)
    assert again.reused and again.id == first.id and again.expiry_time is None


def test_lost_send_answer_does_not_send_twice(
    fake_notion: FakeNotion, client: NotionClient, mp3: Path
) -> None:
    fake_notion.add_fault("bad_gateway", method="POST", path_regex=r"/send$", when="after_apply")
    uploaded = upload_file(client, mp3, content_type="audio/mpeg")
    assert uploaded.status == "uploaded"
    assert len(fake_notion.requests("POST", r"/send$")) == 1  # the retry found it uploaded
    assert len(fake_notion.requests("GET", r"/v1/file_uploads/")) == 1


def test_throttled_and_failing_sends_are_retried(
    fake_notion: FakeNotion, client: NotionClient, mp3: Path
) -> None:
    fake_notion.add_fault("rate_limit", method="POST", path_regex=r"/send$", retry_after=1)
    fake_notion.add_fault("service_unavailable", method="POST", path_regex=r"/send$")
    uploaded = upload_file(client, mp3, content_type="audio/mpeg")
    assert fake_notion.file_uploads.content(uploaded.id) == mp3.read_bytes()
    assert [r.status for r in fake_notion.requests("POST", r"/send$")] == [429, 503, 200]


def test_retried_attach_leaves_one_block_and_new_audio_replaces_it(
    fake_notion: FakeNotion, seeded: Seeded, client: NotionClient, mp3: Path, tmp_path: Path
) -> None:
    page = study_page(fake_notion, seeded)
    first = upload_file(client, mp3, content_type="audio/mpeg")
    fake_notion.add_fault(
        "bad_gateway", method="PATCH", path_regex=r"/children$", when="after_apply"
    )
    attached = add_or_replace_audio(client, page, file_upload_reference(first.id))
    assert [b["type"] for b in fake_notion.page_tree(page)] == ["paragraph", "audio", "toggle"]
    newer = tmp_path / "lesson-9e1b.mp3"
    newer.write_bytes(b"ID3" + bytes(500))
    second = upload_file(client, newer, content_type="audio/mpeg")
    replaced = add_or_replace_audio(
        client, page, file_upload_reference(second.id), previous_block_id=attached.block_id
    )
    tree = fake_notion.page_tree(page)
    assert [b["type"] for b in tree] == ["paragraph", "audio", "toggle"]
    assert replaced.replaced == [attached.block_id]
    assert fake_notion.file_uploads.id_in_url(tree[1]["audio"]["file"]["url"]) == second.id


def test_expired_upload_attach_names_the_fix(
    fake_notion: FakeNotion, seeded: Seeded, client: NotionClient, mp3: Path
) -> None:
    page = study_page(fake_notion, seeded)
    uploaded = upload_file(client, mp3, content_type="audio/mpeg")
    fake_notion.file_uploads.expire(uploaded.id)
    with pytest.raises(ValidationError, match="--steps upload,add-audio"):
        add_or_replace_audio(client, page, file_upload_reference(uploaded.id))
    assert [b["type"] for b in fake_notion.page_tree(page)] == ["paragraph", "toggle"]


def test_reference_round_trip() -> None:
    assert file_upload_id_of(file_upload_reference("abc")) == "abc"
    assert file_upload_id_of("https://example.com/a.mp3") is None


def test_multi_part_upload_survives_a_throttled_part_and_a_lost_complete_answer(
    fake_notion: FakeNotion, client: NotionClient, tmp_path: Path, small_limits: PartPlan
) -> None:
    big = tmp_path / "long.mp3"
    big.write_bytes(bytes(range(256)) * 100)
    fake_notion.add_fault("rate_limit", method="POST", path_regex=r"/send$", retry_after=1)
    fake_notion.add_fault(
        "bad_gateway", method="POST", path_regex=r"/complete$", when="after_apply"
    )
    uploaded = upload_file(client, big, content_type="audio/mpeg", plan=small_limits)
    assert uploaded.status == "uploaded"
    assert fake_notion.file_uploads.content(uploaded.id) == big.read_bytes()
    assert len(fake_notion.requests("POST", r"/complete$")) == 1  # the lost answer was looked up
    assert [r.status for r in fake_notion.requests("POST", r"/send$")] == [429, 200, 200, 200]


def test_default_part_plan_fits_notions_real_limits(
    fake_notion: FakeNotion, client: NotionClient, tmp_path: Path
) -> None:
    big = tmp_path / "hour-long.mp3"
    big.write_bytes(bytes(25 * 1024 * KIB + 17))  # over 20 MiB: 10 + 10 + 5 MiB (and 17 bytes)
    uploaded = upload_file(client, big, content_type="audio/mpeg")
    assert uploaded.parts == 3
    assert fake_notion.file_uploads.content(uploaded.id) == big.read_bytes()
