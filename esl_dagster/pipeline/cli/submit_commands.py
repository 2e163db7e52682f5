"""``esl submit``: send lessons to a remote ``/jobs`` API and, with ``--follow``, watch them.

Each lesson is uploaded (``POST /uploads``), then submitted (``POST /jobs``); without ``--follow``
the job ids are printed. With ``--follow`` one line per job shows its stages until every job is
terminal, then each job's Notion URL or error. Exit codes: 0 every job submitted (and, when
followed, succeeded); 1 a job was refused or failed, or the API could not be reached; 2 usage
errors (a lesson that is not a readable file). httpx and rich are imported only when the command
runs, so ``esl --help`` stays quick.
"""

import argparse
import os
import sys
from pathlib import Path

from esl_dagster.pipeline.cli.exit_codes import EXIT_USAGE


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Add the ``submit`` subcommand."""
    submit = subparsers.add_parser(
        "submit",
        help="upload lessons to a /jobs API and submit them (client of a remote deployment)",
        description="Upload each lesson, submit it as a job and optionally follow it live.",
    )
    submit.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="lesson .md files")
    submit.add_argument(
        "--api",
        default=os.environ.get("ESL_API_URL"),
        help="base URL of the API, e.g. http://127.0.0.1:8080 (default: $ESL_API_URL)",
    )
    submit.add_argument(
        "--api-key",
        default=os.environ.get("ESL_API_KEY"),
        help="bearer API key (default: $ESL_API_KEY)",
    )
    submit.add_argument("--with-tts", action="store_true", help="build the audio (default: no)")
    submit.add_argument(
        "--follow", action="store_true", help="show live progress until every job is finished"
    )
    submit.set_defaults(handler=run_submit)


def _usage_error(args: argparse.Namespace) -> str | None:
    if not args.api:
        return "--api URL is required (or set ESL_API_URL)"
    if not str(args.api).startswith(("http://", "https://")):
        return f"--api must be an http(s) URL, not {args.api!r}"
    for path in args.paths:
        if not path.is_file():
            return f"{path}: not a file"
    return None


def run_submit(args: argparse.Namespace) -> int:
    problem = _usage_error(args)
    if problem is not None:
        print(f"esl: {problem}", file=sys.stderr)
        return EXIT_USAGE
    from esl_dagster.pipeline.cli.submit_run import submit_lessons

    return submit_lessons(
        args.paths,
        api_url=args.api,
        api_key=args.api_key,
        with_tts=args.with_tts,
        follow=args.follow,
    )
