"""The ``notion`` upload target: a live Notion without S3 hosts the MP3 itself.

The runner runs against the fake Notion server (File Upload API included) with the real httpx
client: one page, exactly one audio block directly above the study-text toggle holding the
lesson's MP3, also after an unchanged rerun, a ``--force`` run and new audio.
"""

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from esl_dagster.pipeline.cli import main
from esl_dagster.pipeline.config.provider import LocalConfigProvider
from esl_dagster.pipeline.errors import ConfigurationError
from esl_dagster.pipeline.logs import NoopLogger
from esl_dagster.pipeline.manifest import FilesystemManifestStore
from esl_dagster.pipeline.notion.client import NotionClient
from esl_dagster.pipeline.notion.live import LiveNotion
from esl_dagster.pipeline.notion.service_contract import NotionDefaults
from esl_dagster.pipeline.observability import NoopMetrics
from esl_dagster.pipeline.options import JobOptions
from esl_dagster.pipeline.runner import AssignmentResult, Pipeline
from esl_dagster.pipeline.services import Services, build_services, uploader_for
from esl_dagster.pipeline.settings import load_settings
from esl_dagster.pipeline.storage import LocalUploader, NotionUploader, S3Uploader
from esl_dagster.pipeline.tts.espeak import EspeakProvider
from tests.conftest import VALID_LESSONS
from tests.fakes.notion_server import FakeNotion, Seeded


@pytest.fixture
def services(tmp_path: Path, fake_notion: FakeNotion) -> Iterator[Services]:
    settings = load_settings(None, PIPELINE_CWD=tmp_path, ESL_LOCAL_UPLOAD_DIR=tmp_path / "uploads")
    with NotionClient(
        fake_notion.token, base_url=fake_notion.base_url, sleep=lambda _s: None
    ) as client:
        yield Services(
            settings=settings,
            config_provider=LocalConfigProvider(cwd=tmp_path),
            manifest_store=FilesystemManifestStore(),
            notion=LiveNotion(client, NotionDefaults()),
            tts_provider=EspeakProvider(),
            uploader=NotionUploader(client),
            logger=NoopLogger(),
            metrics=NoopMetrics(),
        )


def short_lesson(folder: Path, sentence: str = "The market is loud and busy today.") -> Path:
    text = VALID_LESSONS[0].read_text(encoding="utf-8")
    start = text.index("\n", text.index(":::study-text")) + 1
    end = text.index("\n:::", start)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "short-lesson.md"
    target.write_text(text[:start] + sentence + text[end:], encoding="utf-8")
    return target


def audio_above_toggle(fake_notion: FakeNotion, result: AssignmentResult) -> str:
    """The upload id of the page's only audio block, which sits right above the study text."""
    assert result.page_id is not None
    tree = fake_notion.page_tree(result.page_id)
    audio = [index for index, block in enumerate(tree) if block["type"] == "audio"]
    assert len(audio) == 1
    below = tree[audio[0] + 1]
    assert below["type"] == "toggle"
    assert below["toggle"]["rich_text"][0]["text"]["content"] == "study-text"
    hosted = tree[audio[0]]["audio"]
    assert hosted["type"] == "file"
    upload_id = fake_notion.file_uploads.id_in_url(hosted["file"]["url"])
    assert upload_id is not None
    return upload_id


def test_audio_reaches_the_page_through_notion_and_stays_single(
    services: Services, fake_notion: FakeNotion, seeded: Seeded, tmp_path: Path
) -> None:
    md = short_lesson(tmp_path / "lessons")
    options = JobOptions(md=str(md), data_source_id=seeded.homework_ds, with_tts=True)
    pipeline = Pipeline(services)

    first = pipeline.new_assignment(options)
    assert first.audio is not None and first.audio.path
    upload_id = audio_above_toggle(fake_notion, first)
    assert fake_notion.file_uploads.content(upload_id) == Path(first.audio.path).read_bytes()
    detail = first.stages["upload"].detail
    assert detail["fileUploadId"] == upload_id and detail["status"] == "uploaded"
    assert detail["audioHash"] == first.audio.hash

    fake_notion.reset_log()
    unchanged = pipeline.new_assignment(options)
    assert all(step.startswith("unchanged:") for step in unchanged.steps)
    assert fake_notion.requests(path="/file_uploads") == []
    assert audio_above_toggle(fake_notion, unchanged) == upload_id

    forced = pipeline.new_assignment(options.model_copy(update={"force": True}))
    assert forced.page_id == first.page_id
    assert (
        audio_above_toggle(fake_notion, forced) == upload_id
    )  # same audio: attached again, not sent
    assert fake_notion.requests("POST", r"/send$") == []
    assert fake_notion.page_count(seeded.homework_ds) == 1

    short_lesson(tmp_path / "lessons", "A different sentence, so different audio.")
    changed = pipeline.new_assignment(options)
    new_id = audio_above_toggle(fake_notion, changed)
    assert new_id != upload_id and changed.audio is not None
    assert fake_notion.file_uploads.content(new_id) == Path(str(changed.audio.path)).read_bytes()


def test_expired_unattached_upload_is_made_again(
    services: Services, fake_notion: FakeNotion, seeded: Seeded, tmp_path: Path
) -> None:
    md = short_lesson(tmp_path / "lessons")
    options = JobOptions(md=str(md), data_source_id=seeded.homework_ds, with_tts=True)
    pipeline = Pipeline(services)
    first = pipeline.new_assignment(options)
    old_id = audio_above_toggle(fake_notion, first)
    # A rerun of the upload alone: the attached upload is still good and is reused.
    reused = pipeline.rerun_assignment(str(md), ["upload"])
    assert reused.stages["upload"].detail["reused"] is True
    # An upload that was never attached and expired is created again, then attached.
    pending = fake_notion.file_uploads.create({"filename": "x.mp3", "content_type": "audio/mpeg"})
    fake_notion.file_uploads.expire(pending["id"])
    store = services.manifest_store
    manifest = store.read_manifest(str(md))
    assert manifest is not None and manifest.audio is not None
    manifest.audio.url = f"notion://file_uploads/{pending['id']}"
    store.write_manifest(str(md), manifest)
    renewed = pipeline.rerun_assignment(str(md), ["upload", "add-audio"])
    detail = renewed.stages["upload"].detail
    assert detail["reused"] is False and detail["fileUploadId"] not in (pending["id"], old_id)
    assert audio_above_toggle(fake_notion, renewed) == detail["fileUploadId"]


def test_unchanged_run_uploads_again_when_the_recorded_upload_expired_unattached(
    services: Services, fake_notion: FakeNotion, seeded: Seeded, tmp_path: Path
) -> None:
    md = short_lesson(tmp_path / "lessons")
    options = JobOptions(md=str(md), data_source_id=seeded.homework_ds, with_tts=True)
    pipeline = Pipeline(services)
    pipeline.new_assignment(options)
    # As if the last run's add-audio never attached this upload and the hour passed.
    store = services.manifest_store
    manifest = store.read_manifest(str(md))
    assert manifest is not None and manifest.audio is not None
    upload_record, attach_record = manifest.stages["upload"], manifest.stages["add-audio"]
    attach_record.completed_at = "2000-01-01T00:00:00.000Z"
    pending = fake_notion.file_uploads.create({"filename": "x.mp3", "content_type": "audio/mpeg"})
    fake_notion.file_uploads.expire(pending["id"])
    manifest.audio.url = f"notion://file_uploads/{pending['id']}"
    store.write_manifest(str(md), manifest)
    assert upload_record.completed_at > attach_record.completed_at

    again = pipeline.new_assignment(options)
    assert "upload" in again.steps and "add-audio" in again.steps
    assert audio_above_toggle(fake_notion, again) == again.stages["upload"].detail["fileUploadId"]


def test_auto_prefers_s3_then_notion_then_local(tmp_path: Path, fake_notion: FakeNotion) -> None:
    base = {"PIPELINE_CWD": tmp_path}
    notion = {"NOTION_TOKEN": fake_notion.token, "NOTION_BASE_URL": fake_notion.base_url}
    assert isinstance(build_services(load_settings(None, **base)).uploader, LocalUploader)
    live = build_services(load_settings(None, **base, **notion))
    assert isinstance(live.uploader, NotionUploader)
    with_s3 = build_services(load_settings(None, **base, **notion, S3_BUCKET="audio"))
    assert isinstance(with_s3.uploader, S3Uploader)
    assert isinstance(uploader_for("notion", with_s3), NotionUploader)
    assert isinstance(uploader_for("local", live), LocalUploader)
    offline = build_services(load_settings(None, **base))
    with pytest.raises(ConfigurationError, match="NOTION_TOKEN"):
        uploader_for("notion", offline)


def test_esl_run_with_a_notion_token_and_no_s3_hosts_the_audio_in_notion(
    fake_notion: FakeNotion,
    seeded: Seeded,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name in list(os.environ):
        if name.startswith(("NOTION_", "ELEVENLABS_", "S3_", "AWS_", "MINIO_", "ESL_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NOTION_TOKEN", fake_notion.token)
    monkeypatch.setenv("NOTION_BASE_URL", fake_notion.base_url)
    md = short_lesson(tmp_path / "lessons")
    argv = ["run", "--md", str(md), "--data-source-id", seeded.homework_ds, "--with-tts"]
    assert main([*argv, "--json"]) == 0
    result = AssignmentResult.model_validate(json.loads(capsys.readouterr().out)["result"])
    assert result.audio is not None and str(result.audio.url).startswith("notion://file_uploads/")
    assert audio_above_toggle(fake_notion, result) == result.audio.key
