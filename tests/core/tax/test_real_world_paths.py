# ruff: noqa: E501
"""The whole path with real formats: Bitpanda CSV / API / Koinly → ledger → portfolio → tax report.

Formats: Bitpanda's CSV export header (as in veeso/bitpanda730 ``test/bitpanda.csv`` plus the newer
``Fee percent`` and ``Tax Fiat`` columns); the trade ``tax`` object as Bitpanda recorded it from
``api.bitpanda.com/v1`` (bitpanda-labs/bitpanda-public-api-mcp, ``tests/cassettes/
test_get_list_crypto_transactions.yaml`` at commit 1f8e4ee: ``"tax": {"type": "tax", "attributes":
{"amount_fiat": "0.55", "fiat_id": 4, "fiat_amount_after_tax": "1.45"}}``); Koinly's documented tags
(https://support.koinly.io/en/articles/9490023-what-are-tags).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from pytest_httpserver import HTTPServer
from sqlalchemy import select
from typer.testing import CliRunner

from app.cli import cli
from core.accounts.bitpanda_api import BitpandaClient, sync_bitpanda
from core.accounts.bitpanda_csv import import_bitpanda_csv
from core.db.engine import Database
from core.portfolio.models import LedgerEntry, LedgerKind
from core.portfolio.valuation import value_portfolio
from core.retry import RateLimiter
from core.tax.engine import WarningCode
from core.tax.koinly import import_koinly_file
from core.tax.report import build_report
from tests.core.tax.conftest import write_koinly

D = Decimal
HEADER = (
    '"Transaction ID",Timestamp,"Transaction Type",In/Out,"Amount Fiat",Fiat,"Amount Asset",Asset,'
    '"Asset market price","Asset market price currency","Asset class","Product ID",Fee,"Fee asset",'
    '"Fee percent",Spread,"Spread Currency","Tax Fiat"\n'
)
STAKING_HISTORY = (
    "P-dep,2023-01-02T09:00:00+01:00,deposit,incoming,1000.00,EUR,-,EUR,-,-,Fiat,-,-,-,-,-,-,-\n"
    "P-buy,2023-01-03T09:00:00+01:00,buy,outgoing,200.00,EUR,10.00000000,SOL,20.00,EUR,Cryptocurrency,135,-,-,-,-,-,-\n"
    "P-out,2023-02-01T10:00:00+01:00,transfer,outgoing,200.00,EUR,10.00000000,SOL,20.00,EUR,Cryptocurrency,135,-,-,-,-,-,-\n"
    "P-stake,2023-02-01T10:00:00+01:00,transfer(stake),incoming,200.00,EUR,10.00000000,SOL,20.00,EUR,Cryptocurrency,135,-,-,-,-,-,-\n"
    "P-reward,2023-06-01T02:00:00+02:00,reward,incoming,10.00,EUR,0.50000000,SOL,20.00,EUR,Cryptocurrency,135,-,-,-,-,-,-\n"
    "P-unstake,2024-01-10T10:00:00+01:00,transfer(unstake),outgoing,1050.00,EUR,10.50000000,SOL,100.00,EUR,Cryptocurrency,135,-,-,-,-,-,-\n"
    "P-in,2024-01-10T10:00:00+01:00,transfer,incoming,1050.00,EUR,10.50000000,SOL,100.00,EUR,Cryptocurrency,135,-,-,-,-,-,-\n"
)
SALE = "P-sell,2024-03-01T10:00:00+01:00,sell,incoming,1050.00,EUR,10.50000000,SOL,100.00,EUR,Cryptocurrency,135,-,-,-,-,-,233.75\n"


def test_staking_then_sale_from_a_bitpanda_export(database: Database, tmp_path: Path) -> None:
    path = tmp_path / "bitpanda.csv"
    path.write_text('"Disclaimer"\n' + HEADER + STAKING_HISTORY, encoding="utf-8")
    with database.session() as session:
        import_bitpanda_csv(session, path)
    with database.session() as session:  # portfolio: staking moved nothing, the reward came at cost 0
        (account,) = value_portfolio(session, ["bitpanda"]).accounts
        (sol,) = account.holdings
        assert (sol.quantity, sol.cost_basis_eur) == (D("10.5"), D("200.00"))
        report_2023 = build_report(session, 2023)
    assert report_2023.summary()["current_income_eur"] == D("0.00")  # a staking reward is no income
    assert not [w for w in report_2023.warnings if w.code is WarningCode.UNMATCHED_TRANSFER]
    path.write_text('"Disclaimer"\n' + HEADER + STAKING_HISTORY + SALE, encoding="utf-8")
    with database.session() as session:
        assert import_bitpanda_csv(session, path).new_entries == 2  # the sale and the KESt it took (a tax entry)
        (account,) = value_portfolio(session, ["bitpanda"]).accounts
        assert account.holdings == [] and account.cash_eur == D("1616.25")  # 1000 − 200 + 1050 − 233.75
        report = build_report(session, 2024)
    kennzahlen = report.kennzahlen()
    # 10 SOL cost 200 + 0.5 SOL reward cost 0, all sold for 1050: gain 850, KESt withheld 233.75
    assert kennzahlen["173"] == D("850.00") and kennzahlen["174"] == D("0.00")
    assert kennzahlen["171"] == D("0.00") and kennzahlen["172"] == D("0.00")
    assert kennzahlen["899"] == D("233.75")
    (line,) = report.kest_reconciliation()
    assert (line.wallet, line.kest_expected, line.difference) == ("bitpanda", D("233.75"), D("0.00"))


def _trade(
    trade_id: str, kind: str, iso: str, unix: str, fiat: str, coin: str, tax: str | None = None
) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "status": "finished",
        "type": kind,
        "cryptocoin_id": "1",
        "cryptocoin_symbol": "BTC",
        "fiat_id": "1",
        "amount_fiat": fiat,
        "amount_cryptocoin": coin,
        "fiat_to_eur_rate": "1.00000000",
        "wallet_id": "w-btc",
        "fiat_wallet_id": "f-eur",
        "time": {"date_iso8601": iso, "unix": unix},
        "price": "40000.00",
        "is_swap": False,
        "is_savings": False,
        "tags": [],
        "bfc_used": False,
        "is_card": False,
        "fee": {"type": "fee", "attributes": {"fee_percentage": 0, "fee_amount_in_fiat": "0.00000000"}},
        "is_fee_transparent": True,
    }
    if tax is not None:
        attributes["tax"] = {
            "type": "tax",
            "attributes": {"amount_fiat": tax, "fiat_id": 1, "fiat_amount_after_tax": str(D(fiat) - D(tax))},
        }
    return {"type": "trade", "attributes": attributes, "id": trade_id}


def test_a_bitpanda_api_sale_with_kest_withheld_fills_kz_173_and_899(
    database: Database, httpserver: HTTPServer
) -> None:
    trades = [
        _trade("t-sell", "sell", "2025-03-01T10:00:00+01:00", "1740819600", "6000.00", "0.10000000", tax="550.00"),
        _trade("t-buy", "buy", "2024-02-01T10:00:00+01:00", "1706778000", "4000.00", "0.10000000"),
    ]
    wallets = [
        {
            "type": "wallet",
            "id": "w-btc",
            "attributes": {
                "cryptocoin_id": "1",
                "cryptocoin_symbol": "BTC",
                "balance": "0.00000000",
                "is_default": True,
                "name": "BTC Wallet",
                "pending_transactions_count": 0,
                "deleted": False,
                "is_index": False,
            },
        }
    ]
    fiat_wallets = [
        {
            "type": "fiat_wallet",
            "id": "f-eur",
            "attributes": {
                "fiat_id": "1",
                "fiat_symbol": "EUR",
                "balance": "5450.00",
                "name": "EUR Wallet",
                "pending_transactions_count": 0,
            },
        }
    ]
    deposit = {
        "type": "fiat_wallet_transaction",
        "id": "ft-dep",
        "attributes": {
            "fiat_wallet_id": "f-eur",
            "fiat_id": "1",
            "amount": "4000.00",
            "fee": "0.00",
            "to_eur_rate": "1.00000000",
            "time": {"date_iso8601": "2024-01-31T10:00:00+01:00", "unix": "1706691600"},
            "in_or_out": "incoming",
            "type": "deposit",
            "status": "finished",
            "tags": [],
        },
    }
    httpserver.expect_request("/v1/wallets").respond_with_json({"data": wallets})
    httpserver.expect_request("/v1/fiatwallets").respond_with_json({"data": fiat_wallets})
    httpserver.expect_request("/v1/asset-wallets").respond_with_json(
        {
            "data": {
                "type": "data",
                "attributes": {"cryptocoin": {"type": "collection", "attributes": {"wallets": wallets}}},
            }
        }
    )
    httpserver.expect_request("/v1/trades").respond_with_json({"data": trades, "meta": {}})
    httpserver.expect_request("/v1/wallets/transactions").respond_with_json({"data": []})
    httpserver.expect_request("/v1/fiatwallets/transactions").respond_with_json({"data": [deposit]})
    client = BitpandaClient("K", base_url=httpserver.url_for("/v1"), rate_limiter=RateLimiter(0))
    with database.session() as session:
        sync_bitpanda(session, client)
    client.close()
    with database.session() as session:
        (account,) = value_portfolio(session, ["bitpanda"]).accounts
        assert account.cash_eur == D("5450.00")  # 4000 − 4000 + 6000 − 550 KESt: as the EUR wallet says
        assert account.holdings == []
        report = build_report(session, 2025)
    kennzahlen = report.kennzahlen()
    assert kennzahlen["173"] == D("2000.00") and kennzahlen["174"] == D("0.00")
    assert kennzahlen["899"] == D("550.00")
    settlement = report.kest_settlement()
    assert settlement["tax_on_all_neu_eur"] == D("550.00") and settlement["payable_after_credit_eur"] == D("0.00")


def test_needs_review_rows_are_warned_on_the_report_and_in_the_cli(configured_sqlite: Database, tmp_path: Path) -> None:
    path = tmp_path / "bitpanda.csv"
    path.write_text(
        HEADER
        + "R-1,2024-02-01T09:00:00+01:00,deposit,incoming,100.00,EUR,-,EUR,-,-,Fiat,-,-,-,-,-,-,-\n"
        + "R-2,2024-05-02T09:00:00+02:00,stock split,incoming,-,EUR,9.00000000,NVDA,-,-,Stock,88,-,-,-,-,-,-\n",
        encoding="utf-8",
    )
    runner = CliRunner()
    imported = runner.invoke(cli, ["import", "bitpanda", str(path)])
    assert imported.exit_code == 0, imported.output
    assert "needs review" in imported.output and "unknown transaction type 'stock split'" in imported.output
    with configured_sqlite.session() as session:
        report = build_report(session, 2024)
    (warning,) = [w for w in report.warnings if w.code is WarningCode.NEEDS_REVIEW]
    assert "bitpanda_csv:R-2" in warning.message and "stock split" in warning.message
    assert not [row for row in report.rows if row.coin == "NVDA"]  # not used in the report
    result = runner.invoke(cli, ["tax", "report", "--year", "2024"])
    assert result.exit_code == 0
    assert "warning: Ledger entry bitpanda_csv:R-2" in result.stderr


KOINLY_TAGGED = [
    "2024-01-05 10:00,10000,EUR,0.25,BTC,,,,,,buy,",
    "2024-02-01 10:00,,,0.01,BTC,,,400,EUR,Salary,,",
    "2024-02-02 10:00,,,0.001,BTC,,,40,EUR,Cashback,,",
    "2024-02-03 10:00,,,0.0005,BTC,,,20,EUR,Fee refund,,",
    "2024-02-04 10:00,,,0.02,BTC,,,800,EUR,Loan,,",
    "2024-02-05 10:00,,,0.02,BTC,,,800,EUR,Margin loan,,",
    "2024-02-06 10:00,,,0.003,BTC,,,120,EUR,Realized PNL,,",
    "2024-02-07 10:00,,,0.004,BTC,,,160,EUR,Remove from Pool,,",
    "2024-03-01 10:00,0.001,BTC,,,,,50,EUR,Tax,,",
    "2024-03-02 10:00,0.001,BTC,,,,,50,EUR,Margin fee,,",
    "2024-03-03 10:00,0.001,BTC,,,,,50,EUR,Loan fee,,",
    "2024-03-04 10:00,0.001,BTC,,,,,50,EUR,Interest payment,,",
    "2024-03-05 10:00,0.001,BTC,,,,,50,EUR,Realized PNL,,",
    "2024-03-06 10:00,0.001,BTC,,,,,50,EUR,Bribe,,",
]


def test_every_documented_koinly_tag_imports_with_its_treatment(database: Database, tmp_path: Path) -> None:
    path = write_koinly(tmp_path / "koinly.csv", KOINLY_TAGGED)
    with database.session() as session:
        result = import_koinly_file(session, path, "ledger")
    assert (result.rows_read, result.rows_inserted) == (14, 14)
    assert len(result.needs_review) == 1 and "unknown tag 'bribe'" in result.needs_review[0]
    with database.session() as session:
        kinds = [entry.kind for entry in session.scalars(select(LedgerEntry).order_by(LedgerEntry.ts))]
        report = build_report(session, 2024)
    assert kinds == [
        LedgerKind.BUY,
        LedgerKind.BUY,
        LedgerKind.REWARD,
        LedgerKind.REWARD,
        LedgerKind.BUY,
        LedgerKind.BUY,
        LedgerKind.BUY,
        LedgerKind.TRANSFER_IN,
        LedgerKind.SPEND,
        LedgerKind.SPEND,
        LedgerKind.SPEND,
        LedgerKind.SPEND,
        LedgerKind.SPEND,
        LedgerKind.NEEDS_REVIEW,
    ]
    assumptions = [w for w in report.warnings if w.code is WarningCode.IMPORT_ASSUMPTION]
    assert len(assumptions) == len(result.assumptions) == 10  # salary, cashback, fee refund, loan (×2 one text)...
    assert any("cashback is a price reduction" in w.message for w in assumptions)
    assert [w for w in report.warnings if w.code is WarningCode.NEEDS_REVIEW]
    summary = report.summary()
    assert summary["current_income_eur"] == D("0.00")  # salary, cashback, loans: no capital income
    # pool before the spendings: 0.3085 BTC for 12,280 EUR (10,000 bought + 400 salary + 800 + 800 loans + 120 PNL
    # + 160 from the pool at its value; cashback and fee refund at cost 0) → 0.001 BTC costs 39.8055 EUR;
    # five spendings at 50 EUR each realise 5 × 10.1945 = 50.97 EUR
    assert summary["realised_gains_eur"] == D("50.97")
