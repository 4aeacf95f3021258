"""The columnar (pyarrow) CSV path gives what the text path gives, and hands every doubtful file back to it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from core.market.csv_import import CsvFormatError, _read_text, read_candle_columns, read_candle_csv, read_columnar
from tests.shared_data import shared_data_path

REAL_FILES = ("ADA_BTC_5m.csv", "ETH_BTC_5m.csv", "GOOG_1d.csv", "ORCL_1d.csv", "SPY_1d.csv")
HEADER = "timestamp,open,high,low,close,volume\n"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "candles.csv"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("name", REAL_FILES)
def test_every_real_variant_takes_the_columnar_path_and_gives_the_text_paths_values(name: str) -> None:
    path = shared_data_path("ohlcv", name)
    columnar = read_columnar(path, ",")
    assert columnar is not None
    pd.testing.assert_frame_equal(columnar.to_frame(), _read_text(path, ",", None), check_exact=True)


@pytest.mark.parametrize(
    "text",
    [
        "time,open,high,low,close,volume\n1704067200000,1,2,0.5,1.5,10\n1704070800000,1.5,2,1,1.8,11\n",  # epoch ms
        HEADER + "1704067200,1,2,0.5,1.5,10\n1704070800,1.5,2,1,1.8,11\n",  # epoch seconds
        HEADER + "2024-01-01T01:00:00+01:00,1,2,0.5,1.5,10\n2024-01-01T01:00:00Z,1,2,0.5,1.5,10\n",  # offsets
        HEADER + "2024-01-01T00:00:00+0100,1,2,0.5,1.5,10\n",
        HEADER + "2024-01-01 00:00,1,2,0.5,1.5,10\n2024-01-01 01:00,1,2,0.5,1.5,10\n",  # naive means UTC
        HEADER + "2024-01-01T00:00:00.123456Z,1,2,0.5,1.5,10\n",
        HEADER + "2024-01-02,1,2,0.5,1.5,10\n2024-01-01,3,4,0.5,1.5,10\n2024-01-01,5,6,0.5,1.5,10\n",  # unsorted
        HEADER + "2024-01-01,1,2,nan,1.5,10\n2024-01-02,1,2,NaN,inf,-inf\n",  # explicit NaN / inf
        HEADER + "2024-01-01,1e2,2E3,.5,5.,+1\n",
        HEADER + '"2024-01-01","1","2","0.5","1.5","10"\n',  # quoted cells
        HEADER + "2024-01-01,1,2,0.5,1.5,10\n\n2024-01-02,1,2,0.5,1.5,10\n",  # a blank line
        "\ufeff" + HEADER + "2024-01-01,1,2,0.5,1.5,10\n",  # a byte-order mark
        (HEADER + "2024-01-01,1,2,0.5,1.5,10\n").replace("\n", "\r\n"),
        "timestamp;open;high;low;close;volume\n2024-01-01T00:00:00Z;1.5;1.6;1.4;1.55;1000\n",
        "Date,OPEN,High,low,Close,Adj Close,VOLUME\n2024-01-01,1,2,0.5,1.5,1.4,10\n",
        "timestamp,open,high,low,close,volume,close\n2024-01-01,1,2,0.5,1.5,10,9\n",  # the first 'close' counts
    ],
)
def test_the_columnar_path_reads_these_like_the_text_path(tmp_path: Path, text: str) -> None:
    path = _write(tmp_path, text)
    separator = ";" if text.startswith("timestamp;") else ","
    columnar = read_columnar(path, separator)
    assert columnar is not None
    pd.testing.assert_frame_equal(columnar.to_frame(), _read_text(path, separator, None), check_exact=True)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (HEADER + "2024-01-01,1,2,0.5,1.5\n", "line 2: expected 6 fields, found 5"),
        (HEADER + "2024-01-01,1,2,,1.5,10\n", "line 2, column 'low': empty value"),
        (HEADER + "2024-01-01,0x10,2,0.5,1.5,10\n", "line 2, column 'open': '0x10' is not a number"),
        (HEADER + "2024-01-01,1,2,0.5,1.5,10\n2024-01-02,1,2,-,1.5,10\n", "line 3, column 'low': '-' is not a number"),
        (HEADER + "12345-01-01,1,2,0.5,1.5,10\n", "line 2, column 'timestamp': cannot read '12345-01-01' as a time"),
        (HEADER + ",1,2,0.5,1.5,10\n", "line 2, column 'timestamp': empty time"),
        (HEADER, "no data rows after the header"),
        ("timestamp,open,high,close\n2024-01-01,1,2,1\n", "missing column"),
    ],
)
def test_a_malformed_file_goes_to_the_text_path_and_its_message(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, text)
    assert read_columnar(path, ",") is None
    with pytest.raises(CsvFormatError, match=message):
        read_candle_columns(path)


def test_mixed_naive_and_offset_times_and_decimal_commas_are_read_by_the_text_path(tmp_path: Path) -> None:
    mixed = _write(tmp_path, HEADER + "2024-01-01T00:00:00Z,1,2,0.5,1.5,10\n2024-01-01 01:00,1,2,0.5,1.5,10\n")
    assert read_columnar(mixed, ",") is None
    assert read_candle_csv(mixed)["ts"].tolist() == [
        pd.Timestamp("2024-01-01 00:00", tz="UTC"),
        pd.Timestamp("2024-01-01 01:00", tz="UTC"),
    ]
    european = _write(tmp_path, "Date;Open;High;Low;Close;Volume\n2024-01-01;1,5;1,6;1,4;1,55;10\n")
    assert read_columnar(european, ";") is None
    assert read_candle_csv(european)["close"].tolist() == [1.55]


def test_a_large_file_is_read_into_float_arrays_with_a_utc_index(tmp_path: Path) -> None:
    rows = 50_000
    index = pd.date_range("2024-01-01", periods=rows, freq="1min", tz="UTC")
    frame = pd.DataFrame(
        {"open": 1.0, "high": 2.0, "low": 0.5, "close": [1.0 + i / rows for i in range(rows)], "volume": 3.0},
        index=index,
    )
    frame.index = frame.index.strftime("%Y-%m-%dT%H:%M:%SZ")
    path = tmp_path / "big.csv"
    frame.rename_axis("timestamp").to_csv(path)
    columns = read_candle_columns(path)
    assert len(columns) == rows
    assert columns.ts.equals(index) or (columns.ts == index).all()
    assert str(columns.ts.dtype) == "datetime64[us, UTC]"
    assert columns.values["close"].dtype.name == "float64"
    assert columns.values["close"].tolist() == frame["close"].tolist()
