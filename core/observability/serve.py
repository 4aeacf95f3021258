"""Start what a Konsens process exports: its /metrics server (and the database state, if it is the
designated process) and its trace exporter. Called by the worker runtime and the dashboard launcher."""

from __future__ import annotations

import logging
from typing import Any

from core.db.engine import Database

logger = logging.getLogger(__name__)

_state_registered = False


def serve_process_metrics(process: str, database: Database | None) -> int | None:
    """Serve /metrics for ``process`` on its configured port; return the port, or None when off.

    The process named by ``metrics_state_worker`` also exports the database-wide state.
    """
    global _state_registered
    from core.observability.metrics import start_metrics_server
    from core.observability.settings import ObservabilitySettings

    settings = ObservabilitySettings()
    if not settings.metrics_enabled:
        return None
    if database is not None and process == settings.metrics_state_worker and not _state_registered:
        register_state_collector(database)
    port = start_metrics_server(settings.metrics_port_for(process), settings.metrics_address)
    return port or None


_state_collector: Any = None


def register_state_collector(database: Database) -> None:
    """Export the database-wide state metrics from this process (once)."""
    global _state_registered, _state_collector
    from prometheus_client import REGISTRY

    from core.config import get_settings
    from core.observability.state import StateCollector

    if _state_registered:
        return
    _state_collector = StateCollector(database, home=get_settings().home)
    REGISTRY.register(_state_collector)
    _state_registered = True


def unregister_state_collector() -> None:
    """Stop exporting the database state from this process (tests)."""
    global _state_registered, _state_collector
    from prometheus_client import REGISTRY

    if _state_collector is not None:
        REGISTRY.unregister(_state_collector)
    _state_collector = None
    _state_registered = False


def start_dashboard_exports() -> int | None:
    """Serve the dashboard process's /metrics and export its traces; return the metrics port."""
    from core.logging_setup import set_log_context
    from core.observability.tracing import configure_tracing

    set_log_context(worker="dashboard")
    configure_tracing("dashboard")
    return serve_process_metrics("dashboard", None)
