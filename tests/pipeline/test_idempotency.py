"""Real protocols (design D3/D6): the runner against the fake Notion server and a moto S3 server.

The same job twice makes one page, one upload object and one audio file; an import that fails
after creating its page is resumed on the same page; a dry run sends nothing; a database or data
source named instead of identified is found by search and receives the page.
"""

import copy
import dataclasses
from pathlib import Path

import pytest

from esl_dagster.pipeline.config.provider import LocalConfigProvider
from esl_dagster.pipeline.errors import ConfigurationError, ServiceError
from esl_dagster.pipeline.manifest import FilesystemManifestStore, Manifest
from esl_dagster.pipeline.notion.client import NotionClient
from esl_dagster.pipeline.notion.live import LiveNotion
from esl_dagster.pipeline.notion.service_contract import NotionDefaults
from esl_dagster.pipeline.observability import NoopMetrics
from esl_dagster.pipeline.options import JobOptions
from esl_dagster.pipeline.runner import Pipeline
from esl_dagster.pipeline.services import Services
from esl_dagster.pipeline.tts.espeak import EspeakProvider
from tests.fakes.notion_server import HOMEWORK_SCHEMA, FakeNotion, Seeded
from tests.pipeline.conftest import (
    Bucket,
    Events,
    s3_uploader,
    settings_for,
    tree_hashes,
    write_short_lesson,
)


@pytest.fixture
def real_services(
    tmp_path: Path,
    notion_client: NotionClient,
    bucket: Bucket,
    espeak: EspeakProvider,
    events: Events,
) -> Services:
    return Services(
        settings=settings_for(tmp_path),
        config_provider=LocalConfigProvider(cwd=tmp_path),
        manifest_store=FilesystemManifestStore(),
        notion=LiveNotion(notion_client, NotionDefaults()),
        tts_provider=espeak,
        uploader=s3_uploader(bucket),
        logger=events.logger(),
        metrics=NoopMetrics(),
    )


def test_same_job_twice_one_page_one_upload_one_audio(
    real_services: Services, fake_notion: FakeNotion, seeded: Seeded, bucket: Bucket, tmp_path: Path
) -> None:
    md = write_short_lesson(tmp_path / "lessons")
    options = JobOptions(
        md=str(md), data_source_id=seeded.homework_ds, prefix="audio", with_tts=True
    )
    pipeline = Pipeline(real_services)

    first = pipeline.new_assignment(options)
    assert first.steps[:3] == ["validate", "import", "colorize"]
    assert first.steps[3].startswith("colorize:b1-default:")
    assert first.steps[4:] == ["tts", "upload", "add-audio", "manifest"]
    assert first.page_id and first.audio is not None and first.audio.url

    unchanged = pipeline.new_assignment(options)
    assert all(step.startswith("unchanged:") for step in unchanged.steps)

    forced = pipeline.new_assignment(options.model_copy(update={"force": True}))
    assert forced.page_id == first.page_id
    assert fake_notion.page_count(seeded.homework_ds) == 1
    assert bucket.keys() == [f"audio/{Path(str(first.audio.path)).name}"]
    assert len(list(real_services.settings.audio_dir.glob("*.mp3"))) == 1
    assert not list(md.parent.glob("*.mp3"))
    page_audio = [b for b in fake_notion.page_tree(first.page_id) if b["type"] == "audio"]
    assert len(page_audio) == 1


def test_an_import_that_failed_after_creating_its_page_resumes_on_that_page(
    real_services: Services, fake_notion: FakeNotion, seeded: Seeded, tmp_path: Path
) -> None:
    md = write_short_lesson(tmp_path / "lessons")
    marker = "### A. 👀 Notice the Grammar\n"
    many = "".join(f"Practice sentence number {n}.\n\n" for n in range(150))
    md.write_text(md.read_text().replace(marker, marker + many, 1))  # > 100 blocks: appends
    options = JobOptions(md=str(md), data_source_id=seeded.homework_ds, with_tts=False)
    fake_notion.add_fault("bad_gateway", method="PATCH", path_regex="/children", times=50)
    pipeline = Pipeline(real_services)
    with pytest.raises(ServiceError) as failure:
        pipeline.new_assignment(options)
    assert failure.value.transient
    status = pipeline.get_assignment_status(str(md))
    assert status.manifest is not None and status.manifest.page_id  # checkpointed at once
    fake_notion.faults.clear()

    resumed = pipeline.new_assignment(options)
    assert resumed.page_id == status.manifest.page_id
    assert fake_notion.page_count(seeded.homework_ds) == 1


def test_dry_run_sends_nothing_and_writes_nothing(
    real_services: Services, fake_notion: FakeNotion, seeded: Seeded, bucket: Bucket, tmp_path: Path
) -> None:
    md = write_short_lesson(tmp_path / "lessons")
    options = JobOptions(md=str(md), data_source_id=seeded.homework_ds, dry_run=True, with_tts=True)
    before = tree_hashes(tmp_path)
    fake_notion.reset_log()
    result = Pipeline(real_services).new_assignment(options)
    assert tree_hashes(tmp_path) == before
    assert fake_notion.requests() == []
    assert bucket.keys() == []
    assert result.stages["import"].detail["payload"]["requests"]


def test_database_and_data_source_names_pick_the_target(
    real_services: Services, fake_notion: FakeNotion, seeded: Seeded, tmp_path: Path
) -> None:
    schema = {**copy.deepcopy(HOMEWORK_SCHEMA), "Student": {"type": "rich_text", "rich_text": {}}}
    db, (ds,) = fake_notion.add_database("Term 2 Lessons", {"Term 2 Lessons": schema})
    md = write_short_lesson(tmp_path / "lessons")
    pipeline = Pipeline(real_services)

    by_db = pipeline.new_assignment(JobOptions(md=str(md), db="term 2 lessons", with_tts=False))
    assert by_db.page_id and fake_notion.page(by_db.page_id)["parent"]["database_id"] == db
    assert fake_notion.page_count(ds) == 1 and fake_notion.page_count(seeded.homework_ds) == 0

    other = write_short_lesson(tmp_path / "more")
    by_source = pipeline.new_assignment(
        JobOptions(md=str(other), data_source="Term 2 Lessons", with_tts=False)
    )
    assert by_source.page_id and by_source.page_id != by_db.page_id
    assert fake_notion.page_count(ds) == 2
    assert len(fake_notion.requests("POST", r"^/v1/search$")) == 2

    with pytest.raises(ConfigurationError, match='not found by name: "Term 3"'):
        pipeline.new_assignment(JobOptions(md=str(other), db="Term 3", with_tts=False, force=True))


def test_unchanged_rerun_sends_no_notion_request(
    real_services: Services, fake_notion: FakeNotion, seeded: Seeded, tmp_path: Path
) -> None:
    md = write_short_lesson(tmp_path / "lessons")
    options = JobOptions(md=str(md), data_source_id=seeded.homework_ds, with_tts=True)
    pipeline = Pipeline(real_services)
    first = pipeline.new_assignment(options)
    assert "add-audio" in first.steps
    fake_notion.reset_log()
    again = pipeline.new_assignment(options)
    assert all(step.startswith("unchanged:") for step in again.steps)
    assert fake_notion.requests() == []


class _LosesThePageId(FilesystemManifestStore):
    """A manifest store whose first write naming a page fails, as S3 might right after Notion
    created the page: the run fails with the page made but its id not recorded."""

    def __init__(self) -> None:
        self.failed = False

    def write_manifest(self, md_path: str, manifest: Manifest) -> str:
        if manifest.page_id and not self.failed:
            self.failed = True
            raise ServiceError("s3", "cannot write manifest: SlowDown", transient=True)
        return super().write_manifest(md_path, manifest)


def test_a_create_whose_page_id_was_lost_is_adopted_not_repeated(
    real_services: Services, fake_notion: FakeNotion, seeded: Seeded, tmp_path: Path
) -> None:
    md = write_short_lesson(tmp_path / "lessons")
    options = JobOptions(md=str(md), data_source_id=seeded.homework_ds)
    pipeline = Pipeline(dataclasses.replace(real_services, manifest_store=_LosesThePageId()))
    with pytest.raises(ServiceError):
        pipeline.new_assignment(options)
    assert fake_notion.page_count(seeded.homework_ds) == 1
    recorded = pipeline.get_assignment_status(str(md)).manifest
    assert recorded is not None and recorded.page_id is None
    assert recorded.notion is not None and recorded.notion.create_started
    retried = pipeline.new_assignment(options)
    assert retried.page_id and fake_notion.page_count(seeded.homework_ds) == 1
    assert retried.stages["import"].detail["created"] is False
