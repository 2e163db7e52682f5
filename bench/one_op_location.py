"""The smallest run Dagster can make: one op that does nothing, on the in-process executor.

``bench/runs.py`` serves it from a code server of its own beside the product's, through the same
instance and run launcher, so the CPU a lesson run costs beyond it is ours (imports, events, the
engine's work) and the rest is Dagster's floor.
"""

import dagster as dg


@dg.op
def do_nothing() -> None:
    """The run's whole cost is Dagster's: process start, imports, instance and events."""


@dg.job(executor_def=dg.in_process_executor)
def one_op_job() -> None:
    do_nothing()


defs = dg.Definitions(jobs=[one_op_job])
