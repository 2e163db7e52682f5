"""``esl notion check``: is the real Notion set up for imports? (read-only)

Exit codes: 0 everything the import needs is there; 1 problems were found (each printed with
its fix) or Notion could not be reached; 2 usage: no ``NOTION_TOKEN``, no target, bad settings.
"""

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from esl_dagster.pipeline.cli.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from esl_dagster.pipeline.errors import ConfigurationError, PipelineError

if TYPE_CHECKING:
    from esl_dagster.pipeline.notion.check import CheckReport


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Add ``notion check``."""
    notion = subparsers.add_parser("notion", help="inspect the real Notion set-up")
    commands = notion.add_subparsers(dest="notion_command", required=True, metavar="COMMAND")
    check = commands.add_parser(
        "check",
        help="check the database is shared and has the properties the import writes",
        description=(
            "Read-only: verify that the configured Notion database or data source exists, is "
            "shared with the integration and has the properties the import writes."
        ),
    )
    check.add_argument("--db-id", help="database id (default: NOTION_DB_ID)")
    check.add_argument("--data-source-id", help="data source id (default: NOTION_DATA_SOURCE_ID)")
    check.add_argument(
        "--md",
        action="append",
        default=[],
        help="a lesson whose front-matter properties must exist too (repeatable)",
    )
    check.set_defaults(handler=run_check)


def run_check(args: argparse.Namespace) -> int:
    # Imported here, not at module level: httpx, the settings model and the Notion client are
    # only needed when the command runs (``esl --help`` stays quick).
    from esl_dagster.pipeline.notion.check import check_notion
    from esl_dagster.pipeline.notion.target import TargetIds
    from esl_dagster.pipeline.services import build_notion
    from esl_dagster.pipeline.settings import load_settings
    from esl_dagster.pipeline.stages import one_line

    try:
        settings = load_settings()
        client = build_notion(settings)
        if client is None:
            raise ConfigurationError(
                "esl notion check needs NOTION_TOKEN (the integration's internal secret)"
            )
        ids = TargetIds(
            data_source_id=args.data_source_id or settings.notion.data_source_id,
            database_id=args.db_id or settings.notion.db_id,
        )
        if not (ids.data_source_id or ids.database_id):
            raise ConfigurationError(
                "no Notion target: set NOTION_DATA_SOURCE_ID or NOTION_DB_ID "
                "(or pass --data-source-id / --db-id)"
            )
        lesson_properties = _lesson_properties([Path(md) for md in args.md])
    except ConfigurationError as exc:
        print(f"esl: {one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    try:
        with client:
            report = check_notion(client, ids, lesson_properties=lesson_properties)
    except PipelineError as exc:
        print(f"esl: {one_line(exc)}", file=sys.stderr)
        return EXIT_FAILED
    _print(report)
    return EXIT_OK if report.problems == 0 else EXIT_FAILED


def _lesson_properties(paths: list[Path]) -> list[str]:
    from esl_dagster.pipeline.lesson.validator import validate_text

    names: list[str] = []
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigurationError(f"cannot read lesson {path}: {exc}") from exc
        meta = validate_text(text, strict=False).meta
        if meta is None:
            raise ConfigurationError(f"lesson {path} has invalid front matter: run esl validate")
        names += [key for key, value in (meta.properties or {}).items() if value not in (None, "")]
    return [name for name in names if name.strip().lower() != "topic"]


def _print(report: "CheckReport") -> None:
    for ok, line in report.lines:
        print(f"{'ok     ' if ok else 'PROBLEM'}  {line}")
    if report.problems:
        print(f"{report.problems} problem(s) found; fix them and run esl notion check again.")
    else:
        print("Notion is ready for imports.")
