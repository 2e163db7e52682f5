"""The shipped alert rules load and behave as their unit tests say (`promtool`), and the Grafana
dashboard is importable JSON over a Prometheus datasource. That every metric they use is exported
is checked against a real scrape in `tests/api/test_job_metrics.py`."""

import json
import shutil
import subprocess

import pytest

from tests.conftest import REPO_ROOT

PROMETHEUS_DIR = REPO_ROOT / "deploy" / "prometheus"
DASHBOARD = REPO_ROOT / "deploy" / "grafana" / "esl-dashboard.json"


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail(
            "promtool is not installed: it checks deploy/prometheus/alerts.yml. Install Debian's "
            "prometheus package (apt-get install -y --no-install-recommends prometheus), as "
            "`make test` does."
        )
    return path


@pytest.mark.parametrize(
    "args", [["check", "rules", "alerts.yml"], ["test", "rules", "alerts_test.yml"]]
)
def test_promtool_accepts_the_alert_rules(args: list[str]) -> None:
    result = subprocess.run(
        [promtool(), *args], cwd=PROMETHEUS_DIR, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dashboard_panels_query_prometheus() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "esl-jobs"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["datasource"]["type"] == "prometheus", panel["title"]
        assert panel["targets"] and all(target["expr"] for target in panel["targets"])
