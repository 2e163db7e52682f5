"""Dagster entry point: the definitions of ``esl_dagster/defs/``, listed explicitly.

Every run process imports this module, so it must stay light: service clients (boto3, httpx
clients, audio tools) are imported inside the resource methods that use them.
``dg.load_from_defs_folder`` would also work with this layout, but it enriches the definitions
with every installed Dagster plugin's component types, which imports ``dagster_aws.components``
and boto3 in every run process (about 1 s and 2 CPU-seconds per run on the reference machine;
``bench/dagster.py`` prints both import times). A new module under ``defs/`` is added here.
"""

import dagster as dg

# A module, not the function: a second @dg.definitions function in this module's scope would make
# the code location ambiguous to Dagster's loader.
from esl_dagster.defs import resource_bindings as resource_defs
from esl_dagster.defs.durability.relaunch import relaunch_infrastructure_failures
from esl_dagster.defs.lessons.batch import lesson_batch_job
from esl_dagster.defs.lessons.jobs import lesson_job
from esl_dagster.defs.lessons.revalidation import nightly_revalidation, revalidate_folder_job
from esl_dagster.defs.lessons.sensors import lesson_folder_sensor


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions.merge(
        resource_defs.resources(),
        dg.Definitions(
            jobs=[lesson_job, lesson_batch_job, revalidate_folder_job],
            sensors=[lesson_folder_sensor, relaunch_infrastructure_failures],
            schedules=[nightly_revalidation],
        ),
    )
