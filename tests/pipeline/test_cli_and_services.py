"""``esl run|rerun|status`` end to end on the embedded default, and the D5 service choices."""

import json
import os
from pathlib import Path

import pytest

from esl_dagster.pipeline.cli import main
from esl_dagster.pipeline.errors import ConfigurationError
from esl_dagster.pipeline.manifest import FilesystemManifestStore, S3ManifestStore
from esl_dagster.pipeline.notion.live import LiveNotion
from esl_dagster.pipeline.notion.offline import PreviewNotion
from esl_dagster.pipeline.services import build_services
from esl_dagster.pipeline.storage import LocalUploader, S3Uploader
from esl_dagster.pipeline.tts.elevenlabs import ElevenLabsProvider
from esl_dagster.pipeline.tts.espeak import EspeakProvider
from tests.conftest import INVALID_LESSON, VALID_LESSONS
from tests.pipeline.conftest import copy_lesson, settings_for, write_short_lesson

ENV_PREFIXES = ("NOTION_", "ELEVENLABS_", "S3_", "AWS_", "MINIO_", "ESL_", "PG_", "PIPELINE_CWD")


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No credentials, no settings: the embedded default, working in tmp_path."""
    for name in list(os.environ):
        if name.startswith(ENV_PREFIXES):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.slow
def test_every_sample_lesson_runs_offline_and_then_skips_everything(
    clean_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = clean_env / "lessons"
    for source in VALID_LESSONS:
        md = copy_lesson(source, folder)
        assert main(["run", "--with-tts", "--md", str(md), "--json"]) == 0
        result = json.loads(capsys.readouterr().out)["result"]
        assert Path(result["audio"]["path"]).suffix == ".mp3"
        assert Path(result["audio"]["path"]).stat().st_size > 0
        assert Path(result["notion_preview"]).is_file()
        assert Path(result["manifest_path"]).is_file()
        assert main(["run", "--with-tts", "--md", str(md), "--json"]) == 0
        again = json.loads(capsys.readouterr().out)["result"]
        assert all(step.startswith("unchanged:") for step in again["steps"]), again["steps"]
        assert {stage["status"] for stage in again["stages"].values()} == {"skipped"}


def test_text_summary_status_and_rerun(clean_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    md = write_short_lesson(clean_env / "lessons")
    assert main(["run", "--with-tts", "--md", str(md)]) == 0
    out = capsys.readouterr().out
    assert "Steps:" in out and "Manifest:" in out and "Audio:" in out
    assert main(["status", "--md", str(md)]) == 0
    assert "matches" in capsys.readouterr().out
    assert main(["status", "--md", str(md), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)["status"]
    assert status["md_hash_matches"] and status["audio_file_exists"]
    assert main(["rerun", "--md", str(md), "--steps", "tts,upload,tts", "--json"]) == 0
    rerun = json.loads(capsys.readouterr().out)
    assert rerun["result"]["steps"][:2] == ["tts", "upload"]


def test_run_output_shows_the_voices_espeak_could_not_use(
    clean_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    md = write_short_lesson(clean_env / "lessons")
    assert main(["run", "--with-tts", "--md", str(md), "--dry-run", "--voice-id", "Harriet"]) == 0
    lines = capsys.readouterr().out.splitlines()
    warnings = [line for line in lines if line.startswith("Voice warning:")]
    assert any("'Harriet' (--voice-id / voice_id)" in line for line in warnings)
    assert (
        main(["run", "--with-tts", "--md", str(md), "--dry-run", "--voice-id", "Harriet", "--json"])
        == 0
    )
    result = json.loads(capsys.readouterr().out)["result"]
    assert len(result["stages"]["tts"]["detail"]["voiceWarnings"]) == len(warnings)


@pytest.mark.parametrize(
    ("argv", "code", "reason"),
    [
        (["run", "--md", "{invalid}"], 1, "esl: Validation failed: "),
        (["run", "--md", "{short}", "--preset", "nope"], 2, 'esl: unknown preset "nope"'),
        (["run", "--md", "missing.md"], 2, "esl: lesson file not found"),
        (["run", "--md", "{short}", "--dialogue-seed", "-1"], 2, "esl: invalid option"),
        (
            ["run", "--with-tts", "--md", "{short}", "--upload", "s3"],
            2,
            "esl: --upload s3 needs S3 storage",
        ),
        (["rerun", "--md", "{short}"], 1, "esl: no manifest for"),
        (["run", "--with-tts", "--md", "{short}", "--skip-tts"], 1, "esl: --skip-tts needs audio"),
    ],
)
def test_failures_exit_non_zero_with_one_line(
    clean_env: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    code: int,
    reason: str,
) -> None:
    short = write_short_lesson(clean_env / "lessons")
    invalid = copy_lesson(INVALID_LESSON, clean_env / "lessons")
    args = [a.format(short=short, invalid=invalid) for a in argv]
    assert main(args) == code
    captured = capsys.readouterr()
    assert captured.err.startswith(reason)
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err


def test_json_failure_is_one_document(clean_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    invalid = copy_lesson(INVALID_LESSON, clean_env / "lessons")
    assert main(["run", "--md", str(invalid), "--json"]) == 1
    document = json.loads(capsys.readouterr().out)
    assert document["command"] == "run"
    assert document["error"]["code"] == "validation_failed"


def test_unknown_rerun_step_is_a_usage_error(clean_env: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["rerun", "--md", "x.md", "--steps", "import"])
    assert exit_info.value.code == 2


def test_embedded_default_services(tmp_path: Path) -> None:
    services = build_services(settings_for(tmp_path))
    assert isinstance(services.notion, PreviewNotion)
    assert isinstance(services.tts_provider, EspeakProvider)
    assert isinstance(services.uploader, LocalUploader)
    assert isinstance(services.manifest_store, FilesystemManifestStore)


def test_credentials_switch_each_part_to_the_real_service(tmp_path: Path) -> None:
    settings = settings_for(
        tmp_path,
        NOTION_TOKEN="secret_x",
        ELEVENLABS_API_KEY="key",
        S3_BUCKET="audio",
        ESL_PIPELINE_MANIFEST_STORE="s3",
        ESL_PIPELINE_MANIFEST_BUCKET="manifests",
        AWS_ACCESS_KEY_ID="a",
        AWS_SECRET_ACCESS_KEY="b",
    )
    services = build_services(settings)
    assert isinstance(services.notion, LiveNotion)
    assert isinstance(services.tts_provider, ElevenLabsProvider)
    assert isinstance(services.uploader, S3Uploader)
    assert isinstance(services.manifest_store, S3ManifestStore)
    assert services.manifest_store.bucket == "manifests"


def test_s3_manifest_store_without_bucket_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="ESL_PIPELINE_MANIFEST_BUCKET"):
        build_services(settings_for(tmp_path, ESL_PIPELINE_MANIFEST_STORE="s3"))


@pytest.mark.parametrize("md", ["nope.md", "."])
def test_status_of_a_path_that_is_no_lesson_file_is_a_usage_error(
    clean_env: Path, capsys: pytest.CaptureFixture[str], md: str
) -> None:
    assert main(["status", "--md", md]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("esl: lesson file not found")
    assert captured.out == ""


def test_status_of_a_deleted_lesson_with_a_manifest_says_the_file_is_missing(
    clean_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    md = write_short_lesson(clean_env / "lessons")
    assert main(["run", "--md", str(md)]) == 0
    md.unlink()
    capsys.readouterr()
    assert main(["status", "--md", str(md)]) == 0
    assert "lesson file missing" in capsys.readouterr().out


def test_esl_run_builds_no_audio_unless_asked(
    clean_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    md = write_short_lesson(clean_env / "lessons")
    assert main(["run", "--md", str(md), "--json"]) == 0
    stages = json.loads(capsys.readouterr().out)["result"]["stages"]
    assert stages["tts"] == {**stages["tts"], "status": "skipped", "reason": "tts disabled"}
    assert main(["run", "--with-tts", "--md", str(md), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["result"]["stages"]["tts"]["status"] == "success"
