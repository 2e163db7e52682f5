"""``esl run``, ``esl rerun`` and ``esl status``: the whole lesson job in this process.

Exit codes: 0 success; 1 the job failed (invalid lesson, a failing stage); 2 a usage or
configuration error (bad flag value, missing lesson, unknown preset, incomplete settings).
Failures print one line ``esl: <reason>`` on stderr, never a traceback. ``--json`` prints one
JSON document on stdout instead of the text summary (``{"command", "result"}`` or
``{"command", "error"}``). ``--log`` writes the structured pipeline events (JSON lines with run id
and job id) to stderr. The engine (pydantic models, settings, services) is imported when a command
runs, so ``esl --help`` stays quick.
"""

import argparse
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from esl_dagster.pipeline.cli.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from esl_dagster.pipeline.errors import ConfigurationError, PipelineError

if TYPE_CHECKING:
    from esl_dagster.pipeline.options import JobOptions, RerunStep
    from esl_dagster.pipeline.runner import AssignmentResult, AssignmentStatus, Pipeline


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Add the ``run``, ``rerun`` and ``status`` subcommands."""
    run = subparsers.add_parser(
        "run",
        help="run the whole job for one lesson in this process",
        description="Validate, import to Notion, colorize, speak, upload, attach, write the manifest.",
    )
    _add_common(run)
    run.add_argument("--student", help="student name (selects the profile; Default otherwise)")
    run.add_argument("--preset", help="colour preset (default: the student profile's)")
    tts = run.add_mutually_exclusive_group()
    tts.add_argument(
        "--with-tts",
        dest="with_tts",
        action="store_true",
        default=False,
        help="build, upload and attach the study text's audio (default: no audio)",
    )
    tts.add_argument(
        "--no-tts", dest="with_tts", action="store_false", help="no audio (the default)"
    )
    run.add_argument("--skip-import", action="store_true", help="reuse the page in the manifest")
    run.add_argument("--skip-tts", action="store_true", help="reuse the audio in the manifest")
    run.add_argument(
        "--skip-upload", action="store_true", help="reuse the audio URL; also skips add-audio"
    )
    run.add_argument("--redo-tts", action="store_true", help="rebuild the audio (bypass its cache)")
    run.add_argument("--db-id", help="Notion database id")
    run.add_argument("--db", help="Notion database name")
    run.add_argument("--data-source-id", help="Notion data source id")
    run.add_argument("--data-source", help="Notion data source name")
    run.set_defaults(handler=run_run)

    rerun = subparsers.add_parser(
        "rerun",
        help="rerun tts, upload and/or add-audio from the lesson's manifest",
        description="Rerun post-import steps from the manifest (default steps: upload,add-audio).",
    )
    _add_common(rerun)
    rerun.add_argument(
        "--steps",
        type=_steps,
        default=[],
        help="comma-separated subset of tts,upload,add-audio",
    )
    rerun.set_defaults(handler=run_rerun)

    status = subparsers.add_parser(
        "status",
        help="show a lesson's manifest and whether it is up to date",
        description="Show the manifest path, whether the lesson and audio still match it.",
    )
    status.add_argument("--md", required=True, help="lesson Markdown file")
    status.add_argument("--json", action="store_true", help="print one JSON document")
    status.set_defaults(handler=run_status)


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--md", required=True, help="lesson Markdown file")
    parser.add_argument("--voices", help="voices.yml (speaker -> voice)")
    parser.add_argument("--voice-id", help="forced default voice (catalog id or name)")
    parser.add_argument("--accent", help="preferred accent (or a voice name)")
    parser.add_argument("--tts-mode", choices=("auto", "dialogue", "monologue"))
    parser.add_argument("--dialogue-language", help="ISO 639-1 code for dialogue mode")
    parser.add_argument("--dialogue-stability", type=float, help="0..1")
    parser.add_argument("--dialogue-seed", type=int)
    parser.add_argument("--out", help="audio output folder (default: the lesson's folder)")
    parser.add_argument(
        "--upload",
        choices=("auto", "s3", "notion", "local", "none"),
        default="auto",
        help="auto (default): S3 when configured, else Notion-hosted when NOTION_TOKEN is set, "
        "else the local upload folder",
    )
    parser.add_argument("--prefix", help="upload key prefix (default: S3_PREFIX)")
    parser.add_argument("--public-read", action="store_true", help="upload with public-read ACL")
    parser.add_argument("--presign", type=int, help="presigned URL lifetime in seconds")
    parser.add_argument("--dry-run", action="store_true", help="report only; write nothing")
    parser.add_argument("--force", action="store_true", help="run stages even when unchanged")
    parser.add_argument("--run-id", help="run id for logs and the manifest (default: a new UUID)")
    parser.add_argument("--job-id", help="job id for logs and the manifest")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--log", action="store_true", help="pipeline events as JSON on stderr")


def _steps(value: str) -> "list[RerunStep]":
    from esl_dagster.pipeline.options import RERUN_STEPS

    steps: list[RerunStep] = []
    for raw in value.split(","):
        token = raw.strip()
        if not token:
            continue
        if token not in RERUN_STEPS:
            raise argparse.ArgumentTypeError(
                f"unknown step {token!r} (choose from {', '.join(RERUN_STEPS)})"
            )
        for step in RERUN_STEPS:
            if step == token and step not in steps:
                steps.append(step)
    return steps


_RUN_FIELDS = (
    "md",
    "student",
    "preset",
    "with_tts",
    "tts_mode",
    "voices",
    "voice_id",
    "accent",
    "upload",
    "prefix",
    "public_read",
    "presign",
    "dry_run",
    "force",
    "skip_import",
    "skip_tts",
    "skip_upload",
    "redo_tts",
    "out",
    "db_id",
    "db",
    "data_source_id",
    "data_source",
    "dialogue_language",
    "dialogue_stability",
    "dialogue_seed",
)


def _options(args: argparse.Namespace) -> "JobOptions":
    from esl_dagster.pipeline.options import JobOptions

    values = {name: getattr(args, name) for name in _RUN_FIELDS if hasattr(args, name)}
    if args.command == "rerun":
        values["rerun_steps"] = args.steps
    return JobOptions(**values)


def _pipeline(args: argparse.Namespace) -> "Pipeline":
    from esl_dagster.pipeline.logs import EventLogger, NoopLogger, logger_from_settings
    from esl_dagster.pipeline.runner import Pipeline
    from esl_dagster.pipeline.settings import load_settings

    settings = load_settings()
    logger: EventLogger = logger_from_settings(settings) if args.log else NoopLogger()
    return Pipeline.from_settings(settings, logger=logger)


def _fail(args: argparse.Namespace, exc: BaseException, code: int) -> int:
    reason = _reason(exc)
    if args.json:
        name = exc.code if isinstance(exc, PipelineError) else type(exc).__name__
        _print_json({"command": args.command, "error": {"message": reason, "code": name}})
    print(f"esl: {reason}", file=sys.stderr)
    return code


def _reason(exc: BaseException) -> str:
    from pydantic import ValidationError as PydanticValidationError

    from esl_dagster.pipeline.stages import one_line

    if isinstance(exc, PydanticValidationError):
        first = exc.errors()[0]
        where = "--" + "-".join(str(p) for p in first["loc"]).replace("_", "-")
        return f"invalid option {where}: {first['msg']}"
    if isinstance(exc, PipelineError):
        return one_line(exc)
    return f"internal error: {type(exc).__name__}: {one_line(exc)}"


def _guarded(args: argparse.Namespace, body: Callable[[], int]) -> int:
    from pydantic import ValidationError as PydanticValidationError

    try:
        return body()
    except (ConfigurationError, PydanticValidationError) as exc:
        return _fail(args, exc, EXIT_USAGE)
    except Exception as exc:  # every failure ends as one line; no traceback reaches the user
        return _fail(args, exc, EXIT_FAILED)


def run_run(args: argparse.Namespace) -> int:
    from esl_dagster.pipeline.cli import unchanged_replay

    replay = unchanged_replay.prepare(args)
    if replay is not None and replay.play():
        return EXIT_OK

    def body() -> int:
        options = _options(args)
        pipeline = _pipeline(args)
        result = pipeline.new_assignment(options, run_id=args.run_id, job_id=args.job_id)
        output = _report(args, result, {"options": options.model_dump(exclude_none=True)})
        if replay is not None and _all_unchanged(result):
            replay.remember(output, result.run_id, _output_paths(result))
        return EXIT_OK

    return _guarded(args, body)


def _all_unchanged(result: "AssignmentResult") -> bool:
    """True when the run wrote nothing: every stage skipped, the manifest as it was."""
    skipped = all(outcome.status == "skipped" for outcome in result.stages.values())
    local_manifest = bool(result.manifest_path) and "://" not in str(result.manifest_path)
    return skipped and local_manifest and not result.manifest_written and not result.dry_run


def _output_paths(result: "AssignmentResult") -> list[str | None]:
    audio = result.audio
    return [
        result.manifest_path,
        result.notion_preview,
        audio.path if audio else None,
        audio.url if audio and audio.url and audio.url.startswith("file://") else None,
    ]


def run_rerun(args: argparse.Namespace) -> int:
    def body() -> int:
        options = _options(args)
        pipeline = _pipeline(args)
        flags = options.model_dump(exclude={"md", "rerun_steps"}, exclude_unset=True)
        result = pipeline.rerun_assignment(
            options.md, args.steps, run_id=args.run_id, job_id=args.job_id, **flags
        )
        status = pipeline.get_assignment_status(options.md)
        _report(args, result, {"status": _status_json(status)})
        if not args.json:
            _print_status(status)
        return EXIT_OK

    return _guarded(args, body)


def run_status(args: argparse.Namespace) -> int:
    def body() -> int:
        from esl_dagster.pipeline.logs import NoopLogger
        from esl_dagster.pipeline.runner import Pipeline
        from esl_dagster.pipeline.settings import load_settings

        status = Pipeline.from_settings(load_settings(), logger=NoopLogger()).get_assignment_status(
            args.md
        )
        if args.json:
            _print_json({"command": "status", "status": _status_json(status)})
        else:
            _print_status(status)
        return EXIT_OK

    return _guarded(args, body)


# ##### output


def _json_text(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n"


def _print_json(document: dict[str, Any]) -> None:
    print(_json_text(document), end="")


def _report(args: argparse.Namespace, result: "AssignmentResult", extra: dict[str, Any]) -> str:
    """Print the run's summary (text, or one JSON document with ``--json``); return what was
    printed."""
    if args.json:
        document = {"command": args.command, "result": result.model_dump(mode="json"), **extra}
        output = _json_text(document)
    else:
        output = "".join(f"{line}\n" for line in _summary_lines(result))
    print(output, end="")
    return output


def _summary_lines(result: "AssignmentResult") -> list[str]:
    audio = result.audio
    fields = [
        ("Markdown", result.md),
        ("Run", result.run_id),
        ("Steps", ", ".join(result.steps) or "(none)"),
        ("Manifest", _manifest_line(result)),
        ("Page", result.page_url or result.page_id),
        ("Notion preview", result.notion_preview),
        ("Audio", audio.path if audio else None),
        ("Audio URL", audio.url if audio else None),
        ("Voices", result.voice_summary),
    ]
    lines = ["Dry run: nothing was written or sent."] if result.dry_run else []
    lines += [f"{label + ':':<16}{value}" for label, value in fields if value]
    lines += [f"{'Voice warning:':<16}{warning}" for warning in _voice_warnings(result)]
    for stage, outcome in result.stages.items():
        reason = f" ({outcome.reason})" if outcome.reason else ""
        lines.append(f"  {stage:<10} {outcome.status}{reason}")
    return lines


def _voice_warnings(result: "AssignmentResult") -> list[str]:
    """The requested voices the TTS provider could not use (from the tts stage's report)."""
    tts = result.stages.get("tts")
    warnings: list[str] = tts.detail.get("voiceWarnings", []) if tts else []
    return warnings


def _manifest_line(result: "AssignmentResult") -> str | None:
    if result.manifest_path is None:
        return None
    if result.dry_run:
        return f"{result.manifest_path} (not written: dry run)"
    return (
        result.manifest_path if result.manifest_written else f"{result.manifest_path} (unchanged)"
    )


def _status_json(status: "AssignmentStatus") -> dict[str, Any]:
    data = status.model_dump(mode="json", exclude={"manifest"})
    data["manifest"] = (
        status.manifest.model_dump(mode="json", by_alias=True, exclude_none=True)
        if status.manifest
        else None
    )
    return data


def _print_status(status: "AssignmentStatus") -> None:
    manifest = status.manifest
    audio = manifest.audio if manifest else None
    print(f"{'Manifest:':<16}{status.manifest_path} ({'exists' if manifest else 'missing'})")
    md_hash = "matches" if status.md_hash_matches else "differs"
    if not status.md_exists:
        md_hash = "differs (lesson file missing)"
    print(f"{'MD hash:':<16}{md_hash}")
    print(f"{'Audio file:':<16}{'present' if status.audio_file_exists else 'missing'}")
    if manifest and manifest.page_url:
        print(f"{'Page:':<16}{manifest.page_url}")
    if audio and audio.url:
        print(f"{'Audio URL:':<16}{audio.url}")
