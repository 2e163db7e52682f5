"""Loaders on the example and bundled configs, and on broken files (errors name file + field)."""

import json
from pathlib import Path

import pytest

from esl_dagster.pipeline.config.loaders import (
    load_presets,
    load_student_profiles,
    load_voice_catalog,
    load_voices_map,
    parse_student_profiles_array,
    parse_voices_map,
)
from esl_dagster.pipeline.config.provider import BUNDLED_CONFIG_DIR
from esl_dagster.pipeline.errors import ConfigurationError
from tests.conftest import CONFIGS_DIR


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# ##### the shipped and example files


def test_example_presets_load() -> None:
    presets = load_presets(CONFIGS_DIR / "presets.json")
    assert sorted(presets) == ["a2-calm", "b2-warm", "sections-only"]
    assert presets["b2-warm"].h3 == "red"
    assert presets["b2-warm"].toggle_map is not None
    assert presets["b2-warm"].toggle_map.h2 == "orange"
    assert presets["sections-only"].h3 is None


def test_bundled_presets_contain_the_original_b1_default() -> None:
    preset = load_presets(BUNDLED_CONFIG_DIR / "presets.json")["b1-default"]
    assert (preset.h2, preset.h3) == ("yellow_background", "purple_background")
    assert preset.toggle_map is not None and preset.toggle_map.h2 == "yellow_background"


def test_example_students_get_the_builtin_default_added() -> None:
    profiles = load_student_profiles(CONFIGS_DIR / "students")
    assert [p.student for p in profiles] == ["Default", "Leonie"]
    leonie = profiles[1]
    assert leonie.db_id == "5c1f0e9a2b7d4e3f8a6b1c0d9e8f7a6b"
    assert leonie.color_preset == "b2-warm"
    assert leonie.accent_preference == "british"
    assert profiles[0].color_preset == "b1-default"


def test_bundled_students() -> None:
    profiles = load_student_profiles(BUNDLED_CONFIG_DIR / "students")
    assert [p.student for p in profiles] == ["Anna", "Default"]
    assert all(p.color_preset == "b1-default" for p in profiles)


def test_example_voices_map() -> None:
    voices = load_voices_map(CONFIGS_DIR / "voices.yml")
    assert voices.auto is True
    assert voices.default == "Quinn"
    assert voices.speakers["Aunt Rosa"] == "Delphine"
    assert "auto" not in voices.speakers and "default" not in voices.speakers


def test_bundled_voices_map_names_catalog_voices() -> None:
    voices = load_voices_map(BUNDLED_CONFIG_DIR / "voices.yml")
    catalog = load_voice_catalog(BUNDLED_CONFIG_DIR / "elevenlabs.voices.json")
    assert voices.auto is True
    assert voices.speakers
    for voice in voices.speakers.values():
        assert catalog.find(voice) is not None, voice


def test_catalogs_load_and_resolve_names() -> None:
    sample = load_voice_catalog(CONFIGS_DIR / "elevenlabs.voices.sample.json")
    assert len(sample.voices) == 8
    found = sample.find("harriet")
    assert found is not None and found.id == "hR2tE6yU0iO4pA8sD1fG"
    bundled = load_voice_catalog(BUNDLED_CONFIG_DIR / "elevenlabs.voices.json")
    assert len(bundled.voices) == 30
    assert len({voice.id for voice in bundled.voices}) == 30
    genders = {voice.labels.gender for voice in bundled.voices}
    assert {"male", "female", "neutral"} <= genders


# ##### broken presets


def test_preset_with_a_bad_colour_names_file_preset_and_field(tmp_path: Path) -> None:
    path = write(tmp_path / "presets.json", json.dumps({"x": {"h2": "yelow"}}))
    with pytest.raises(ConfigurationError) as caught:
        load_presets(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    assert 'preset "x" field h2' in message
    assert "'yelow' is not a Notion colour" in message
    assert "yellow_background" in message


def test_nested_preset_field_uses_the_file_key_name(tmp_path: Path) -> None:
    path = write(tmp_path / "presets.json", json.dumps({"y": {"toggleMap": {"h2": "teal"}}}))
    with pytest.raises(ConfigurationError, match=r'preset "y" field toggleMap\.h2'):
        load_presets(path)


def test_invalid_json_names_file_and_position(tmp_path: Path) -> None:
    path = write(tmp_path / "presets.json", '{"a": {"h2": "red"},\n  oops}')
    with pytest.raises(ConfigurationError, match=r"presets\.json: invalid JSON at line 2 column 3"):
        load_presets(path)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("[]", "expected a JSON object of presets, got list"),
        ("null", "expected a JSON object of presets, got null"),
        ('{"x": "red"}', 'preset "x" must be a JSON object, got str'),
    ],
)
def test_preset_shapes(tmp_path: Path, content: str, expected: str) -> None:
    path = write(tmp_path / "presets.json", content)
    with pytest.raises(ConfigurationError, match=expected):
        load_presets(path)


def test_old_format_preset_loads_as_empty_like_the_original(tmp_path: Path) -> None:
    old = {"b1-default": {"levels": ["h2"], "map": {"h2": "red"}}}
    path = write(tmp_path / "presets.json", json.dumps(old))
    preset = load_presets(path)["b1-default"]
    assert (preset.h2, preset.h3, preset.toggle_map) == (None, None, None)


def test_missing_and_non_utf8_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="file not found"):
        load_presets(tmp_path / "absent.json")
    bad = tmp_path / "presets.json"
    bad.write_bytes(b'{"x": "\xff"}')
    with pytest.raises(ConfigurationError, match=r"presets\.json: not UTF-8"):
        load_presets(bad)


# ##### broken students


def test_broken_student_file_is_an_error_naming_the_file(tmp_path: Path) -> None:
    write(tmp_path / "students" / "ok.json", json.dumps({"student": "Ok"}))
    broken = write(tmp_path / "students" / "broken.JSON", "{not json")
    with pytest.raises(ConfigurationError) as caught:
        load_student_profiles(tmp_path / "students")
    assert str(broken) in str(caught.value)
    assert "invalid JSON" in str(caught.value)


def test_student_without_name_names_the_field(tmp_path: Path) -> None:
    path = write(tmp_path / "students" / "nameless.json", json.dumps({"student": "   "}))
    with pytest.raises(ConfigurationError) as caught:
        load_student_profiles(tmp_path / "students")
    assert str(path) in str(caught.value)
    assert "field student" in str(caught.value)


def test_student_with_wrong_field_type(tmp_path: Path) -> None:
    write(tmp_path / "students" / "a.json", json.dumps({"student": "A", "dbId": 42}))
    with pytest.raises(ConfigurationError, match=r"a\.json: field dbId: .*string.*got 42"):
        load_student_profiles(tmp_path / "students")


def test_duplicate_students_differing_only_in_case(tmp_path: Path) -> None:
    write(tmp_path / "students" / "a.json", json.dumps({"student": "Anna"}))
    write(tmp_path / "students" / "b.json", json.dumps({"student": " anna "}))
    with pytest.raises(
        ConfigurationError, match=r'b\.json: student "anna" is already defined in .*a\.json'
    ):
        load_student_profiles(tmp_path / "students")


def test_student_names_are_trimmed_sorted_and_only_json_files_read(tmp_path: Path) -> None:
    write(tmp_path / "students" / "z.json", json.dumps({"student": "  zoe "}))
    write(tmp_path / "students" / "b.Json", json.dumps({"student": "Bob", "colorPreset": "x"}))
    write(tmp_path / "students" / "notes.txt", "ignored")
    write(tmp_path / "students" / "sub" / "c.json", json.dumps({"student": "Nested"}))
    profiles = load_student_profiles(tmp_path / "students")
    assert [p.student for p in profiles] == ["Bob", "Default", "zoe"]


def test_own_default_profile_replaces_the_builtin(tmp_path: Path) -> None:
    write(
        tmp_path / "students" / "d.json", json.dumps({"student": "Default", "colorPreset": "mine"})
    )
    profiles = load_student_profiles(tmp_path / "students")
    assert [(p.student, p.color_preset) for p in profiles] == [("Default", "mine")]


def test_missing_students_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="students folder not found"):
        load_student_profiles(tmp_path / "nope")


def test_students_array_validation_names_the_index() -> None:
    with pytest.raises(ConfigurationError, match=r"http://x/students\.json\[1\]: field student"):
        parse_student_profiles_array([{"student": "A"}, {"dbId": "x"}], "http://x/students.json")
    with pytest.raises(ConfigurationError, match="expected a JSON array"):
        parse_student_profiles_array({"student": "A"}, "http://x/students.json")


# ##### broken voices maps


def test_voices_map_accepts_string_false_and_empty_file() -> None:
    assert parse_voices_map('auto: "false"\n', "v.yml").auto is False
    empty = parse_voices_map("", "v.yml")
    assert (empty.auto, empty.default, empty.speakers) == (True, None, {})


def test_yaml_12_booleans_keep_yes_and_no_as_strings() -> None:
    with pytest.raises(ConfigurationError, match="field auto: expected true or false, got 'no'"):
        parse_voices_map("auto: no\n", "voices.yml")
    assert parse_voices_map("Narrator: yes\n", "voices.yml").speakers == {"Narrator": "yes"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "speakers:\n  Alex:\n    voice_id: abc\n",
            r'voices\.yml: field "speakers": nested values',
        ),
        ("Alex: [a, b]\n", r'field "Alex": nested values are not supported'),
        ("Alex: 123\n", r'field "Alex": expected a voice name or id \(a string\), got 123'),
        ("Alex:\n", r'field "Alex": expected a voice name or id'),
        ("- a\n- b\n", "expected a mapping of speaker -> voice, got list"),
        ("Alex: [unclosed\n", r"voices\.yml: invalid YAML at line 2"),
        ("1: Quinn\n", "key 1 must be a speaker name"),
    ],
)
def test_voices_map_errors(text: str, expected: str) -> None:
    with pytest.raises(ConfigurationError, match=expected):
        parse_voices_map(text, "voices.yml")


def test_voices_file_error_names_the_path(tmp_path: Path) -> None:
    path = write(tmp_path / "voices.yml", "Host:\n  voice: x\n")
    with pytest.raises(ConfigurationError, match=rf"^{path}: field \"Host\""):
        load_voices_map(path)


# ##### broken catalogs


def test_catalog_errors_name_the_voice_index(tmp_path: Path) -> None:
    path = write(
        tmp_path / "cat.json", json.dumps({"voices": [{"id": "a", "name": "A"}, {"id": "b"}]})
    )
    with pytest.raises(ConfigurationError, match=r"cat\.json: field voices\.1\.name: is required"):
        load_voice_catalog(path)
    path = write(tmp_path / "cat.json", json.dumps([]))
    with pytest.raises(ConfigurationError, match='expected a JSON object with a "voices" array'):
        load_voice_catalog(path)
