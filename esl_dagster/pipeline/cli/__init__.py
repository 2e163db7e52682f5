"""The ``esl`` console script: one argparse parser, one module per group of subcommands.

Exit codes: 0 success, 1 the work failed (invalid lesson, failed stage), 2 usage errors or
unreadable paths, 141 the reader of stdout went away (``esl validate --json x | head``: the
output stops quietly, as with a process ended by SIGPIPE). No traceback reaches the user; every
error prints one line on stderr.
"""

import argparse
import os
import sys
from collections.abc import Sequence

from esl_dagster.pipeline.cli import (
    lesson_commands,
    notion_commands,
    run_commands,
    submit_commands,
)
from esl_dagster.pipeline.cli.exit_codes import EXIT_BROKEN_PIPE

COMMAND_MODULES = (lesson_commands, run_commands, notion_commands, submit_commands)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="esl", description="ESL lesson pipeline")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.handler(args)
        sys.stdout.flush()
    except KeyboardInterrupt:
        print("esl: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    return code


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
