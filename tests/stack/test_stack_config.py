"""esl-stack's options and the seed's settings."""

from pathlib import Path

import pytest

from esl_dagster.stack import load_stack_settings, parse_args, stack_config


def test_api_port_defaults_to_the_seeds_batch_backend_port(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BATCH_BACKEND_HTTP_PORT", "9191")
    args = parse_args(["--workdir", str(tmp_path)])
    config = stack_config(args, load_stack_settings(args))
    assert config.api_port == 9191
    assert config.lessons_dir == tmp_path.resolve() / "lessons"


def test_an_explicit_api_port_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BATCH_BACKEND_HTTP_PORT", "9191")
    args = parse_args(["--workdir", str(tmp_path), "--api-port", "8181"])
    assert stack_config(args, load_stack_settings(args)).api_port == 8181
