"""Property-based contract test: schemathesis drives the ASGI app (fake Dagster behind it) with
generated and mutated requests and checks every answer against the OpenAPI schema."""

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import positive_data_acceptance
from schemathesis.generation import GenerationMode

from api_shim.core.config import Settings
from api_shim.main import create_app
from tests.conftest import LESSONS_DIR
from tests.fakes.dagster_graphql import FakeDagster

API_KEY = "fuzz-key-8d7c6b5a4f"
MAX_EXAMPLES = 15
# Every check runs on every operation, except on POST /jobs:
# - positive_data_acceptance: a schema-valid `md` is still a 400 unless that file exists inside
#   a lesson root, and a preset unless the config has it, which no schema can express.
EXCLUDED_CHECKS = {"jobs-create": [positive_data_acceptance]}


@pytest.fixture(scope="module")
def fuzz_fake() -> Iterator[FakeDagster]:
    with FakeDagster() as server:
        yield server


@pytest.fixture(scope="module")
def api_schema(
    fuzz_fake: FakeDagster, tmp_path_factory: pytest.TempPathFactory
) -> schemathesis.BaseSchema:
    cwd = tmp_path_factory.mktemp("fuzz")
    (cwd / "lessons").mkdir()
    sample = LESSONS_DIR / "01-monologue-narrator-fish-market.md"  # the schema's `md` example
    (cwd / "lessons" / sample.name).write_text(sample.read_text())
    app = create_app(
        Settings(
            dagster_graphql_url=fuzz_fake.url,
            pipeline_cwd=cwd,
            idempotency_db=cwd / "idempotency.sqlite3",
            api_keys=[API_KEY],
            graphql_timeout_s=2.0,
        )
    )
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def _fuzz(strategy: st.SearchStrategy[Any], excluded: list[Any]) -> None:
    """Call the app with MAX_EXAMPLES cases and run every check but `excluded` on each answer."""

    @given(case=strategy)
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Any) -> None:
        case.call_and_validate(
            headers={"Authorization": f"Bearer {API_KEY}"}, excluded_checks=excluded
        )

    check()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_api_matches_its_openapi_schema(
    api_schema: schemathesis.BaseSchema, fuzz_fake: FakeDagster, mode: GenerationMode
) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) == 9
    for operation in operations:
        raw = operation.definition.raw
        if mode is GenerationMode.NEGATIVE and not (
            raw.get("parameters") or raw.get("requestBody")
        ):
            continue  # nothing in the request to make invalid (/healthz, /readyz, /metrics)
        strategy = operation.as_strategy(generation_mode=mode)
        if mode is GenerationMode.POSITIVE:
            # The schema's explicit examples too (the documented `md` exists: real launches).
            strategy = st.one_of(strategy, *api_schema.get_strategies_from_examples(operation))

        _fuzz(strategy, EXCLUDED_CHECKS.get(raw["operationId"], []))
    if mode is GenerationMode.POSITIVE:
        assert fuzz_fake.launches, "the documented md example should have launched runs"
