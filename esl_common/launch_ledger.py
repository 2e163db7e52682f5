"""The run tags of the launch ledger: what the shim's launcher writes on a run and the run's launch
guard reads (and, when the shim gave the launch up, writes back).

The shim tags every run it launches with its launch id and where the ledger lies; the launch
guard (``esl_dagster.defs.lessons.launch_guard``) claims that id in the ledger before the run
does anything, and tags a run whose launch the shim abandoned, which the shim then never shows
as a job.
"""

from typing import Final

LAUNCH_ID_TAG: Final = "esl/launch_id"
LAUNCH_LEDGER_TAG: Final = "esl/launch_ledger"
LAUNCH_ABANDONED_TAG: Final = "esl/launch_abandoned"

__all__ = ["LAUNCH_ABANDONED_TAG", "LAUNCH_ID_TAG", "LAUNCH_LEDGER_TAG"]
