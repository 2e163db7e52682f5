"""Fail before spending: ``esl run`` refuses a job that cannot deliver, before any request.

Each case runs the CLI against the fake Notion and fake ElevenLabs servers (configured through
the environment, as a user would) and checks the exit code 2, the one line naming what to
change, and that neither server received a single request.
"""

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from esl_dagster.pipeline.cli import main
from esl_dagster.pipeline.options import JobOptions
from esl_dagster.pipeline.preflight import PreflightError, preflight
from esl_dagster.pipeline.services import build_services
from esl_dagster.pipeline.settings import load_settings
from tests.fakes.elevenlabs_server import FakeElevenLabs
from tests.fakes.notion_server import FakeNotion, seed_homework
from tests.pipeline.conftest import write_short_lesson

ENV_PREFIXES = ("NOTION_", "ELEVENLABS_", "S3_", "AWS_", "MINIO_", "ESL_", "PG_", "PIPELINE_CWD")


@dataclass
class LiveServices:
    notion: FakeNotion
    eleven: FakeElevenLabs
    md: Path
    data_source: str

    def untouched(self) -> bool:
        return self.notion.requests() == [] and self.eleven.requests == []


@pytest.fixture
def live(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fake_notion: FakeNotion
) -> Iterator[LiveServices]:
    """A live Notion and ElevenLabs (the fakes) and no S3, set up through the environment."""
    for name in list(os.environ):
        if name.startswith(ENV_PREFIXES):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    notion = fake_notion
    seeded = seed_homework(notion)
    notion.reset_log()
    with FakeElevenLabs() as eleven:
        monkeypatch.setenv("NOTION_TOKEN", notion.token)
        monkeypatch.setenv("NOTION_BASE_URL", notion.base_url)
        monkeypatch.setenv("ELEVENLABS_API_KEY", "test-key")
        monkeypatch.setenv("ELEVENLABS_BASE_URL", eleven.base_url)
        md = write_short_lesson(tmp_path / "lessons")
        yield LiveServices(notion, eleven, md, seeded.homework_ds)


def refused(live: LiveServices, capsys: pytest.CaptureFixture[str], *flags: str) -> str:
    argv = ["run", "--md", str(live.md), "--data-source-id", live.data_source, "--with-tts"]
    assert main([*argv, *flags]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and error.startswith("esl: ")
    assert live.untouched()
    return error


def test_local_uploads_without_public_url_are_refused_for_a_live_notion(
    live: LiveServices, capsys: pytest.CaptureFixture[str]
) -> None:
    error = refused(live, capsys, "--upload", "local")
    assert "ESL_PUBLIC_BASE_URL" in error and "--upload notion" in error and "S3" in error


def test_unknown_preset_lists_the_available_ones(
    live: LiveServices, capsys: pytest.CaptureFixture[str]
) -> None:
    error = refused(live, capsys, "--preset", "nonexistent-preset")
    assert 'unknown preset "nonexistent-preset"' in error and "b1-default" in error


def test_unknown_voice_is_refused_before_any_speech(
    live: LiveServices, capsys: pytest.CaptureFixture[str]
) -> None:
    error = refused(live, capsys, "--voice-id", "Nobody Here")
    assert "--voice-id" in error and "Nobody Here" in error


def test_missing_ffmpeg_is_refused_when_speech_is_asked(
    live: LiveServices, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    not_executable = live.md.parent / "ffmpeg"
    not_executable.write_text("not a program")
    monkeypatch.setenv("FFMPEG_PATH", str(not_executable))
    error = refused(live, capsys)
    assert "FFMPEG_PATH" in error


def test_s3_target_without_s3_settings_is_refused(
    live: LiveServices, capsys: pytest.CaptureFixture[str]
) -> None:
    error = refused(live, capsys, "--upload", "s3")
    assert "S3_BUCKET" in error


def test_targets_that_deliver_pass(tmp_path: Path, fake_notion: FakeNotion) -> None:
    md = write_short_lesson(tmp_path / "lessons")
    notion = {"NOTION_TOKEN": fake_notion.token, "NOTION_BASE_URL": fake_notion.base_url}
    options = JobOptions(md=str(md), with_tts=True, upload="local")
    served = load_settings(
        None, PIPELINE_CWD=tmp_path, ESL_PUBLIC_BASE_URL="https://cdn.example/a", **notion
    )
    preflight(options, build_services(served))
    hosted = build_services(load_settings(None, PIPELINE_CWD=tmp_path, **notion))
    preflight(options.model_copy(update={"upload": "auto"}), hosted)
    offline = build_services(load_settings(None, PIPELINE_CWD=tmp_path))
    preflight(options, offline)  # preview mode: a local link is fine
    preflight(options.model_copy(update={"upload": "none"}), hosted)
    with pytest.raises(PreflightError) as refusal:
        preflight(options, hosted)
    assert refusal.value.code == "audio_url_unreachable" and not refusal.value.transient
    assert fake_notion.requests() == []
