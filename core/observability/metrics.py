"""Every Prometheus metric Konsens exports, defined once, and the /metrics server.

Two kinds of metric live here:

- *Process metrics*, counted where things happen in this process: worker passes and their
  duration, database statement latency, errors and pool use, retries and rate-limit waits per
  outside service, backups. Every process (each worker, the dashboard) exports its own.
- *State metrics*, read from the database at scrape time by :mod:`core.observability.state`
  (orders by state, equity, feeds, LLM use...). The database is the single source of truth, so
  one process exports them (``metrics_state_worker``, the portfolio worker by default); exporting
  them from every process would count everything several times.

Names follow the Prometheus conventions: the ``konsens_`` prefix, base units (seconds, bytes;
money in EUR or USD named in the metric), ``_total`` for counters, and label values from small
fixed sets (worker names, states, providers, tracked instruments) — never an order id.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

disable_created_metrics()  # no ``*_created`` series: half the lines, nothing a dashboard here reads

PASS_DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
QUERY_DURATION_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10)

# --- workers ---------------------------------------------------------------------------------
WORKER_PASSES = Counter("konsens_worker_passes", "Worker passes finished (successful or not).", ["worker"])
WORKER_PASS_FAILURES = Counter("konsens_worker_pass_failures", "Worker passes that raised an error.", ["worker"])
WORKER_PASS_DURATION = Histogram(
    "konsens_worker_pass_duration_seconds", "Duration of one worker pass.", ["worker"], buckets=PASS_DURATION_BUCKETS
)
WORKER_PASS_WORK = Histogram(
    "konsens_worker_pass_work_seconds",
    "Work time of one worker pass: its duration less the waits in it (for changes, rate limits, backoffs).",
    ["worker"],
    buckets=PASS_DURATION_BUCKETS,
)
WORKER_LAST_SUCCESS = Gauge(
    "konsens_worker_last_success_timestamp_seconds", "Unix time of the last successful pass.", ["worker"]
)
WORKER_UP = Gauge("konsens_worker_running", "1 while the worker loop of this process runs.", ["worker"])

# --- database --------------------------------------------------------------------------------
DB_QUERY_DURATION = Histogram(
    "konsens_db_query_duration_seconds",
    "Duration of one SQL statement, by its first keyword.",
    ["operation"],
    buckets=QUERY_DURATION_BUCKETS,
)
DB_ERRORS = Counter("konsens_db_errors", "SQL statements that failed, by kind (transient or other).", ["kind"])

# --- outside services --------------------------------------------------------------------------
SERVICE_RETRIES = Counter("konsens_service_retries", "Retries of calls to an outside service.", ["service"])
RATE_LIMIT_WAIT = Counter(
    "konsens_rate_limit_wait_seconds", "Time spent waiting for a client-side rate limit.", ["service"]
)

# --- backups -----------------------------------------------------------------------------------
BACKUPS = Counter("konsens_backups", "Backups attempted by this process, by result.", ["result"])
BACKUP_DURATION = Histogram(
    "konsens_backup_duration_seconds", "Duration of one backup.", buckets=(1, 5, 15, 60, 300, 900, 3600)
)

_OPERATIONS = frozenset({"select", "insert", "update", "delete", "with", "begin", "commit", "copy", "pragma"})


def statement_operation(statement: str) -> str:
    """Return the bounded label for ``statement``: its first keyword if known, else ``other``."""
    head = statement.lstrip().split(None, 1)
    word = head[0].lower() if head else ""
    return word if word in _OPERATIONS else "other"


class _PoolCollector(Collector):
    """Connections checked out of and idle in the pools of every engine of this process."""

    def __init__(self) -> None:
        self._engines: weakref.WeakSet[Any] = weakref.WeakSet()
        self._lock = threading.Lock()

    def add(self, engine: Any) -> None:
        with self._lock:
            self._engines.add(engine)

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "konsens_db_pool_connections", "Database pool connections of this process, by state.", labels=["state"]
        )
        checked_out = idle = 0
        with self._lock:
            engines = list(self._engines)
        for engine in engines:
            pool = engine.pool
            checked_out += int(getattr(pool, "checkedout", lambda: 0)())
            idle += int(getattr(pool, "checkedin", lambda: 0)())
        family.add_metric(["in_use"], checked_out)
        family.add_metric(["idle"], idle)
        yield family

    def describe(self) -> Iterable[Metric]:
        return []


_POOLS = _PoolCollector()
REGISTRY.register(_POOLS)


def instrument_engine(engine: Any) -> None:
    """Time every statement of ``engine``, count its errors and report its pool."""
    from sqlalchemy import event

    from core.db.errors import is_transient_db_error

    if getattr(engine, "_konsens_instrumented", False):
        return
    engine._konsens_instrumented = True
    _POOLS.add(engine)

    def before(_conn: Any, _cursor: Any, _statement: str, _params: Any, context: Any, _many: bool) -> None:
        if context is not None:
            context._konsens_started = time.perf_counter()

    def after(_conn: Any, _cursor: Any, statement: str, _params: Any, context: Any, _many: bool) -> None:
        started = getattr(context, "_konsens_started", None)
        if started is not None:
            DB_QUERY_DURATION.labels(statement_operation(statement)).observe(time.perf_counter() - started)

    def on_error(exception_context: Any) -> None:
        error = exception_context.original_exception
        DB_ERRORS.labels("transient" if is_transient_db_error(error) else "other").inc()

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    event.listen(engine, "handle_error", on_error)


def service_label(description: str) -> str:
    """Return a bounded service label from a retry description such as ``"Bitpanda GET /trades"``."""
    head = description.strip().split(None, 1)
    word = head[0] if head else "other"
    return word.split(":", 1)[0].lower()[:40] or "other"


def record_retry(service: str) -> None:
    SERVICE_RETRIES.labels(service).inc()


def record_rate_limit_wait(service: str, seconds: float) -> None:
    if seconds > 0:
        RATE_LIMIT_WAIT.labels(service).inc(seconds)


# --- the /metrics server -------------------------------------------------------------------------

_server_lock = threading.Lock()
_server: tuple[Any, threading.Thread, int] | None = None


def start_metrics_server(port: int, address: str = "127.0.0.1") -> int:
    """Serve /metrics of this process on ``address:port`` (0 = any free port); return the port.

    Idempotent: a second call returns the port already served. A port in use is logged and
    reported as 0, never a reason for the worker not to run.
    """
    global _server
    from prometheus_client import start_http_server

    with _server_lock:
        if _server is not None:
            return _server[2]
        try:
            server, thread = start_http_server(port, addr=address)
        except OSError as error:
            logger.warning("metrics: cannot listen on %s:%s (%s); /metrics is not served", address, port, error)
            return 0
        bound = int(server.server_address[1])
        _server = (server, thread, bound)
        logger.info("metrics: serving http://%s:%s/metrics", address, bound)
        return bound


def stop_metrics_server() -> None:
    """Stop the /metrics server of this process (tests)."""
    global _server
    with _server_lock:
        if _server is not None:
            server, thread, _port = _server
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
            _server = None


def scrape_text(registry: CollectorRegistry = REGISTRY) -> str:
    """Return one scrape of ``registry`` in the Prometheus text format."""
    return generate_latest(registry).decode("utf-8")
