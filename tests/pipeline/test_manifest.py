"""Manifest model and stores: the original's v1 read and upgraded, atomic writes, S3 key rules."""

import json
from pathlib import Path
from typing import Any

import pytest

from esl_dagster.pipeline.errors import ManifestError
from esl_dagster.pipeline.manifest import (
    MANIFEST_SCHEMA_VERSION,
    FilesystemManifestStore,
    Manifest,
    S3ManifestStore,
    s3_manifest_key,
)
from esl_dagster.pipeline.options import JobOptions
from esl_dagster.pipeline.runner import Pipeline
from esl_dagster.pipeline.services import Services
from tests.pipeline.conftest import MONOLOGUE, Bucket, copy_lesson

# A manifest exactly as the original TypeScript pipeline writes it (schema version 1).
ORIGINAL_V1: dict[str, Any] = {
    "schemaVersion": 1,
    "mdHash": "0" * 64,
    "pageId": "1f2e3d4c-0000-4000-8000-000000000001",
    "pageUrl": "https://www.notion.so/lesson-1f2e3d4c",
    "audio": {
        "path": "/old/place/marisol-abc.mp3",
        "url": "https://bucket.s3.ap-southeast-1.amazonaws.com/audio/assignments/marisol-abc.mp3",
        "hash": "abc",
        "voices": [{"speaker": "Narrator", "voiceId": "v1", "source": "voiceMap"}],
    },
    "preset": "b1-default",
    "ttsMode": "monologue",
    "dialogueLanguage": "en",
    "dialogueStability": 0.5,
    "dialogueSeed": 7,
    "timestamp": "2025-11-20T10:00:00.000Z",
    "someFutureField": {"kept": True},
}


def test_filesystem_paths_follow_the_original_rule() -> None:
    store = FilesystemManifestStore()
    assert store.manifest_path_for("/a/lesson.md") == "/a/lesson.manifest.json"
    assert store.manifest_path_for("a/b.c.md") == "a/b.c.manifest.json"
    assert store.manifest_path_for("/a/noext") == "/a/noext.manifest.json"
    assert store.manifest_path_for("/a/.hidden") == "/a/.manifest.json"
    assert store.preview_path_for("/a/lesson.md") == "/a/lesson.notion-preview.json"


def test_filesystem_preview_is_written_next_to_the_manifest(tmp_path: Path) -> None:
    md = tmp_path / "m.md"
    location = FilesystemManifestStore().write_preview(str(md), {"imported": False})
    assert location == str(tmp_path / "m.notion-preview.json")
    assert json.loads(Path(location).read_text(encoding="utf-8")) == {"imported": False}


def test_v1_manifest_reads_with_every_key_and_round_trips(tmp_path: Path) -> None:
    md = tmp_path / "lesson.md"
    (tmp_path / "lesson.manifest.json").write_text(json.dumps(ORIGINAL_V1, indent=2))
    manifest = FilesystemManifestStore().read_manifest(str(md))
    assert manifest is not None
    assert manifest.schema_version == 1
    assert manifest.page_id == ORIGINAL_V1["pageId"]
    assert manifest.audio is not None and manifest.audio.voices == ORIGINAL_V1["audio"]["voices"]
    assert manifest.dialogue_seed == 7
    written = json.loads(manifest.to_json())
    assert written == ORIGINAL_V1  # every v1 key (and unknown keys) written back unchanged


def test_missing_schema_version_reads_as_1(tmp_path: Path) -> None:
    data = {k: v for k, v in ORIGINAL_V1.items() if k != "schemaVersion"}
    (tmp_path / "x.manifest.json").write_text(json.dumps(data))
    manifest = FilesystemManifestStore().read_manifest(str(tmp_path / "x.md"))
    assert manifest is not None and manifest.schema_version == 1


def test_unreadable_manifest_is_a_clear_error_not_a_silent_fresh_start(tmp_path: Path) -> None:
    (tmp_path / "x.manifest.json").write_text("{not json")
    with pytest.raises(ManifestError, match=r"x\.manifest\.json is not valid JSON"):
        FilesystemManifestStore().read_manifest(str(tmp_path / "x.md"))
    (tmp_path / "x.manifest.json").write_text(json.dumps({**ORIGINAL_V1, "schemaVersion": 99}))
    with pytest.raises(ManifestError, match="schemaVersion 99"):
        FilesystemManifestStore().read_manifest(str(tmp_path / "x.md"))


def test_write_is_atomic_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    store = FilesystemManifestStore()
    md = str(tmp_path / "sub" / "lesson.md")
    path = store.write_manifest(md, Manifest(md_hash="a" * 64, timestamp="t"))
    assert Path(path).read_text() == json.dumps(
        {"schemaVersion": 1, "mdHash": "a" * 64, "timestamp": "t"}, indent=2
    )
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["lesson.manifest.json"]


def test_pipeline_upgrades_an_original_v1_manifest(tmp_path: Path, services: Services) -> None:
    md = copy_lesson(MONOLOGUE, tmp_path / "lessons")
    v1 = {**ORIGINAL_V1, "audio": {**ORIGINAL_V1["audio"], "path": str(tmp_path / "gone.mp3")}}
    manifest_file = tmp_path / "lessons" / f"{md.stem}.manifest.json"
    manifest_file.write_text(json.dumps(v1, indent=2))

    options = JobOptions(md=str(md), with_tts=True)
    result = Pipeline(services).new_assignment(options, run_id="run-upgrade")

    data = json.loads(manifest_file.read_text())
    assert data["schemaVersion"] == MANIFEST_SCHEMA_VERSION
    assert data["runId"] == "run-upgrade"
    assert set(data["stages"]) == {"validate", "import", "colorize", "tts", "upload", "add-audio"}
    # v1 state is carried, not lost: the real page stays recorded in preview mode,
    # the sticky TTS options and unknown keys survive.
    assert data["pageId"] == ORIGINAL_V1["pageId"]
    assert data["pageUrl"] == ORIGINAL_V1["pageUrl"]
    assert data["ttsMode"] == "monologue"
    assert data["dialogueSeed"] == 7
    assert data["someFutureField"] == {"kept": True}
    assert data["mdHash"] != ORIGINAL_V1["mdHash"]
    assert result.audio is not None and Path(str(result.audio.path)).is_file()


@pytest.mark.parametrize(
    ("md", "root", "prefix", "key"),
    [
        (
            "/srv/lessons/unit1.md",
            "/srv",
            "manifests/dev",
            "manifests/dev/lessons/unit1.manifest.json",
        ),
        ("/srv/lessons/unit1.md", "/other", "/manifests/dev/", "manifests/dev/unit1.manifest.json"),
        ("/srv/lessons/unit1.md", None, None, "srv/lessons/unit1.manifest.json"),
        ("./lessons/unit1.md", "/srv", "m", "m/lessons/unit1.manifest.json"),
        ("../x/unit1.md", "/srv", "m", "m/x/unit1.manifest.json"),
        ("C:\\x\\y.md", None, "p", "p/C_/x/y.manifest.json"),
        # The original produced p/../b.manifest.json here: a key outside its prefix.
        ("a/../../b.md", None, "p", "p/b.manifest.json"),
        ("a/./b/../../../../etc/passwd.md", None, "p", "p/etc/passwd.manifest.json"),
        ("/..", None, "p", "p/.manifest.json"),
    ],
)
def test_s3_keys_follow_the_original_but_never_escape_the_prefix(
    md: str, root: str | None, prefix: str | None, key: str
) -> None:
    assert s3_manifest_key(md, prefix=prefix, root_dir=root) == key
    if prefix:
        assert key.startswith(prefix.strip("/") + "/")
        assert ".." not in key.split("/")


def test_s3_store_on_moto(bucket: Bucket) -> None:
    store = S3ManifestStore(bucket.client, bucket.name, prefix="manifests", root_dir="/srv")
    assert store.read_manifest("/srv/lessons/unit1.md") is None
    location = store.write_manifest(
        "/srv/lessons/unit1.md", Manifest(md_hash="b" * 64, timestamp="t")
    )
    assert location == f"s3://{bucket.name}/manifests/lessons/unit1.manifest.json"
    assert store.manifest_path_for("/srv/lessons/unit1.md") == location
    store.write_manifest("a/../../b.md", Manifest(md_hash="c" * 64, timestamp="t"))
    store.write_preview("/srv/lessons/unit1.md", {"imported": False})
    assert bucket.keys() == [
        "manifests/b.manifest.json",
        "manifests/lessons/unit1.manifest.json",
        "manifests/lessons/unit1.notion-preview.json",
    ]
    read = store.read_manifest("/srv/lessons/unit1.md")
    assert read is not None and read.md_hash == "b" * 64
    head = bucket.client.head_object(Bucket=bucket.name, Key="manifests/b.manifest.json")
    assert head["ContentType"] == "application/json"
