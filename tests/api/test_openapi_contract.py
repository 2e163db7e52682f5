"""The OpenAPI schema says what the API does: unique rerun steps, the cursor's form, an `md`
example that exists, every method in `Allow`, and a documented code for a body that is not UTF-8."""

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import LESSONS_DIR


def _schema(client: TestClient) -> dict[str, Any]:
    schema: dict[str, Any] = client.get("/openapi.json").json()
    return schema


def test_rerun_steps_are_declared_unique(client: TestClient) -> None:
    steps = _schema(client)["components"]["schemas"]["RerunRequest"]["properties"]["steps"]
    assert steps["uniqueItems"] is True


def test_the_cursor_is_documented_as_a_run_id(client: TestClient) -> None:
    parameters = _schema(client)["paths"]["/jobs"]["get"]["parameters"]
    cursor = next(p for p in parameters if p["name"] == "cursor")
    assert cursor["schema"]["anyOf"][0]["pattern"].startswith("^[0-9a-f]{8}-")
    assert client.get("/jobs", params={"cursor": "0"}).json()["code"] == "invalid_cursor"


def test_the_md_example_is_a_sample_lesson_the_stack_copies_into_lessons(
    client: TestClient,
) -> None:
    md = _schema(client)["components"]["schemas"]["JobCreate"]["properties"]["md"]
    (example,) = md["examples"]
    assert example.startswith("./lessons/")
    assert (LESSONS_DIR / Path(example).name).is_file()


def test_options_lists_every_method_of_the_path(client: TestClient) -> None:
    response = client.options("/jobs")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    assert client.put("/jobs/x/cancel").headers["allow"] == "POST"


def test_a_body_that_is_not_utf8_is_invalid_json(client: TestClient) -> None:
    response = client.post(
        "/jobs", content=b'{"md": "\xff\xfe"}', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_json"
