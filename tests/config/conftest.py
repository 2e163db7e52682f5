"""Fixtures for the config tests: the fake HTTP config endpoint."""

from collections.abc import Iterator

import pytest

from tests.fakes.config_server import ConfigServer, run_config_server


@pytest.fixture
def config_server() -> Iterator[ConfigServer]:
    with run_config_server() as server:
        yield server
