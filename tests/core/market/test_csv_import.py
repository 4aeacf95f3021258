"""Candle CSVs as European spreadsheets write them (``;`` and decimal commas), and future candles."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select

from core.db.engine import Database
from core.market.csv_import import CsvFormatError, detect_delimiter, import_candle_csv, read_candle_csv
from core.market.models import Candle
from core.market.validation import REASON_FUTURE, validate_candles
from core.system.models import QuarantinedRecord
from core.timeutil import utc_now

# LibreOffice Calc / Excel with a German or Austrian locale: "CSV (Trennzeichen-getrennt)" writes
# ';' between fields and ',' as the decimal mark, '.' as the thousands separator.
EUROPEAN = (
    "Datum;Open;High;Low;Close;Volume\n"
    "2024-01-01 00:00;42.150,50;42.300,00;42.000,25;42.210,75;12,5\n"
    "2024-01-01 01:00;42.210,75;42.400,00;42.100,00;42.350,00;8,25\n"
    "2024-01-01 02:00;42.350,00;42.360,00;41.900,00;41.950,10;20\n"
)


def _write(tmp_path: Path, text: str, name: str = "candles.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_semicolons_and_decimal_commas_are_detected_and_read(tmp_path: Path) -> None:
    path = _write(tmp_path, EUROPEAN.replace("Datum", "Date"))
    assert detect_delimiter(path) == ";"
    frame = read_candle_csv(path)
    assert frame["open"].tolist() == [42150.5, 42210.75, 42350.0]
    assert frame["volume"].tolist() == [12.5, 8.25, 20.0]
    assert frame["ts"].iloc[0] == pd.Timestamp("2024-01-01 00:00", tz="UTC")


def test_tab_separated_file_with_day_first_dates(tmp_path: Path) -> None:
    text = "Date\tOpen\tHigh\tLow\tClose\tVolume\n31.01.2024 14:00\t1,5\t1,6\t1,4\t1,55\t100\n"
    frame = read_candle_csv(_write(tmp_path, text))
    assert frame["ts"].iloc[0] == pd.Timestamp("2024-01-31 14:00", tz="UTC")
    assert frame["close"].iloc[0] == 1.55


def test_given_delimiter_and_decimal_override_the_detection(tmp_path: Path) -> None:
    # Semicolons with decimal points: nothing in the numbers has a comma, so the point is kept.
    text = "timestamp;open;high;low;close;volume\n2024-01-01T00:00:00Z;1.5;1.6;1.4;1.55;1000\n"
    path = _write(tmp_path, text)
    assert read_candle_csv(path)["volume"].iloc[0] == 1000.0
    # Told that the decimal mark is a comma, "1.5" is no number of that file: refused, naming the cell.
    with pytest.raises(CsvFormatError, match=r"line 2, column 'open': '1.5' is not a number"):
        read_candle_csv(path, delimiter=";", decimal=",")


def test_a_decimal_comma_cannot_be_the_delimiter_and_unknown_options_are_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "timestamp,open,high,low,close,volume\n2024-01-01,1,1,1,1,1\n")
    with pytest.raises(CsvFormatError, match="decimal comma needs another delimiter"):
        read_candle_csv(path, decimal=",")
    with pytest.raises(CsvFormatError, match="unknown delimiter"):
        read_candle_csv(path, delimiter="|")
    with pytest.raises(CsvFormatError, match="unknown decimal mark"):
        read_candle_csv(path, decimal="'")


def test_badly_grouped_thousands_are_refused_not_guessed(tmp_path: Path) -> None:
    text = "Date;Open;High;Low;Close;Volume\n2024-01-01;42.15,5;42.300,00;42.000,25;42.210,75;12,5\n"
    with pytest.raises(CsvFormatError, match=r"line 2, column 'Open': '42.15,5' is not a number"):
        read_candle_csv(_write(tmp_path, text))


def test_a_ragged_semicolon_row_names_its_line(tmp_path: Path) -> None:
    text = EUROPEAN.replace("Datum", "Date") + "2024-01-01 03:00;1;2;0,5\n"
    with pytest.raises(CsvFormatError, match="line 5: expected 6 fields, found 4"):
        read_candle_csv(_write(tmp_path, text))


def test_european_file_is_stored_once(database: Database, make_instrument: Callable[..., int], tmp_path: Path) -> None:
    make_instrument(database, "BTC/EUR")
    path = _write(tmp_path, EUROPEAN.replace("Datum", "Date"))
    report = import_candle_csv(database, path, symbol="BTC/EUR", timeframe="1h")
    assert report.result.inserted == 3 and report.result.quarantined == 0
    again = import_candle_csv(database, path, symbol="BTC/EUR", timeframe="1h")
    assert again.result.inserted == 0 and again.result.unchanged == 3
    with database.session() as session:
        closes = sorted(float(value) for value in session.scalars(select(Candle.close)))
        assert closes == [41950.1, 42210.75, 42350.0]


def test_a_candle_stamped_in_the_future_is_refused_with_its_reason() -> None:
    now = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
    rows = pd.DataFrame(
        [
            (now - timedelta(hours=1), 10.0, 11.0, 9.0, 10.0, 1.0),
            (now, 10.0, 11.0, 9.0, 10.0, 1.0),  # the candle in progress: fine
            (now + timedelta(hours=1), 10.0, 11.0, 9.0, 10.0, 1.0),
            (datetime(2099, 1, 1, tzinfo=UTC), 10.0, 11.0, 9.0, 10.0, 1.0),
        ],
        columns=["ts", "open", "high", "low", "close", "volume"],
    )
    result = validate_candles(rows, "1h", now=now)
    assert len(result.valid) == 2
    assert result.rejected["reason"].tolist() == [REASON_FUTURE, REASON_FUTURE]


def test_a_2099_candle_in_a_csv_goes_to_quarantine(
    database: Database, make_instrument: Callable[..., int], tmp_path: Path
) -> None:
    make_instrument(database, "BTC/EUR")
    past = (utc_now() - timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    text = (
        "timestamp,open,high,low,close,volume\n"
        f"{past.isoformat()},10,11,9,10.5,3\n"
        "2099-01-01T00:00:00Z,10,11,9,10.5,3\n"
    )
    report = import_candle_csv(database, _write(tmp_path, text), symbol="BTC/EUR", timeframe="1h")
    assert report.result.inserted == 1 and report.result.quarantined == 1
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(Candle)) == 1
        quarantined = session.scalars(select(QuarantinedRecord)).all()
        assert [row.reason for row in quarantined] == [REASON_FUTURE]
        assert quarantined[0].kind == "candle" and "2099" in (quarantined[0].record_key or "")
