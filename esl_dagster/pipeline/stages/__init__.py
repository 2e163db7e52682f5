"""The seven stages of a lesson job, each written once; the in-process runner and the Dagster ops
both call :func:`start_run` and then :func:`run_stage` per stage.

Every stage first *decides*: it computes the hash of everything that shapes its effect and skips
(with a reason) when a skip flag says so, when it does not apply, or when the manifest records a
success with the same input hash (unless ``force``). Only then does it emit ``start`` and act.
A dry run decides the same way but acts without effects: it reports what would happen and
records nothing.

Step tokens (``RunState.steps``) follow the original: the stage name when it runs (or would run),
``skip:<stage>`` for an explicit skip flag, ``colorize:<preset>:<h2>/<h3>/<toggles>`` after a
colorize, and the new ``unchanged:<stage>`` when unchanged inputs skip a stage.

The lesson is read once per job: :func:`start_run` reads and parses it into the run state, and
the stages take it from there (:func:`current_lesson`, which only checks that the source still
holds the same lesson).

The stage modules are imported when first used (``run_stage``, or the names below from
``_LAZY``), so importing this package stays light for the Dagster code location.
"""

import importlib
from typing import Any

from esl_dagster.pipeline.run_state import STAGES, RunState, StageName, StageResult
from esl_dagster.pipeline.stages.common import (
    Outcome,
    Skip,
    current_lesson,
    input_hash,
    one_line,
    unchanged,
)
from esl_dagster.pipeline.stages.execute import run_stage
from esl_dagster.pipeline.stages.start import resolve_options, start_run

# Public name -> the module that defines it, imported on first access.
_LAZY = {
    "STAGE_FUNCTIONS": "esl_dagster.pipeline.stages.execute",
    "build_manifest": "esl_dagster.pipeline.stages.write_manifest",
    "lesson_key": "esl_dagster.pipeline.stages.notion",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "STAGES",
    "STAGE_FUNCTIONS",
    "Outcome",
    "RunState",
    "Skip",
    "StageName",
    "StageResult",
    "build_manifest",
    "current_lesson",
    "input_hash",
    "lesson_key",
    "one_line",
    "resolve_options",
    "run_stage",
    "start_run",
    "unchanged",
]
