"""A small hand-made ledger with known answers, shared by the portfolio, chart and page tests.

Account "paper" (all EUR fees):
  deposit 10,000 EUR
  buy 0.25 BTC for 5,000 (fee 10)            -> BTC 0.25, cost 5,010
  buy 0.25 BTC for 6,000 (fee 6)             -> BTC 0.5,  cost 11,016
  sell 0.25 BTC for 7,000 (fee 7)            -> cost out 5,508; realised 7,000 - 5,508 - 7 = 1,485
  buy 2 ETH for 3,000 (no fee)               -> ETH 2, cost 3,000
  cash 10,000 - 5,010 - 6,006 + 6,993 - 3,000 = 2,977
  at BTC 30,000 / ETH 2,000: BTC 0.25 -> 7,500 (unrealised 1,992); ETH 2 -> 4,000 (unrealised 1,000)
  equity 2,977 + 11,500 = 14,477

Account "bitpanda":
  deposit 1,000 EUR; fee-only entry of 2 EUR (realised -2)
  transfer in 1 ETH worth 1,500 (cost 1,500)
  withdraw 0.125 ETH with a fee of 0.0625 ETH (cost 187.5 leaves; fee cost 93.75 realised)
  staking reward 0.0625 ETH (cost 0)
  -> ETH 0.875, cost 1,218.75, value 1,750, unrealised 531.25; realised -95.75; cash 998

Account "external": only a cached position, 0.5 BTC at 20,000 with realised 100
  -> value 15,000, unrealised 5,000.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from core.db.engine import Database
from core.market.models import AssetClass, Candle, Instrument
from core.portfolio.models import LedgerEntry, LedgerKind, LedgerOrigin, Position

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
D = Decimal


def add_instruments(session: Session) -> dict[str, Instrument]:
    instruments = {
        "BTC/EUR": Instrument(
            symbol="BTC/EUR",
            base="BTC",
            quote="EUR",
            asset_class=AssetClass.CRYPTO,
            name="Bitcoin",
            default_source="demo",
        ),
        "ETH/EUR": Instrument(
            symbol="ETH/EUR",
            base="ETH",
            quote="EUR",
            asset_class=AssetClass.CRYPTO,
            name="Ethereum",
            default_source="demo",
        ),
    }
    session.add_all(instruments.values())
    session.flush()
    return instruments


def candle(
    instrument: Instrument, ts: datetime, close: str, *, source: str = "demo", timeframe: str = "1h", volume: str = "1"
) -> Candle:
    price = D(close)
    return Candle(
        instrument_id=instrument.id,
        source=source,
        timeframe=timeframe,
        ts=ts,
        open=price,
        high=price + 1,
        low=price - 1,
        close=price,
        volume=D(volume),
    )


def entry(account: str, ts: datetime, kind: LedgerKind, external_id: str, **fields: object) -> LedgerEntry:
    return LedgerEntry(ts=ts, account=account, kind=kind, origin=LedgerOrigin.MANUAL, external_id=external_id, **fields)


def seed_handmade(database: Database) -> dict[str, int]:
    """Write the ledger above plus prices (BTC 30,000, ETH 2,000 newest); return instrument ids."""
    with database.session() as session:
        instruments = add_instruments(session)
        btc, eth = instruments["BTC/EUR"], instruments["ETH/EUR"]
        session.add_all(
            [
                candle(btc, NOW - timedelta(hours=2), "29000"),
                candle(btc, NOW - timedelta(hours=1), "30000"),
                candle(eth, NOW - timedelta(hours=1), "2000"),
                candle(eth, NOW - timedelta(days=3), "1900", source="other", timeframe="1d"),
            ]
        )
        t0 = NOW - timedelta(days=30)
        paper = [
            entry(
                "paper",
                t0,
                LedgerKind.DEPOSIT,
                "p1",
                received_asset="EUR",
                received_quantity=D("10000"),
                value_eur=D("10000"),
            ),
            entry(
                "paper",
                t0 + timedelta(days=1),
                LedgerKind.BUY,
                "p2",
                sent_asset="EUR",
                sent_quantity=D("5000"),
                received_asset="BTC",
                received_quantity=D("0.25"),
                fee_asset="EUR",
                fee_quantity=D("10"),
                value_eur=D("5000"),
                instrument_id=btc.id,
            ),
            entry(
                "paper",
                t0 + timedelta(days=2),
                LedgerKind.BUY,
                "p3",
                sent_asset="EUR",
                sent_quantity=D("6000"),
                received_asset="BTC",
                received_quantity=D("0.25"),
                fee_asset="EUR",
                fee_quantity=D("6"),
                value_eur=D("6000"),
                instrument_id=btc.id,
            ),
            entry(
                "paper",
                t0 + timedelta(days=3),
                LedgerKind.SELL,
                "p4",
                sent_asset="BTC",
                sent_quantity=D("0.25"),
                received_asset="EUR",
                received_quantity=D("7000"),
                fee_asset="EUR",
                fee_quantity=D("7"),
                value_eur=D("7000"),
                instrument_id=btc.id,
            ),
            entry(
                "paper",
                t0 + timedelta(days=4),
                LedgerKind.BUY,
                "p5",
                sent_asset="EUR",
                sent_quantity=D("3000"),
                received_asset="ETH",
                received_quantity=D("2"),
                value_eur=D("3000"),
                instrument_id=eth.id,
            ),
        ]
        bitpanda = [
            entry(
                "bitpanda",
                t0,
                LedgerKind.DEPOSIT,
                "b1",
                received_asset="EUR",
                received_quantity=D("1000"),
                value_eur=D("1000"),
            ),
            entry("bitpanda", t0 + timedelta(hours=1), LedgerKind.FEE, "b2", fee_asset="EUR", fee_quantity=D("2")),
            entry(
                "bitpanda",
                t0 + timedelta(days=1),
                LedgerKind.TRANSFER_IN,
                "b3",
                received_asset="ETH",
                received_quantity=D("1"),
                value_eur=D("1500"),
            ),
            entry(
                "bitpanda",
                t0 + timedelta(days=2),
                LedgerKind.WITHDRAWAL,
                "b4",
                sent_asset="ETH",
                sent_quantity=D("0.125"),
                fee_asset="ETH",
                fee_quantity=D("0.0625"),
            ),
            entry(
                "bitpanda",
                t0 + timedelta(days=3),
                LedgerKind.REWARD,
                "b5",
                received_asset="ETH",
                received_quantity=D("0.0625"),
                value_eur=D("100"),
            ),
        ]
        session.add_all(paper + bitpanda)
        session.add(
            Position(
                account="external",
                instrument_id=btc.id,
                quantity=D("0.5"),
                average_price_eur=D("20000"),
                realised_pnl_eur=D("100"),
                opened_at=t0,
                updated_at=t0,
            )
        )
        return {"BTC/EUR": btc.id, "ETH/EUR": eth.id}
