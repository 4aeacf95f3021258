"""Settings of the operations area: metrics endpoints, log format, tracing export, backups."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path

from pydantic import Field

from core.config import KonsensSettingsBase

# Fixed offsets from ``metrics_base_port``, so that `konsens up`, `konsens worker NAME`, compose and
# the Prometheus config agree on every process's port without a lookup.
METRICS_PORT_OFFSETS: dict[str, int] = {
    "dashboard": 0,
    "market": 1,
    "news": 2,
    "analyst": 3,
    "executor": 4,
    "sync": 5,
    "portfolio": 6,
    "risk": 7,
    "backup": 8,
    "research": 9,
    "jobs": 10,
}
# Workers not in the table above get ports from this offset up, in name order.
EXTRA_WORKER_PORT_OFFSET = 20


def default_metrics_address() -> str:
    """Loopback on a desktop; all interfaces inside a container, where Prometheus scrapes from another one.

    (A container's ports are reachable only on its private network unless compose publishes them.)
    """
    in_container = Path("/.dockerenv").exists() or "KUBERNETES_SERVICE_HOST" in os.environ
    return "0.0.0.0" if in_container else "127.0.0.1"  # nosec B104: all interfaces only inside a container


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


class ObservabilitySettings(KonsensSettingsBase):
    """``KONSENS_METRICS_*``, ``KONSENS_LOG_FORMAT``, ``KONSENS_OTEL_*``, ``KONSENS_BACKUP_*``."""

    metrics_enabled: bool = Field(default=True, description="Serve /metrics from every worker and the dashboard.")
    metrics_address: str = Field(
        default_factory=lambda: default_metrics_address(),
        description="Address the /metrics servers listen on (default 127.0.0.1; 0.0.0.0 inside a container).",
    )
    metrics_base_port: int = Field(default=9460, ge=1, le=65000, description="Dashboard port; workers follow it.")
    metrics_port: int | None = Field(
        default=None, ge=0, le=65535, description="Port of this one process (0: any free port); overrides the table."
    )
    metrics_state_worker: str = Field(
        default="portfolio",
        description="The worker whose /metrics also exports the database-wide state (orders, equity, feeds...).",
    )
    log_format: LogFormat = Field(default=LogFormat.TEXT, description="text (default) or json: one object per line.")
    otel_exporter_otlp_endpoint: str | None = Field(
        default=None, description="OTLP/HTTP endpoint, e.g. http://localhost:4318; tracing is off without it."
    )
    otel_service_name: str = Field(default="konsens", description="service.name of exported spans.")
    backup_dir: Path | None = Field(default=None, description="Where backups go; default KONSENS_HOME/backups.")
    backup_interval_hours: float = Field(default=24.0, gt=0, description="Scheduled backup interval.")
    backup_keep: int = Field(default=14, ge=1, description="Scheduled backups kept (older ones are deleted).")
    backup_pg_dump: str = Field(default="pg_dump", description="pg_dump executable for PostgreSQL backups.")
    backup_pg_restore: str = Field(default="pg_restore", description="pg_restore executable.")

    def metrics_port_for(self, process: str, known_workers: list[str] | None = None) -> int:
        """Return the /metrics port of ``process`` (``dashboard`` or a worker name)."""
        if self.metrics_port is not None:
            return self.metrics_port
        if process in METRICS_PORT_OFFSETS:
            return self.metrics_base_port + METRICS_PORT_OFFSETS[process]
        extra = sorted(name for name in (known_workers or [process]) if name not in METRICS_PORT_OFFSETS)
        index = extra.index(process) if process in extra else len(extra)
        return self.metrics_base_port + EXTRA_WORKER_PORT_OFFSET + index

    def effective_backup_dir(self, home: Path) -> Path:
        return (self.backup_dir or home / "backups").expanduser()
