"""What each process serves: its /metrics port, and the database state only from the designated worker."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator

import pytest

from core.db.engine import Database
from core.observability import metrics, serve


@pytest.fixture(autouse=True)
def clean_server() -> Iterator[None]:
    metrics.stop_metrics_server()
    serve.unregister_state_collector()
    yield
    metrics.stop_metrics_server()
    serve.unregister_state_collector()


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        return response.read().decode()


def test_the_state_worker_also_exports_the_database_state(
    sqlite_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KONSENS_METRICS_PORT", "0")
    monkeypatch.setenv("KONSENS_METRICS_ADDRESS", "127.0.0.1")
    port = serve.serve_process_metrics("portfolio", sqlite_database)
    assert port
    body = _scrape(port)
    assert "konsens_state_up 1.0" in body and "konsens_orders{" in body


def test_another_worker_exports_only_its_process_metrics(
    sqlite_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KONSENS_METRICS_PORT", "0")
    monkeypatch.setenv("KONSENS_METRICS_ADDRESS", "127.0.0.1")
    port = serve.serve_process_metrics("market", sqlite_database)
    assert port
    body = _scrape(port)
    assert "konsens_worker_passes_total" in body and "konsens_state_up" not in body


def test_the_dashboard_serves_its_metrics(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KONSENS_METRICS_PORT", "0")
    monkeypatch.setenv("KONSENS_METRICS_ADDRESS", "127.0.0.1")
    port = serve.start_dashboard_exports()
    assert port
    assert "konsens_db_query_duration_seconds" in _scrape(port)


def test_metrics_switched_off_serve_nothing(sqlite_database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KONSENS_METRICS_ENABLED", "false")
    assert serve.serve_process_metrics("portfolio", sqlite_database) is None
