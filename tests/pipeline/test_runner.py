"""The runner on the embedded default (Notion preview, espeak, local uploads): stage semantics,
every flag, skip/rerun rules, dry run, failures, observability."""

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from esl_dagster.pipeline.config.provider import LocalConfigProvider
from esl_dagster.pipeline.errors import (
    ConfigurationError,
    ManifestError,
    PipelineError,
    ValidationError,
)
from esl_dagster.pipeline.options import JobOptions
from esl_dagster.pipeline.runner import AssignmentResult, Pipeline
from esl_dagster.pipeline.services import Services, build_notion_service
from esl_dagster.pipeline.settings.services import SpeechSettings
from esl_dagster.pipeline.stages import STAGES, Skip, run_stage, start_run
from esl_dagster.pipeline.stages.media import decide_tts
from esl_dagster.pipeline.tts.elevenlabs import ElevenLabsProvider
from tests.conftest import INVALID_LESSON
from tests.pipeline.conftest import (
    DIALOGUE,
    Events,
    copy_lesson,
    settings_for,
    tree_hashes,
    write_short_lesson,
)

ALL_UNCHANGED = [f"unchanged:{stage}" for stage in STAGES]
# Sample lesson 01 under b1-default: 9 "## " headings, 9 "### " headings, 2 toggles after an H2,
# counted offline from the preview's block payloads.
COLORIZE_TOKEN = "colorize:b1-default:9/9/2"


@pytest.fixture
def md(tmp_path: Path) -> Path:
    return write_short_lesson(tmp_path / "lessons")


def run(services: Services, md: Path, **flags: Any) -> AssignmentResult:
    """The whole job with audio (audio is off unless asked; these tests ask unless told not to)."""
    options = JobOptions(md=str(md), **{"with_tts": True, **flags})
    return Pipeline(services).new_assignment(options)


def manifest_of(md: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((md.parent / f"{md.stem}.manifest.json").read_text())
    return data


def test_first_run_does_the_whole_job_and_second_run_skips_every_stage(
    services: Services, md: Path, tmp_path: Path
) -> None:
    first = run(services, md)
    assert first.steps == [
        "validate",
        "import",
        COLORIZE_TOKEN,
        "tts",
        "upload",
        "add-audio",
        "manifest",
    ]
    assert first.audio is not None and Path(str(first.audio.path)).stat().st_size > 0
    assert first.audio.url and (tmp_path / "uploads" / Path(str(first.audio.path)).name).is_file()
    assert (
        first.notion_preview
        and json.loads(Path(first.notion_preview).read_text())["imported"] is False
    )
    assert first.stages["add-audio"].status == "success"
    preview = json.loads(Path(first.notion_preview).read_text())
    audio_request = preview["audio"]
    assert audio_request["method"] == "PATCH"
    assert audio_request["path"] == "/v1/blocks/{page_id}/children"
    assert audio_request["body"]["children"] == [
        {"type": "audio", "audio": {"type": "external", "external": {"url": first.audio.url}}}
    ]
    assert audio_request["body"]["position"]["type"] in ("after_block", "start")
    assert first.stages["add-audio"].detail["payload"] == audio_request
    assert first.stages["add-audio"].detail["previewPath"] == first.notion_preview
    manifest_bytes = Path(str(first.manifest_path)).read_bytes()

    second = run(services, md)
    assert second.steps == ALL_UNCHANGED
    assert {name: r.status for name, r in second.stages.items()} == dict.fromkeys(STAGES, "skipped")
    assert Path(str(first.manifest_path)).read_bytes() == manifest_bytes


def test_changed_lesson_reruns_what_depends_on_it(services: Services, md: Path) -> None:
    run(services, md)
    md.write_text(md.read_text().replace("loud and busy", "quiet", 1))
    again = run(services, md)
    assert again.steps[:2] == ["validate", "import"]
    assert "manifest" in again.steps


def test_force_reruns_every_stage_but_keeps_one_audio_file_and_one_upload(
    services: Services, md: Path, tmp_path: Path
) -> None:
    run(services, md)
    forced = run(services, md, force=True)
    assert forced.steps[:5] == ["validate", "import", COLORIZE_TOKEN, "tts", "upload"]
    assert len(list(services.settings.audio_dir.glob("*.mp3"))) == 1
    assert not list(md.parent.glob("*.mp3"))  # machine files stay out of the lesson folder
    assert len(list((tmp_path / "uploads").glob("*.mp3"))) == 1


def test_dry_run_touches_nothing(services: Services, md: Path, tmp_path: Path) -> None:
    before = tree_hashes(tmp_path)
    dry = run(services, md, dry_run=True)
    assert tree_hashes(tmp_path) == before
    assert dry.manifest_written is False
    assert dry.stages["manifest"].reason == "dry run: manifest not written"
    assert dry.stages["import"].detail["payload"]["imported"] is False
    assert dry.stages["tts"].detail["voices"], "the voice assignment is reported"
    assert dry.stages["add-audio"].reason == "no audio url available"

    run(services, md)
    before = tree_hashes(tmp_path)
    forced_dry = run(services, md, dry_run=True, force=True, redo_tts=True)
    assert tree_hashes(tmp_path) == before
    assert forced_dry.steps[:4] == ["validate", "import", COLORIZE_TOKEN, "tts"]
    dry_audio = forced_dry.stages["add-audio"].detail
    assert dry_audio["dryRun"] is True and "previewPath" not in dry_audio
    assert dry_audio["payload"]["body"]["children"][0]["type"] == "audio"


def test_preview_mode_records_the_colour_updates_and_add_audio_keeps_them(
    services: Services, md: Path
) -> None:
    first = run(services, md)
    colorize = first.stages["colorize"].detail
    assert colorize["counts"] == {"h2": 9, "h3": 9, "toggles": 2}
    assert len(colorize["updates"]) == 9 + 9 + 2  # nothing on a new page has the colour yet
    assert all(u["method"] == "PATCH" for u in colorize["updates"])
    preview = json.loads(Path(str(first.notion_preview)).read_text())
    assert preview["colors"] == colorize["updates"] and preview["audio"]

    rerun = Pipeline(services).rerun_assignment(str(md), ["add-audio"], force=True)
    assert rerun.steps[0] == "add-audio"
    assert json.loads(Path(str(first.notion_preview)).read_text())["colors"] == preview["colors"]

    dry = run(services, md, dry_run=True, force=True).stages["colorize"].detail
    assert dry["updates"] == colorize["updates"] and "previewPath" not in dry


def test_failure_leaves_the_previous_manifest_intact(
    services: Services, md: Path, events: Events
) -> None:
    run(services, md)
    manifest_file = md.parent / f"{md.stem}.manifest.json"
    before = manifest_file.read_bytes()
    md.write_text(INVALID_LESSON.read_text())
    with pytest.raises(ValidationError, match="Validation failed"):
        run(services, md)
    assert manifest_file.read_bytes() == before
    assert "stage.validate.failure" in events.messages()
    assert "pipeline.newAssignment.failure" in events.messages()


def test_events_carry_run_id_and_job_id(services: Services, md: Path, events: Events) -> None:
    Pipeline(services).new_assignment(
        JobOptions(md=str(md), with_tts=True), run_id="run-7", job_id="job-7"
    )
    logged = events.all()
    assert logged[0]["message"] == "pipeline.newAssignment.start"
    assert logged[-1]["message"] == "pipeline.newAssignment.success"
    assert {(e["run_id"], e["job_id"]) for e in logged} == {("run-7", "job-7")}
    assert "stage.tts.start" in events.messages() and "stage.tts.success" in events.messages()
    assert "stage.add-audio.success" in events.messages()
    assert manifest_of(md)["runId"] == "run-7" and manifest_of(md)["jobId"] == "job-7"


def test_unknown_preset_is_a_clear_error_before_anything_runs(services: Services, md: Path) -> None:
    with pytest.raises(ConfigurationError, match='unknown preset "nope"'):
        run(services, md, preset="nope")
    assert not (md.parent / f"{md.stem}.manifest.json").exists()


def test_profile_defaults_fill_preset_and_explicit_preset_wins(
    services: Services, md: Path
) -> None:
    assert COLORIZE_TOKEN in run(services, md).steps
    assert manifest_of(md)["preset"] == "b1-default"
    other = run(services, md, preset="b1-default", student="Anna")
    assert other.stages["colorize"].status in ("success", "skipped")
    state = start_run(JobOptions(md=str(md), student="anna"), services, run_id="r")
    assert state.profile == "Anna"
    assert state.options.accent == "british"  # the bundled example profile's accent


def test_no_tts_keeps_the_previous_audio_in_the_manifest(services: Services, md: Path) -> None:
    first = run(services, md)
    without = run(services, md, with_tts=False)
    assert without.stages["tts"].reason == "tts disabled"
    assert first.audio is not None
    assert manifest_of(md)["audio"] == first.audio.model_dump(exclude_none=True)


def test_skip_flags_reuse_the_manifest_and_push_skip_tokens(services: Services, md: Path) -> None:
    with pytest.raises(ManifestError, match="--skip-tts"):
        run(services, md, skip_tts=True)
    run(services, md)
    skipped = run(services, md, skip_import=True, skip_tts=True, skip_upload=True, force=True)
    assert skipped.steps == [
        "validate",
        "skip:import",
        COLORIZE_TOKEN,
        "skip:tts",
        "skip:upload",
        "skip:add-audio",
        "manifest",
    ]


def test_skip_upload_needs_a_recorded_url(services: Services, md: Path) -> None:
    run(services, md, upload="none")
    with pytest.raises(ManifestError, match="--skip-upload"):
        run(services, md, skip_upload=True)


def test_upload_none_and_upload_s3_without_settings(services: Services, md: Path) -> None:
    none = run(services, md, upload="none")
    assert none.stages["upload"].reason == "upload disabled"
    assert none.audio is not None and none.audio.url is None
    with pytest.raises(ConfigurationError, match="S3_BUCKET"):
        run(services, md, upload="s3")


def test_prefix_out_and_redo_tts(services: Services, md: Path, tmp_path: Path) -> None:
    result = run(services, md, prefix="term1/week2", out=str(tmp_path / "audio"))
    assert result.audio is not None
    assert Path(str(result.audio.path)).parent == tmp_path / "audio"
    assert result.audio.key == f"term1/week2/{Path(str(result.audio.path)).name}"
    assert (tmp_path / "uploads" / "term1" / "week2").is_dir()
    redo = run(services, md, prefix="term1/week2", out=str(tmp_path / "audio"), redo_tts=True)
    assert "tts" in redo.steps and redo.stages["import"].status == "skipped"


@pytest.mark.parametrize(
    "change",
    [{"voice_id": "Avery (US)"}, {"accent": "british"}, {"tts_mode": "dialogue"}],
)
def test_voice_options_change_the_tts_inputs(
    services: Services, md: Path, change: dict[str, str]
) -> None:
    run(services, md)
    changed = run(services, md, **change)
    assert "tts" in changed.steps
    assert changed.stages["validate"].status == "skipped"


def test_dialogue_options_are_persisted_and_sticky(services: Services, tmp_path: Path) -> None:
    md = copy_lesson(DIALOGUE, tmp_path / "lessons")
    run(
        services,
        md,
        tts_mode="dialogue",
        dialogue_language="en",
        dialogue_stability=0.3,
        dialogue_seed=42,
    )
    data = manifest_of(md)
    assert (
        data["ttsMode"],
        data["dialogueLanguage"],
        data["dialogueStability"],
        data["dialogueSeed"],
    ) == (
        "dialogue",
        "en",
        0.3,
        42,
    )
    assert run(services, md).steps == ALL_UNCHANGED


def test_a_voice_espeak_cannot_use_is_a_warning_in_the_detail_and_the_log(
    services: Services, md: Path, events: Events
) -> None:
    for dry_run in (True, False):
        result = run(services, md, voice_id="Harriet", dry_run=dry_run)
        warnings = result.stages["tts"].detail["voiceWarnings"]
        forced = [w for w in warnings if w.startswith("voice 'Harriet' (--voice-id / voice_id)")]
        assert len(forced) == 1 and "; espeak picked " in forced[0]
        logged = [e for e in events.all() if e["message"] == "tts.voice_warnings"]
        assert logged[-1]["level"] == "warning" and logged[-1]["detail"] == {"warnings": warnings}
        assert logged[-1]["run_id"] == result.run_id
    usable = run(services, md, voice_id="Avery (US)", force=True).stages["tts"].detail
    assert not any("--voice-id" in w for w in usable.get("voiceWarnings", []))


def test_voices_file_option(services: Services, md: Path, tmp_path: Path) -> None:
    run(services, md)
    voices = tmp_path / "voices.yml"
    voices.write_text("auto: true\ndefault: en-gb@50\n")
    assert "tts" in run(services, md, voices=str(voices)).steps


def test_notion_target_options_shape_the_import(services: Services, md: Path) -> None:
    run(services, md)
    for flags in (
        {"db_id": "db-1"},
        {"data_source_id": "ds-1"},
        {"student": "Marisol"},
        {"db": "Homework"},
        {"data_source": "Primary"},
    ):
        assert "import" in run(services, md, **flags).steps


def test_rerun_needs_a_manifest_and_runs_only_the_requested_steps(
    services: Services, md: Path
) -> None:
    pipeline = Pipeline(services)
    with pytest.raises(PipelineError, match="no manifest"):
        pipeline.rerun_assignment(str(md), ["tts"])
    run(services, md)
    md_hash = manifest_of(md)["mdHash"]
    md.write_text(md.read_text() + "\n")
    rerun = pipeline.rerun_assignment(str(md), ["tts", "upload"], force=True)
    assert rerun.steps[:2] == ["tts", "upload"]
    assert {rerun.stages[s].reason for s in ("validate", "import", "colorize")} == {"not requested"}
    assert manifest_of(md)["mdHash"] == md_hash  # a rerun did not re-import: hash not faked
    assert pipeline.get_assignment_status(str(md)).md_hash_matches is False


def test_status_reports_hash_and_audio(services: Services, md: Path) -> None:
    pipeline = Pipeline(services)
    empty = pipeline.get_assignment_status(str(md))
    assert empty.manifest is None and not empty.md_hash_matches
    result = run(services, md)
    status = pipeline.get_assignment_status(str(md))
    assert status.md_hash_matches and status.audio_file_exists
    assert result.audio is not None
    Path(str(result.audio.path)).unlink()
    assert pipeline.get_assignment_status(str(md)).audio_file_exists is False


def test_stages_run_one_by_one_like_the_dagster_ops(services: Services, md: Path) -> None:
    state = start_run(
        JobOptions(md=str(md), with_tts=True), services, run_id="dagster-run", job_id="j"
    )
    snapshot = state.model_dump_json()
    for stage in STAGES:
        state = run_stage(stage, state, services)
        state = type(state).model_validate_json(state.model_dump_json())  # crosses op boundaries
    assert json.loads(snapshot)["steps"] == []  # run_stage never mutates its input
    assert state.manifest_written and state.run_id == "dagster-run"
    with pytest.raises(ConfigurationError, match="unknown stage"):
        run_stage("publish", state, services)


def test_missing_lesson_is_a_configuration_error(services: Services, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="lesson file not found"):
        run(services, tmp_path / "nope.md")


def test_ffmpeg_path_setting_is_the_ffmpeg_the_tts_stage_runs(
    services: Services, md: Path, tmp_path: Path
) -> None:
    import imageio_ffmpeg

    calls = tmp_path / "ffmpeg-calls.log"
    wrapper = tmp_path / "my-ffmpeg"
    wrapper.write_text(
        f'#!/bin/sh\necho "$@" >> {calls}\nexec {imageio_ffmpeg.get_ffmpeg_exe()} "$@"\n'
    )
    wrapper.chmod(0o755)
    services.settings = settings_for(tmp_path, FFMPEG_PATH=wrapper)
    result = run(services, md)
    assert "tts" in result.steps
    assert calls.is_file() and "libmp3lame" in calls.read_text()


def test_a_changed_gap_setting_rebuilds_the_audio(
    services: Services, md: Path, tmp_path: Path
) -> None:
    first = run(services, md)
    services.settings = settings_for(tmp_path, ESL_TTS_GAP_SECONDS=1.5)
    second = run(services, md)
    assert "tts" in second.steps
    assert first.audio is not None and second.audio is not None
    assert second.audio.hash != first.audio.hash


def test_an_out_folder_that_cannot_be_created_is_a_clear_configuration_error(
    services: Services, md: Path
) -> None:
    blocker = md.parent / "not-a-folder"
    blocker.write_text("x")
    with pytest.raises(ConfigurationError, match=r"audio output folder .*--out"):
        run(services, md, out=str(blocker / "audio"))


def test_the_silence_tail_setting_lengthens_the_audio(
    services: Services, md: Path, tmp_path: Path
) -> None:
    services.settings = settings_for(tmp_path, ELEVENLABS_SILENCE_TAIL_SECONDS=0)
    plain = run(services, md).stages["tts"].detail["durationSeconds"]
    services.settings = settings_for(tmp_path, ELEVENLABS_SILENCE_TAIL_SECONDS=2.0)
    tailed = run(services, md).stages["tts"].detail["durationSeconds"]
    assert tailed - plain == pytest.approx(2.0, abs=0.15)


def test_a_new_default_notion_target_reimports_an_unchanged_lesson(
    services: Services, md: Path, tmp_path: Path
) -> None:
    """The target's fallbacks (here NOTION_DATA_SOURCE_ID) are inputs of the import stage."""
    run(services, md, with_tts=False)
    settings = settings_for(tmp_path, NOTION_DATA_SOURCE_ID="ds-new")
    notion = build_notion_service(settings, services.manifest_store)
    moved = dataclasses.replace(services, settings=settings, notion=notion)
    again = run(moved, md, with_tts=False)
    assert again.stages["import"].status == "success"
    preview = json.loads(Path(str(again.notion_preview)).read_text())
    assert preview["requests"][0]["body"]["parent"] == {"data_source_id": "ds-new"}


def test_rerun_add_audio_survives_a_removed_preset(
    services: Services, md: Path, tmp_path: Path
) -> None:
    """The preview's colours come from the preset the manifest records; once that preset is gone
    the rerun still attaches the audio (the preview just has no colours)."""
    configs = tmp_path / "configs"
    configs.mkdir(exist_ok=True)
    presets = configs / "presets.json"
    presets.write_text('{"mine": {"h2": "blue_background"}}', encoding="utf-8")
    first = run(services, md, preset="mine")
    assert first.stages["colorize"].status == "success"
    presets.write_text('{"other": {"h2": "red"}}', encoding="utf-8")
    rerun = Pipeline(services).rerun_assignment(str(md), steps=["add-audio"])
    assert rerun.stages["add-audio"].status == "success"


def test_a_rerun_runs_exactly_the_named_steps_and_the_manifest_records_it(
    services: Services, md: Path
) -> None:
    run(services, md, preset="b1-default")
    before = manifest_of(md)
    rerun = Pipeline(services).rerun_assignment(
        str(md), ["tts", "upload", "add-audio"], run_id="rerun-1"
    )
    ran = [name for name, result in rerun.stages.items() if result.status == "success"]
    assert ran == ["tts", "upload", "add-audio", "manifest"]
    assert rerun.steps == ["tts", "upload", "add-audio", "manifest"] and rerun.manifest_written
    after = manifest_of(md)
    assert after["runId"] == "rerun-1"
    for stage in ("tts", "upload", "add-audio"):
        assert after["stages"][stage]["runId"] == "rerun-1"
        assert after["stages"][stage]["completedAt"] > before["stages"][stage]["completedAt"]
    for stage in ("import", "colorize"):
        assert after["stages"][stage] == before["stages"][stage]


def test_audio_is_off_unless_asked(services: Services, md: Path) -> None:
    result = Pipeline(services).new_assignment(JobOptions(md=str(md)))
    assert (
        result.stages["tts"].status == "skipped" and result.stages["tts"].reason == "tts disabled"
    )
    assert result.audio is None and not any(step.startswith("tts") for step in result.steps)


def test_a_changed_provider_model_format_or_catalog_rebuilds_the_audio(
    services: Services, md: Path, tmp_path: Path
) -> None:
    """The tts stage's input hash is the speech request's digest: any of its fields reruns it."""
    run(services, md)
    state = start_run(JobOptions(md=str(md), with_tts=True), services, run_id="r2")
    assert isinstance(decide_tts(state, services), Skip)
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps({"voices": [{"id": "v1", "name": "Only"}]}), encoding="utf-8")
    variants = {
        "provider": ElevenLabsProvider(
            SpeechSettings(api_key="key", base_url="http://127.0.0.1:9")
        ),
        "model": ElevenLabsProvider(SpeechSettings(api_key="key", model_id="eleven_turbo_v2_5")),
        "format": ElevenLabsProvider(SpeechSettings(api_key="key", output_format="mp3_44100_128")),
    }
    digests = set()
    for provider in variants.values():
        changed = dataclasses.replace(services, tts_provider=provider)
        decision = decide_tts(state, changed)
        assert isinstance(decision, str)
        digests.add(decision)
    other_catalog = LocalConfigProvider(cwd=tmp_path, catalog_path=catalog)
    decision = decide_tts(state, dataclasses.replace(services, config_provider=other_catalog))
    assert isinstance(decision, str)
    assert len(digests | {decision}) == 4
