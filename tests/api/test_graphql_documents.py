"""The gateway's GraphQL documents are valid for Dagster 1.13's real schema, and the fake's SDL is
a faithful subset of it (same names and types), so tests against the fake mean something."""

import functools

import pytest
from graphql import (
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    build_schema,
    parse,
    validate,
)

from api_shim import dagster_gateway, dagster_runs, job_metrics_queries
from tests.fakes.dagster_graphql import SDL

DOCUMENTS = {
    "launchRun": dagster_gateway.LAUNCH_RUN,
    "runs": dagster_runs.RUNS,
    "runsWithConfig": dagster_runs.RUNS_WITH_CONFIG,
    "terminateRun": dagster_gateway.TERMINATE_RUN,
    "workspace": dagster_gateway.WORKSPACE_STATUS,
    "jobRuns": dagster_runs.job_runs_document(3),
    "runEvents": dagster_runs.run_events_document(2),
    "metricsStepEvents": job_metrics_queries.step_events_document(2),
    "metricsRuns": job_metrics_queries.METRICS_RUNS,
}


@functools.cache
def real_schema() -> GraphQLSchema:
    from dagster_graphql.schema import create_schema  # tests may import dagster; the shim may not

    return build_schema(str(create_schema()))


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_document_is_valid_for_real_dagster(name: str) -> None:
    assert validate(real_schema(), parse(DOCUMENTS[name])) == []


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_document_is_valid_for_the_fake(name: str) -> None:
    assert validate(build_schema(SDL), parse(DOCUMENTS[name])) == []


def test_fake_schema_is_a_subset_of_real_dagster() -> None:
    real = real_schema()
    fake = build_schema(SDL)
    for name, fake_type in fake.type_map.items():
        if name.startswith("__") or name in ("String", "Boolean", "Int", "Float", "ID"):
            continue
        real_type = real.get_type(name)
        assert real_type is not None, name
        if isinstance(fake_type, GraphQLObjectType | GraphQLInterfaceType | GraphQLInputObjectType):
            assert isinstance(real_type, type(fake_type)), name
            for field_name, field in fake_type.fields.items():
                real_field = real_type.fields.get(field_name)
                assert real_field is not None, f"{name}.{field_name}"
                assert str(real_field.type) == str(field.type), f"{name}.{field_name}"
                for arg_name, arg in getattr(field, "args", {}).items():
                    assert str(real_field.args[arg_name].type) == str(arg.type), (
                        f"{name}.{field_name}({arg_name})"
                    )
        if isinstance(fake_type, GraphQLUnionType):
            assert isinstance(real_type, GraphQLUnionType), name
            assert {t.name for t in fake_type.types} <= {t.name for t in real_type.types}, name
