"""The lesson-folder sensor's default: on at the first start of an embedded home, else untouched.

It ships stopped. ``--postgres`` (production) never switches it on: an operator does, in the UI.
The embedded default turns it on once, at the first start of its home; later starts leave the
operator's choice (stored in the instance) alone.
"""

from typing import Any

import httpx

from esl_dagster.stack.config import LOCATION_NAME, StackConfig
from esl_dagster.stack.instance import first_start_marker

LESSON_SENSOR = "lesson_folder_sensor"
SENSOR_STATE_QUERY = """
query SensorState($selector: SensorSelector!) {
  sensorOrError(sensorSelector: $selector) {
    __typename
    ... on Sensor { sensorState { status } }
  }
}
"""
START_SENSOR_MUTATION = """
mutation Start($selector: SensorSelector!) {
  startSensor(sensorSelector: $selector) { __typename ... on PythonError { message } }
}
"""


def apply_sensor_default(config: StackConfig) -> bool:
    """Turn the sensor on when this is an embedded home's first start; True when it did."""
    marker = first_start_marker(config.dagster_home)
    if config.postgres or marker.exists():
        return False
    start_lesson_sensor(config)
    marker.write_text(
        "esl-stack turned the lesson sensor on at this home's first start; later starts leave "
        "it as the operator set it.\n",
        encoding="utf-8",
    )
    return True


def start_lesson_sensor(config: StackConfig) -> None:
    result = _graphql(config, START_SENSOR_MUTATION)["startSensor"]
    if result.get("__typename") == "PythonError":
        raise RuntimeError(f"could not start {LESSON_SENSOR}: {result.get('message')}")


def lesson_sensor_running(config: StackConfig) -> bool | None:
    """Whether the sensor runs now (None when Dagster does not say)."""
    try:
        result = _graphql(config, SENSOR_STATE_QUERY)["sensorOrError"]
    except (httpx.HTTPError, KeyError, TypeError, ValueError):
        return None
    if result.get("__typename") != "Sensor":
        return None
    return bool(result["sensorState"]["status"] == "RUNNING")


def _graphql(config: StackConfig, document: str) -> dict[str, Any]:
    selector = {
        "repositoryLocationName": LOCATION_NAME,
        "repositoryName": "__repository__",
        "sensorName": LESSON_SENSOR,
    }
    response = httpx.post(
        f"{config.dagster_url}/graphql",
        json={"query": document, "variables": {"selector": selector}},
        timeout=30.0,
        trust_env=False,
    )
    response.raise_for_status()
    data: dict[str, Any] = response.json().get("data") or {}
    return data
