"""The ``manifest`` stage: the manifest this run leaves, written unless nothing changed."""

from pathlib import Path

from esl_dagster.pipeline.manifest import MANIFEST_SCHEMA_VERSION, Manifest, utc_timestamp
from esl_dagster.pipeline.run_state import RunState
from esl_dagster.pipeline.services import Services
from esl_dagster.pipeline.stages.common import Outcome, Skip


def build_manifest(state: RunState) -> Manifest:
    """The manifest this run leaves: the previous one updated with what this run did.

    Unlike the original, nothing is lost on ordinary runs: the preset, page and audio carry over
    when this run did not change them, and a rerun keeps ``mdHash`` (it did not re-import).
    """
    previous = state.previous
    options = state.options
    stages = dict(previous.stages) if previous else {}
    stages.update(state.records)
    base = previous.model_dump(by_alias=False) if previous else {}
    base.update(
        schema_version=MANIFEST_SCHEMA_VERSION,
        md_hash=previous.md_hash if state.rerun and previous else state.md_hash,
        page_id=state.page_id,
        page_url=state.page_url,
        audio=state.audio,
        preset=options.preset if options.preset is not None else base.get("preset"),
        tts_mode=options.tts_mode,
        dialogue_language=options.dialogue_language,
        dialogue_stability=options.dialogue_stability,
        dialogue_seed=options.dialogue_seed,
        timestamp=utc_timestamp(),
        run_id=state.run_id,
        job_id=state.job_id,
        stages=stages,
        notion=state.notion,
    )
    return Manifest.model_validate(base)


def decide_manifest(state: RunState, _services: Services) -> Skip | str:
    manifest = build_manifest(state)
    digest = manifest.content_fingerprint()
    if state.dry_run:
        return Skip(
            "dry run: manifest not written",
            detail={
                "manifestPath": state.manifest_path,
                "manifest": manifest.model_dump(mode="json", by_alias=True, exclude_none=True),
            },
        )
    previous = state.previous
    # A stage that ran (a rerun's named steps too) is recorded with this run's id and time, even
    # when what it produced is the same as before.
    if (
        previous is not None
        and not state.options.force
        and not state.records
        and previous.schema_version == MANIFEST_SCHEMA_VERSION
        and previous.content_fingerprint() == digest
    ):
        return Skip.unchanged("manifest", manifestPath=state.manifest_path)
    return digest


def act_manifest(state: RunState, services: Services) -> Outcome:
    manifest = build_manifest(state)
    state.manifest_path = services.manifest_store.write_manifest(state.md_path, manifest)
    state.manifest_written = True
    detail: dict[str, str] = {"manifestPath": state.manifest_path}
    removed = remove_superseded_audio(state, services.settings.audio_dir)
    if removed is not None:
        detail["removedAudio"] = str(removed)
    return Outcome(detail=detail, tokens=["manifest"])


def remove_superseded_audio(state: RunState, audio_dir: Path) -> Path | None:
    """Delete the MP3 the previous manifest named once this run's manifest names a new one.

    Only a file this pipeline built in the data folder (``audio_dir``) is removed, never a file
    elsewhere (an ``--out`` folder, a teacher's copy). Returns the removed path, if any.
    """
    old = state.previous.audio.path if state.previous and state.previous.audio else None
    new = state.audio.path if state.audio else None
    if not old or not new or Path(old) == Path(new):
        return None
    superseded = Path(old)
    if superseded.suffix.lower() != ".mp3" or not superseded.resolve().is_relative_to(
        audio_dir.resolve()
    ):
        return None
    try:
        superseded.unlink()
    except FileNotFoundError:
        return None
    return superseded
