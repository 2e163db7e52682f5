"""The README's configuration tables name every variable the settings classes read."""

from pydantic import AliasChoices

from api_shim.core.config import Settings as ApiSettings
from esl_dagster.pipeline.settings import settings_table
from tests.conftest import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text()


def test_every_engine_variable_is_documented() -> None:
    names = [name.strip() for variables, _, _ in settings_table() for name in variables.split("/")]
    missing = [name for name in names if f"`{name}`" not in README]
    assert missing == []


def test_every_api_variable_is_documented() -> None:
    missing = []
    for field in ApiSettings.model_fields.values():
        alias = field.validation_alias
        assert isinstance(alias, AliasChoices)
        missing += [str(name) for name in alias.choices if f"`{name}`" not in README]
    assert missing == []


def test_both_readme_commands_exist_in_the_makefile() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert "make run " in README and "make test " in README
    assert "\nrun: install" in makefile and "\ntest: " in makefile
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    assert "make test" in ci
