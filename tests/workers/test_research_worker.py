"""The research worker's pass: fundamentals from a loopback CoinGecko, macro skipped without a FRED key."""

from __future__ import annotations

import pytest
from pytest_httpserver import HTTPServer

from core.db.engine import Database
from core.fundamentals.models import AssetFundamentals
from core.market.models import AssetClass, Instrument
from tests.core.fundamentals.test_fundamentals import COIN
from workers import research


def test_pass_stores_fundamentals_once_and_skips_macro_without_a_key(
    configured_sqlite: Database, httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KONSENS_MARKET_COINGECKO_BASE_URL", httpserver.url_for("/api/v3/"))
    httpserver.expect_request("/api/v3/coins/bitcoin/").respond_with_json(COIN)
    configured_sqlite.run(
        lambda session: session.add(
            Instrument(
                symbol="BTC/EUR",
                base="BTC",
                quote="EUR",
                tracked=True,
                asset_class=AssetClass.CRYPTO,
                coingecko_id="bitcoin",
            )
        )
    )
    result = research.run_pass(configured_sqlite)
    assert result is not None
    assert result["fundamentals"]["stored"] == ["BTC/EUR"]
    assert result["macro"] == "skipped: no FRED key"
    again = research.run_pass(configured_sqlite)
    assert again is not None and again["fundamentals"]["stored"] == []  # fetched within 20 h: not asked again
    assert len(httpserver.log) == 1
    assert configured_sqlite.run(lambda session: session.query(AssetFundamentals).count()) == 1
