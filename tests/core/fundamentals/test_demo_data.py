"""The demo seed gives every demo instrument fundamentals computed from the demo market (source ``demo``)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import func, select

from core.db.engine import Database
from core.demo.seed import seed_demo
from core.fundamentals.demo_data import DEMO_UNITS
from core.fundamentals.models import AssetFundamentals, FundamentalsSource
from core.fundamentals.service import latest_fundamentals
from core.market.models import Candle, Instrument

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def test_each_demo_instrument_gets_fundamentals_from_its_seeded_candles_once(sqlite_database: Database) -> None:
    seed_demo(sqlite_database, now=NOW)
    seed_demo(sqlite_database, now=NOW)  # again: nothing is written twice
    with sqlite_database.session() as session:
        assert session.scalar(select(func.count()).select_from(AssetFundamentals)) == len(DEMO_UNITS)
        for symbol, units in DEMO_UNITS.items():
            instrument = session.scalar(select(Instrument).where(Instrument.symbol == symbol))
            assert instrument is not None
            view = latest_fundamentals(session, instrument.id)
            assert view is not None and view.source is FundamentalsSource.DEMO
            assert view.as_of == NOW and view.fetched_at == NOW
            closes = session.execute(
                select(Candle.close, Candle.high).where(Candle.instrument_id == instrument.id).order_by(Candle.ts)
            ).all()
            last = closes[-1][0]
            metrics = view.metrics
            assert metrics["price"] == str(Decimal(last).quantize(Decimal("0.01")))
            count = units.get("shares") or units["circulating"]
            assert abs(Decimal(metrics["market_cap"]) - Decimal(last) * count) <= Decimal("0.01")  # to the cent
            if "shares" in units:
                assert metrics["kind"] == "stock" and metrics["sector"] == "Technology"
                assert 0 <= metrics["fifty_two_week_position"] <= 1
            else:
                assert metrics["kind"] == "crypto" and metrics["name"].endswith("(demo)")
                highest = max(Decimal(high) for _, high in closes)
                assert Decimal(metrics["all_time_high"]) == highest.quantize(Decimal("0.01"))
                assert metrics["all_time_high_change_pct"] <= 0
                assert 0 <= metrics["dilution"] < 1
