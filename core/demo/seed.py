"""Seed demo data: instruments, a year of hourly candles, a paper account, the demo login.

Only the seeding commands (``konsens demo``, ``konsens up`` on an empty database) import this
module; everything else asks :mod:`core.demo.state` whether a database holds demo data.

Idempotent: every write is an upsert or keyed by a fixed external id, so seeding twice stores
nothing twice. Other areas add their own demo data by providing a module
``core.<area>.demo_data`` with ``ORDER: int`` and ``seed_demo_data(session, context)``;
they are run after the base seed, in ``ORDER``.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any

import bcrypt
import pandas as pd
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

import core
from core.db.engine import Database
from core.db.upsert import bulk_upsert
from core.demo.state import DEMO_ACCOUNT as DEMO_ACCOUNT
from core.demo.state import SETTING_DEMO_SEED_FINISHED_AT as SETTING_DEMO_SEED_FINISHED_AT
from core.demo.state import SETTING_DEMO_SEEDED_AT as SETTING_DEMO_SEEDED_AT
from core.demo.state import SETTING_DEMO_WALK_EPOCH as SETTING_DEMO_WALK_EPOCH
from core.demo.state import DemoContext as DemoContext
from core.demo.state import database_is_empty as database_is_empty
from core.demo.state import demo_walk_epoch
from core.demo.state import has_demo_data as has_demo_data
from core.execution.enums import OrderSide
from core.market.demo_source import DEMO_INSTRUMENTS, DEMO_SOURCE, anchored_epoch, demo_hourly_candles
from core.market.models import AssetClass, Candle, Instrument
from core.portfolio.models import LedgerEntry, LedgerKind, LedgerOrigin, PortfolioSnapshot, Position
from core.portfolio.position_math import PositionState
from core.security.demo_guard import DemoModeError, RealAct, real_data_present
from core.system.models import UserAccount
from core.system.settings_store import get_setting, get_utc_time_setting, set_setting
from core.timeutil import utc_now
from core.values import QUANTITY_STEP

logger = logging.getLogger(__name__)

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo"
DEMO_STARTING_CASH_EUR = Decimal("50000")
DEMO_HISTORY_DAYS = 400
TIMEFRAME = "1h"

# (days before now, symbol, side, EUR amount or fraction of the position to sell)
_DEMO_TRADES: tuple[tuple[int, str, OrderSide, Decimal], ...] = (
    (360, "BTC/EUR", OrderSide.BUY, Decimal("12000")),
    (355, "ETH/EUR", OrderSide.BUY, Decimal("6000")),
    (340, "AAPL", OrderSide.BUY, Decimal("4000")),
    (300, "SOL/EUR", OrderSide.BUY, Decimal("3000")),
    (260, "ETH/EUR", OrderSide.SELL, Decimal("0.5")),
    (230, "BTC/EUR", OrderSide.BUY, Decimal("5000")),
    (200, "SOL/EUR", OrderSide.SELL, Decimal("1")),
    (170, "ETH/EUR", OrderSide.BUY, Decimal("4000")),
    (120, "AAPL", OrderSide.SELL, Decimal("0.4")),
    (90, "SOL/EUR", OrderSide.BUY, Decimal("2500")),
    (45, "BTC/EUR", OrderSide.SELL, Decimal("0.25")),
    (20, "ETH/EUR", OrderSide.BUY, Decimal("2000")),
    (6, "SOL/EUR", OrderSide.SELL, Decimal("0.3")),
)
DEMO_FEE_RATE = Decimal("0.0015")


def seed_demo(database: Database, *, now: datetime | None = None) -> DemoContext:
    """Seed the demo data (idempotent) and return what was seeded; refuse beside real data (``DemoModeError``)."""
    with database.session() as session:
        if real_data_present(session):
            raise DemoModeError(RealAct.SEED_DEMO)
        now = demo_anchor(session, now)
        epoch = demo_epoch_for(session, now)
        start = now - timedelta(days=DEMO_HISTORY_DAYS)
        instruments = _seed_instruments(session)
        candles = {}
        for spec in DEMO_INSTRUMENTS:
            frame = demo_hourly_candles(spec.symbol, start, now, epoch=epoch)
            candles[spec.symbol] = frame
            _store_candles(session, instruments[spec.symbol].id, frame)
        context = DemoContext(now=now, instruments=instruments, candles=candles, epoch=epoch)
        _seed_paper_account(session, context)
        _seed_demo_user(session)
        set_setting(session, SETTING_DEMO_SEEDED_AT, now.isoformat())
        set_setting(session, SETTING_DEMO_WALK_EPOCH, epoch.isoformat())
    for seeder in _area_seeders():
        with database.session() as session:
            logger.info("Seeding demo data: %s", seeder.__name__)
            seeder.seed_demo_data(session, context)
    with database.session() as session:
        set_setting(session, SETTING_DEMO_SEED_FINISHED_AT, now.isoformat())  # its anchor (the row has the time)
    return context


def demo_anchor(session: Session, now: datetime | None = None) -> datetime:
    """Return the hour the demo data is anchored to: ``now`` if given, else the first seed's anchor.

    Demo rows are keyed by times derived from the anchor (the risk exits, the candles, the
    snapshots), so a seed in a later hour without an explicit ``now`` reuses the stored anchor
    (``demo.seeded_at``) instead of the wall clock and writes nothing twice. Without a (readable)
    stored anchor, the current hour.
    """
    if now is None:
        now = get_utc_time_setting(session, SETTING_DEMO_SEEDED_AT, "demo anchor")
    return (now or utc_now()).replace(minute=0, second=0, microsecond=0)


def demo_epoch_for(session: Session, anchor: datetime) -> datetime:
    """Return the walk epoch of a seed at ``anchor``: the stored one when this database was seeded before.

    A first seed starts the walk ``DEMO_WALK_LEAD`` before its anchor (``anchored_epoch``), so the
    demo market looks the same relative to the seed on every day it is seeded; a later seed keeps
    the stored epoch (and a database seeded before epochs were stored keeps ``DEMO_EPOCH``), so the
    candles it writes are the ones already there.
    """
    if has_demo_data(session) or get_setting(session, SETTING_DEMO_WALK_EPOCH) is not None:
        return demo_walk_epoch(session)
    return anchored_epoch(anchor)


def _area_seeders() -> list[Any]:
    modules = []
    for info in pkgutil.walk_packages(core.__path__, prefix="core."):
        if info.name.endswith(".demo_data"):
            modules.append(importlib.import_module(info.name))
    return sorted(modules, key=lambda module: getattr(module, "ORDER", 100))


def _seed_instruments(session: Session) -> dict[str, Instrument]:
    instruments: dict[str, Instrument] = {}
    for spec in DEMO_INSTRUMENTS:
        instrument = session.scalar(select(Instrument).where(Instrument.symbol == spec.symbol))
        if instrument is None:
            instrument = Instrument(
                symbol=spec.symbol,
                base=spec.base,
                quote=spec.quote,
                asset_class=AssetClass(spec.asset_class),
                name=spec.name,
                exchange_symbol=spec.symbol,
                default_source=DEMO_SOURCE,
                tracked=True,
                is_demo=True,
            )
            session.add(instrument)
            session.flush()
        instruments[spec.symbol] = instrument
    return instruments


def _store_candles(session: Session, instrument_id: int, frame: pd.DataFrame) -> None:
    rows = [
        {
            "instrument_id": instrument_id,
            "source": DEMO_SOURCE,
            "timeframe": TIMEFRAME,
            "ts": ts.to_pydatetime(),
            "open": Decimal(str(o)),
            "high": Decimal(str(h)),
            "low": Decimal(str(low)),
            "close": Decimal(str(c)),
            "volume": Decimal(str(v)),
        }
        for ts, o, h, low, c, v in frame[["ts", "open", "high", "low", "close", "volume"]].itertuples(
            index=False, name=None
        )
    ]
    bulk_upsert(
        session,
        Candle.__table__,  # type: ignore[arg-type]
        rows,
        conflict_columns=["instrument_id", "source", "timeframe", "ts"],
        update_columns=["open", "high", "low", "close", "volume"],
    )


def _price_at(frame: pd.DataFrame, when: datetime) -> tuple[datetime, Decimal]:
    """Return the first candle at or after ``when``: its time and open price."""
    later = frame[frame["ts"] >= when]
    row = later.iloc[0] if len(later) else frame.iloc[-1]
    return row["ts"].to_pydatetime(), Decimal(str(row["open"]))


def _seed_paper_account(session: Session, context: DemoContext) -> None:
    """Write the demo paper account's ledger, positions and daily snapshots (replaced each seed)."""
    account = context.account
    start = context.now - timedelta(days=DEMO_HISTORY_DAYS - 5)
    entries: list[LedgerEntry] = [
        LedgerEntry(
            ts=start,
            account=account,
            kind=LedgerKind.DEPOSIT,
            origin=LedgerOrigin.DEMO,
            external_id="demo-deposit-1",
            received_asset="EUR",
            received_quantity=DEMO_STARTING_CASH_EUR,
            value_eur=DEMO_STARTING_CASH_EUR,
            description="Demo paper account: starting cash",
        )
    ]
    states: dict[str, PositionState] = {}
    opened: dict[str, datetime] = {}
    for index, (days_ago, symbol, side, amount) in enumerate(_DEMO_TRADES):
        instrument = context.instruments[symbol]
        ts, price = _price_at(context.candles[symbol], context.now - timedelta(days=days_ago, hours=index * 7))
        state = states.get(symbol, PositionState())
        if side is OrderSide.BUY:
            quantity = (amount / price).quantize(QUANTITY_STEP, rounding=ROUND_DOWN)
            opened.setdefault(symbol, ts)
        else:
            quantity = (state.quantity * amount).quantize(QUANTITY_STEP, rounding=ROUND_DOWN)
        notional = (quantity * price).quantize(Decimal("0.01"))
        fee = (notional * DEMO_FEE_RATE).quantize(Decimal("0.01"))
        states[symbol] = state.apply_fill(side, quantity, price, fee)
        is_buy = side is OrderSide.BUY
        entries.append(
            LedgerEntry(
                ts=ts,
                account=account,
                kind=LedgerKind.BUY if is_buy else LedgerKind.SELL,
                origin=LedgerOrigin.DEMO,
                external_id=f"demo-trade-{index + 1}",
                sent_asset="EUR" if is_buy else instrument.base,
                sent_quantity=notional if is_buy else quantity,
                received_asset=instrument.base if is_buy else "EUR",
                received_quantity=quantity if is_buy else notional,
                fee_asset="EUR",
                fee_quantity=fee,
                value_eur=notional,
                instrument_id=instrument.id,
                asset_class=instrument.asset_class.value,
                description=f"Demo {side.value} {symbol}",
            )
        )
    existing = set(session.scalars(select(LedgerEntry.external_id).where(LedgerEntry.origin == LedgerOrigin.DEMO)))
    session.add_all(entry for entry in entries if entry.external_id not in existing)
    session.execute(delete(Position).where(Position.account == account))
    for symbol, state in states.items():
        if state.quantity > 0 or state.realised_pnl:
            session.add(
                Position(
                    account=account,
                    instrument_id=context.instruments[symbol].id,
                    quantity=state.quantity,
                    average_price_eur=state.average_price,
                    realised_pnl_eur=state.realised_pnl,
                    opened_at=opened.get(symbol),
                    updated_at=context.now,
                )
            )
    session.flush()
    _seed_daily_snapshots(session, context, entries)


def _seed_daily_snapshots(session: Session, context: DemoContext, entries: list[LedgerEntry]) -> None:
    closes = {
        symbol: frame.set_index("ts")["close"].resample("1D").last().ffill()
        for symbol, frame in context.candles.items()
    }
    base_to_symbol = {instrument.base: symbol for symbol, instrument in context.instruments.items()}
    days = pd.date_range(entries[0].ts.replace(hour=23, minute=0), context.now, freq="1D", tz="UTC")
    ordered = sorted(entries, key=lambda entry: entry.ts)
    balances: dict[str, Decimal] = {}
    cursor = 0
    rows = []
    for day in days:
        day_end = day.to_pydatetime()
        while cursor < len(ordered) and ordered[cursor].ts <= day_end:
            entry = ordered[cursor]
            if entry.received_asset:
                balances[entry.received_asset] = balances.get(entry.received_asset, Decimal(0)) + (
                    entry.received_quantity or Decimal(0)
                )
            if entry.sent_asset:
                balances[entry.sent_asset] = balances.get(entry.sent_asset, Decimal(0)) - (
                    entry.sent_quantity or Decimal(0)
                )
            if entry.fee_asset:
                balances[entry.fee_asset] = balances.get(entry.fee_asset, Decimal(0)) - (
                    entry.fee_quantity or Decimal(0)
                )
            cursor += 1
        cash = balances.get("EUR", Decimal(0))
        positions_value = Decimal(0)
        for asset, quantity in balances.items():
            if asset == "EUR" or not quantity:
                continue
            series = closes[base_to_symbol[asset]]
            price = series.asof(day) if len(series) else float("nan")
            if pd.notna(price):
                positions_value += quantity * Decimal(str(price))
        rows.append(
            {
                "account": context.account,
                "ts": day_end,
                "equity_eur": (cash + positions_value).quantize(Decimal("0.01")),
                "cash_eur": cash.quantize(Decimal("0.01")),
                "positions_value_eur": positions_value.quantize(Decimal("0.01")),
                "is_demo": True,
            }
        )
    bulk_upsert(
        session,
        PortfolioSnapshot.__table__,  # type: ignore[arg-type]
        rows,
        conflict_columns=["account", "ts"],
        update_columns=["equity_eur", "cash_eur", "positions_value_eur", "is_demo"],
    )


def _seed_demo_user(session: Session) -> None:
    if session.get(UserAccount, DEMO_USERNAME) is not None:
        return
    session.add(
        UserAccount(
            username=DEMO_USERNAME,
            display_name="Demo trader",
            email="demo@konsens.invalid",
            password_hash=bcrypt.hashpw(DEMO_PASSWORD.encode(), bcrypt.gensalt(rounds=12)).decode(),
            is_demo=True,
        )
    )
