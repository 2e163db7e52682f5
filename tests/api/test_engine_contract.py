"""The shim never imports the engine, so what it knows of it is checked here against the engine
itself: the op of each stage, the config files and remote protocol, the espeak voice table."""

import json
from pathlib import Path

import anyio
import dagster as dg
import pytest
from pydantic import AliasChoices

from api_shim.config_source import ConfigReader, ConfigSnapshot, ConfigSourceSettings
from api_shim.core.config import Settings as ShimSettings
from api_shim.job_options import ESPEAK_VOICES
from api_shim.job_steps import STAGE_OPS
from esl_dagster.defs.lessons.jobs import lesson_job
from esl_dagster.defs.resource_bindings import lesson_sources_from_env
from esl_dagster.pipeline.config.provider import (
    BaseConfigProvider,
    LocalConfigProvider,
    RemoteConfigProvider,
)
from esl_dagster.pipeline.run_state import STAGES
from esl_dagster.pipeline.settings import settings_from_variables
from esl_dagster.pipeline.settings_variables import VARIABLES
from esl_dagster.pipeline.tts.espeak import espeak_catalog
from tests.fakes.config_server import run_config_server


def _engine_view(provider: BaseConfigProvider) -> dict[str, object]:
    return {
        "presets": sorted(provider.load_presets()),
        "students": sorted(
            (p.student, p.db_id, p.color_preset, p.accent_preference)
            for p in provider.load_student_profiles()
        ),
        "catalog": [(v.id, v.name, v.labels.accent) for v in provider.load_voice_catalog().voices],
    }


def _shim_view(snapshot: ConfigSnapshot) -> dict[str, object]:
    default = snapshot.default_student()
    students = {(s.name, s.db_id, s.color_preset, s.accent_preference) for s in snapshot.students}
    students.add((default.name, default.db_id, default.color_preset, default.accent_preference))
    return {
        "presets": list(snapshot.presets),
        "students": sorted(students),
        "catalog": [(v.id, v.name, v.accent) for v in snapshot.catalog],
    }


def _read(settings: ConfigSourceSettings, cwd: Path) -> ConfigSnapshot:
    return anyio.run(ConfigReader(settings, cwd).read)


def test_each_stage_is_the_op_the_shim_reads() -> None:
    stage_of_op = {
        node.name: node.definition.tags.get("esl/stage") for node in lesson_job.graph.nodes
    }
    assert {op: stage_of_op[op] for _stage, op in STAGE_OPS} == {op: s for s, op in STAGE_OPS}
    assert [stage for stage, _op in STAGE_OPS] == list(STAGES)


def test_bundled_config_reads_the_same(tmp_path: Path) -> None:
    engine = LocalConfigProvider(None, cwd=tmp_path)
    shim = _read(ConfigSourceSettings(), tmp_path)
    assert _shim_view(shim) == _engine_view(engine)
    assert shim.presets, "the bundled presets are found"


def test_a_config_folder_reads_the_same(tmp_path: Path) -> None:
    folder = tmp_path / "cfg"
    (folder / "students").mkdir(parents=True)
    (folder / "presets.json").write_text(json.dumps({"z": {"h2": "red"}, "a": {}}))
    (folder / "students" / "x.json").write_text(
        json.dumps({"student": " Xena ", "dbId": "db-x", "accentPreference": "british"})
    )
    (tmp_path / "configs").mkdir()
    catalog = {"voices": [{"id": "v1", "name": "Vee", "labels": {"accent": "irish"}}]}
    (tmp_path / "configs" / "elevenlabs.voices.json").write_text(json.dumps(catalog))

    engine = LocalConfigProvider(folder, cwd=tmp_path)
    shim = _read(ConfigSourceSettings(ESL_PIPELINE_CONFIG_DIR=folder), tmp_path)

    assert _shim_view(shim) == _engine_view(engine)
    assert shim.catalog[0].name == "Vee"


def test_the_remote_provider_reads_the_same(tmp_path: Path) -> None:
    with run_config_server() as server:
        server.state.token = "t0ken"
        server.state.put("/api/presets.json", json.dumps({"remote": {}, "b1-default": {}}))
        server.state.put(
            "/api/students.json", json.dumps([{"student": "Rae", "colorPreset": "remote"}])
        )
        engine = RemoteConfigProvider(f"{server.base_url}/api", token="t0ken")
        settings = ConfigSourceSettings(
            ESL_PIPELINE_CONFIG_PROVIDER="remote",
            ESL_PIPELINE_CONFIG_ENDPOINT=f"{server.base_url}/api",
            ESL_PIPELINE_CONFIG_TOKEN="t0ken",
        )
        assert _shim_view(_read(settings, tmp_path)) == _engine_view(engine)


@pytest.mark.parametrize("field", ["id", "name", "accent", "gender"])
def test_the_espeak_voice_table_is_the_engines(field: str) -> None:
    engine = [
        {"id": v.id, "name": v.name, "accent": v.labels.accent, "gender": v.labels.gender}
        for v in espeak_catalog().voices
    ]
    assert [getattr(v, field) for v in ESPEAK_VOICES] == [v[field] for v in engine]


# The shim's S3 connection fields -> the engine's settings fields they mirror.
S3_CONNECTION_FIELDS = {
    "s3_endpoint_url": "storage.endpoint_url",
    "aws_region": "storage.region",
    "aws_access_key_id": "storage.access_key_id",
    "aws_secret_access_key": "storage.secret_access_key",
    "s3_force_path_style": "storage.force_path_style",
}


@pytest.mark.parametrize(("shim_field", "engine_field"), S3_CONNECTION_FIELDS.items())
def test_the_shim_reads_the_engines_s3_variables(shim_field: str, engine_field: str) -> None:
    alias = ShimSettings.model_fields[shim_field].validation_alias
    assert isinstance(alias, AliasChoices)
    engine = next(variable.names for variable in VARIABLES if variable.field == engine_field)
    assert tuple(str(name) for name in alias.choices) == engine


def test_the_shim_and_the_s3_lesson_sensor_read_one_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env = {
        "ESL_LESSON_S3_URI": "s3://lessons-bucket/teachers",
        "S3_ENDPOINT_URL": "http://127.0.0.1:9000",
        "AWS_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "key-id",
        "AWS_SECRET_ACCESS_KEY": "key-secret",
    }
    monkeypatch.chdir(tmp_path)  # no .env file
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    sensor = lesson_sources_from_env()
    shim = ShimSettings()

    bound = {
        name: value.get_value() if isinstance(value, dg.EnvVar) else value
        for name, value in sensor.s3.variables.items()
    }
    engine = settings_from_variables(bound).s3_client_settings
    assert shim.lesson_s3_uri == sensor.s3_uri == env["ESL_LESSON_S3_URI"]
    assert shim.s3_endpoint_url == engine.endpoint_url
    assert shim.aws_region == engine.region
    assert shim.aws_access_key_id is not None and shim.aws_secret_access_key is not None
    assert shim.aws_access_key_id.get_secret_value() == engine.access_key_id
    assert shim.aws_secret_access_key.get_secret_value() == engine.secret_access_key
