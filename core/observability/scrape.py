"""``konsens metrics``: one scrape of every Konsens process on this machine, for a quick look."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Sequence

from prometheus_client import CollectorRegistry, generate_latest

from core.config import get_settings
from core.db.engine import Database
from core.observability.settings import ObservabilitySettings
from core.observability.state import StateCollector


def process_endpoints(worker_names: list[str]) -> dict[str, str]:
    """Return ``{process: /metrics URL}`` for the dashboard and every worker, by the port table."""
    settings = ObservabilitySettings()
    address = "127.0.0.1" if settings.metrics_address in ("0.0.0.0", "") else settings.metrics_address  # nosec B104: a comparison, not a bind
    names = ["dashboard", *worker_names]
    base = settings.model_copy(update={"metrics_port": None})
    return {name: f"http://{address}:{base.metrics_port_for(name, worker_names)}/metrics" for name in names}


def fetch_metrics(url: str, timeout_seconds: float) -> str | None:
    """Return the text of one /metrics scrape, or None if nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_seconds) as response:  # nosec B310: url is http://<configured address>:<port>/metrics
            return response.read().decode("utf-8", errors="replace")
    except (urllib.error.URLError, OSError, TimeoutError):
        return None


def scrape_everything(
    database: Database, *, worker_names: Sequence[str] = (), ask_processes: bool = True, timeout_seconds: float = 1.0
) -> str:
    """Return the scrapes of all answering processes, then the database state if none exported it.

    ``worker_names`` are the registered workers (the caller knows them; core does not import workers).
    """
    parts: list[str] = []
    state_seen = False
    if ask_processes:
        for name, url in process_endpoints(list(worker_names)).items():
            text = fetch_metrics(url, timeout_seconds)
            if text is None:
                parts.append(f"# {name}: not answering at {url}\n")
                continue
            parts.append(f"# {name}: {url}\n{text}")
            state_seen = state_seen or "konsens_state_up" in text
    if not state_seen:
        registry = CollectorRegistry()
        registry.register(StateCollector(database, home=get_settings().home))
        parts.append("# database state (read by this command)\n" + generate_latest(registry).decode("utf-8"))
    return "".join(parts)
