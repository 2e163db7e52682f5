"""``esl run`` on a lesson whose every input is as it was: answer without loading the engine.

When a run finds every stage unchanged it does nothing but print its summary, yet it pays for
the engine's imports (settings, pydantic models, HTTP clients: about 0.4 CPU-s, almost all of
it). After such a run the command records what it printed with a fingerprint of everything the
run read; a later ``esl run`` with the same fingerprint prints the same summary (with a new run
id) and exits, using the standard library only.

The fingerprint covers: the command line; the current folder; every variable of the settings
table (``settings_variables``) and the ``.env`` file; the lesson's bytes; the files the command
line or those variables name, and the config folders (``<cwd>/configs``, the bundled one: the
whole installed package is stamped, so an upgrade or an edit of the code counts too); and the
outputs the summary names (manifest, Notion preview, MP3, uploaded copy), by size and mtime. A
change of any of them runs the engine, which records again. Only a plain ``esl run`` qualifies:
not with ``--log``, ``--force``, ``--dry-run``, ``--run-id`` or ``--job-id``, not for an S3
lesson, not with the remote config provider.
"""

import argparse
import hashlib
import json
import os
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from esl_dagster.pipeline.files import atomic_write_text
from esl_dagster.pipeline.settings_variables import DEFAULT_DATA_DIR, accepted_variables

RECORD_FOLDER = "cli-runs"
PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the installed esl_dagster package
_INELIGIBLE_FLAGS = ("log", "force", "dry_run", "run_id", "job_id")
_NOT_INPUTS = ("handler",)


@dataclass(frozen=True)
class Replay:
    """Where the record of one lesson's unchanged run lives and the fingerprint of this call."""

    record: Path
    fingerprint: str

    def play(self) -> bool:
        """Print the recorded summary if the record matches this call; False to run the engine."""
        try:
            record = json.loads(self.record.read_text(encoding="utf-8"))
            if (
                record["fingerprint"] != self.fingerprint
                or _stamps(record["outputs"]) != record["stamps"]
            ):
                return False
            output: str = record["output"]
            old_run_id: str = record["runId"]
        except (OSError, ValueError, KeyError, TypeError):
            return False
        print(output.replace(old_run_id, str(uuid.uuid4())), end="")
        return True

    def remember(self, output: str, run_id: str, outputs: Iterable[str | None]) -> None:
        """Record an unchanged run's summary; a failure to write only costs the next run time."""
        paths = sorted({path for path in outputs if path})
        record = {
            "fingerprint": self.fingerprint,
            "runId": run_id,
            "output": output,
            "outputs": paths,
            "stamps": _stamps(paths),
        }
        try:
            atomic_write_text(self.record, json.dumps(record))
        except OSError:
            return


def prepare(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> Replay | None:
    """The replay for this ``esl run`` call, or None when the call does not qualify."""
    environ = os.environ if environ is None else environ
    if any(getattr(args, flag, None) for flag in _INELIGIBLE_FLAGS) or args.md.startswith("s3://"):
        return None
    if environ.get("ESL_PIPELINE_CONFIG_PROVIDER", "").strip().lower() == "remote":
        return None
    try:
        return _replay(args, environ)
    except OSError:
        return None  # an unreadable lesson or folder: the engine reports it properly


def _replay(args: argparse.Namespace, environ: Mapping[str, str]) -> Replay:
    variables = {name: environ[name] for name in accepted_variables() if environ.get(name)}
    cwd = Path(variables.get("PIPELINE_CWD") or Path.cwd()).expanduser().absolute()
    lesson = Path(args.md).expanduser().resolve()
    command = {k: v for k, v in sorted(vars(args).items()) if k not in _NOT_INPUTS}
    digest = hashlib.sha256()
    for part in (
        json.dumps([command, str(Path.cwd()), sorted(variables.items())], default=str),
        _file_digest(Path(".env")),
        hashlib.sha256(lesson.read_bytes()).hexdigest(),
        json.dumps(_input_stamps(cwd, [*command.values(), *variables.values()])),
    ):
        digest.update(part.encode("utf-8"))
        digest.update(b"\0")
    data_dir = Path(variables.get("ESL_DATA_DIR") or DEFAULT_DATA_DIR).expanduser()
    record_name = hashlib.sha256(str(lesson).encode("utf-8")).hexdigest()[:32] + ".json"
    record = (data_dir if data_dir.is_absolute() else cwd / data_dir) / RECORD_FOLDER / record_name
    return Replay(record=record, fingerprint=digest.hexdigest())


def _input_stamps(cwd: Path, values: Iterable[Any]) -> list[tuple[str, int, int]]:
    """Size and mtime of every file a value names, of the config folders and of the package."""
    files: set[Path] = set()
    for value in values:
        if isinstance(value, str) and value and "\n" not in value and len(value) < 4096:
            path = Path(value).expanduser()
            path = path if path.is_absolute() else cwd / path
            if path.is_file():
                files.add(path)
    for folder in (cwd / "configs", PACKAGE_ROOT):
        if folder.is_dir():
            files.update(
                p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts
            )
    return [(str(path), *_stat(path)) for path in sorted(files)]


def _stamps(paths: Iterable[str]) -> list[list[int]]:
    return [list(_stat(Path(path.removeprefix("file://")))) for path in paths]


def _stat(path: Path) -> tuple[int, int]:
    try:
        info = path.stat()
    except OSError:
        return (-1, -1)
    return (info.st_size, info.st_mtime_ns)


def _file_digest(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return "absent"
