"""deploy/monitoring: alert rules tested by promtool, every PromQL name really exported, a real Prometheus scrape."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.deploy.conftest import MONITORING, RunningWorker, free_port, wait_for

PROMTOOL = shutil.which("promtool")
PROMETHEUS = shutil.which("prometheus")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool missing (Debian package prometheus)")
needs_prometheus = pytest.mark.skipif(PROMETHEUS is None, reason="prometheus missing (Debian package prometheus)")

# PromQL words that are not metric names.
PROMQL_WORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "sum",
    "avg",
    "min",
    "max",
    "count",
    "rate",
    "increase",
    "irate",
    "delta",
    "time",
    "histogram_quantile",
    "le",
    "humanizePercentage",
    "printf",
    "value",
    "labels",
}
# Series Prometheus itself adds for every target, and the client library's process collector.
SCRAPE_SERIES = {"up"}


def promql_expressions() -> list[tuple[str, str]]:
    """Return ``(where, expression)`` for every alert rule and every dashboard panel target."""
    found: list[tuple[str, str]] = []
    rules = yaml.safe_load((MONITORING / "alerts.yml").read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            found.append((f"alert {rule['alert']}", rule["expr"]))
    for path in sorted((MONITORING / "grafana" / "dashboards").glob("*.json")):
        dashboard = json.loads(path.read_text())
        for panel in dashboard["panels"]:
            for target in panel.get("targets", []):
                found.append((f"{path.name}: {panel['title']}", target["expr"]))
    return found


def metric_names(expression: str) -> set[str]:
    without_strings = re.sub(r'"[^"]*"', '""', expression)
    without_labels = re.sub(r"\{[^}]*\}", "", without_strings)
    without_ranges = re.sub(r"\[[^\]]*\]", "", without_labels)
    without_groupings = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", without_ranges)
    words = set(re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", without_groupings))
    return {word for word in words if word not in PROMQL_WORDS and not re.fullmatch(r"\d+(e\d+)?", word)}


def exported_names(scrape: str) -> set[str]:
    names: set[str] = set()
    for family in text_string_to_metric_families(scrape):
        names.add(family.name)
        if family.type == "counter":
            names.add(family.name + "_total")
        if family.type in ("histogram", "summary"):
            names.update(family.name + suffix for suffix in ("_bucket", "_count", "_sum"))
        names.update(sample.name for sample in family.samples)
    return names


def test_the_expression_parser_finds_metric_names_and_ignores_promql_words() -> None:
    expression = (
        "histogram_quantile(0.95, sum by (worker, le) (rate(konsens_worker_pass_duration_seconds_bucket[5m]))) "
        '> 2 * 86400 and up{job="konsens"} == 0'
    )
    assert metric_names(expression) == {"konsens_worker_pass_duration_seconds_bucket", "up"}


def test_every_promql_name_in_rules_and_dashboards_is_exported_by_a_running_worker(
    running_worker: RunningWorker,
) -> None:
    exported = exported_names(running_worker.scrape()) | SCRAPE_SERIES
    expressions = promql_expressions()
    assert len(expressions) > 40
    missing = {
        f"{where}: {name}"
        for where, expression in expressions
        for name in metric_names(expression)
        if name not in exported
    }
    assert not missing, sorted(missing)


def test_dashboards_are_provisioned_from_files_with_the_provisioned_datasource() -> None:
    provider = yaml.safe_load((MONITORING / "grafana" / "provisioning" / "dashboards" / "konsens.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    source = yaml.safe_load((MONITORING / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text())
    uid = source["datasources"][0]["uid"]
    titles = set()
    for path in (MONITORING / "grafana" / "dashboards").glob("*.json"):
        dashboard = json.loads(path.read_text())
        titles.add(dashboard["title"])
        ids = [panel["id"] for panel in dashboard["panels"]]
        assert len(ids) == len(set(ids)), path.name
        assert all(panel["datasource"]["uid"] == uid for panel in dashboard["panels"])
    assert titles == {"Konsens — system", "Konsens — trading"}


def test_prometheus_scrapes_every_process_of_the_port_table() -> None:
    from core.observability.settings import METRICS_PORT_OFFSETS, ObservabilitySettings

    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    job = next(job for job in config["scrape_configs"] if job["job_name"] == "konsens")
    targets = {entry["labels"]["process"]: entry["targets"][0] for entry in job["static_configs"]}
    base = ObservabilitySettings(metrics_port=None).metrics_base_port
    assert targets == {name: f"{name}:{base + offset}" for name, offset in METRICS_PORT_OFFSETS.items()}


@needs_promtool
def test_alert_rules_pass_their_promtool_unit_tests() -> None:
    assert PROMTOOL is not None
    checked = subprocess.run(
        [PROMTOOL, "check", "rules", str(MONITORING / "alerts.yml")], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run(
        [PROMTOOL, "test", "rules", str(MONITORING / "tests" / "alerts_test.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


@needs_promtool
def test_the_prometheus_config_is_valid() -> None:
    assert PROMTOOL is not None
    checked = subprocess.run(
        [PROMTOOL, "check", "config", str(MONITORING / "prometheus.yml")], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.fixture
def prometheus(running_worker: RunningWorker, tmp_path: Path) -> Iterator[str]:
    """A real Prometheus on a loopback port scraping the running worker every second, with the alert rules."""
    assert PROMETHEUS is not None
    shutil.copy(MONITORING / "alerts.yml", tmp_path / "alerts.yml")
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": ["alerts.yml"],
        "scrape_configs": [
            {
                "job_name": "konsens",
                "static_configs": [
                    {"targets": [f"127.0.0.1:{running_worker.port}"], "labels": {"process": "portfolio"}}
                ],
            }
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    process = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{base}/-/ready")
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)


def _query(base: str, expression: str) -> list[dict[str, Any]]:
    body = wait_for(f"{base}/api/v1/query?{urllib.parse.urlencode({'query': expression})}")
    answer = json.loads(body)
    assert answer["status"] == "success", answer
    return list(answer["data"]["result"])


@needs_prometheus
@pytest.mark.slow
def test_a_real_prometheus_scrapes_the_worker_and_evaluates_the_rules(prometheus: str) -> None:
    deadline = time.monotonic() + 60
    up: list[dict[str, Any]] = []
    equity: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        up = _query(prometheus, 'up{job="konsens"}')
        equity = _query(prometheus, 'konsens_equity_eur{account="paper"}')
        if up and equity:
            break
        time.sleep(0.5)
    assert up and up[0]["value"][1] == "1"
    assert equity and float(equity[0]["value"][1]) > 0  # the demo paper account
    rules = json.loads(wait_for(f"{prometheus}/api/v1/rules"))["data"]["groups"]
    deadline = time.monotonic() + 30
    while any(rule.get("health") != "ok" for group in rules for rule in group["rules"]) and time.monotonic() < deadline:
        time.sleep(0.5)
        rules = json.loads(wait_for(f"{prometheus}/api/v1/rules"))["data"]["groups"]
    health = {rule["name"]: rule.get("health") for group in rules for rule in group["rules"]}
    assert len(health) == 12 and set(health.values()) == {"ok"}, health
