"""Start-up stays light: ``esl --help`` and the Dagster code location import no service clients.

Each probe runs in a fresh interpreter (``sys.modules`` of the test process is already full) and
prints which of the watched modules got imported. Speed itself is measured in ``bench/dagster.py``;
these tests guard the cause (a heavy import creeping back to module level) without timing.
"""

import json
import subprocess
import sys
from pathlib import Path

LESSON = (
    Path(__file__).resolve().parents[2]
    / "examples"
    / "lessons"
    / "01-monologue-narrator-fish-market.md"
)

# Libraries the CLI's parser must not need: service clients, rendering, the engine's models.
CLI_HEAVY = (
    "httpx",
    "boto3",
    "botocore",
    "markdown_it",
    "prometheus_client",
    "rich",
    "psycopg2",
    "dagster",
    "pydantic",
    "pydantic_settings",
    "yaml",
    "regex",
    "esl_dagster.pipeline.settings",
)
# Imported by the ops and resources when a run needs them, never by loading the definitions.
# (yaml and pydantic are not listed: Dagster itself imports them.)
LOCATION_HEAVY = (
    "httpx",
    "boto3",
    "botocore",
    "markdown_it",
    "psycopg2",
    "rich",
    "prometheus_client",
    "regex",
    "pydantic_settings",
    "esl_dagster.pipeline.settings",
    "esl_dagster.pipeline.lesson.validator",
    "esl_dagster.pipeline.notion.client",
    "esl_dagster.pipeline.tts.elevenlabs",
    "esl_dagster.pipeline.stages.media",
)


def _imported_after(setup: str, watched: tuple[str, ...]) -> list[str]:
    probe = (
        "import json, sys\n"
        f"{setup}\n"
        f"print(json.dumps([name for name in {watched!r} if name in sys.modules]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    imported: list[str] = json.loads(result.stdout.splitlines()[-1])
    return imported


def test_esl_help_imports_no_heavy_module() -> None:
    setup = (
        "import contextlib, io\n"
        "from esl_dagster.pipeline.cli import build_parser\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "    try:\n"
        "        build_parser().parse_args(['--help'])\n"
        "    except SystemExit:\n"
        "        pass\n"
        "assert 'validate' in out.getvalue()"
    )
    assert _imported_after(setup, CLI_HEAVY) == []


def test_code_location_load_imports_no_service_client() -> None:
    setup = "import esl_dagster.definitions as location\nlocation.defs()"
    assert _imported_after(setup, LOCATION_HEAVY) == []


def test_the_probe_sees_an_import() -> None:
    """The probe itself works: a command that runs does import the engine."""
    setup = (
        "import contextlib, io\n"
        "from esl_dagster.pipeline.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    assert main(['validate', {str(LESSON)!r}]) == 0"
    )
    assert "markdown_it" in _imported_after(setup, CLI_HEAVY)
