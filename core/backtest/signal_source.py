"""Strategies as live/paper signal sources: opt-in per strategy, instrument and timeframe.

``enable_source`` / ``disable_source`` / ``list_sources`` manage the ``strategy_sources`` rows (the
CLI ``konsens strategy ...`` and the Backtest page call them). The analyst worker calls
``run_signal_sources`` every pass. For each enabled source whose instrument has a newly closed
candle (``open + timeframe ≤ now``, newer than the last one it saw):

1. the stored candles of the last ``HISTORY_BARS`` bars are loaded (with the AI consensus columns
   if the strategy reads them) and the strategy decides on **every** bar of that window exactly as
   in a backtest (``Strategy.decisions``: indicators, hook, ``on_bar``, all answers checked);
2. only when that whole computation succeeded is the decision of the newest closed candle used:
   a buy while flat (no order of this account working on the instrument) becomes a market order for
   ``position_fraction`` of the quote cash, with the strategy's own stop-loss / take-profit /
   trailing stop attached; a sell while holding sells the position;
3. the order goes through ``core.execution.service.place_order`` like a ticket: the executor worker
   runs the pre-trade risk checks of ``core.risk.guard`` on it before anything leaves.

Only the newest closed candle is acted on; candles missed while the worker was down are not
traded late. A strategy that raises or returns garbage (``StrategyError``, including an unknown
name because its file was removed or broken) is switched off with the reason, an alert
(``strategy_failed``) and an audit row, and places nothing. A source whose instrument has no
candles yet is skipped until it has.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.audit import AuditAction, append_audit
from core.backtest.models import StrategySource
from core.backtest.series import PriceDataError
from core.backtest.strategies import build_strategy
from core.backtest.strategy import Signal, Strategy, StrategyError
from core.db.engine import Database
from core.errors import PermanentError
from core.execution.enums import ExitReason, OrderSide, OrderType
from core.execution.models import Order, OrderStatus
from core.execution.orders import AttachedExits, ExitKind, ExitSpec, OrderRequest
from core.execution.settings import TradingSettings, load_trading_config
from core.market.models import Instrument
from core.market.query import TIMEFRAME_SECONDS, instrument_by_symbol
from core.risk.alerts import raise_alert
from core.risk.models import AlertKind, AlertSeverity
from core.timeutil import ensure_utc, utc_now
from core.values import QUANTITY_STEP

logger = logging.getLogger(__name__)

ACTOR = "strategy"
HISTORY_BARS = 1000  # candles each evaluation computes the indicators over (the warm-up window)
WORKING = (OrderStatus.NEW, OrderStatus.SUBMITTING, OrderStatus.OPEN)


class SignalSourceError(PermanentError, ValueError):
    """A signal source that cannot be enabled or found (unknown instrument, bad fraction...)."""


@dataclass(frozen=True)
class SourceView:
    """One signal source as the CLI and the page show it."""

    id: int
    strategy: str
    symbol: str
    timeframe: str
    parameters: dict[str, Any]
    position_fraction: Decimal
    live: bool
    enabled: bool
    disabled_reason: str | None
    last_candle_at: datetime | None
    last_signal: str | None
    last_order_id: int | None


@dataclass(frozen=True)
class Evaluation:
    """What one pass did with one source."""

    source_id: int
    strategy: str
    symbol: str
    outcome: str  # "no new candle", "no signal", "buy", "sell", "ignored: ...", "disabled: ...", "skipped: ..."
    order_id: int | None = None


def enable_source(
    session: Session,
    strategy: str,
    symbol: str,
    timeframe: str,
    *,
    parameters: Mapping[str, object] | None = None,
    position_fraction: Decimal = Decimal("0.25"),
    live: bool = False,
    actor: str,
) -> StrategySource:
    """Switch a strategy on for an instrument and timeframe (or on again, with new parameters)."""
    if timeframe not in TIMEFRAME_SECONDS:
        raise SignalSourceError(f"unknown timeframe {timeframe!r} (choose from {', '.join(TIMEFRAME_SECONDS)})")
    if not Decimal(0) < position_fraction <= Decimal(1):
        raise SignalSourceError(f"the position fraction must be in (0, 1], got {position_fraction}")
    instrument = instrument_by_symbol(session, symbol)
    if instrument is None:
        raise SignalSourceError(f"no instrument {symbol!r} in the database")
    built = build_strategy(strategy, dict(parameters or {}))  # unknown names and bad parameters are refused here
    row = session.scalar(
        select(StrategySource).where(
            StrategySource.strategy == built.name,
            StrategySource.instrument_id == instrument.id,
            StrategySource.timeframe == timeframe,
        )
    )
    now = utc_now()
    if row is None:
        row = StrategySource(
            strategy=built.name, instrument_id=instrument.id, timeframe=timeframe, created_by=actor, created_at=now
        )
        session.add(row)
    row.parameters = dict(built.params)
    row.position_fraction = position_fraction
    row.live = live
    row.enabled = True
    row.disabled_reason = None
    row.updated_at = now
    session.flush()
    append_audit(
        session,
        actor=actor,
        action=AuditAction.SETTING_CHANGED,
        subject=f"strategy_source:{row.id}",
        details={
            "enabled": True,
            "strategy": built.describe(),
            "symbol": instrument.symbol,
            "timeframe": timeframe,
            "position_fraction": position_fraction,
            "live": live,
        },
    )
    return row


def find_source(session: Session, source: int | str, symbol: str | None = None) -> StrategySource:
    """A source by id, or by strategy name (and symbol when the name is enabled on several)."""
    if isinstance(source, int) or str(source).isdigit():
        row = session.get(StrategySource, int(source))
        if row is None:
            raise SignalSourceError(f"no strategy source {source}")
        return row
    query = select(StrategySource).where(StrategySource.strategy == str(source))
    if symbol is not None:
        instrument = instrument_by_symbol(session, symbol)
        if instrument is None:
            raise SignalSourceError(f"no instrument {symbol!r} in the database")
        query = query.where(StrategySource.instrument_id == instrument.id)
    rows = list(session.scalars(query))
    if not rows:
        raise SignalSourceError(f"strategy {source} is not a signal source" + (f" on {symbol}" if symbol else ""))
    if len(rows) > 1:
        raise SignalSourceError(f"strategy {source} runs on {len(rows)} instruments/timeframes: give the source id")
    return rows[0]


def disable_source(session: Session, source: StrategySource, *, actor: str, reason: str | None = None) -> None:
    """Switch a source off (kept, with its history, so it can be switched on again)."""
    source.enabled = False
    source.disabled_reason = reason
    source.updated_at = utc_now()
    append_audit(
        session,
        actor=actor,
        action=AuditAction.SETTING_CHANGED,
        subject=f"strategy_source:{source.id}",
        details={"enabled": False, "strategy": source.strategy, "reason": reason},
    )


def list_sources(session: Session) -> list[SourceView]:
    """Every source, enabled first."""
    rows = session.execute(
        select(StrategySource, Instrument.symbol)
        .join(Instrument, Instrument.id == StrategySource.instrument_id)
        .order_by(StrategySource.enabled.desc(), StrategySource.strategy, Instrument.symbol)
    ).all()
    return [
        SourceView(
            id=row.id,
            strategy=row.strategy,
            symbol=symbol,
            timeframe=row.timeframe,
            parameters=dict(row.parameters),
            position_fraction=row.position_fraction,
            live=row.live,
            enabled=row.enabled,
            disabled_reason=row.disabled_reason,
            last_candle_at=row.last_candle_at,
            last_signal=row.last_signal,
            last_order_id=row.last_order_id,
        )
        for row, symbol in rows
    ]


# ---------------------------------------------------------------------------------------------


def run_signal_sources(
    database: Database,
    *,
    home: Path | None = None,
    now: datetime | None = None,
    settings: TradingSettings | None = None,
) -> list[Evaluation]:
    """Evaluate every enabled source on its newest closed candle (see the module docstring)."""
    if home is not None:
        from core.backtest.user_strategies import load_user_strategies

        catalog = load_user_strategies(home)
        for error in catalog.errors:
            logger.warning("Strategy file refused: %s", error)
    moment = ensure_utc(now) if now is not None else utc_now()
    ids = database.run(
        lambda session: list(session.scalars(select(StrategySource.id).where(StrategySource.enabled.is_(True))))
    )
    results: list[Evaluation] = []
    for source_id in ids:
        try:
            results.append(
                database.run(functools.partial(_evaluate, source_id=source_id, now=moment, settings=settings))
            )
        except StrategyError as error:
            results.append(database.run(functools.partial(_switch_off, source_id=source_id, error=error, now=moment)))
    return results


def _evaluate(session: Session, source_id: int, now: datetime, settings: TradingSettings | None) -> Evaluation:
    from core.backtest.service import load_bars

    source = session.get(StrategySource, source_id)
    assert source is not None
    instrument = session.get(Instrument, source.instrument_id)
    assert instrument is not None
    symbol = instrument.symbol
    strategy = build_strategy(source.strategy, dict(source.parameters))
    bar_length = timedelta(seconds=TIMEFRAME_SECONDS[source.timeframe])
    start = now - bar_length * (HISTORY_BARS + 1)
    try:
        bars = load_bars(session, symbol, source.timeframe, strategy, start=start, end=now - bar_length + _EPSILON)
    except PriceDataError as error:
        return Evaluation(source.id, source.strategy, symbol, f"skipped: {error}")
    newest = bars.index[-1].to_pydatetime()
    if source.last_candle_at is not None and newest <= ensure_utc(source.last_candle_at):
        return Evaluation(source.id, source.strategy, symbol, "no new candle")
    codes = strategy.decisions(bars)  # the whole window, checked; raises StrategyError on garbage
    code = int(codes[-1])
    signal = Signal(code) if code else None
    source.last_candle_at = newest
    source.last_signal = signal.name.lower() if signal is not None else "none"
    source.updated_at = utc_now()
    if signal is None:
        return Evaluation(source.id, source.strategy, symbol, "no signal")
    order, outcome = _act(session, source, instrument, strategy, signal, float(bars.close[-1]), settings)
    if order is not None:
        source.last_order_id = order.id
    return Evaluation(source.id, source.strategy, symbol, outcome, order.id if order is not None else None)


_EPSILON = timedelta(microseconds=1)  # ``end`` is exclusive: a candle opening exactly at now - bar is closed


def _act(
    session: Session,
    source: StrategySource,
    instrument: Instrument,
    strategy: Strategy,
    signal: Signal,
    close: float,
    settings: TradingSettings | None,
) -> tuple[Order | None, str]:
    from core.execution.accounting import asset_balance
    from core.execution.service import place_order
    from core.portfolio.models import Position

    config = load_trading_config(session, settings)
    trading = config.settings
    account = trading.live_account if source.live else trading.paper_account
    working = session.scalar(
        select(Order.id)
        .where(Order.account == account, Order.instrument_id == instrument.id, Order.status.in_(WORKING))
        .limit(1)
    )
    if working is not None:
        return None, f"ignored: order {working} on {instrument.symbol} is still working"
    position = session.get(Position, (account, instrument.id))
    held = position.quantity if position is not None else Decimal(0)
    if signal is Signal.BUY:
        if held > 0:
            return None, "ignored: buy while already holding"
        cash = asset_balance(session, account, instrument.quote)
        price = Decimal(repr(close))
        fee = config.paper_fees.taker
        quantity = (cash * source.position_fraction / (price * (1 + fee))).quantize(QUANTITY_STEP, rounding=ROUND_DOWN)
        if quantity <= 0:
            return None, f"ignored: no {instrument.quote} cash in {account}"
        request = OrderRequest(
            symbol=instrument.symbol,
            side=OrderSide.BUY,
            order_type=OrderType.MARKET,
            quantity=quantity,
            exits=_exits(strategy),
            live=source.live,
            live_confirmed=source.live,
        )
        exit_reason = None
    else:
        if held <= 0:
            return None, "ignored: sell while flat"
        request = OrderRequest(
            symbol=instrument.symbol,
            side=OrderSide.SELL,
            order_type=OrderType.MARKET,
            quantity=held,
            live=source.live,
            live_confirmed=source.live,
        )
        exit_reason = ExitReason.SIGNAL
    order = place_order(
        session, request, actor=f"{ACTOR}:{source.strategy}", exit_reason=exit_reason, settings=settings
    )
    return order, signal.name.lower()


def _exits(strategy: Strategy) -> AttachedExits:
    def spec(fraction: float | None) -> ExitSpec | None:
        return ExitSpec(ExitKind.PERCENT, Decimal(repr(fraction)) * 100) if fraction is not None else None

    own = strategy.exit_fractions()
    return AttachedExits(spec(own["stop_loss"]), spec(own["take_profit"]), spec(own["trailing_stop"]))


def _switch_off(session: Session, source_id: int, error: StrategyError, now: datetime) -> Evaluation:
    source = session.get(StrategySource, source_id)
    assert source is not None
    instrument = session.get(Instrument, source.instrument_id)
    symbol = instrument.symbol if instrument is not None else "?"
    reason = str(error)[:2000]
    disable_source(session, source, actor=ACTOR, reason=reason)
    raise_alert(
        session,
        kind=AlertKind.STRATEGY_FAILED,
        severity=AlertSeverity.WARNING,
        subject=f"strategy {source.strategy} on {symbol} {source.timeframe}",
        message=f"Switched off, no order placed: {reason}",
        dedupe_key=f"strategy_failed:{source.id}:{now.isoformat()}",
        details={"source_id": source.id, "strategy": source.strategy, "symbol": symbol},
        now=now,
    )
    logger.warning("Strategy source %d (%s on %s) switched off: %s", source.id, source.strategy, symbol, reason)
    return Evaluation(source.id, source.strategy, symbol, f"disabled: {reason}")
