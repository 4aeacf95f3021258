# ruff: noqa: E501
"""Bitpanda CSV exports and API answers as Bitpanda really writes them (public material, sources named).

- CSV: ``test/bitpanda.csv`` of veeso/bitpanda730 (see ``data/bitpanda_csv/README.md``); the
  ``transfer(stake)`` / ``transfer(unstake)`` rows have the shape of public Bitpanda parsers' tests
  (``1f051f57-0835-6d20-bd6d-d58cbac8c087,2025-06-25T20:51:44+02:00,transfer(stake),incoming,2436.76,EUR,
  19.77595407,SOL,123.22,EUR,Cryptocurrency,135,-,-,-,-,-``, found by code search, repository not named).
- API: the answers Bitpanda recorded from ``api.bitpanda.com/v1`` in bitpanda-labs/bitpanda-public-api-mcp,
  ``tests/cassettes/*.yaml`` at commit 1f8e4ee (see ``data/bitpanda_api/README.md``).
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import select

from core.accounts.bitpanda_api import BitpandaClient, sync_bitpanda
from core.accounts.bitpanda_csv import import_bitpanda_csv
from core.db.engine import Database
from core.portfolio.models import LedgerEntry, LedgerKind, LedgerOrigin
from core.portfolio.valuation import value_portfolio
from core.retry import RateLimiter

DATA = Path(__file__).parent / "data"
KEY = "DUMMY-KEY"
NO_LIMIT = RateLimiter(0)
HEADER = (
    '"Transaction ID",Timestamp,"Transaction Type",In/Out,"Amount Fiat",Fiat,"Amount Asset",Asset,'
    '"Asset market price","Asset market price currency","Asset class","Product ID",Fee,"Fee asset",'
    '"Fee percent",Spread,"Spread Currency","Tax Fiat"\n'
)


def _entries(database: Database, origin: LedgerOrigin) -> dict[str, LedgerEntry]:
    with database.session() as session:
        rows = list(session.scalars(select(LedgerEntry).where(LedgerEntry.origin == origin)))
        for row in rows:
            session.expunge(row)
    return {row.external_id: row for row in rows}


# ----- CSV -------------------------------------------------------------------------------------------


def test_public_bitpanda730_export_imports_every_row(database: Database) -> None:
    with database.session() as session:
        result = import_bitpanda_csv(session, DATA / "bitpanda_csv" / "bitpanda730_test.csv")
    assert (result.rows, result.new_entries, result.needs_review) == (12, 12, ())
    entries = _entries(database, LedgerOrigin.BITPANDA_CSV)
    deposit = entries["F48a0adaa-824f-4753-8e2e-***********"]
    assert (deposit.kind, deposit.received_asset, deposit.received_quantity) == (
        LedgerKind.DEPOSIT,
        "EUR",
        Decimal("1000"),
    )
    assert (deposit.fee_asset, deposit.fee_quantity) == ("EUR", Decimal("17.69"))  # the fiat fee of a card deposit
    stock = entries["T02f7a7ce-9c38-4b18-9306-***********"]  # a buy is "outgoing" in older exports
    assert (stock.kind, stock.asset_class, stock.received_asset) == (LedgerKind.BUY, "stock", "AMZN")
    etf = entries["T2fdbfca0-fc44-4032-941e-***********"]
    assert (etf.kind, etf.asset_class, etf.received_quantity) == (LedgerKind.SELL, "etf", Decimal("129.17"))
    best = entries["2cbcc5dd-67c1-4ded-8020-6***********"]  # BEST granted by Bitpanda: a reward at cost 0
    assert (best.kind, best.received_asset, best.received_quantity) == (
        LedgerKind.REWARD,
        "BEST",
        Decimal("0.00869699"),
    )
    assert best.description is not None and "(assumption: " in best.description
    withdrawal = entries["C04e9125e-9688-4fbb-b23b-***********"]
    assert (withdrawal.sent_asset, withdrawal.fee_asset, withdrawal.fee_quantity) == (
        "ETH",
        "ETH",
        Decimal("0.00100136"),
    )
    assert any("BEST reward" in line for line in result.messages())


STAKING_ROWS = (
    "S-buy,2025-06-01T10:00:00+02:00,buy,outgoing,2000.00,EUR,20.00000000,SOL,100.00,EUR,Cryptocurrency,135,-,-,-,-,-,-\n"
    "S-out,2025-06-25T20:51:44+02:00,transfer,outgoing,2436.76,EUR,19.77595407,SOL,123.22,EUR,Cryptocurrency,135,-,-,-,-,-,-\n"
    "1f051f57-0835-6d20-bd6d-d58cbac8c087,2025-06-25T20:51:44+02:00,transfer(stake),incoming,2436.76,EUR,19.77595407,SOL,123.22,EUR,Cryptocurrency,135,-,-,-,-,-\n"
    "S-reward,2025-07-01T02:00:00+02:00,reward,incoming,6.25,EUR,0.05000000,SOL,125.00,EUR,Cryptocurrency,135,-,-,-,-,-,-\n"
    "1f099999-0835-6d20-bd6d-d58cbac8c088,2025-07-26T10:00:00+02:00,transfer(unstake),incoming,2500,EUR,20,SOL,125,EUR,Cryptocurrency,135,-,-,-,-,-\n"
)


def test_staking_moves_neither_abort_the_import_nor_move_the_balance(database: Database, tmp_path: Path) -> None:
    path = tmp_path / "staking.csv"
    path.write_text('"Disclaimer"\n' + HEADER + STAKING_ROWS, encoding="utf-8")
    with database.session() as session:
        result = import_bitpanda_csv(session, path)
    assert (result.rows, result.new_entries, result.staking_moves) == (5, 5, 2)
    entries = _entries(database, LedgerOrigin.BITPANDA_CSV)
    stake = entries["1f051f57-0835-6d20-bd6d-d58cbac8c087"]
    assert stake.kind is LedgerKind.INTERNAL and stake.sent_asset is None and stake.received_asset is None
    assert "19.77595407 SOL" in (stake.description or "")
    assert entries["S-out"].kind is LedgerKind.INTERNAL  # the plain transfer is the move's other half
    assert entries["1f099999-0835-6d20-bd6d-d58cbac8c088"].kind is LedgerKind.INTERNAL
    with database.session() as session:
        (account,) = value_portfolio(session, ["bitpanda"]).accounts
    (sol,) = [holding for holding in account.holdings if holding.asset == "SOL"]
    assert sol.quantity == Decimal("20.05")  # bought 20, reward 0.05; staking moved nothing
    assert sol.cost_basis_eur == Decimal("2000.00")  # the reward came at cost 0


def test_a_row_of_an_unknown_type_is_kept_for_review_and_the_rest_imports(database: Database, tmp_path: Path) -> None:
    path = tmp_path / "unknown.csv"
    path.write_text(
        HEADER
        + "U-1,2024-02-01T09:00:00+01:00,deposit,incoming,100.00,EUR,-,EUR,-,-,Fiat,-,-,-,-,-,-,-\n"
        + "U-2,2024-02-02T09:00:00+01:00,teleport,incoming,50.00,EUR,0.00100000,BTC,50000.00,EUR,Cryptocurrency,1,-,-,-,-,-,-\n"
        + "U-3,2024-02-03T09:00:00+01:00,buy,incoming,10.00,EUR,1.00000000,XYZ,10.00,EUR,Beanie Babies,1,-,-,-,-,-,-\n",
        encoding="utf-8",
    )
    with database.session() as session:
        result = import_bitpanda_csv(session, path)
    assert (result.rows, result.new_entries) == (3, 3)
    assert len(result.needs_review) == 2
    assert "unknown transaction type 'teleport'" in result.needs_review[0]
    assert "unknown asset class 'Beanie Babies'" in result.needs_review[1]
    entries = _entries(database, LedgerOrigin.BITPANDA_CSV)
    review = entries["U-2"]
    assert review.kind is LedgerKind.NEEDS_REVIEW
    assert (review.sent_asset, review.received_asset, review.value_eur) == (None, None, None)
    assert review.raw is not None and review.raw["Transaction Type"] == "teleport"
    with database.session() as session:
        (account,) = value_portfolio(session, ["bitpanda"]).accounts
    assert account.holdings == [] and account.cash_eur == Decimal("100.00")  # nothing of the review rows is used
    with database.session() as session:  # a re-import stores nothing twice
        assert import_bitpanda_csv(session, path).new_entries == 0


# ----- API (recorded answers) ------------------------------------------------------------------------


def _recorded(name: str) -> dict[str, Any]:
    answer: dict[str, Any] = json.loads((DATA / "bitpanda_api" / f"{name}.json").read_text(encoding="utf-8"))
    return answer


def _serve_recorded(httpserver: HTTPServer) -> None:
    """Serve the recorded first pages; the page after a recorded ``next_cursor`` is served empty."""
    headers = {"X-Api-Key": KEY}
    for path, name in (
        ("/v1/trades", "trades"),
        ("/v1/wallets/transactions", "wallets_transactions"),
        ("/v1/fiatwallets/transactions", "fiatwallets_transactions"),
    ):
        answer = _recorded(name)
        cursor = answer["meta"]["next_cursor"]
        httpserver.expect_request(
            path, headers=headers, query_string={"page_size": "100", "cursor": cursor}
        ).respond_with_json({"data": [], "meta": {"next_cursor": None}, "links": {}})
        httpserver.expect_request(path, headers=headers, query_string={"page_size": "100"}).respond_with_json(answer)
    httpserver.expect_request("/v1/wallets", headers=headers).respond_with_json(_recorded("wallets"))
    httpserver.expect_request("/v1/fiatwallets", headers=headers).respond_with_json(_recorded("fiatwallets"))
    httpserver.expect_request("/v1/asset-wallets", headers=headers).respond_with_json(_recorded("asset_wallets"))


@pytest.fixture
def synced(database: Database, httpserver: HTTPServer) -> Database:
    _serve_recorded(httpserver)
    client = BitpandaClient(KEY, base_url=httpserver.url_for("/v1"), rate_limiter=NO_LIMIT)
    with database.session() as session:
        result = sync_bitpanda(session, client)
    client.close()
    assert result.needs_review == ()  # every recorded item is of a known type
    return database


def test_metal_and_stock_trades_sync_with_their_asset_class(synced: Database) -> None:
    entries = _entries(synced, LedgerOrigin.BITPANDA_API)
    gold = entries["trade:7defe08e-f7ad-46e3-baa7-ecd610f7f577"]
    assert (gold.received_asset, gold.received_quantity, gold.asset_class) == ("XAU", Decimal("0.20940835"), "metal")
    google = entries["trade:dc5832d8-c7aa-489a-a095-5c03d08a9ea2"]
    assert (google.received_asset, google.asset_class) == ("GOOGL", "stock")
    assert entries["trade:1eee05f3-83a1-66b0-4b51-85f97bbcadaf"].asset_class == "crypto"  # BTC


def test_withheld_kest_and_its_refund_reconcile_the_gbp_wallet(synced: Database) -> None:
    entries = _entries(synced, LedgerOrigin.BITPANDA_API)
    sale = entries["trade:1f098569-bdf2-6fb0-0b22-3654326e33ed"]  # WAVES sold for 2.00 GBP, 0.55 GBP KESt withheld
    assert (sale.kind, sale.received_asset, sale.received_quantity) == (LedgerKind.SELL, "GBP", Decimal("2.00"))
    assert sale.kest_withheld_eur == Decimal("0.55") * Decimal("1.14666637")
    assert sale.value_eur == Decimal("2.00") * Decimal("1.14666637")
    withheld = entries["trade:1f098569-bdf2-6fb0-0b22-3654326e33ed:tax"]
    assert (withheld.kind, withheld.sent_asset, withheld.sent_quantity) == (LedgerKind.TAX, "GBP", Decimal("0.55"))
    refund = entries["fiat-tx:85c1b171-a8e7-4ddd-8c12-6805f9a7cac8"]  # refund tagged tax_withholding, to_eur_rate 0
    assert (refund.kind, refund.received_asset, refund.received_quantity) == (LedgerKind.TAX, "GBP", Decimal("0.55"))
    # a zero rate is unknown: the related sale's fiat transaction gives 1.145
    assert refund.value_eur == Decimal("0.55") * Decimal("1.145")
    assert refund.kest_withheld_eur == -refund.value_eur
    gbp = Decimal(0)
    for entry in entries.values():
        gbp += (entry.received_quantity or 0) if entry.received_asset == "GBP" else 0
        gbp -= (entry.sent_quantity or 0) if entry.sent_asset == "GBP" else 0
    balance = next(
        wallet for wallet in _recorded("fiatwallets")["data"] if wallet["attributes"]["fiat_symbol"] == "GBP"
    )
    assert gbp == Decimal(balance["attributes"]["balance"])  # 2.00 − 0.55 + 0.55: the ledger reconciles


def test_an_eur_transfer_with_a_wrong_rate_keeps_its_euro_value(synced: Database) -> None:
    transfer = _entries(synced, LedgerOrigin.BITPANDA_API)["fiat-tx:7bb29ea1-559d-4f58-ba58-b4df53c94a8a"]
    assert (transfer.kind, transfer.sent_quantity) == (LedgerKind.TRANSFER_OUT, Decimal("272.00"))
    assert transfer.value_eur == Decimal("272.00")  # to_eur_rate 0.00363971 is ignored: EUR is 1


def test_merger_crypto_transfers_are_one_rename_not_a_withdrawal_and_a_deposit(synced: Database) -> None:
    entries = _entries(synced, LedgerOrigin.BITPANDA_API)
    rename = entries["wallet-tx:c5f78df4-6006-43cd-8bdf-e4193f897937+wallet-tx:6037b545-be87-40c7-acd5-48a68dcf01f6"]
    assert rename.kind is LedgerKind.SWAP
    assert (rename.sent_asset, rename.sent_quantity) == ("MIOTA", Decimal("39.65505440"))
    assert (rename.received_asset, rename.received_quantity) == ("IOTA", Decimal("39.65505440"))
    assert "merger_crypto" in (rename.description or "")
    for leg in ("wallet-tx:c5f78df4-6006-43cd-8bdf-e4193f897937", "wallet-tx:6037b545-be87-40c7-acd5-48a68dcf01f6"):
        assert leg not in entries
    plain = entries["wallet-tx:9b80bd26-5549-4f45-94cb-e1ebe10d49f5"]  # an untagged transfer stays a transfer
    assert plain.kind is LedgerKind.TRANSFER_OUT


def test_a_finished_item_of_an_unknown_type_is_kept_for_review(database: Database, httpserver: HTTPServer) -> None:
    headers = {"X-Api-Key": KEY}
    fiat = copy_of_first_fiat_transaction()
    fiat["id"] = "unknown-fiat-type"
    fiat["attributes"].update(type="interest", in_or_out="incoming", tags=[], to_eur_rate="1.00000000")
    httpserver.expect_request("/v1/wallets", headers=headers).respond_with_json(_recorded("wallets"))
    httpserver.expect_request("/v1/fiatwallets", headers=headers).respond_with_json(_recorded("fiatwallets"))
    httpserver.expect_request("/v1/asset-wallets", headers=headers).respond_with_json(_recorded("asset_wallets"))
    for path in ("/v1/trades", "/v1/wallets/transactions"):
        httpserver.expect_request(path, headers=headers).respond_with_json({"data": [], "meta": {}})
    httpserver.expect_request("/v1/fiatwallets/transactions", headers=headers).respond_with_json({"data": [fiat]})
    client = BitpandaClient(KEY, base_url=httpserver.url_for("/v1"), rate_limiter=NO_LIMIT)
    with database.session() as session:
        result = sync_bitpanda(session, client)
    client.close()
    assert len(result.needs_review) == 1 and "type 'interest'" in result.needs_review[0]
    entry = _entries(database, LedgerOrigin.BITPANDA_API)["fiat-tx:unknown-fiat-type"]
    assert entry.kind is LedgerKind.NEEDS_REVIEW and entry.received_asset is None


def copy_of_first_fiat_transaction() -> dict[str, Any]:
    item: dict[str, Any] = json.loads(json.dumps(_recorded("fiatwallets_transactions")["data"][0]))
    return item


def test_a_later_import_that_knows_the_row_replaces_its_needs_review_entry(database: Database, tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    row = "K-1,2024-02-02T09:00:00+01:00,{type},incoming,50.00,EUR,0.00100000,BTC,50000.00,EUR,Cryptocurrency,1,-,-,-,-,-,-\n"
    path.write_text(HEADER + row.format(type="teleport"), encoding="utf-8")
    with database.session() as session:
        import_bitpanda_csv(session, path)
    assert _entries(database, LedgerOrigin.BITPANDA_CSV)["K-1"].kind is LedgerKind.NEEDS_REVIEW
    path.write_text(HEADER + row.format(type="reward"), encoding="utf-8")  # e.g. the user corrected the row
    with database.session() as session:
        assert import_bitpanda_csv(session, path).new_entries == 1
    (entry,) = _entries(database, LedgerOrigin.BITPANDA_CSV).values()
    assert (entry.kind, entry.received_asset, entry.received_quantity) == (LedgerKind.REWARD, "BTC", Decimal("0.001"))
