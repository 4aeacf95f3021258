"""Fixtures of the trading tests: a market with two instruments, quotes, a funded paper account."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from core.db.engine import Database
from core.execution.executor import Executor
from core.execution.service import deposit_paper_cash
from core.execution.settings import TradingSettings
from core.market.models import AssetClass, Instrument, Quote
from core.timeutil import utc_now
from tests.core.execution.stubs import AllowEveryOrder


def add_quote(session: Session, instrument_id: int, price: str, ts: datetime | None = None) -> datetime:
    ts = ts or utc_now()
    session.add(Quote(instrument_id=instrument_id, source="test", ts=ts, last=Decimal(price)))
    return ts


@pytest.fixture
def market(database: Database) -> dict[str, int]:
    """Instruments BTC/EUR and ETH/EUR, a quote for each 2 s ago, 10 000 EUR in the paper account."""
    with database.session() as session:
        btc = Instrument(symbol="BTC/EUR", base="BTC", quote="EUR", asset_class=AssetClass.CRYPTO)
        eth = Instrument(symbol="ETH/EUR", base="ETH", quote="EUR", asset_class=AssetClass.CRYPTO)
        session.add_all([btc, eth])
        session.flush()
        add_quote(session, btc.id, "50000", utc_now() - timedelta(seconds=2))
        add_quote(session, eth.id, "2000", utc_now() - timedelta(seconds=2))
        deposit_paper_cash(session, Decimal("10000"), actor="test")
        return {"BTC/EUR": btc.id, "ETH/EUR": eth.id}


@pytest.fixture
def trading_settings() -> TradingSettings:
    return TradingSettings(paper_slippage=Decimal("0.001"), executor_pass_seconds=0.2, paper_price_max_age_seconds=60)


@pytest.fixture
def make_executor(database: Database, trading_settings: TradingSettings) -> Callable[..., Executor]:
    def factory(**kwargs: object) -> Executor:
        return Executor(database, settings=trading_settings, checks=[AllowEveryOrder()], hooks=[], **kwargs)  # type: ignore[arg-type]

    return factory
