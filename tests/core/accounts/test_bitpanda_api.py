"""The Bitpanda retail API client and sync against a loopback server with the real JSON shapes."""

from __future__ import annotations

import copy
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import func, select

from core.accounts.bitpanda_api import (
    BitpandaApiError,
    BitpandaAuthError,
    BitpandaClient,
    BitpandaTransientError,
    ledger_rows_from_api,
    sync_bitpanda,
)
from core.accounts.bitpanda_csv import import_bitpanda_csv
from core.db.engine import Database
from core.execution.settings import SECRET_BITPANDA_KEY, TradingSettings
from core.portfolio.models import LedgerEntry, LedgerKind, LedgerOrigin
from core.retry import RateLimiter
from core.security.secrets import SecretStore
from workers.sync import run_sync_pass

KEY = "bp-test-key"
NO_LIMIT = RateLimiter(0)


def _time(iso: str, unix: str) -> dict[str, str]:
    return {"date_iso8601": iso, "unix": unix}


WALLETS = [
    {
        "type": "wallet",
        "id": "w-btc",
        "attributes": {
            "cryptocoin_id": "1",
            "cryptocoin_symbol": "BTC",
            "balance": "0.02000000",
            "is_default": True,
            "name": "BTC Wallet",
            "pending_transactions_count": 0,
            "deleted": False,
        },
    },
    {
        "type": "wallet",
        "id": "w-eth",
        "attributes": {
            "cryptocoin_id": "5",
            "cryptocoin_symbol": "ETH",
            "balance": "0.50000000",
            "is_default": True,
            "name": "ETH Wallet",
            "pending_transactions_count": 0,
            "deleted": False,
        },
    },
]
FIAT_WALLETS = [
    {
        "type": "fiat_wallet",
        "id": "f-eur",
        "attributes": {
            "fiat_id": "1",
            "fiat_symbol": "EUR",
            "balance": "1500.00",
            "name": "EUR Wallet",
            "pending_transactions_count": 0,
        },
    },
]
TRADES_PAGE_1 = [
    {
        "type": "trade",
        "id": "t-1",
        "attributes": {
            "status": "finished",
            "type": "buy",
            "cryptocoin_id": "1",
            "fiat_id": "1",
            "amount_fiat": "1000.00",
            "amount_cryptocoin": "0.02500000",
            "fiat_to_eur_rate": "1.00000000",
            "wallet_id": "w-btc",
            "fiat_wallet_id": "f-eur",
            "payment_option_id": "12",
            "time": _time("2024-02-02T10:15:30+01:00", "1706865330"),
            "price": "40000.00",
            "is_swap": False,
        },
    },
]
TRADES_PAGE_2 = [
    {
        "type": "trade",
        "id": "t-2",
        "attributes": {
            "status": "finished",
            "type": "sell",
            "cryptocoin_id": "1",
            "fiat_id": "1",
            "amount_fiat": "300.00",
            "amount_cryptocoin": "0.00500000",
            "fiat_to_eur_rate": "1.00000000",
            "wallet_id": "w-btc",
            "fiat_wallet_id": "f-eur",
            "payment_option_id": "12",
            "time": _time("2024-03-02T10:00:00+01:00", "1709370000"),
            "price": "60000.00",
            "is_swap": False,
        },
    },
    {
        "type": "trade",
        "id": "t-3",
        "attributes": {
            "status": "pending",
            "type": "buy",
            "cryptocoin_id": "1",
            "fiat_id": "1",
            "amount_fiat": "10.00",
            "amount_cryptocoin": "0.0002",
            "fiat_to_eur_rate": "1",
            "wallet_id": "w-btc",
            "time": _time("2024-03-03T10:00:00+01:00", "1709456400"),
            "price": "50000",
            "is_swap": False,
        },
    },
]
WALLET_TX = [
    {
        "type": "wallet_transaction",
        "id": "wt-1",
        "attributes": {
            "amount": "0.01000000",
            "recipient": "bc1q...",
            "time": _time("2024-02-10T10:00:00+01:00", "1707555600"),
            "confirmations": 6,
            "in_or_out": "incoming",
            "type": "deposit",
            "status": "finished",
            "amount_eur": "420.00",
            "wallet_id": "w-btc",
            "cryptocoin_id": "1",
            "cryptocoin_symbol": "BTC",
            "fee": "0.00000000",
            "is_savings": False,
        },
    },
    {
        "type": "wallet_transaction",
        "id": "wt-2",
        "attributes": {
            "amount": "0.00100000",
            "time": _time("2024-02-11T10:00:00+01:00", "1707642000"),
            "in_or_out": "incoming",
            "type": "reward",
            "status": "finished",
            "amount_eur": "2.60",
            "wallet_id": "w-eth",
            "cryptocoin_id": "5",
            "cryptocoin_symbol": "ETH",
            "fee": "0",
        },
    },
    {
        "type": "wallet_transaction",
        "id": "wt-3",
        "attributes": {
            "amount": "0.02500000",
            "time": _time("2024-02-02T10:15:30+01:00", "1706865330"),
            "in_or_out": "incoming",
            "type": "buy",
            "status": "finished",
            "amount_eur": "1000.00",
            "wallet_id": "w-btc",
            "cryptocoin_id": "1",
            "cryptocoin_symbol": "BTC",
            "fee": "0",
        },
    },
]
FIAT_TX = [
    {
        "type": "fiat_wallet_transaction",
        "id": "ft-1",
        "attributes": {
            "fiat_wallet_id": "f-eur",
            "user_id": "u",
            "fiat_id": "1",
            "amount": "2500.00",
            "fee": "0.00",
            "to_eur_rate": "1.00000000",
            "time": _time("2024-02-01T09:00:00+01:00", "1706774400"),
            "in_or_out": "incoming",
            "type": "deposit",
            "status": "finished",
            "confirmation_by": "not_required",
            "confirmed": True,
            "payment_option_id": "3",
        },
    },
]


# /asset-wallets nests the wallets by category (shape of bitpanda-labs/bitpanda-public-api-mcp,
# tests/cassettes/test_get_bitpanda_asset_wallets.yaml at commit 1f8e4ee)
ASSET_WALLETS_ANSWER = {"data": {"type": "data", "attributes": {
    "cryptocoin": {"type": "collection", "attributes": {"wallets": WALLETS}},
    "commodity": {"metal": {"type": "collection", "attributes": {"wallets": []}}},
    "security": {"stock": {"type": "collection", "attributes": {"wallets": []}}},
}}, "last_user_action": {"date_iso8601": "2025-10-08T17:25:29+02:00", "unix": "1759937129"}}  # fmt: skip


def _serve(httpserver: HTTPServer) -> None:
    headers = {"X-Api-Key": KEY}
    httpserver.expect_request("/v1/asset-wallets", headers=headers).respond_with_json(ASSET_WALLETS_ANSWER)
    httpserver.expect_request("/v1/wallets", headers=headers).respond_with_json({"data": WALLETS, "meta": {}})
    httpserver.expect_request("/v1/fiatwallets", headers=headers).respond_with_json({"data": FIAT_WALLETS})
    httpserver.expect_request("/v1/trades", headers=headers, query_string={"page_size": "100"}).respond_with_json(
        {
            "data": TRADES_PAGE_1,
            "meta": {"next_cursor": "c2", "page_size": 1},
            "links": {"next": "?cursor=c2&page_size=100", "self": "?page_size=100"},
        }
    )
    httpserver.expect_request(
        "/v1/trades", headers=headers, query_string={"page_size": "100", "cursor": "c2"}
    ).respond_with_json({"data": TRADES_PAGE_2, "meta": {"page_size": 2}, "links": {"self": "?cursor=c2"}})
    httpserver.expect_request("/v1/wallets/transactions", headers=headers).respond_with_json({"data": WALLET_TX})
    httpserver.expect_request("/v1/fiatwallets/transactions", headers=headers).respond_with_json({"data": FIAT_TX})
    httpserver.expect_request("/v1/wallets").respond_with_json(
        {"errors": [{"status": 401, "title": "Unauthorized"}]}, status=401
    )


def test_sync_writes_trades_transfers_and_fiat_once(database: Database, httpserver: HTTPServer) -> None:
    _serve(httpserver)
    client = BitpandaClient(KEY, base_url=httpserver.url_for("/v1"), rate_limiter=NO_LIMIT)
    with database.session() as session:
        result = sync_bitpanda(session, client)
    assert result.new_entries == 5  # 2 finished trades, deposit, reward, fiat deposit (the buy wallet-tx is skipped)
    assert result.balances["EUR"] == Decimal("1500.00") and result.balances["BTC"] == Decimal("0.02")
    with database.session() as session:
        again = sync_bitpanda(session, client)
        assert again.new_entries == 0
        entries = {e.external_id: e for e in session.scalars(select(LedgerEntry))}
        assert set(entries) == {"trade:t-1", "trade:t-2", "wallet-tx:wt-1", "wallet-tx:wt-2", "fiat-tx:ft-1"}
        buy = entries["trade:t-1"]
        assert buy.origin is LedgerOrigin.BITPANDA_API and buy.account == "bitpanda"
        assert buy.kind is LedgerKind.BUY and buy.received_asset == "BTC" and buy.value_eur == Decimal(1000)
        assert entries["trade:t-2"].sent_asset == "BTC"
        assert entries["wallet-tx:wt-2"].kind is LedgerKind.REWARD
        assert entries["fiat-tx:ft-1"].received_asset == "EUR"
    client.close()


def test_refused_key_is_a_clear_error(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/v1/wallets").respond_with_json({"errors": [{"status": 401}]}, status=401)
    client = BitpandaClient("wrong", base_url=httpserver.url_for("/v1"), rate_limiter=NO_LIMIT)
    with pytest.raises(BitpandaAuthError, match="refused"):
        client.wallets()


def test_sync_worker_pass_uses_the_stored_key(sqlite_database: Database, httpserver: HTTPServer) -> None:
    assert run_sync_pass(sqlite_database) == {"bitpanda": "no API key configured"}
    _serve(httpserver)
    with sqlite_database.session() as session:
        SecretStore().set(session, SECRET_BITPANDA_KEY, KEY)
    info = run_sync_pass(
        sqlite_database, TradingSettings(bitpanda_base_url=httpserver.url_for("/v1"), bitpanda_requests_per_minute=0)
    )
    assert info == {"bitpanda_fetched": 5, "bitpanda_new": 5}
    with sqlite_database.session() as session:
        assert session.scalar(select(func.count()).select_from(LedgerEntry)) == 5


def test_rate_limit_is_retried_after_the_asked_wait(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request("/v1/trades").respond_with_json(
        {"errors": [{"status": 429}]}, status=429, headers={"Retry-After": "3"}
    )
    httpserver.expect_oneshot_request("/v1/trades").respond_with_data("bad gateway", status=502)
    httpserver.expect_request("/v1/trades").respond_with_json({"data": TRADES_PAGE_1, "meta": {}})
    waits: list[float] = []
    client = BitpandaClient(KEY, base_url=httpserver.url_for("/v1"), rate_limiter=NO_LIMIT, sleep=waits.append)
    assert [trade["id"] for trade in client.trades()] == ["t-1"]
    assert waits == [3.0, 4.0]  # Retry-After honoured, then backoff 2 s · 2^1
    client.close()


def test_a_failing_listing_after_retries_writes_nothing(database: Database, httpserver: HTTPServer) -> None:
    headers = {"X-Api-Key": KEY}
    httpserver.expect_request("/v1/wallets", headers=headers).respond_with_json({"data": WALLETS})
    httpserver.expect_request("/v1/fiatwallets", headers=headers).respond_with_json({"data": FIAT_WALLETS})
    httpserver.expect_request("/v1/asset-wallets", headers=headers).respond_with_json(ASSET_WALLETS_ANSWER)
    httpserver.expect_request("/v1/trades", headers=headers).respond_with_json({"data": TRADES_PAGE_1})
    httpserver.expect_request("/v1/wallets/transactions", headers=headers).respond_with_json({"data": WALLET_TX})
    httpserver.expect_request("/v1/fiatwallets/transactions").respond_with_data("down", status=503)
    waits: list[float] = []
    client = BitpandaClient(KEY, base_url=httpserver.url_for("/v1"), rate_limiter=NO_LIMIT, sleep=waits.append)
    with pytest.raises(BitpandaTransientError, match="HTTP 503"), database.session() as session:
        sync_bitpanda(session, client)
    assert len(waits) == 3  # four attempts in all
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(LedgerEntry)) == 0
    client.close()


def test_a_repeated_cursor_stops_at_once(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/v1/trades").respond_with_json({"data": [], "meta": {"next_cursor": "same"}})
    client = BitpandaClient(KEY, base_url=httpserver.url_for("/v1"), rate_limiter=NO_LIMIT)
    with pytest.raises(BitpandaApiError, match="repeats the cursor"):
        client.trades()
    assert len(httpserver.log) == 2
    client.close()


def _trade(**changes: object) -> dict[str, object]:
    trade: dict[str, Any] = copy.deepcopy(TRADES_PAGE_1[0])
    trade["attributes"].update(changes)
    return trade


@pytest.mark.parametrize(
    ("trades", "message"),
    [
        ([{k: v for k, v in TRADES_PAGE_1[0].items() if k != "attributes"}], "trade t-1: unexpected answer"),
        ([_trade(amount_fiat=None)], "trade t-1: amount_fiat is not a number"),
        ([_trade(amount_fiat="NaN")], "trade t-1: amount_fiat is not finite"),
        ([_trade(time={"date_iso8601": "yesterday"})], "trade t-1: time is not a date and time"),
        ([_trade(time="2024-01-01")], "trade t-1: time is not an object"),
        ([_trade(fiat_id="99")], "trade t-1: unknown fiat_id 99"),
        ([_trade(type="gift")], "trade t-1: type must be buy or sell"),
    ],
)
def test_a_garbage_item_is_one_clear_error(trades: list[dict[str, object]], message: str) -> None:
    amount_missing = copy.deepcopy(TRADES_PAGE_1[0])
    del amount_missing["attributes"]["amount_fiat"]  # type: ignore[attr-defined]
    with pytest.raises(BitpandaApiError, match="field 'amount_fiat' is missing"):
        ledger_rows_from_api(WALLETS, FIAT_WALLETS, [amount_missing], [], [])
    with pytest.raises(BitpandaApiError, match=message):
        ledger_rows_from_api(WALLETS, FIAT_WALLETS, trades, [], [])


def test_a_garbage_page_is_one_clear_error(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/v1/trades").respond_with_json({"data": ["t-1"], "meta": {}})
    httpserver.expect_request("/v1/wallets").respond_with_data("<html>maintenance</html>")
    client = BitpandaClient(KEY, base_url=httpserver.url_for("/v1"), rate_limiter=NO_LIMIT)
    with pytest.raises(BitpandaApiError, match="an item without id or attributes"):
        client.trades()
    with pytest.raises(BitpandaApiError, match="not JSON"):
        client.wallets()
    assert KEY not in repr(client)
    client.close()


CSV_OF_THE_SAME_HISTORY = (
    '"Disclaimer: All data is without guarantee, errors and changes are reserved."\n'
    '"Transaction ID",Timestamp,"Transaction Type",In/Out,"Amount Fiat",Fiat,"Amount Asset",Asset,'
    '"Asset market price","Asset market price currency","Asset class","Product ID",Fee,"Fee asset",'
    '"Fee percent",Spread,"Spread Currency","Tax Fiat"\n'
    "T-same-buy,2024-02-02T10:15:30+01:00,buy,incoming,1000.00,EUR,0.02500000,BTC,40000.00,EUR,Cryptocurrency,"
    "1,1.00,EUR,0.10%,-,-,0.50\n"
    "T-same-deposit,2024-02-01T09:00:00+01:00,deposit,incoming,2500.00,EUR,-,EUR,-,-,Fiat,-,-,-,-,-,-,-\n"
    "T-only-csv,2024-04-01T09:00:00+02:00,sell,outgoing,100.00,EUR,0.00100000,BTC,100000.00,EUR,Cryptocurrency,"
    "1,-,-,-,-,-,-\n"
)


@pytest.mark.parametrize("api_first", [True, False])
def test_the_same_trade_from_api_and_csv_is_stored_once(
    database: Database, httpserver: HTTPServer, tmp_path: Path, api_first: bool
) -> None:
    _serve(httpserver)
    client = BitpandaClient(KEY, base_url=httpserver.url_for("/v1"), rate_limiter=NO_LIMIT)
    path = tmp_path / "export.csv"
    path.write_text(CSV_OF_THE_SAME_HISTORY, encoding="utf-8")
    for step in ("api", "csv", "api", "csv") if api_first else ("csv", "api", "csv", "api"):
        with database.session() as session:
            if step == "api":
                sync_bitpanda(session, client)
            else:
                import_bitpanda_csv(session, path)
    client.close()
    with database.session() as session:
        entries = list(session.scalars(select(LedgerEntry)))
        assert len(entries) == 6  # 5 from the API + the CSV-only sell; the buy and the deposit once each
        buys = [entry for entry in entries if entry.kind is LedgerKind.BUY]
        assert len(buys) == 1 and buys[0].received_quantity == Decimal("0.025")
        assert buys[0].kest_withheld_eur == Decimal("0.5") and buys[0].fee_quantity == Decimal(1)
        deposits = [entry for entry in entries if entry.kind is LedgerKind.DEPOSIT and entry.received_asset == "EUR"]
        assert len(deposits) == 1
        # ids stay what each source gives: the first source's entry is kept
        kept = LedgerOrigin.BITPANDA_API if api_first else LedgerOrigin.BITPANDA_CSV
        assert buys[0].origin is kept and deposits[0].origin is kept
