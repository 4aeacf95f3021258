"""Historical replay: stored candles through the real paper executor and worker loop, at a simulated clock.

Where a backtest simulates fills itself, a replay drives the live path on history:

    strategy signal → ``place_order`` (orders table, audit) → executor worker loop
    (the caller passes ``workers.executor.build_worker``: claim, pre-trade risk checks of
    ``core.risk.guard``, paper broker on the fill model) → fills → ledger, positions → exit plans
    → post-trade hooks

The worker factory is an argument, not an import, because ``core`` never imports ``workers``.

It runs in a scratch database (``target``), never in the account it reads from: the instrument
is copied there with the risk and trading settings of the source, and the paper account gets
the starting cash. Then, bar by bar, under ``core.timeutil.simulated_clock``:

1. at the bar's open time the candle is inserted (the "market" learns it) and one worker pass
   runs: a market order placed at the previous close fills at this open; exit plans watch it;
2. just before the bar's close (close − 1 µs) the strategy sees the bar (the same ``on_bar`` a
   backtest calls); a signal becomes a paper market order, and one worker pass checks and
   submits it (it rests until the next candle, as the paper broker waits for the next price).

The paper broker's price staleness window is set to 0 in the scratch database, so a market order
always waits for the next open, exactly like the backtest's "signal at close, fill at next open".
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.backtest.engine import Trade
from core.backtest.series import PriceDataError, PriceSeries
from core.backtest.strategy import Signal, Strategy, check_signal, guarded
from core.db.engine import Database
from core.db.migrate import upgrade_database
from core.execution.enums import ExitReason, OrderSide, OrderType
from core.execution.models import Fill, Order, OrderStatus
from core.execution.orders import AttachedExits, ExitKind, ExitSpec, OrderRequest
from core.execution.service import deposit_paper_cash, place_order
from core.execution.settings import TradingSettings, load_trading_config
from core.market.models import Candle, Instrument
from core.market.query import TIMEFRAME_SECONDS, instrument_by_symbol
from core.portfolio.models import Position
from core.system.models import SettingValue
from core.system.settings_store import set_setting
from core.timeutil import simulated_clock
from core.values import QUANTITY_STEP


class OnceRunnable(Protocol):
    """A worker loop that can run one pass (``workers.runtime.WorkerLoop``)."""

    def run(self, *, once: bool = False) -> int: ...


class ExecutorWorkerFactory(Protocol):
    """Builds the executor's worker loop over a database (``workers.executor.build_worker``)."""

    def __call__(self, database: Database, *, interval_seconds: float | None = None) -> OnceRunnable: ...


logger = logging.getLogger(__name__)

ACTOR = "replay"
ONE_MICROSECOND = timedelta(microseconds=1)
COPIED_SETTING_PREFIXES = ("risk.", "trading.")

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ReplayConfig:
    """Sizing and exits of the replayed strategy (fees and slippage are the paper broker's settings)."""

    initial_cash: Decimal = Decimal("10000")
    position_fraction: Decimal = Decimal("0.45")  # within the default risk limit of 50 % per instrument
    stop_loss_pct: Decimal | None = None  # percent of the entry price, e.g. 3 = 3 %
    take_profit_pct: Decimal | None = None
    trailing_stop_pct: Decimal | None = None

    def exits(self) -> AttachedExits:
        def spec(value: Decimal | None) -> ExitSpec | None:
            return ExitSpec(ExitKind.PERCENT, value) if value is not None else None

        return AttachedExits(spec(self.stop_loss_pct), spec(self.take_profit_pct), spec(self.trailing_stop_pct))


@dataclass
class ReplayResult:
    """What the live path did on history."""

    target_url: str
    strategy: str
    parameters: dict[str, int | float]
    symbol: str
    timeframe: str
    candles: int
    signals: int
    trades: list[Trade]
    orders_by_status: dict[str, int]
    rejections: list[dict[str, str]]  # rule and reason of each refused order
    final_cash: Decimal
    final_position: Decimal
    seconds: float
    fee_rate: Decimal
    slippage: Decimal
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {
            "target": self.target_url,
            "strategy": self.strategy,
            "parameters": self.parameters,
            "symbol": self.symbol,
            "timeframe": self.timeframe,
            "candles": self.candles,
            "signals": self.signals,
            "orders_by_status": self.orders_by_status,
            "rejections": self.rejections,
            "trades": [trade.to_dict() for trade in self.trades],
            "final_cash": str(self.final_cash),
            "final_position": str(self.final_position),
            "fee_rate": str(self.fee_rate),
            "slippage": str(self.slippage),
            "seconds": self.seconds,
        }


class ReplayClock:
    """The simulated time, moved by the replay."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def default_target(home: Path) -> str:
    """A fresh SQLite file under ``$KONSENS_HOME/replay/``."""
    folder = home / "replay"
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return f"sqlite:///{folder / f'replay-{stamp}-{time.perf_counter_ns() % 100000}.db'}"


def stored_candles(
    session: Session, symbol: str, timeframe: str, start: datetime | None, end: datetime | None
) -> tuple[Instrument, list[Candle]]:
    """Return the instrument and its stored candles of one timeframe (source with the most candles)."""
    instrument = instrument_by_symbol(session, symbol)
    if instrument is None:
        raise PriceDataError(f"no instrument {symbol!r} in the database")
    from core.market.query import _preferred_source

    source = _preferred_source(session, instrument.id, timeframe)
    if source is None:
        raise PriceDataError(f"{instrument.symbol}: no stored {timeframe} candles (a replay needs stored candles)")
    query = select(Candle).where(
        Candle.instrument_id == instrument.id, Candle.timeframe == timeframe, Candle.source == source
    )
    if start is not None:
        query = query.where(Candle.ts >= start)
    if end is not None:
        query = query.where(Candle.ts < end)
    candles = list(session.scalars(query.order_by(Candle.ts)))
    if len(candles) < 2:
        raise PriceDataError(f"{instrument.symbol}: fewer than two {timeframe} candles in that range")
    session.expunge_all()
    return instrument, candles


def _prepare_target(
    source: Database, target: Database, instrument: Instrument, config: ReplayConfig, start: datetime
) -> int:
    upgrade_database(target)
    with source.session() as session:
        copied_settings = {
            row.key: row.value
            for row in session.scalars(select(SettingValue))
            if row.key.startswith(COPIED_SETTING_PREFIXES)
        }
    with target.session() as session:
        if session.scalar(select(Order.id).limit(1)) is not None:
            raise ValueError("the replay target database already holds orders: use a fresh one")
        copy = instrument_by_symbol(session, instrument.symbol)
        if copy is None:
            copy = Instrument(
                symbol=instrument.symbol,
                base=instrument.base,
                quote=instrument.quote,
                asset_class=instrument.asset_class,
                name=instrument.name,
                exchange_symbol=instrument.exchange_symbol,
                default_source=instrument.default_source,
                tracked=True,
                is_demo=instrument.is_demo,
            )
            session.add(copy)
            session.flush()
        for key, value in copied_settings.items():
            set_setting(session, key, value)
        # A market order must wait for the next candle's open, as in a backtest.
        set_setting(session, "trading.paper_price_max_age_seconds", 0)
        with simulated_clock(lambda: start):
            deposit_paper_cash(session, config.initial_cash, actor=ACTOR)
        return copy.id


def replay(
    source: Database,
    target: Database,
    strategy: Strategy,
    symbol: str,
    timeframe: str = "1h",
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    config: ReplayConfig | None = None,
    progress: Progress | None = None,
    executor_worker: ExecutorWorkerFactory,
) -> ReplayResult:
    """Replay ``strategy`` over stored candles of ``symbol`` through the paper executor in ``target``.

    ``executor_worker`` builds the executor's worker loop over ``target``
    (``workers.executor.build_worker``); it runs once per step.
    """
    config = config or ReplayConfig()
    if timeframe not in TIMEFRAME_SECONDS:
        raise PriceDataError(f"unknown timeframe {timeframe!r}")
    began = time.perf_counter()
    with source.session() as session:
        instrument, candles = stored_candles(session, symbol, timeframe, start, end)
    bars = _series(instrument, candles, timeframe)
    bar_length = timedelta(seconds=TIMEFRAME_SECONDS[timeframe])
    first_open = candles[0].ts
    target_instrument_id = _prepare_target(source, target, instrument, config, first_open - ONE_MICROSECOND)
    settings = TradingSettings()
    with target.session() as session:
        trading = load_trading_config(session, settings)
    fee_rate = trading.paper_fees.taker
    account = settings.paper_account
    clock = ReplayClock(first_open)
    worker = executor_worker(target, interval_seconds=0.0)
    guarded(strategy, "reset", strategy.reset)
    lines = strategy.compute_lines(bars)
    exits = config.exits()
    signals = 0
    with simulated_clock(clock):
        for bar, candle in zip(strategy.bar_stream(bars, lines), candles, strict=True):
            clock.now = candle.ts
            with target.session() as session:
                session.add(_copy_candle(candle, target_instrument_id))
            worker.run(once=True)
            clock.now = candle.ts + bar_length - ONE_MICROSECOND
            signal = check_signal(
                strategy, guarded(strategy, f"on_bar at candle {bar.index}", strategy.on_bar, bar), bar
            )
            if signal is not None:
                signals += 1
                if bar.index < len(candles) - 1 and _act(
                    target, signal, symbol, account, bar.close, fee_rate, config, exits
                ):
                    worker.run(once=True)
            if progress is not None:
                progress(bar.index + 1, len(candles))
    with target.session() as session:
        result = _collect(session, target, strategy, symbol, timeframe, bars, account, fee_rate, trading.paper_slippage)
    result.signals = signals
    result.seconds = time.perf_counter() - began
    logger.info(
        "Replayed %s on %s %s: %d candles, %d trades in %.1f s",
        strategy.describe(),
        symbol,
        timeframe,
        len(candles),
        len(result.trades),
        result.seconds,
    )
    return result


def _series(instrument: Instrument, candles: list[Candle], timeframe: str) -> PriceSeries:
    import pandas as pd

    frame = pd.DataFrame(
        {
            "open": [float(candle.open) for candle in candles],
            "high": [float(candle.high) for candle in candles],
            "low": [float(candle.low) for candle in candles],
            "close": [float(candle.close) for candle in candles],
            "volume": [float(candle.volume) for candle in candles],
        },
        index=pd.DatetimeIndex([candle.ts for candle in candles], name="ts"),
    )
    return PriceSeries.from_frame(frame, label=instrument.symbol, timeframe=timeframe, instrument_id=instrument.id)


def _copy_candle(candle: Candle, instrument_id: int) -> Candle:
    return Candle(
        instrument_id=instrument_id,
        source=candle.source,
        timeframe=candle.timeframe,
        ts=candle.ts,
        open=candle.open,
        high=candle.high,
        low=candle.low,
        close=candle.close,
        volume=candle.volume,
    )


def _working_orders(session: Session, account: str) -> bool:
    return (
        session.scalar(
            select(Order.id)
            .where(
                Order.account == account, Order.status.in_([OrderStatus.NEW, OrderStatus.OPEN, OrderStatus.SUBMITTING])
            )
            .limit(1)
        )
        is not None
    )


def _act(
    target: Database,
    signal: Signal,
    symbol: str,
    account: str,
    close: float,
    fee_rate: Decimal,
    config: ReplayConfig,
    exits: AttachedExits,
) -> bool:
    """Turn a signal into a paper market order (as a strategy runner would); return True if one was placed."""
    from core.execution.accounting import asset_balance

    with target.session() as session:
        instrument = instrument_by_symbol(session, symbol)
        assert instrument is not None
        position = session.get(Position, (account, instrument.id))
        held = position.quantity if position is not None else Decimal(0)
        if _working_orders(session, account):
            return False
        if signal is Signal.BUY and held == 0:
            cash = asset_balance(session, account, instrument.quote)
            price = Decimal(repr(close))
            quantity = (cash * config.position_fraction / (price * (1 + fee_rate))).quantize(
                QUANTITY_STEP, rounding=ROUND_DOWN
            )
            if quantity <= 0:
                return False
            request = OrderRequest(
                symbol=symbol, side=OrderSide.BUY, order_type=OrderType.MARKET, quantity=quantity, exits=exits
            )
        elif signal is Signal.SELL and held > 0:
            request = OrderRequest(symbol=symbol, side=OrderSide.SELL, order_type=OrderType.MARKET, quantity=held)
        else:
            return False
        place_order(session, request, actor=ACTOR, exit_reason=ExitReason.SIGNAL if signal is Signal.SELL else None)
    return True


def _collect(
    session: Session,
    target: Database,
    strategy: Strategy,
    symbol: str,
    timeframe: str,
    bars: PriceSeries,
    account: str,
    fee_rate: Decimal,
    slippage: Decimal,
) -> ReplayResult:
    from core.execution.accounting import asset_balance

    instrument = instrument_by_symbol(session, symbol)
    assert instrument is not None
    orders = list(session.scalars(select(Order).where(Order.account == account).order_by(Order.id)))
    by_status: dict[str, int] = {}
    for order in orders:
        by_status[order.status.value] = by_status.get(order.status.value, 0) + 1
    rejections = [
        {
            "rule": order.reject_rule or "",
            "reason": order.reject_reason or "",
            "created_at": order.created_at.isoformat(),
        }
        for order in orders
        if order.status in (OrderStatus.DENIED, OrderStatus.REJECTED)
    ]
    fills = session.execute(
        select(Fill, Order)
        .join(Order, Order.id == Fill.order_id)
        .where(Order.account == account)
        .order_by(Fill.ts, Fill.id)
    ).all()
    positions = {timestamp: number for number, timestamp in enumerate(bars.index)}
    trades: list[Trade] = []
    entry: Fill | None = None
    for fill, order in fills:
        at = positions.get(_as_timestamp(fill.ts))
        if at is None:
            raise ValueError(f"fill at {fill.ts} is not at a candle's open")
        if fill.side is OrderSide.BUY:
            entry = fill
            entry_index = at
            continue
        if entry is None:
            continue
        trades.append(
            Trade(
                OrderSide.BUY,
                entry_index,
                entry.ts,
                float(entry.price),
                float(entry.quantity),
                float(entry.fee_eur),
                at,
                fill.ts,
                float(fill.price),
                float(fill.fee_eur),
                order.exit_reason or ExitReason.SIGNAL,
            )
        )
        entry = None
    if entry is not None:
        trades.append(
            Trade(OrderSide.BUY, entry_index, entry.ts, float(entry.price), float(entry.quantity), float(entry.fee_eur))
        )
    position = session.get(Position, (account, instrument.id))
    return ReplayResult(
        target_url=target.url if hasattr(target, "url") else "",
        strategy=strategy.name,
        parameters=dict(strategy.params),
        symbol=symbol,
        timeframe=timeframe,
        candles=len(bars),
        signals=0,
        trades=trades,
        orders_by_status=by_status,
        rejections=rejections,
        final_cash=asset_balance(session, account, instrument.quote),
        final_position=position.quantity if position is not None else Decimal(0),
        seconds=0.0,
        fee_rate=fee_rate,
        slippage=slippage,
    )


def _as_timestamp(value: datetime) -> Any:
    import pandas as pd

    return pd.Timestamp(value)
