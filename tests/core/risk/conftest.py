"""Factories for risk tests: an account with cash, positions at known prices, and snapshots."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from core.db.engine import Database
from core.execution.enums import OrderSide, OrderType
from core.execution.pretrade import OrderIntent
from core.market.models import AssetClass, Candle, Instrument
from core.portfolio.models import LedgerEntry, LedgerKind, LedgerOrigin, PortfolioSnapshot, Position

# The trading tests' market and settings fixtures, for the executor integration tests.
from tests.core.execution.conftest import market, trading_settings  # noqa: F401

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)  # 13:00 in Vienna
ACCOUNT = "paper"


@dataclass
class RiskWorld:
    """A database with BTC/EUR and AAPL, an account and helpers to change it."""

    database: Database
    btc_id: int
    aapl_id: int

    def intent(
        self,
        notional: str,
        *,
        instrument: str = "BTC/EUR",
        side: OrderSide = OrderSide.BUY,
        reduces: bool = False,
        ts: datetime = NOW,
        client_order_id: str | None = None,
        account: str = ACCOUNT,
    ) -> OrderIntent:
        instrument_id = self.btc_id if instrument == "BTC/EUR" else self.aapl_id
        price = Decimal("50000") if instrument == "BTC/EUR" else Decimal("200")
        amount = Decimal(notional)
        return OrderIntent(
            client_order_id=client_order_id or str(uuid.uuid4()),
            account=account,
            instrument_id=instrument_id,
            symbol=instrument,
            side=side,
            order_type=OrderType.MARKET,
            quantity=amount / price,
            reference_price_eur=price,
            notional_eur=amount,
            is_live=False,
            reduces_exposure=reduces,
            ts=ts,
        )

    def add_snapshot(self, session: Session, ts: datetime, equity: str, account: str = ACCOUNT) -> None:
        session.merge(
            PortfolioSnapshot(
                account=account,
                ts=ts,
                equity_eur=Decimal(equity),
                cash_eur=Decimal(0),
                positions_value_eur=Decimal(0),
            )
        )

    def set_price(self, session: Session, instrument_id: int, price: str, ts: datetime = NOW) -> None:
        value = Decimal(price)
        session.merge(
            Candle(
                instrument_id=instrument_id,
                source="test",
                timeframe="1h",
                ts=ts,
                open=value,
                high=value,
                low=value,
                close=value,
                volume=Decimal(1),
            )
        )


def build_world(database: Database) -> RiskWorld:
    """Cash € 60,000 less € 10,000 spent on 0.2 BTC at 50,000 = equity € 60,000 with BTC at 50,000."""
    with database.session() as session:
        btc = Instrument(symbol="BTC/EUR", base="BTC", quote="EUR", asset_class=AssetClass.CRYPTO, name="Bitcoin")
        aapl = Instrument(symbol="AAPL", base="AAPL", quote="USD", asset_class=AssetClass.STOCK, name="Apple")
        session.add_all([btc, aapl])
        session.flush()
        world = RiskWorld(database, btc.id, aapl.id)
        session.add_all(
            [
                LedgerEntry(
                    ts=NOW - timedelta(days=30),
                    account=ACCOUNT,
                    kind=LedgerKind.DEPOSIT,
                    origin=LedgerOrigin.MANUAL,
                    external_id="deposit-1",
                    received_asset="EUR",
                    received_quantity=Decimal("60000"),
                    value_eur=Decimal("60000"),
                ),
                LedgerEntry(
                    ts=NOW - timedelta(days=20),
                    account=ACCOUNT,
                    kind=LedgerKind.BUY,
                    origin=LedgerOrigin.MANUAL,
                    external_id="buy-1",
                    sent_asset="EUR",
                    sent_quantity=Decimal("10000"),
                    received_asset="BTC",
                    received_quantity=Decimal("0.2"),
                    value_eur=Decimal("10000"),
                    instrument_id=btc.id,
                ),
                Position(
                    account=ACCOUNT,
                    instrument_id=btc.id,
                    quantity=Decimal("0.2"),
                    average_price_eur=Decimal("50000"),
                    realised_pnl_eur=Decimal(0),
                    opened_at=NOW - timedelta(days=20),
                    updated_at=NOW - timedelta(days=20),
                ),
            ]
        )
        world.set_price(session, btc.id, "50000", NOW - timedelta(hours=1))
        world.set_price(session, aapl.id, "200", NOW - timedelta(hours=1))
        for days in range(1, 11):
            world.add_snapshot(session, NOW.replace(hour=0) - timedelta(days=days) + timedelta(hours=22), "60000")
    return world


@pytest.fixture
def world(database: Database) -> RiskWorld:
    return build_world(database)


@pytest.fixture
def sqlite_world(sqlite_database: Database) -> RiskWorld:
    return build_world(sqlite_database)
