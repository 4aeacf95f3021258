from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
from typer.testing import CliRunner

from app.cli import cli
from core.db.engine import Database
from core.market.models import AssetClass, Candle, Instrument

runner = CliRunner()


def seed_candles(database: Database) -> None:
    with database.session() as session:
        instrument = Instrument(symbol="BTC/EUR", base="BTC", quote="EUR", asset_class=AssetClass.CRYPTO)
        session.add(instrument)
        session.flush()
        for hour in range(5):
            price = Decimal("60000.25") + hour
            session.add(
                Candle(
                    instrument_id=instrument.id,
                    source="test",
                    timeframe="1h",
                    ts=datetime(2026, 1, 1, hour, tzinfo=UTC),
                    open=price,
                    high=price,
                    low=price,
                    close=price,
                    volume=Decimal("1.5"),
                )
            )


def test_export_candles_as_csv_for_a_time_range(configured_sqlite: Database, tmp_path: Path) -> None:
    seed_candles(configured_sqlite)
    target = tmp_path / "out.csv"
    result = runner.invoke(
        cli, ["export", "candles", "--since", "2026-01-01T01:00Z", "--until", "2026-01-01T04:00Z", "-o", str(target)]
    )
    assert result.exit_code == 0, result.output
    assert "Exported 3 rows of candles" in result.output
    frame = pd.read_csv(target, dtype=str)
    assert list(frame["ts"]) == ["2026-01-01T01:00:00+00:00", "2026-01-01T02:00:00+00:00", "2026-01-01T03:00:00+00:00"]
    assert Decimal(frame["close"].iloc[0]) == Decimal("60001.25")


def test_export_parquet_keeps_decimals_and_utc(configured_sqlite: Database, tmp_path: Path) -> None:
    seed_candles(configured_sqlite)
    target = tmp_path / "candles.parquet"
    result = runner.invoke(cli, ["export", "candles", "--format", "parquet", "--output", str(target)])
    assert result.exit_code == 0, result.output
    table = pq.read_table(target)
    assert table.num_rows == 5
    assert str(table.schema.field("close").type) == "decimal128(38, 18)"
    assert str(table.schema.field("ts").type) == "timestamp[us, tz=UTC]"
    assert table.column("close")[4].as_py() == Decimal("60004.25")


def test_export_refuses_unknown_table_and_bad_dates(configured_sqlite: Database, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["export", "users", "-o", str(tmp_path / "u.csv")])
    assert result.exit_code == 1
    assert "cannot be exported" in result.output
    assert not (tmp_path / "u.csv").exists()
    result = runner.invoke(cli, ["export", "candles", "--since", "yesterday-ish"])
    assert result.exit_code == 1 and "invalid date" in result.output
    result = runner.invoke(
        cli, ["export", "candles", "--since", "2026-02-01", "--until", "2026-01-01", "-o", str(tmp_path / "c.csv")]
    )
    assert result.exit_code == 1 and "--since must be before --until" in result.output
    assert not (tmp_path / "c.csv").exists()


def test_export_empty_range_writes_header_only(configured_sqlite: Database, tmp_path: Path) -> None:
    target = tmp_path / "news.csv"
    result = runner.invoke(cli, ["export", "news_items", "-o", str(target)])
    assert result.exit_code == 0, result.output
    assert target.read_text().splitlines()[0].startswith("id,source,source_id,kind,title")
