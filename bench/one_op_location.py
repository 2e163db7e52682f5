"""The smallest runs Dagster can make, served beside the product for ``bench/runs.py``.

- ``one_op_job``: one op that does nothing, on the in-process executor;
- ``seven_op_job``: the lesson graph's shape with ops that do nothing: seven ops in a chain, each
  output handed to the next through the default IO manager, under a failure hook, as
  ``lesson_job`` is built (one op per stage).

Both run from a code server of their own through the same instance and run launcher, so the CPU a
lesson run costs beyond ``one_op_job`` splits into what the graph's shape costs in Dagster itself
(``seven_op_job``) and what is ours (imports, the engine's work, its log records).
"""

import dagster as dg


@dg.op
def do_nothing() -> None:
    """The run's whole cost is Dagster's: process start, imports, instance and events."""


@dg.job(executor_def=dg.in_process_executor)
def one_op_job() -> None:
    do_nothing()


@dg.op
def first_stage() -> int:
    return 0


@dg.op
def next_stage(state: int) -> int:
    return state + 1


@dg.failure_hook
def on_failure(context: dg.HookContext) -> None:
    """Stands for the lesson job's hook (never called here: no op fails)."""


@dg.job(executor_def=dg.in_process_executor, hooks={on_failure})
def seven_op_job() -> None:
    state = first_stage()
    for index in range(6):
        state = next_stage.alias(f"stage_{index + 1}")(state)


defs = dg.Definitions(jobs=[one_op_job, seven_op_job])
