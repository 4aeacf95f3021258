# ruff: noqa: E501
"""Bitpanda swaps (crypto A → crypto B): the two legs become one SWAP entry (CSV and API), taxed as no realisation."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import select

from core.accounts.bitpanda_api import BitpandaClient, ledger_rows_from_api, sync_bitpanda
from core.accounts.bitpanda_csv import import_bitpanda_csv, parse_bitpanda_csv
from core.accounts.common import SWAP_LEG, store_entries
from core.db.engine import Database
from core.portfolio.models import LedgerEntry, LedgerKind, LedgerOrigin
from core.retry import RateLimiter
from core.tax.assumptions import TaxAssumptions
from core.tax.engine import Category, compute_year
from core.tax.report import build_report, load_movements

D = Decimal
KEY = "bp-test-key"
HEADER = (
    '"Disclaimer: All data is without guarantee, errors and changes are reserved."\n'
    '"Transaction ID",Timestamp,"Transaction Type",In/Out,"Amount Fiat",Fiat,"Amount Asset",Asset,'
    '"Asset market price","Asset market price currency","Asset class","Product ID",Fee,"Fee asset",'
    '"Fee percent",Spread,"Spread Currency","Tax Fiat"\n'
)
BUY = "T-buy,2024-02-01T10:00:00+01:00,buy,incoming,4000.00,EUR,0.10000000,BTC,40000.00,EUR,Cryptocurrency,1,-,-,-,-,-,-\n"
SWAP_OUT = "T-swap-out,2024-03-01T12:00:05+01:00,swap,outgoing,5000.00,EUR,0.10000000,BTC,50000.00,EUR,Cryptocurrency,1,-,-,-,-,-,-\n"
SWAP_IN = "T-swap-in,2024-03-01T12:00:05+01:00,swap,incoming,4990.00,EUR,2.00000000,ETH,2495.00,EUR,Cryptocurrency,5,-,-,-,-,-,-\n"
SELL = "T-sell,2025-05-01T10:00:00+02:00,sell,outgoing,6000.00,EUR,2.00000000,ETH,3000.00,EUR,Cryptocurrency,5,-,-,-,-,-,-\n"


def _write(tmp_path: Path, rows: str, name: str = "export.csv") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + rows, encoding="utf-8")
    return path


def _entries(database: Database) -> list[LedgerEntry]:
    with database.session() as session:
        entries = list(session.scalars(select(LedgerEntry).order_by(LedgerEntry.ts, LedgerEntry.external_id)))
        for entry in entries:
            session.expunge(entry)
        return entries


def _store_legs_as_the_old_import_did(database: Database, path: Path) -> None:
    """The import before swaps were paired: every leg a SELL or BUY under its own id."""
    with database.session() as session:
        rows = parse_bitpanda_csv(session, path.read_text(encoding="utf-8"))
        for row in rows:
            row.pop(SWAP_LEG, None)
        store_entries(session, rows)


def test_csv_swap_legs_become_one_swap_entry(database: Database, tmp_path: Path) -> None:
    fee_and_kest_out = SWAP_OUT.replace(",1,-,-,-,-,-,-\n", ",1,0.00010000,BTC,-,-,-,1.25\n")
    fee_and_kest_in = SWAP_IN.replace(",5,-,-,-,-,-,-\n", ",5,0.00200000,ETH,-,-,-,0.75\n")
    path = _write(tmp_path, BUY + fee_and_kest_out + fee_and_kest_in)
    with database.session() as session:
        result = import_bitpanda_csv(session, path)
    assert (result.rows, result.new_entries, result.skipped_existing, result.swaps) == (3, 2, 0, 1)
    assert result.unpaired_swap_legs == () and result.replaced_legs == ()
    assert result.messages() == [
        "swap T-swap-out+T-swap-in: the ledger holds one fee; the incoming leg's fee of 0.00200000 ETH is kept in the entry's raw data only"
    ]
    buy, swap = _entries(database)
    assert buy.kind is LedgerKind.BUY
    assert swap.kind is LedgerKind.SWAP and swap.origin is LedgerOrigin.BITPANDA_CSV
    assert swap.external_id == "T-swap-out+T-swap-in" and swap.account == "bitpanda"
    assert (swap.sent_asset, swap.sent_quantity, swap.received_asset, swap.received_quantity) == (
        "BTC",
        D("0.1"),
        "ETH",
        D(2),
    )
    assert swap.value_eur == D(5000)  # the outgoing leg's fiat amount: the value of the coin given up
    assert (swap.fee_asset, swap.fee_quantity) == ("BTC", D("0.0001"))
    assert swap.kest_withheld_eur == D(2)  # 1.25 + 0.75
    assert swap.asset_class == "crypto" and swap.ts.isoformat() == "2024-03-01T11:00:05+00:00"
    assert swap.raw is not None and [leg["Transaction ID"] for leg in swap.raw["swap_legs"]] == [
        "T-swap-out",
        "T-swap-in",
    ]
    assert swap.raw["fee_not_in_ledger"] == {"asset": "ETH", "quantity": "0.00200000"}
    with database.session() as session:
        again = import_bitpanda_csv(session, path)
    assert (again.new_entries, again.skipped_existing, again.swaps) == (0, 2, 1)
    assert len(_entries(database)) == 2


def test_fees_of_one_asset_are_added(database: Database, tmp_path: Path) -> None:
    out = SWAP_OUT.replace(",1,-,-,-,-,-,-\n", ",1,0.00010000,BTC,-,-,-,-\n")
    incoming = SWAP_IN.replace(",5,-,-,-,-,-,-\n", ",5,0.00002000,BTC,-,-,-,-\n")
    with database.session() as session:
        result = import_bitpanda_csv(session, _write(tmp_path, out + incoming))
    assert result.messages() == []
    (swap,) = _entries(database)
    assert (swap.fee_asset, swap.fee_quantity, swap.kest_withheld_eur) == ("BTC", D("0.00012"), None)


def test_unpaired_swap_legs_stay_sell_and_buy_and_are_named(database: Database, tmp_path: Path) -> None:
    lone = "T-lone,2024-04-01T09:00:00+02:00,swap,outgoing,100.00,EUR,0.00100000,BTC,100000.00,EUR,Cryptocurrency,1,-,-,-,-,-,-\n"
    three = (
        "T-a,2024-04-02T09:00:00+02:00,swap,outgoing,100.00,EUR,0.00100000,BTC,100000.00,EUR,Cryptocurrency,1,-,-,-,-,-,-\n"
        "T-b,2024-04-02T09:00:00+02:00,swap,incoming,50.00,EUR,0.02000000,ETH,2500.00,EUR,Cryptocurrency,5,-,-,-,-,-,-\n"
        "T-c,2024-04-02T09:00:00+02:00,swap,incoming,50.00,EUR,1.00000000,SOL,50.00,EUR,Cryptocurrency,33,-,-,-,-,-,-\n"
    )
    a_second_later = SWAP_IN.replace("12:00:05", "12:00:06")
    path = _write(tmp_path, lone + three + SWAP_OUT + a_second_later)
    with database.session() as session:
        result = import_bitpanda_csv(session, path)
    assert (result.new_entries, result.swaps) == (6, 0)
    assert sorted(result.unpaired_swap_legs) == [
        "T-a (1 outgoing and 2 incoming swap legs at this second, expected one of each)",
        "T-b (1 outgoing and 2 incoming swap legs at this second, expected one of each)",
        "T-c (1 outgoing and 2 incoming swap legs at this second, expected one of each)",
        "T-lone (1 outgoing and 0 incoming swap legs at this second, expected one of each)",
        "T-swap-in (0 outgoing and 1 incoming swap legs at this second, expected one of each)",
        "T-swap-out (1 outgoing and 0 incoming swap legs at this second, expected one of each)",
    ]
    assert result.messages()[0].startswith("6 swap legs could not be paired and were imported as a sell")
    kinds = {entry.external_id: entry.kind for entry in _entries(database)}
    assert kinds == {
        "T-lone": LedgerKind.SELL,
        "T-a": LedgerKind.SELL,
        "T-b": LedgerKind.BUY,
        "T-c": LedgerKind.BUY,
        "T-swap-out": LedgerKind.SELL,
        "T-swap-in": LedgerKind.BUY,
    }


def test_a_non_crypto_leg_is_not_paired(database: Database, tmp_path: Path) -> None:
    gold = SWAP_IN.replace("2.00000000,ETH,2495.00,EUR,Cryptocurrency,5", "2.50000000,XAU,1996.00,EUR,Metal,28")
    with database.session() as session:
        result = import_bitpanda_csv(session, _write(tmp_path, SWAP_OUT + gold))
    assert sorted(result.unpaired_swap_legs) == [
        "T-swap-in (incoming leg XAU is not crypto)",
        "T-swap-out (incoming leg XAU is not crypto)",
    ]
    assert {entry.kind for entry in _entries(database)} == {LedgerKind.SELL, LedgerKind.BUY}


def test_legs_stored_separately_before_are_replaced_by_the_swap(database: Database, tmp_path: Path) -> None:
    path = _write(tmp_path, BUY + SWAP_OUT + SWAP_IN)
    _store_legs_as_the_old_import_did(database, path)
    assert [entry.kind for entry in _entries(database)] == [LedgerKind.BUY, LedgerKind.BUY, LedgerKind.SELL]
    with database.session() as session:
        result = import_bitpanda_csv(session, path)
    assert (result.new_entries, result.skipped_existing) == (1, 1)
    assert sorted(result.replaced_legs) == ["T-swap-in", "T-swap-out"]
    assert "2 swap legs stored separately before were replaced by their swap" in result.messages()[0]
    entries = _entries(database)
    assert [(entry.kind, entry.external_id) for entry in entries] == [
        (LedgerKind.BUY, "T-buy"),
        (LedgerKind.SWAP, "T-swap-out+T-swap-in"),
    ]
    with database.session() as session:
        assert import_bitpanda_csv(session, path).new_entries == 0
    assert len(_entries(database)) == 2


def test_replacing_legs_is_one_transaction(database: Database, tmp_path: Path) -> None:
    path = _write(tmp_path, SWAP_OUT + SWAP_IN)
    _store_legs_as_the_old_import_did(database, path)

    def import_then_fail() -> None:
        with database.session() as session:
            import_bitpanda_csv(session, path)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        import_then_fail()
    assert sorted(entry.external_id for entry in _entries(database)) == ["T-swap-in", "T-swap-out"]


# ----- the API ---------------------------------------------------------------------------------------------------

WALLETS = [
    {"type": "wallet", "id": "w-btc", "attributes": {"cryptocoin_id": "1", "cryptocoin_symbol": "BTC", "balance": "0"}},
    {"type": "wallet", "id": "w-eth", "attributes": {"cryptocoin_id": "5", "cryptocoin_symbol": "ETH", "balance": "0"}},
]
FIAT_WALLETS = [
    {"type": "fiat_wallet", "id": "f-eur", "attributes": {"fiat_id": "1", "fiat_symbol": "EUR", "balance": "0"}}
]


def _trade(trade_id: str, kind: str, wallet: str, fiat: str, coin: str, iso: str, *, is_swap: bool) -> dict[str, Any]:
    return {
        "type": "trade",
        "id": trade_id,
        "attributes": {
            "status": "finished",
            "type": kind,
            "cryptocoin_id": "1",
            "fiat_id": "1",
            "amount_fiat": fiat,
            "amount_cryptocoin": coin,
            "fiat_to_eur_rate": "1.00000000",
            "wallet_id": wallet,
            "fiat_wallet_id": "f-eur",
            "time": {"date_iso8601": iso, "unix": "0"},
            "price": "0",
            "is_swap": is_swap,
        },
    }


API_BUY = _trade("t-buy", "buy", "w-btc", "4000.00", "0.10000000", "2024-02-01T10:00:00+01:00", is_swap=False)
API_SWAP_OUT = _trade("t-s-out", "sell", "w-btc", "5000.00", "0.10000000", "2024-03-01T12:00:05+01:00", is_swap=True)
API_SWAP_IN = _trade("t-s-in", "buy", "w-eth", "4990.00", "2.00000000", "2024-03-01T12:00:05+01:00", is_swap=True)
API_SELL = _trade("t-sell", "sell", "w-eth", "6000.00", "2.00000000", "2025-05-01T10:00:00+02:00", is_swap=False)


def _client(httpserver: HTTPServer, trades: list[dict[str, Any]]) -> BitpandaClient:
    httpserver.clear()
    httpserver.expect_request("/v1/wallets").respond_with_json({"data": WALLETS})
    httpserver.expect_request("/v1/fiatwallets").respond_with_json({"data": FIAT_WALLETS})
    httpserver.expect_request("/v1/asset-wallets").respond_with_json(
        {
            "data": {
                "type": "data",
                "attributes": {"cryptocoin": {"type": "collection", "attributes": {"wallets": WALLETS}}},
            }
        }
    )
    httpserver.expect_request("/v1/trades").respond_with_json({"data": trades})
    httpserver.expect_request("/v1/wallets/transactions").respond_with_json({"data": []})
    httpserver.expect_request("/v1/fiatwallets/transactions").respond_with_json({"data": []})
    return BitpandaClient(KEY, base_url=httpserver.url_for("/v1"), rate_limiter=RateLimiter(0))


def test_api_swap_trades_become_one_swap_entry(database: Database, httpserver: HTTPServer) -> None:
    client = _client(httpserver, [API_BUY, API_SWAP_OUT, API_SWAP_IN])
    with database.session() as session:
        result = sync_bitpanda(session, client)
    assert (result.fetched, result.new_entries, result.swaps, result.unpaired_swap_legs) == (3, 2, 1, ())
    _buy, swap = _entries(database)
    assert swap.kind is LedgerKind.SWAP and swap.origin is LedgerOrigin.BITPANDA_API
    assert swap.external_id == "trade:t-s-out+trade:t-s-in"
    assert (swap.sent_asset, swap.sent_quantity, swap.received_asset, swap.received_quantity) == (
        "BTC",
        D("0.1"),
        "ETH",
        D(2),
    )
    assert swap.value_eur == D(5000) and swap.fee_quantity is None and swap.kest_withheld_eur is None
    with database.session() as session:
        assert sync_bitpanda(session, client).new_entries == 0
    client = _client(httpserver, [API_SWAP_OUT])  # a leg alone (e.g. the other one still pending): kept and named
    with database.session() as session:
        lone = sync_bitpanda(session, client)
    assert lone.unpaired_swap_legs == (
        "trade:t-s-out (1 outgoing and 0 incoming swap legs at this second, expected one of each)",
    )
    client.close()


@pytest.mark.parametrize("api_first", [True, False])
def test_the_same_swap_from_api_and_csv_is_stored_once(
    database: Database, httpserver: HTTPServer, tmp_path: Path, api_first: bool
) -> None:
    client = _client(httpserver, [API_SWAP_OUT, API_SWAP_IN])
    kest_out = SWAP_OUT.replace(",1,-,-,-,-,-,-\n", ",1,-,-,-,-,-,3.00\n")
    path = _write(tmp_path, kest_out + SWAP_IN)
    for step in ("api", "csv", "api", "csv") if api_first else ("csv", "api", "csv", "api"):
        with database.session() as session:
            if step == "api":
                sync_bitpanda(session, client)
            else:
                import_bitpanda_csv(session, path)
    client.close()
    (swap,) = _entries(database)
    assert swap.kind is LedgerKind.SWAP and swap.kest_withheld_eur == D(3)
    assert swap.origin is (LedgerOrigin.BITPANDA_API if api_first else LedgerOrigin.BITPANDA_CSV)


@pytest.mark.parametrize("legs_from", ["csv", "api"])
def test_legs_of_the_other_source_become_its_swap(
    database: Database, httpserver: HTTPServer, tmp_path: Path, legs_from: str
) -> None:
    """Legs stored separately by one source, then the other source brings the swap: one SWAP entry."""
    kest_out = SWAP_OUT.replace(",1,-,-,-,-,-,-\n", ",1,-,-,-,-,-,3.00\n")
    path = _write(tmp_path, kest_out + SWAP_IN)
    client = _client(httpserver, [API_SWAP_OUT, API_SWAP_IN])
    if legs_from == "csv":
        _store_legs_as_the_old_import_did(database, path)
        with database.session() as session:
            result = sync_bitpanda(session, client)
        assert result.new_entries == 0
        assert sorted(result.replaced_legs) == ["bitpanda_csv:T-swap-in", "bitpanda_csv:T-swap-out"]
    else:
        with database.session() as session:
            rows = ledger_rows_from_api(WALLETS, FIAT_WALLETS, [API_SWAP_OUT, API_SWAP_IN], [], [])
            for row in rows:
                row.pop(SWAP_LEG, None)
            store_entries(session, rows)
        with database.session() as session:
            result_csv = import_bitpanda_csv(session, path)
        assert result_csv.new_entries == 0
        assert sorted(result_csv.replaced_legs) == ["bitpanda_api:trade:t-s-in", "bitpanda_api:trade:t-s-out"]
    client.close()
    (swap,) = _entries(database)
    kept = LedgerOrigin.BITPANDA_CSV if legs_from == "csv" else LedgerOrigin.BITPANDA_API
    assert swap.kind is LedgerKind.SWAP and swap.origin is kept
    assert swap.kest_withheld_eur == D(3)  # from the CSV rows, whichever source was first
    expected_id = "T-swap-out+T-swap-in" if legs_from == "csv" else "trade:t-s-out+trade:t-s-in"
    assert swap.external_id == expected_id


# ----- tax ------------------------------------------------------------------------------------------------------


def _assert_austrian_result(database: Database) -> None:
    """Buy 0.1 BTC for 4000, swap it into 2 ETH (value 5000) in 2024, sell the ETH for 6000 in 2025."""
    with database.session() as session:
        year_of_swap = build_report(session, 2024)
        year_of_sale = build_report(session, 2025)
        movements, _ = load_movements(session, datetime(2026, 1, 1, tzinfo=UTC), TaxAssumptions())
    assert year_of_swap.result.totals.net == 0  # the swap is no realisation (a sale would have realised 1000)
    swap_rows = [row for row in year_of_swap.rows if row.category is Category.SWAP]
    assert [(row.coin, row.cost_eur) for row in swap_rows] == [("BTC", D(4000)), ("ETH", D(4000))]
    assert year_of_sale.result.totals.net == D(2000)  # 6000 − the carried cost 4000 (not 6000 − 5000)
    assert year_of_sale.result.totals.tax == D(550)
    direct = compute_year(movements, 2025, TaxAssumptions())
    assert direct.totals.net == D(2000) and direct.holdings.get(("bitpanda", "BTC"), (0, 0, 0))[1] == 0


def test_csv_swap_is_taxed_as_no_realisation(database: Database, tmp_path: Path) -> None:
    with database.session() as session:
        import_bitpanda_csv(session, _write(tmp_path, BUY + SWAP_OUT + SWAP_IN + SELL))
    _assert_austrian_result(database)


def test_api_swap_is_taxed_as_no_realisation(database: Database, httpserver: HTTPServer) -> None:
    client = _client(httpserver, [API_BUY, API_SWAP_OUT, API_SWAP_IN, API_SELL])
    with database.session() as session:
        sync_bitpanda(session, client)
    client.close()
    _assert_austrian_result(database)
