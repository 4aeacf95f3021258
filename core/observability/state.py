"""State metrics read from the database at scrape time: queues, feeds, orders, money, risk, AI, news.

The database is the one channel between the dashboard and the workers, so it is also where the
state of the whole system can be read. :class:`StateCollector` runs a handful of indexed queries
per scrape (cached for a few seconds, so two scrapers at once cost one read) and yields the
families below. One process exports them (see :mod:`core.observability.metrics`).

Counters here (``*_total``) are counts or sums over rows that are only ever added (fills,
consensus results, opinions, alerts), so they only go up, as Prometheus expects of a counter.
A failed read is logged and reported as ``konsens_state_up 0``; the scrape itself never fails.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, SummaryMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from sqlalchemy import case, func, literal, select
from sqlalchemy.orm import Session

from core.db.engine import Database
from core.timeutil import parse_utc, utc_now

logger = logging.getLogger(__name__)

CACHE_SECONDS = 5.0
# Orders in these states are waiting on someone; their oldest age feeds the "stuck order" alert.
WAITING_ORDER_STATES = ("new", "submitting", "open", "partially_filled", "pending_cancel")
BACKUP_STATUS_KEY = "ops.backup.status"


def _number(value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, Decimal):
        return float(value)
    return float(value)


def _timestamp(value: Any) -> datetime | None:
    if value is None:
        return None
    return parse_utc(value)


@dataclass(eq=False)
class StateCollector(Collector):
    """Yield the database-wide state of Konsens as Prometheus metric families."""

    database: Database
    home: Path | None = None
    clock: Callable[[], datetime] = utc_now
    _cached: tuple[float, list[Metric]] | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            if self._cached is not None and time.monotonic() - self._cached[0] < CACHE_SECONDS:
                yield from self._cached[1]
                return
            families = self._read()
            self._cached = (time.monotonic(), families)
        yield from families

    def _read(self) -> list[Metric]:
        families: list[Metric] = []
        up = GaugeMetricFamily("konsens_state_up", "1 if the last read of the database state succeeded.")
        duration = GaugeMetricFamily("konsens_state_read_seconds", "Time the last read of the database state took.")
        began = time.perf_counter()
        ok = True
        now = self.clock()
        for name, reader in self._readers():
            try:
                families.extend(self.database.run(_at(reader, now), attempts=2))
            except Exception as error:  # one failing part never hides the others
                ok = False
                logger.warning("metrics: reading %s failed: %s", name, f"{type(error).__name__}: {error}"[:300])
        families.extend(self._disk())
        up.add_metric([], 1 if ok else 0)
        duration.add_metric([], time.perf_counter() - began)
        families.extend([up, duration])
        return families

    def _readers(self) -> list[tuple[str, Callable[[Session, datetime], list[Metric]]]]:
        return [
            ("workers", _workers),
            ("orders", _orders),
            ("fills", _fills),
            ("feeds", _feeds),
            ("quarantine", _quarantine),
            ("accounts", _accounts),
            ("trading state", _trading_state),
            ("ai", _ai),
            ("news", _news),
            ("backups", _backups),
        ]

    def _disk(self) -> list[Metric]:
        if self.home is None:
            return []
        free = GaugeMetricFamily("konsens_disk_free_bytes", "Free space on the disk of KONSENS_HOME.")
        total = GaugeMetricFamily("konsens_disk_size_bytes", "Size of the disk of KONSENS_HOME.")
        path = self.home if self.home.exists() else self.home.parent
        try:
            usage = shutil.disk_usage(path)
        except OSError as error:
            logger.warning("metrics: disk usage of %s unknown: %s", path, error)
            return []
        free.add_metric([], usage.free)
        total.add_metric([], usage.total)
        return [free, total]


def _at(reader: Callable[[Session, datetime], list[Metric]], now: datetime) -> Callable[[Session], list[Metric]]:
    return lambda session: reader(session, now)


def _workers(session: Session, now: datetime) -> list[Metric]:
    from core.system.models import WorkerStatus
    from core.system.status import Health, worker_states

    age = GaugeMetricFamily(
        "konsens_worker_heartbeat_age_seconds", "Seconds since the worker's last heartbeat row.", labels=["worker"]
    )
    status = GaugeMetricFamily(
        "konsens_worker_status", "1 for the worker's current heartbeat status.", labels=["worker", "status"]
    )
    stale = GaugeMetricFamily(
        "konsens_worker_stale",
        "1 if the worker has been silent longer than its interval allows (the System page's 'stale').",
        labels=["worker"],
    )
    last_pass = GaugeMetricFamily(
        "konsens_worker_last_pass_seconds",
        "Work time of the worker's last pass, waits left out (heartbeat row).",
        labels=["worker"],
    )
    for state in worker_states(session, now=now):
        age.add_metric([state.worker], max(0.0, state.age.total_seconds()))
        stale.add_metric([state.worker], 1 if state.health is Health.STALE else 0)
        for member in WorkerStatus:
            status.add_metric([state.worker, member.value], 1 if state.status is member else 0)
        if state.last_pass_seconds is not None:
            last_pass.add_metric([state.worker], state.last_pass_seconds)
    return [age, stale, status, last_pass]


def _orders(session: Session, now: datetime) -> list[Metric]:
    from core.ai.models import AnalysisRequest, RequestStatus
    from core.execution.models import Order, OrderStatus, TradingMode

    by_state = GaugeMetricFamily("konsens_orders", "Orders by state and mode.", labels=["state", "mode"])
    counts = {
        (str(status), str(mode)): int(count)
        for status, mode, count in session.execute(
            select(Order.status, Order.mode, func.count()).group_by(Order.status, Order.mode)
        )
    }
    for status in OrderStatus:
        for mode in TradingMode:
            by_state.add_metric([status.value, mode.value], counts.get((status.value, mode.value), 0))
    oldest = GaugeMetricFamily(
        "konsens_orders_oldest_age_seconds",
        "Seconds since the oldest order in a waiting state last changed (0 when none waits).",
        labels=["state"],
    )
    rows = dict(
        session.execute(
            select(Order.status, func.min(Order.updated_at))
            .where(Order.status.in_([OrderStatus(value) for value in WAITING_ORDER_STATES]))
            .group_by(Order.status)
        ).all()
    )
    for value in WAITING_ORDER_STATES:
        since = _timestamp(rows.get(OrderStatus(value)))
        oldest.add_metric([value], max(0.0, (now - since).total_seconds()) if since else 0.0)
    pickup = SummaryMetricFamily(
        "konsens_order_pickup_latency_seconds",
        "Time from an order's creation to its claim by the executor.",
        labels=["mode"],
    )
    seconds: Any
    if session.get_bind().dialect.name == "postgresql":
        seconds = func.extract("epoch", Order.submitted_at - Order.created_at)
    else:
        seconds = (func.julianday(Order.submitted_at) - func.julianday(Order.created_at)) * 86400.0
    latency = {
        str(mode): (int(count), _number(total))
        for mode, count, total in session.execute(
            select(Order.mode, func.count(), func.coalesce(func.sum(seconds), 0))
            .where(Order.submitted_at.is_not(None))
            .group_by(Order.mode)
        )
    }
    for mode in TradingMode:
        count, total = latency.get(mode.value, (0, 0.0))
        pickup.add_metric([mode.value], count_value=count, sum_value=max(0.0, total))
    requests = GaugeMetricFamily("konsens_analysis_requests", "Analysis requests by status.", labels=["status"])
    request_counts = {
        str(status): int(count)
        for status, count in session.execute(
            select(AnalysisRequest.status, func.count()).group_by(AnalysisRequest.status)
        )
    }
    for request_status in RequestStatus:
        requests.add_metric([request_status.value], request_counts.get(request_status.value, 0))
    return [by_state, oldest, pickup, requests]


def _fills(session: Session, now: datetime) -> list[Metric]:
    from core.execution.models import Fill, Order

    fills = CounterMetricFamily("konsens_fills", "Fills recorded, by mode and side.", labels=["mode", "side"])
    notional = CounterMetricFamily(
        "konsens_traded_notional_eur", "Traded value of all fills (quantity × price), EUR.", labels=["mode"]
    )
    fees = CounterMetricFamily("konsens_fill_fees_eur", "Fees paid on fills, EUR.", labels=["mode"])
    per_mode: dict[str, tuple[float, float]] = {}
    rows = session.execute(
        select(
            Order.mode,
            Fill.side,
            func.count(),
            func.coalesce(func.sum(Fill.quantity * Fill.price), 0),
            func.coalesce(func.sum(Fill.fee_eur), 0),
        )
        .join(Order, Order.id == Fill.order_id)
        .group_by(Order.mode, Fill.side)
    ).all()
    for mode, side, count, value, fee in rows:
        fills.add_metric([str(mode), str(side)], int(count))
        total_value, total_fee = per_mode.get(str(mode), (0.0, 0.0))
        per_mode[str(mode)] = (total_value + _number(value), total_fee + _number(fee))
    for mode_name, (traded, paid) in sorted(per_mode.items()):
        notional.add_metric([mode_name], traded)
        fees.add_metric([mode_name], paid)
    return [fills, notional, fees]


def _feeds(session: Session, now: datetime) -> list[Metric]:
    from core.system.status import data_freshness

    lag = GaugeMetricFamily(
        "konsens_feed_lag_seconds",
        "Age of the newest candle of a series (from its close).",
        labels=["instrument", "source", "timeframe"],
    )
    behind = GaugeMetricFamily(
        "konsens_feed_bars_behind",
        "Timeframes the newest candle is behind, counting trading time only (> 6: stale).",
        labels=["instrument", "source", "timeframe"],
    )
    for series in data_freshness(session, now=now):
        labels = [series.symbol, series.source, series.timeframe]
        lag.add_metric(labels, max(0.0, series.age.total_seconds()))
        behind.add_metric(labels, max(0.0, series.bars_behind))
    return [lag, behind]


def _quarantine(session: Session, now: datetime) -> list[Metric]:
    from core.system.models import QuarantinedRecord

    family = GaugeMetricFamily("konsens_quarantined_rows", "Rows refused by validation.", labels=["kind", "source"])
    for kind, source, count in session.execute(
        select(QuarantinedRecord.kind, QuarantinedRecord.source, func.count()).group_by(
            QuarantinedRecord.kind, QuarantinedRecord.source
        )
    ):
        family.add_metric([str(kind), str(source)], int(count))
    return [family]


def _accounts(session: Session, now: datetime) -> list[Metric]:
    from core.portfolio.models import PortfolioSnapshot, Position
    from core.risk.exposure import account_exposure
    from core.risk.guard import account_risk
    from core.risk.service import limit_usage

    equity = GaugeMetricFamily("konsens_equity_eur", "Equity (cash + positions at latest prices).", labels=["account"])
    cash = GaugeMetricFamily("konsens_cash_eur", "EUR cash of the account from its ledger.", labels=["account"])
    exposure = GaugeMetricFamily(
        "konsens_exposure_eur", "Gross exposure: |value| of all positions.", labels=["account"]
    )
    realised = GaugeMetricFamily("konsens_realised_pnl_eur", "Realised P&L of the open books.", labels=["account"])
    unrealised = GaugeMetricFamily("konsens_unrealised_pnl_eur", "Unrealised P&L at latest prices.", labels=["account"])
    drawdown = GaugeMetricFamily(
        "konsens_drawdown_ratio", "Drawdown from the equity peak (0.1 = 10 %).", labels=["account"]
    )
    daily_loss = GaugeMetricFamily(
        "konsens_daily_loss_ratio", "Loss since the start of the day (0.02 = 2 %).", labels=["account"]
    )
    usage = GaugeMetricFamily(
        "konsens_risk_limit_usage_ratio",
        "Use of a circuit-breaker limit (1 = at the limit).",
        labels=["account", "rule"],
    )
    accounts = sorted(
        {str(name) for name in session.scalars(select(Position.account).distinct())}
        | {str(name) for name in session.scalars(select(PortfolioSnapshot.account).distinct())}
    )
    for account in accounts:
        book = account_exposure(session, account)
        average = {
            position.instrument_id: position
            for position in session.scalars(select(Position).where(Position.account == account))
        }
        equity.add_metric([account], float(book.equity_eur))
        cash.add_metric([account], float(book.cash_eur))
        exposure.add_metric([account], float(book.gross_exposure_eur))
        realised.add_metric([account], sum(_number(row.realised_pnl_eur) for row in average.values()))
        open_gain = Decimal(0)
        for position in book.positions:
            held = average.get(position.instrument_id)
            if held is not None and position.price_eur is not None:
                open_gain += position.value_eur - position.quantity * held.average_price_eur
        unrealised.add_metric([account], float(open_gain))
        risk = account_risk(session, account, now, book)
        daily_loss.add_metric([account], float(risk.daily_loss_pct))
        drawdown.add_metric([account], float(risk.drawdown_pct))
        for limit in limit_usage(session, account, now=now):
            if limit.used is not None:
                usage.add_metric([account, limit.rule], float(limit.used))
    return [equity, cash, exposure, realised, unrealised, drawdown, daily_loss, usage]


def _trading_state(session: Session, now: datetime) -> list[Metric]:
    from core.risk.models import AlertKind, RiskAlert, RiskTradingState, TradingState

    state = GaugeMetricFamily(
        "konsens_trading_state",
        "1 for the trading state of a scope (an account, or * for all).",
        labels=["scope", "state"],
    )
    for row in session.scalars(select(RiskTradingState).order_by(RiskTradingState.scope)):
        for member in TradingState:
            state.add_metric([row.scope, member.value], 1 if row.state is member else 0)
    trips = CounterMetricFamily("konsens_circuit_breaker_trips", "Circuit-breaker breaches that moved a trading state.")
    breaches = session.scalar(select(func.count()).select_from(RiskAlert).where(RiskAlert.kind == AlertKind.BREACH))
    trips.add_metric([], int(breaches or 0))
    alerts = GaugeMetricFamily(
        "konsens_risk_alerts_unacknowledged", "Risk alerts nobody has acknowledged yet.", labels=["severity"]
    )
    for severity, count in session.execute(
        select(RiskAlert.severity, func.count()).where(RiskAlert.acknowledged_at.is_(None)).group_by(RiskAlert.severity)
    ):
        alerts.add_metric([str(severity)], int(count))
    return [state, trips, alerts]


def _ai(session: Session, now: datetime) -> list[Metric]:
    from core.ai.config import load_ai_config
    from core.ai.engine import calls_today
    from core.ai.models import AnalystOpinion, ConsensusRecord, Signal

    decisions = CounterMetricFamily("konsens_consensus_decisions", "Consensus results by decision.", labels=["signal"])
    counts = {
        str(signal): int(count)
        for signal, count in session.execute(
            select(ConsensusRecord.decision, func.count()).group_by(ConsensusRecord.decision)
        )
    }
    for signal in Signal:
        decisions.add_metric([signal.value], counts.get(signal.value, 0))
    failures = CounterMetricFamily("konsens_analyst_failures", "Analyst opinions that failed.", labels=["provider"])
    calls = CounterMetricFamily("konsens_llm_calls", "Provider calls made by analysts.", labels=["provider"])
    tokens = CounterMetricFamily("konsens_llm_tokens", "LLM tokens used.", labels=["provider", "kind"])
    cost = CounterMetricFamily("konsens_llm_cost_usd", "LLM cost, USD.", labels=["provider"])
    latency = SummaryMetricFamily("konsens_llm_latency_seconds", "Latency of an analyst's answer.", labels=["provider"])
    for provider, failed, attempts, prompt, completion, spent, answered, total_ms in session.execute(
        select(
            AnalystOpinion.provider,
            func.sum(case((AnalystOpinion.ok.is_(False), 1), else_=0)),
            func.coalesce(func.sum(AnalystOpinion.attempts), 0),
            func.coalesce(func.sum(AnalystOpinion.prompt_tokens), 0),
            func.coalesce(func.sum(AnalystOpinion.completion_tokens), 0),
            func.coalesce(func.sum(AnalystOpinion.cost_usd), 0),
            func.count(AnalystOpinion.latency_ms),
            func.coalesce(func.sum(AnalystOpinion.latency_ms), literal(0)),
        )
        .where(AnalystOpinion.cached.is_(False))
        .group_by(AnalystOpinion.provider)
    ):
        name = str(provider)
        failures.add_metric([name], int(failed or 0))
        calls.add_metric([name], int(attempts or 0))
        tokens.add_metric([name, "prompt"], int(prompt or 0))
        tokens.add_metric([name, "completion"], int(completion or 0))
        cost.add_metric([name], _number(spent))
        latency.add_metric([name], count_value=int(answered or 0), sum_value=_number(total_ms) / 1000.0)
    budget = GaugeMetricFamily("konsens_llm_call_budget", "Provider calls allowed per UTC day.", labels=["provider"])
    used = GaugeMetricFamily("konsens_llm_calls_today", "Provider calls made since UTC midnight.", labels=["provider"])
    config = load_ai_config(session)
    today = calls_today(session, now)
    for provider in sorted({p.name for p in config.providers} | set(today)):
        budget.add_metric([provider], config.limits.budget_of(provider))
        used.add_metric([provider], today.get(provider, 0))
    return [decisions, failures, calls, tokens, cost, latency, budget, used]


def _news(session: Session, now: datetime) -> list[Metric]:
    from core.market.models import Instrument
    from core.news.models import NewsItemInstrument, SentimentHourly

    items = CounterMetricFamily(
        "konsens_news_items", "News items and posts tagged with an instrument.", labels=["instrument"]
    )
    for symbol, count in session.execute(
        select(Instrument.symbol, func.count())
        .join(NewsItemInstrument, NewsItemInstrument.instrument_id == Instrument.id)
        .group_by(Instrument.symbol)
    ):
        items.add_metric([str(symbol)], int(count))
    sentiment = GaugeMetricFamily(
        "konsens_news_sentiment",
        "Influence-weighted sentiment of the latest hour with mentions (-1..1).",
        labels=["instrument"],
    )
    latest = (
        select(SentimentHourly.instrument_id, func.max(SentimentHourly.hour).label("hour"))
        .group_by(SentimentHourly.instrument_id)
        .subquery()
    )
    for symbol, weighted, mean in session.execute(
        select(Instrument.symbol, SentimentHourly.weighted_sentiment, SentimentHourly.mean_sentiment)
        .join(
            latest, (latest.c.instrument_id == SentimentHourly.instrument_id) & (latest.c.hour == SentimentHourly.hour)
        )
        .join(Instrument, Instrument.id == SentimentHourly.instrument_id)
    ):
        value = weighted if weighted is not None else mean
        if value is not None:
            sentiment.add_metric([str(symbol)], float(value))
    return [items, sentiment]


def _backups(session: Session, now: datetime) -> list[Metric]:
    from core.system.settings_store import get_setting

    status = get_setting(session, BACKUP_STATUS_KEY) or {}
    success = GaugeMetricFamily(
        "konsens_backup_last_success_timestamp_seconds", "Unix time of the last successful backup (0: never)."
    )
    failure = GaugeMetricFamily(
        "konsens_backup_last_failure_timestamp_seconds", "Unix time of the last failed backup (0: never)."
    )
    size = GaugeMetricFamily("konsens_backup_last_size_bytes", "Size of the last successful backup archive.")
    last_ok = _timestamp(status.get("last_success_at"))
    last_failed = _timestamp(status.get("last_failure_at"))
    success.add_metric([], last_ok.timestamp() if last_ok else 0.0)
    failure.add_metric([], last_failed.timestamp() if last_failed else 0.0)
    size.add_metric([], float(status.get("last_size_bytes") or 0))
    return [success, failure, size]
