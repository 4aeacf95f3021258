"""``konsens import candles``, ``backfill``, ``gaps`` and ``instruments`` end to end on a configured SQLite database."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import func, select
from typer.testing import CliRunner
from werkzeug import Request, Response

from app.cli import cli
from core.config import get_settings
from core.db.engine import Database
from core.market.models import Candle, Instrument
from core.system.models import QuarantinedRecord
from tests.core.market.test_ccxt_source import serve_markets
from tests.shared_data import SharedFolder

DATA = SharedFolder("ohlcv")  # the shared real-world files: skipped if missing, failed under CI
REAL_FILES = [
    ("ETH_BTC_5m.csv", "ETH/BTC", "5m", 5760),
    ("ADA_BTC_5m.csv", "ADA/BTC", "5m", 5720),
    ("SPY_1d.csv", "SPY", "1d", 5241),
    ("GOOG_1d.csv", "GOOG", "1d", 2148),
    ("ORCL_1d.csv", "ORCL", "1d", 5036),
]

runner = CliRunner()


def invoke(*arguments: str) -> tuple[int, str]:
    result = runner.invoke(cli, list(arguments))
    return result.exit_code, result.output


def count(database: Database, model: type) -> int:
    with database.session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.mark.parametrize(("file_name", "symbol", "timeframe", "rows"), REAL_FILES)
def test_real_files_import_once_and_reimport_stores_nothing_twice(
    configured_sqlite: Database, file_name: str, symbol: str, timeframe: str, rows: int
) -> None:
    path = str(DATA / file_name)
    code, output = invoke("import", "candles", path, "--symbol", symbol, "--timeframe", timeframe, "--create")
    assert code == 0, output
    assert f"Imported {rows} rows of {symbol} {timeframe}" in output
    assert f"{rows} new, 0 updated, 0 unchanged, 0 quarantined" in output
    assert count(configured_sqlite, Candle) == rows
    code, output = invoke("import", "candles", path, "--symbol", symbol, "--timeframe", timeframe)
    assert code == 0, output
    assert f"0 new, 0 updated, {rows} unchanged" in output
    assert count(configured_sqlite, Candle) == rows
    with configured_sqlite.session() as session:
        instrument = session.scalar(select(Instrument).where(Instrument.symbol == symbol))
        assert instrument is not None
        assert instrument.tracked is False
        assert instrument.asset_class.value == ("crypto" if "/" in symbol else "stock")


def test_imported_orcl_prices_are_the_raw_prices_not_adjusted(configured_sqlite: Database) -> None:
    code, _ = invoke(
        "import", "candles", str(DATA / "ORCL_1d.csv"), "--symbol", "ORCL", "--timeframe", "1d", "--create"
    )
    assert code == 0
    with configured_sqlite.session() as session:
        first = session.scalar(select(Candle).order_by(Candle.ts).limit(1))
    assert first is not None
    assert first.ts == datetime(1995, 1, 3, tzinfo=UTC)
    assert float(first.close) == pytest.approx(2.117284)


MALFORMED = [
    (
        "missing_column.csv",
        "timestamp,open,high,low,volume\n2024-01-01T00:00:00Z,1,2,0.5,10\n",
        "missing column(s) close",
    ),
    (
        "bad_number.csv",
        "Date,Open,High,Low,Close,Volume\n2024-01-01,1,2,0.5,1.5,10\n2024-01-02,1,2,abc,1.5,10\n",
        "line 3, column 'Low': 'abc' is not a number",
    ),
    (
        "bad_time.csv",
        "timestamp,open,high,low,close,volume\n2024-01-01T00:00:00Z,1,2,0.5,1.5,10\n2024-13-45,1,2,0.5,1.5,10\n",
        "line 3, column 'timestamp': cannot read '2024-13-45' as a time",
    ),
    (
        "ragged.csv",
        "date,open,high,low,close,volume\n2024-01-01,1,2,0.5,1.5,10\n2024-01-02,1,2,0.5,1.5,10,99\n",
        "line 3",
    ),
    (
        "empty_value.csv",
        "date,open,high,low,close,volume\n2024-01-01,1,2,0.5,,10\n",
        "line 2, column 'close': empty value",
    ),
    ("no_time.csv", "when,open,high,low,close,volume\n2024-01-01,1,2,0.5,1.5,10\n", "no time column"),
    ("header_only.csv", "date,open,high,low,close,volume\n", "no data rows"),
    ("empty.csv", "", "empty"),
]


@pytest.mark.parametrize(("file_name", "content", "message"), MALFORMED)
def test_malformed_files_fail_with_one_clear_message_and_store_nothing(
    configured_sqlite: Database, tmp_path: Path, file_name: str, content: str, message: str
) -> None:
    path = tmp_path / file_name
    path.write_text(content)
    code, output = invoke("import", "candles", str(path), "--symbol", "BTC/EUR", "--timeframe", "1d", "--create")
    assert code == 1
    assert message in output
    assert "Traceback" not in output
    assert output.strip().count("\n") == 0  # one line
    assert count(configured_sqlite, Candle) == 0
    assert count(configured_sqlite, Instrument) == 0


def test_invalid_rows_are_quarantined_and_the_rest_imported(configured_sqlite: Database, tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    path.write_text(
        "timestamp,open,high,low,close,volume\n"
        "2024-01-01T00:00:00Z,10,11,9,10.5,1\n"
        "2024-01-01T01:00:00Z,10,9,11,10.5,1\n"  # high < low
        "2024-01-01T02:07:00Z,10,11,9,10.5,1\n"  # off the 1h grid
        "2024-01-01T03:00:00Z,NaN,11,9,10.5,1\n"
        "2024-01-01T04:00:00Z,10,11,9,10.5,-1\n"
        "2024-01-01T05:00:00+01:00,10,11,9,10.5,1\n"  # 04:00 UTC: a conflicting duplicate
    )
    code, output = invoke("import", "candles", str(path), "--symbol", "btc/eur", "--timeframe", "1h", "--create")
    assert code == 0, output
    assert "1 new, 0 updated, 0 unchanged, 5 quarantined" in output
    with configured_sqlite.session() as session:
        reasons = sorted(session.scalars(select(QuarantinedRecord.reason)))
    assert reasons == sorted(
        [
            "high below low",
            "timestamp not on the 1h grid",
            "missing or non-finite value",
            "negative volume",
            "duplicate timestamp",
        ]
    )
    code, output = invoke("import", "candles", str(path), "--symbol", "BTC/EUR", "--timeframe", "1h")
    assert code == 0
    assert count(configured_sqlite, QuarantinedRecord) == 5


def test_unknown_symbol_and_wrong_timeframe_are_refused(configured_sqlite: Database) -> None:
    path = str(DATA / "GOOG_1d.csv")
    code, output = invoke("import", "candles", path, "--symbol", "GOOG", "--timeframe", "1d")
    assert code == 1
    assert "unknown instrument 'GOOG'" in output
    assert "--create" in output
    code, output = invoke("import", "candles", path, "--symbol", "GOOG", "--timeframe", "7m", "--create")
    assert code == 1
    assert "unknown timeframe '7m'" in output
    assert count(configured_sqlite, Candle) == 0


def test_instruments_add_list_update_remove(configured_sqlite: Database) -> None:
    code, output = invoke("instruments", "add", "btc/eur", "--coingecko-id", "bitcoin")
    assert code == 0, output
    assert "Added BTC/EUR (source ccxt:onetrading)" in output
    code, output = invoke("instruments", "add", "SAP", "--yahoo-symbol", "SAP.DE", "--asset-class", "stock")
    assert code == 0, output
    code, output = invoke("instruments", "add", "BTC/EUR")
    assert code == 1
    assert "already exists" in output
    code, output = invoke("instruments", "add", "ETH/EUR", "--source", "nowhere")
    assert code == 1
    assert "unknown data source 'nowhere'" in output
    code, output = invoke("instruments", "update", "SAP", "--source", "coingecko", "--untrack")
    assert code == 0, output
    code, output = invoke("instruments", "list", "--json")
    rows = {row["symbol"]: row for row in json.loads(output)}
    assert rows["BTC/EUR"]["coingecko_id"] == "bitcoin"
    assert rows["BTC/EUR"]["default_source"] == "ccxt:onetrading"
    assert rows["SAP"]["yahoo_symbol"] == "SAP.DE"
    assert (rows["SAP"]["default_source"], rows["SAP"]["tracked"]) == ("coingecko", False)
    code, output = invoke("instruments", "remove", "BTC/EUR")
    assert (code, output.strip()) == (0, "BTC/EUR untracked.")
    code, output = invoke("instruments", "remove", "SAP", "--delete")
    assert (code, output.strip()) == (0, "SAP deleted.")
    code, output = invoke("instruments", "remove", "NOPE")
    assert code == 1
    assert "unknown instrument 'NOPE'" in output
    code, output = invoke("instruments", "list")
    assert "BTC/EUR" in output
    assert "SAP" not in output


def one_trading_candles(request: Request) -> Response:
    """Answer One Trading's candlesticks endpoint with hourly candles for the requested window."""
    start = datetime.fromisoformat(request.args["from"].replace("Z", "+00:00"))
    end = datetime.fromisoformat(request.args["to"].replace("Z", "+00:00"))
    candles = []
    moment = start
    while moment < end:
        closing = moment + timedelta(hours=1) - timedelta(milliseconds=1)
        price = 50_000 + (moment.timestamp() // 3600) % 100
        candles.append(
            {
                "instrument_code": "BTC_EUR",
                "granularity": {"unit": "HOURS", "period": 1},
                "open": str(price),
                "high": str(price + 5),
                "low": str(price - 5),
                "close": str(price + 1),
                "total_amount": "1.5",
                "volume": "75000",
                "time": closing.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
                "last_sequence": 1,
            }
        )
        moment += timedelta(hours=1)
    return Response(json.dumps({"candlesticks": candles}), content_type="application/json")


def test_backfill_pages_through_the_exchange_limit(
    configured_sqlite: Database, httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    serve_markets(httpserver)  # One Trading's currencies and its BTC_EUR instrument
    httpserver.expect_request("/fast/v1/candlesticks/BTC_EUR").respond_with_handler(one_trading_candles)
    monkeypatch.setenv("KONSENS_MARKET_CCXT_API_URL", httpserver.url_for("/fast").rstrip("/"))
    get_settings.cache_clear()
    assert invoke("instruments", "add", "BTC/EUR")[0] == 0
    arguments = ("backfill", "BTC/EUR", "--timeframe", "1h", "--since", "2024-01-01", "--until", "2024-05-01")
    code, output = invoke(*arguments)
    assert code == 0, output
    hours = int((datetime(2024, 5, 1, tzinfo=UTC) - datetime(2024, 1, 1, tzinfo=UTC)).total_seconds() // 3600)
    assert f"in 2 request(s): {hours} new" in output  # 2904 hours in pages of 1500
    assert count(configured_sqlite, Candle) == hours
    code, output = invoke(*arguments)
    assert code == 0
    assert f"0 new, 0 updated, {hours} unchanged" in output


def test_backfill_from_demo_and_its_errors(configured_sqlite: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    assert invoke("instruments", "add", "ETH/EUR", "--source", "demo", "--coingecko-id", "ethereum")[0] == 0
    code, output = invoke("backfill", "ETH/EUR", "--timeframe", "1h", "--since", "2025-01-01", "--until", "2025-01-03")
    assert code == 0, output
    assert "48 new" in output
    code, output = invoke("backfill", "ETH/EUR", "--timeframe", "1d", "--since", "2025-01-01")
    assert code == 1
    assert "has no 1d candles" in output
    code, output = invoke("backfill", "ETH/EUR", "--timeframe", "1h", "--since", "yesterday")
    assert code == 1
    assert "--since: cannot read 'yesterday'" in output
    code, output = invoke("backfill", "XRP/EUR", "--timeframe", "1h", "--since", "2025-01-01")
    assert code == 1
    assert "unknown instrument" in output

    with socket.socket() as probe:  # a port nobody listens on: the source is unreachable
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    monkeypatch.setenv("KONSENS_MARKET_COINGECKO_BASE_URL", f"http://127.0.0.1:{closed_port}/api/v3/")
    monkeypatch.setenv("KONSENS_MARKET_RETRY_ATTEMPTS", "2")
    monkeypatch.setenv("KONSENS_MARKET_RETRY_WAIT_SECONDS", "0.01")
    get_settings.cache_clear()
    code, output = invoke("backfill", "ETH/EUR", "--timeframe", "1d", "--since", "2025-01-01", "--source", "coingecko")
    assert code == 1
    assert "ConnectionError" in output
    assert "Traceback" not in output
    assert count(configured_sqlite, Candle) == 48


def test_gaps_report_the_missing_ada_candles(configured_sqlite: Database) -> None:
    assert (
        invoke(
            "import", "candles", str(DATA / "ADA_BTC_5m.csv"), "--symbol", "ADA/BTC", "--timeframe", "5m", "--create"
        )[0]
        == 0
    )
    assert (
        invoke("import", "candles", str(DATA / "SPY_1d.csv"), "--symbol", "SPY", "--timeframe", "1d", "--create")[0]
        == 0
    )
    code, output = invoke("gaps", "--json")
    assert code == 0, output
    reports = {report["symbol"]: report for report in json.loads(output)}
    assert reports["ADA/BTC"]["missing"] == 5760 - 5720  # same window as ETH_BTC_5m, which is complete
    assert reports["SPY"]["missing"] < 60  # weekends and single holidays are not gaps
