"""Demo fundamentals: one record per demo instrument, so the Charts page's Asset panel has content offline.

Every figure is computed from the seeded demo market (the last close, the last 24 hours' volume,
the highs and lows of the seeded history) and a fixed unit count per asset (``DEMO_UNITS``); no
provider is asked and nothing pretends to come from one: the source is ``demo`` and the names say
"demo". Idempotent: keyed by instrument, source and the seed's anchor like every fundamentals
row, and written only where missing. Removed with the demo instruments (``ON DELETE CASCADE``).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pandas as pd
from sqlalchemy.orm import Session

from core.demo.state import DemoContext
from core.fundamentals.models import FundamentalsRecord, FundamentalsSource
from core.fundamentals.service import store_fundamentals
from core.values import round_eur

ORDER = 70  # after the AI history (its snapshots are older than the anchor anyway) and the risk seed

# Units in circulation (and the cap, for crypto) behind the demo market caps: round numbers of the
# real assets' order, stated here because they are the only inputs not taken from the demo market.
DEMO_UNITS: dict[str, dict[str, Any]] = {
    "BTC/EUR": {"circulating": 19_800_000, "max": 21_000_000, "categories": ["Layer 1 (L1)", "Proof of Work (PoW)"]},
    "ETH/EUR": {"circulating": 120_000_000, "max": None, "categories": ["Layer 1 (L1)", "Smart Contract Platform"]},
    "SOL/EUR": {"circulating": 480_000_000, "total": 590_000_000, "max": None, "categories": ["Layer 1 (L1)"]},
    "AAPL": {"shares": 15_000_000_000, "sector": "Technology", "industry": "Consumer Electronics"},
}


def _money(value: float) -> str:
    """An EUR figure as a decimal string of two places (the providers' money is a decimal string too)."""
    return str(round_eur(Decimal(str(value))))


def crypto_metrics(name: str, frame: pd.DataFrame, units: dict[str, Any]) -> dict[str, Any]:
    """The crypto panel's figures from the demo candles (``core.fundamentals.sources.coingecko_metrics``'s keys)."""
    last = float(frame["close"].iloc[-1])
    day = frame[frame["ts"] > frame["ts"].iloc[-1] - timedelta(hours=24)]
    volume = float((day["volume"] * day["close"]).sum())
    circulating = float(units["circulating"])
    total = float(units.get("total") or units.get("max") or circulating)
    ceiling = float(units["max"]) if units.get("max") else total
    market_cap = last * circulating
    high = float(frame["high"].max())
    return {
        "kind": "crypto",
        "name": f"{name} (demo)",
        "currency": "EUR",
        "price": _money(last),
        "market_cap": _money(market_cap),
        "fully_diluted_valuation": _money(last * ceiling),
        "volume_24h": _money(volume),
        "volume_to_market_cap": volume / market_cap,
        "circulating_supply": circulating,
        "total_supply": total,
        "max_supply": float(units["max"]) if units.get("max") else None,
        "circulating_share": circulating / ceiling,
        "dilution": 1 - circulating / ceiling,
        "all_time_high": _money(high),  # over the seeded history: the demo market's whole life
        "all_time_high_change_pct": (last / high - 1) * 100,
        "categories": list(units["categories"]),
    }


def stock_metrics(name: str, frame: pd.DataFrame, units: dict[str, Any]) -> dict[str, Any]:
    """The stock panel's figures from the demo candles (``core.fundamentals.sources.yahoo_metrics``'s keys)."""
    last = float(frame["close"].iloc[-1])
    year = frame[frame["ts"] > frame["ts"].iloc[-1] - timedelta(days=365)]
    high, low = float(year["high"].max()), float(year["low"].min())
    return {
        "kind": "stock",
        "name": name,
        "currency": "EUR",
        "sector": units["sector"],
        "industry": units["industry"],
        "price": _money(last),
        "market_cap": _money(last * units["shares"]),
        "fifty_two_week_high": _money(high),
        "fifty_two_week_low": _money(low),
        "fifty_two_week_position": (last - low) / (high - low) if high > low else None,
    }


def seed_demo_data(session: Session, context: DemoContext) -> None:
    """Add the demo fundamentals of each demo instrument at the seed's anchor, where not there yet."""
    for symbol, units in DEMO_UNITS.items():
        instrument = context.instruments.get(symbol)
        frame = context.candles.get(symbol)
        if instrument is None or frame is None or frame.empty:
            continue
        name = instrument.name or symbol
        metrics = stock_metrics(name, frame, units) if "shares" in units else crypto_metrics(name, frame, units)
        record = FundamentalsRecord(
            FundamentalsSource.DEMO,
            symbol,
            context.now,
            {key: value for key, value in metrics.items() if value is not None},
        )
        store_fundamentals(session, instrument_id=instrument.id, record=record, fetched_at=context.now)
