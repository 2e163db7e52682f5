"""LocalConfigProvider: per-item resolution, bundled fallback, explicit paths, mtime caching."""

import json
import os
import shutil
from pathlib import Path

import pytest

from esl_dagster.pipeline.config.provider import (
    BUNDLED_CONFIG_DIR,
    ConfigProvider,
    LocalConfigProvider,
)
from esl_dagster.pipeline.errors import ConfigurationError
from tests.conftest import CONFIGS_DIR


def bump_mtime(path: Path) -> None:
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))


def test_no_config_dir_uses_the_bundled_defaults() -> None:
    provider = LocalConfigProvider()
    assert isinstance(provider, ConfigProvider)
    paths = provider.paths()
    assert paths.presets == BUNDLED_CONFIG_DIR / "presets.json"
    assert paths.students == BUNDLED_CONFIG_DIR / "students"
    assert "b1-default" in provider.load_presets()
    assert provider.load_voices_map().auto is True
    assert len(provider.load_voice_catalog().voices) == 30


def test_each_item_falls_back_independently(tmp_path: Path) -> None:
    (tmp_path / "presets.json").write_text(json.dumps({"mine": {"h2": "red"}}), encoding="utf-8")
    provider = LocalConfigProvider(tmp_path)
    paths = provider.paths()
    assert paths.presets == tmp_path / "presets.json"
    assert paths.voices == BUNDLED_CONFIG_DIR / "voices.yml"
    assert paths.students == BUNDLED_CONFIG_DIR / "students"
    assert list(provider.load_presets()) == ["mine"]
    assert provider.find_student("anna").student == "Anna"


def test_example_config_folder(configs_dir: Path) -> None:
    provider = LocalConfigProvider(configs_dir)
    assert provider.find_student("  LEONIE ").color_preset == "b2-warm"
    assert provider.load_voices_map().default == "Quinn"
    # the example folder ships a *.sample.json catalog, so the bundled catalog is used
    assert provider.paths().catalog == BUNDLED_CONFIG_DIR / "elevenlabs.voices.json"


def test_explicit_catalog_path_relative_to_cwd(configs_dir: Path) -> None:
    provider = LocalConfigProvider(
        catalog_path=Path("elevenlabs.voices.sample.json"), cwd=configs_dir
    )
    assert provider.load_voice_catalog().find("Quinn") is not None


def test_cwd_configs_folder_is_searched_before_the_bundled_one(tmp_path: Path) -> None:
    shutil.copytree(CONFIGS_DIR, tmp_path / "configs")
    provider = LocalConfigProvider(cwd=tmp_path)
    assert provider.paths().voices == tmp_path / "configs" / "voices.yml"


def test_missing_explicit_paths_are_errors_not_fallbacks(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"presets\.json file .*nope\.json does not exist"):
        LocalConfigProvider(presets_path=tmp_path / "nope.json")
    with pytest.raises(ConfigurationError, match=r"students folder .*missing does not exist"):
        LocalConfigProvider(students_dir=tmp_path / "missing")
    with pytest.raises(ConfigurationError, match=r"config folder .*absent does not exist"):
        LocalConfigProvider(tmp_path / "absent")


def test_find_student_falls_back_to_default() -> None:
    provider = LocalConfigProvider(CONFIGS_DIR)
    assert provider.find_student(None).student == "Default"
    assert provider.find_student("   ").student == "Default"
    assert provider.find_student("Nobody").student == "Default"
    assert provider.find_student("Nobody").color_preset == "b1-default"


def test_get_preset_unknown_lists_available() -> None:
    provider = LocalConfigProvider(CONFIGS_DIR)
    assert provider.get_preset("a2-calm").h2 == "blue_background"
    with pytest.raises(ConfigurationError) as caught:
        provider.get_preset("b1-defualt")
    assert str(caught.value) == (
        'unknown preset "b1-defualt" (available: a2-calm, b2-warm, sections-only)'
    )


def test_reloads_when_a_file_changes_and_caches_otherwise(tmp_path: Path) -> None:
    presets = tmp_path / "presets.json"
    presets.write_text(json.dumps({"one": {}}), encoding="utf-8")
    provider = LocalConfigProvider(tmp_path)
    first = provider.load_presets()
    assert list(first) == ["one"]
    assert provider.load_presets()["one"] is first["one"]  # cached: same parsed objects
    presets.write_text(json.dumps({"one": {}, "two": {"h3": "blue"}}), encoding="utf-8")
    bump_mtime(presets)
    assert sorted(provider.load_presets()) == ["one", "two"]


def test_students_cache_sees_added_and_broken_files(tmp_path: Path) -> None:
    students = tmp_path / "students"
    students.mkdir()
    (students / "a.json").write_text(json.dumps({"student": "A"}), encoding="utf-8")
    provider = LocalConfigProvider(tmp_path)
    assert [p.student for p in provider.load_student_profiles()] == ["A", "Default"]
    (students / "b.json").write_text(json.dumps({"student": "B"}), encoding="utf-8")
    assert [p.student for p in provider.load_student_profiles()] == ["A", "B", "Default"]
    (students / "b.json").write_text("{broken", encoding="utf-8")
    bump_mtime(students / "b.json")
    with pytest.raises(ConfigurationError, match=r"b\.json: invalid JSON"):
        provider.load_student_profiles()


def test_returned_collections_are_copies(tmp_path: Path) -> None:
    provider = LocalConfigProvider(CONFIGS_DIR)
    provider.load_presets().clear()
    provider.load_student_profiles().clear()
    assert provider.load_presets()
    assert provider.load_student_profiles()
