"""Resource bindings: every settings variable that is set, bound as ``dg.EnvVar``.

A variable is bound only when it is set in the code location's environment (the run workers
inherit it); otherwise it stays out and the engine uses its embedded default (design D5). Binding
an unset ``EnvVar`` would instead fail every run. The names are the engine's one table of
variables (``accepted_variables()``), so the original's aliases and MinIO work in runs too.
"""

import os

import dagster as dg

from esl_dagster.pipeline.settings_variables import DEFAULT_LESSON_STAGING_DIR, accepted_variables
from esl_dagster.resources.lesson_sources import LessonSourcesResource
from esl_dagster.resources.pipeline import PipelineResource
from esl_dagster.resources.s3_storage import S3StorageResource


def bound_variables() -> dict[str, str]:
    """``{name: dg.EnvVar(name)}`` for every settings variable set (and not empty) here."""
    return {name: dg.EnvVar(name) for name in accepted_variables() if os.environ.get(name)}


def _env_or(name: str, default: str) -> str:
    return os.environ.get(name) or default


def pipeline_from_env() -> PipelineResource:
    """The services of lesson runs, configured from the environment."""
    return PipelineResource(variables=bound_variables())


def lesson_sources_from_env() -> LessonSourcesResource:
    """Watched sources: ``ESL_LESSON_FOLDERS`` (os.pathsep-separated) and ``ESL_LESSON_S3_URI``."""
    folders = [part for part in os.environ.get("ESL_LESSON_FOLDERS", "").split(os.pathsep) if part]
    return LessonSourcesResource(
        folders=folders,
        s3_uri=os.environ.get("ESL_LESSON_S3_URI") or None,
        s3=S3StorageResource(variables=bound_variables()),
        staging_dir=_env_or("ESL_LESSON_STAGING_DIR", DEFAULT_LESSON_STAGING_DIR),
    )


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(
        resources={"esl": pipeline_from_env(), "lesson_sources": lesson_sources_from_env()}
    )
