from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.accounts.bitpanda_csv import BitpandaCsvError, import_bitpanda_csv
from core.db.engine import Database
from core.portfolio.models import LedgerEntry, LedgerKind, LedgerOrigin

D = Decimal
PREAMBLE = (
    '"Disclaimer: All data is without guarantee, errors and changes are reserved."\n'
    '"Pending transactions are not included in this export."\n'
    '"Bitpanda GmbH, Stella-Klein-Löw-Weg 17, 1020 Vienna, Austria"\n'
    '"User ID: 3c2f1e8a-1111-2222-3333-444455556666"\n'
    '"Transaction History"\n'
    '"Export created: 2025-01-05T10:00:00+01:00"\n'
)
NEW_HEADER = (
    '"Transaction ID",Timestamp,"Transaction Type",In/Out,"Amount Fiat",Fiat,"Amount Asset",Asset,'
    '"Asset market price","Asset market price currency","Asset class","Product ID",Fee,"Fee asset",'
    '"Fee percent",Spread,"Spread Currency","Tax Fiat"\n'
)
OLD_HEADER = (
    '"Transaction ID",Timestamp,"Transaction Type",In/Out,"Amount Fiat",Fiat,"Amount Asset",Asset,'
    '"Asset market price","Asset market price currency","Asset class","Product ID",Fee,"Fee asset",Spread,'
    '"Spread Currency"\n'
)
NEW_ROWS = (
    "Tf1a2b3c4-0001,2024-02-01T09:00:00+01:00,deposit,incoming,5000.00,EUR,-,EUR,-,-,Fiat,-,0.00,EUR,-,-,-,-\n"
    "Tf1a2b3c4-0002,2024-02-02T10:15:30+01:00,buy,incoming,1000.00,EUR,0.02500000,BTC,40000.00,EUR,Cryptocurrency,"
    "1,-,-,-,14.90,EUR,-\n"
    "Tf1a2b3c4-0003,2024-02-03T11:00:00+01:00,buy,incoming,500.00,EUR,0.19000000,ETH,2600.00,EUR,Cryptocurrency,"
    "5,0.00050000,ETH,0.25%,-,-,-\n"
    "Tf1a2b3c4-0004,2024-03-01T12:00:00+01:00,sell,outgoing,600.00,EUR,0.01000000,BTC,60000.00,EUR,Cryptocurrency,"
    "1,1.50,EUR,0.25%,8.94,EUR,45.37\n"
    "Tf1a2b3c4-0005,2024-03-05T08:00:00+01:00,reward,incoming,2.60,EUR,0.00100000,ETH,2600.00,EUR,Cryptocurrency,"
    "5,-,-,-,-,-,-\n"
    "Tf1a2b3c4-0006,2024-03-06T08:00:00+01:00,transfer,incoming,0.00,EUR,0.50000000,SOL,100.00,EUR,Cryptocurrency,"
    "33,-,-,-,-,-,-\n"
    "Tf1a2b3c4-0007,2024-03-07T16:30:00+01:00,buy,incoming,300.00,EUR,1.60000000,AAPL,187.50,EUR,"
    "Stock (derivative),88,-,-,-,-,-,-\n"
    "Tf1a2b3c4-0008,2024-03-08T09:00:00+01:00,buy,incoming,200.00,EUR,0.10000000,XAU,2000.00,EUR,Metal,28,-,-,-,-,-,-\n"
    "Tf1a2b3c4-0009,2024-03-09T09:00:00+01:00,withdrawal,outgoing,250.00,EUR,-,EUR,-,-,Fiat,-,1.00,EUR,-,-,-,-\n"
    "Tf1a2b3c4-0010,2024-03-10T09:00:00+01:00,buy,incoming,100.00,USD,0.50000000,SPY,200.00,USD,ETF (derivative),"
    "90,-,-,-,-,-,-\n"
)
OLD_ROWS = (
    "T00aa-1,2021-05-01T10:00:00+02:00,deposit,incoming,100.00,EUR,-,EUR,-,-,Fiat,-,-,-,-,-\n"
    "T00aa-2,2021-05-02T10:00:00+02:00,buy,incoming,100.00,EUR,0.00200000,BTC,50000.00,EUR,Cryptocurrency,1,-,-,-,-\n"
    "T00aa-3,2021-05-03T10:00:00+02:00,transfer,outgoing,-,EUR,0.00100000,BTC,51000.00,EUR,Cryptocurrency,1,"
    "0.00001000,BTC,-,-\n"
)


def _write(tmp_path: Path, text: str, name: str = "export.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _entries(database: Database) -> dict[str, LedgerEntry]:
    with database.session() as session:
        rows = list(session.scalars(select(LedgerEntry).where(LedgerEntry.origin == LedgerOrigin.BITPANDA_CSV)))
        for row in rows:
            session.expunge(row)
        return {row.external_id: row for row in rows}


def test_new_export_with_every_type_and_class(database: Database, tmp_path: Path) -> None:
    path = _write(tmp_path, PREAMBLE + NEW_HEADER + NEW_ROWS)
    with database.session() as session:
        result = import_bitpanda_csv(session, path)
    assert (result.rows, result.new_entries) == (10, 11)  # + the KESt the sale's Tax Fiat took
    entries = _entries(database)
    withheld = entries["Tf1a2b3c4-0004:tax"]
    assert (withheld.kind, withheld.sent_asset, withheld.sent_quantity) == (LedgerKind.TAX, "EUR", D("45.37"))
    assert withheld.kest_withheld_eur is None  # the sale carries the KESt: KZ 899 counts it once
    deposit = entries["Tf1a2b3c4-0001"]
    assert (
        deposit.kind is LedgerKind.DEPOSIT and deposit.received_asset == "EUR" and deposit.received_quantity == D(5000)
    )
    buy = entries["Tf1a2b3c4-0002"]
    assert buy.kind is LedgerKind.BUY and buy.sent_asset == "EUR" and buy.received_asset == "BTC"
    assert buy.value_eur == D(1000) and buy.asset_class == "crypto" and buy.account == "bitpanda"
    assert buy.ts.isoformat() == "2024-02-02T09:15:30+00:00"
    coin_fee = entries["Tf1a2b3c4-0003"]
    assert coin_fee.fee_asset == "ETH" and coin_fee.fee_quantity == D("0.0005")
    sell = entries["Tf1a2b3c4-0004"]
    assert sell.kind is LedgerKind.SELL and sell.sent_asset == "BTC" and sell.received_quantity == D(600)
    assert sell.fee_asset == "EUR" and sell.fee_quantity == D("1.5") and sell.kest_withheld_eur == D("45.37")
    assert entries["Tf1a2b3c4-0005"].kind is LedgerKind.REWARD
    assert entries["Tf1a2b3c4-0006"].kind is LedgerKind.TRANSFER_IN
    assert entries["Tf1a2b3c4-0007"].asset_class == "stock"
    assert entries["Tf1a2b3c4-0008"].asset_class == "metal"
    withdrawal = entries["Tf1a2b3c4-0009"]
    assert (
        withdrawal.kind is LedgerKind.WITHDRAWAL
        and withdrawal.sent_asset == "EUR"
        and withdrawal.sent_quantity == D(250)
    )
    usd = entries["Tf1a2b3c4-0010"]
    assert usd.asset_class == "etf" and usd.value_eur is None  # no USD rate known: not invented
    assert usd.raw is not None and usd.raw["Fiat"] == "USD"


def test_old_export_without_fee_percent_and_tax_columns(database: Database, tmp_path: Path) -> None:
    path = _write(tmp_path, PREAMBLE + OLD_HEADER + OLD_ROWS)
    with database.session() as session:
        result = import_bitpanda_csv(session, path)
    assert result.new_entries == 3
    entries = _entries(database)
    assert entries["T00aa-2"].kest_withheld_eur is None
    transfer = entries["T00aa-3"]
    assert transfer.kind is LedgerKind.TRANSFER_OUT and transfer.sent_asset == "BTC" and transfer.fee_asset == "BTC"


def test_reimport_changes_nothing(database: Database, tmp_path: Path) -> None:
    path = _write(tmp_path, PREAMBLE + NEW_HEADER + NEW_ROWS)
    with database.session() as session:
        import_bitpanda_csv(session, path)
    with database.session() as session:
        again = import_bitpanda_csv(session, path)
        assert again.new_entries == 0 and again.skipped_existing == 11
        assert session.scalar(select(func.count()).select_from(LedgerEntry)) == 11


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ("Tbad-1,not-a-date,buy,incoming,1.00,EUR,1,BTC,1,EUR,Cryptocurrency,1,-,-,-,-,-,-\n", "line 18: Timestamp"),
        (
            "Tbad-1,2024-03-10T09:00:00+01:00,buy,incoming,abc,EUR,1,BTC,1,EUR,Cryptocurrency,1,-,-,-,-,-,-\n",
            "line 18: Amount Fiat is not a number",
        ),
        ("Tbad-1,2024-03-10T09:00:00+01:00,buy,incoming,1,EUR\n", "line 18: 6 fields"),
        (
            "Tbad-1,2024-12-31T23:30:00,buy,incoming,1,EUR,1,BTC,1,EUR,Cryptocurrency,1,-,-,-,-,-,-\n",
            "line 18: Timestamp has no UTC offset",
        ),
        (
            "Tbad-1,2024-03-10T09:00:00+01:00,buy,incoming,NaN,EUR,1,BTC,1,EUR,Cryptocurrency,1,-,-,-,-,-,-\n",
            "line 18: Amount Fiat is not a finite number",
        ),
        (
            "Tbad-1,2024-03-10T09:00:00+01:00,buy,incoming,-,EUR,1,BTC,1,EUR,Cryptocurrency,1,-,-,-,-,-,-\n",
            "line 18: a buy needs Amount Fiat",
        ),
        (
            "Tf1a2b3c4-0001,2024-03-10T09:00:00+01:00,deposit,incoming,1,EUR,-,EUR,-,-,Fiat,-,-,-,-,-,-,-\n",
            "appears twice",
        ),
    ],
)
def test_a_bad_file_imports_nothing_and_names_the_line(
    database: Database, tmp_path: Path, bad_line: str, message: str
) -> None:
    path = _write(tmp_path, PREAMBLE + NEW_HEADER + NEW_ROWS + bad_line)
    with pytest.raises(BitpandaCsvError, match=message), database.session() as session:
        import_bitpanda_csv(session, path)
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(LedgerEntry)) == 0


def test_not_a_bitpanda_file(database: Database, tmp_path: Path) -> None:
    path = _write(tmp_path, "date,open,high\n2024-01-01,1,2\n")
    with pytest.raises(BitpandaCsvError, match="Transaction ID"), database.session() as session:
        import_bitpanda_csv(session, path)
