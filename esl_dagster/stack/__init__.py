"""``esl-stack``: the whole product on one machine, supervised (see ``esl_dagster.stack.cli``)."""

from esl_dagster.stack.children import Child, children, stop, wait_ready
from esl_dagster.stack.cli import main
from esl_dagster.stack.config import (
    StackConfig,
    busy_port_message,
    dagster_postgres_url,
    load_stack_settings,
    parse_args,
    stack_config,
)
from esl_dagster.stack.instance import StackStartError, initialise_instance, prepare
from esl_dagster.stack.supervisor import Backoff, Supervisor, start_children

__all__ = [
    "Backoff",
    "Child",
    "StackConfig",
    "StackStartError",
    "Supervisor",
    "busy_port_message",
    "children",
    "dagster_postgres_url",
    "initialise_instance",
    "load_stack_settings",
    "main",
    "parse_args",
    "prepare",
    "stack_config",
    "start_children",
    "stop",
    "wait_ready",
]
