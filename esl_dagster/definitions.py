"""Dagster entry point: everything under ``esl_dagster/defs/`` is autoloaded.

Service clients (boto3, httpx, dagster-aws, audio tools) are imported inside the resource methods
that use them, so loading this module stays cheap for every run process that imports it.
"""

from pathlib import Path

import dagster as dg


@dg.definitions
def defs() -> dg.Definitions:
    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
