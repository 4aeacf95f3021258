"""Koinly universal CSV import: kinds, values, idempotence, malformed files, no demo data."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.db.engine import Database
from core.demo.seed import database_is_empty, has_demo_data
from core.market.models import Instrument
from core.portfolio.models import LedgerEntry, LedgerKind, LedgerOrigin
from core.tax.koinly import KoinlyImportError, import_koinly_file, parse_koinly_csv
from tests.core.tax.conftest import KOINLY_HEADER, write_koinly


def _count(database: Database) -> int:
    with database.session() as session:
        return session.scalar(select(func.count(LedgerEntry.id))) or 0


def test_import_maps_rows_to_ledger_kinds_and_eur_values(database: Database, exchange_csv: Path) -> None:
    with database.session() as session:
        result = import_koinly_file(session, exchange_csv, "kraken")
    assert (result.rows_read, result.rows_inserted) == (5, 5)
    with database.session() as session:
        entries = list(session.scalars(select(LedgerEntry).order_by(LedgerEntry.ts)))
    assert [entry.kind for entry in entries] == [
        LedgerKind.BUY,
        LedgerKind.SWAP,
        LedgerKind.REWARD,
        LedgerKind.WITHDRAWAL,
        LedgerKind.SELL,
    ]
    assert {entry.origin for entry in entries} == {LedgerOrigin.KOINLY_CSV}
    assert {entry.account for entry in entries} == {"kraken"}
    assert entries[0].value_eur == Decimal("20000")
    assert entries[0].fee_quantity == Decimal("10")
    assert entries[1].value_eur == Decimal("11000")  # from Net Worth
    assert entries[3].raw is not None and entries[3].raw["TxHash"] == "0xabc"
    assert entries[0].ts.isoformat() == "2023-01-10T09:00:00+00:00"


def test_reimport_changes_nothing(database: Database, exchange_csv: Path) -> None:
    with database.session() as session:
        import_koinly_file(session, exchange_csv, "kraken")
    before = _count(database)
    with database.session() as session:
        again = import_koinly_file(session, exchange_csv, "kraken")
    assert again.rows_inserted == 0
    assert again.rows_skipped == 5
    assert _count(database) == before


def test_identical_rows_in_one_file_are_both_kept(sqlite_database: Database, tmp_path: Path) -> None:
    path = write_koinly(tmp_path / "twice.csv", ["2023-01-10 09:00,100,EUR,0.01,BTC,,,,,,,"] * 2)
    with sqlite_database.session() as session:
        assert import_koinly_file(session, path, "w").rows_inserted == 2


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        (
            ["2023-01-10 09:00,20000,EUR,1,BTC,,,,,,,", "2023-01-11 09:00,abc,EUR,1,BTC,,,,,,,"],
            "line 3: Sent Amount 'abc' is not a number",
        ),
        (["10.01.2023,20000,EUR,1,BTC,,,,,,,"], "line 2: Koinly Date '10.01.2023' is not a date"),
        (["2023-01-10 09:00,20000,,1,BTC,,,,,,,"], "line 2: Sent Amount is given but Sent Currency is empty"),
        (["2023-01-10 09:00,,,,,,,,,,,"], "line 2: no Sent, Received or Fee amount"),
        (["2023-01-10 09:00,-5,EUR,1,BTC,,,,,,,"], "line 2: Sent Amount '-5' is negative"),
        (["2023-01-10 09:00,5,EUR,1,BTC,,,,,,,,,,extra"], "line 2: 15 fields, the header has 12"),
    ],
)
def test_malformed_file_imports_nothing_and_names_the_line(
    sqlite_database: Database, tmp_path: Path, rows: list[str], expected: str
) -> None:
    path = write_koinly(tmp_path / "bad.csv", rows)
    with (
        pytest.raises(KoinlyImportError, match=expected.replace("(", r"\(")) as caught,
        sqlite_database.session() as session,
    ):
        import_koinly_file(session, path, "w")
    assert "Nothing was imported" in str(caught.value)
    assert _count(sqlite_database) == 0


def test_file_that_is_not_koinly_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KoinlyImportError, match="line 1: not a Koinly universal CSV: missing column"):
        parse_koinly_csv("Date,Amount\n2023-01-01,5\n", "w")
    with pytest.raises(KoinlyImportError, match="line 1: the file is empty"):
        parse_koinly_csv("", "w")
    with pytest.raises(KoinlyImportError, match="no transactions"):
        parse_koinly_csv(KOINLY_HEADER + "\n", "w")
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(KoinlyImportError, match="not UTF-8"):
        import_koinly_file(None, binary, "w")  # type: ignore[arg-type]


def test_import_into_an_empty_database_seeds_no_demo_data(sqlite_database: Database, exchange_csv: Path) -> None:
    with sqlite_database.session() as session:
        assert database_is_empty(session)
        import_koinly_file(session, exchange_csv, "kraken")
    with sqlite_database.session() as session:
        assert not has_demo_data(session)
        assert session.scalar(select(func.count(Instrument.id))) == 0
        assert not database_is_empty(session)  # so `konsens up` will not seed demo data into it either
        assert session.scalar(select(func.count(LedgerEntry.id)).where(LedgerEntry.origin == LedgerOrigin.DEMO)) == 0


def test_koinly_dates_with_the_utc_suffix_are_read_as_utc() -> None:
    """Koinly writes its dates as ``YYYY-MM-DD HH:MM UTC``: the suffix is accepted, the time stays UTC."""
    (row,) = parse_koinly_csv(KOINLY_HEADER + "\n2023-01-10 23:30 UTC,100,EUR,0.01,BTC,,,,,,,\n", "w")
    assert row["ts"].isoformat() == "2023-01-10T23:30:00+00:00"
    (row,) = parse_koinly_csv(KOINLY_HEADER + "\n2023-01-10 23:30:15 UTC,100,EUR,0.01,BTC,,,,,,,\n", "w")
    assert row["ts"].isoformat() == "2023-01-10T23:30:15+00:00"


def test_the_tag_column_is_the_label() -> None:
    """Newer Koinly templates name the label column ``Tag``: a staking reward must not become a plain deposit."""
    header = KOINLY_HEADER.replace(",Label,", ",Tag,")
    (row,) = parse_koinly_csv(header + "\n2023-03-01 00:00,,,0.2,ETH,,,300,EUR,staking,,\n", "w")
    assert row["kind"] is LedgerKind.REWARD
    assert row["raw"]["Label"] == "staking"


@pytest.mark.parametrize("currency", ["=HYPERLINK(1)", "BT C", "@SUM", "€", "+1"])
def test_a_currency_that_is_not_a_code_is_refused(sqlite_database: Database, tmp_path: Path, currency: str) -> None:
    path = write_koinly(tmp_path / "bad.csv", [f'2023-01-10 09:00,100,EUR,1,"{currency}",,,,,,,'])
    with (
        pytest.raises(KoinlyImportError, match=r"line 2: Received Currency .* is not a currency code") as caught,
        sqlite_database.session() as session,
    ):
        import_koinly_file(session, path, "w")
    assert "Nothing was imported" in str(caught.value)
    assert _count(sqlite_database) == 0


def test_nan_and_infinite_amounts_are_refused() -> None:
    for amount in ("NaN", "Infinity", "sNaN"):
        with pytest.raises(KoinlyImportError, match=f"line 2: Sent Amount '{amount}' is not a finite number"):
            parse_koinly_csv(KOINLY_HEADER + f"\n2023-01-10 09:00,{amount},EUR,1,BTC,,,,,,,\n", "w")


def test_an_unclosed_quote_gives_one_short_message_naming_the_line() -> None:
    """The CSV reader runs an unclosed quote to the end of the file: the message must not quote the whole file."""
    rows = ['2023-01-10 09:00,"100,EUR,1,BTC,,,,,,,'] + ["2023-01-11 09:00,100,EUR,1,BTC,,,,,,,"] * 50
    with pytest.raises(KoinlyImportError) as caught:
        parse_koinly_csv(KOINLY_HEADER + "\n" + "\n".join(rows) + "\n", "w")
    message = str(caught.value)
    assert "\n" not in message
    assert len(message) < 250
    assert message.startswith("line 2: Sent Amount '100,EUR,1,BTC,,,,,,,…' is not a number")
    assert "runs to line 52: is a quote not closed?" in message


def test_error_lines_are_file_lines_after_a_multi_line_description() -> None:
    rows = ['2023-01-10 09:00,100,EUR,1,BTC,,,,,,"two\nlines",', "2023-01-11 09:00,abc,EUR,1,BTC,,,,,,,"]
    with pytest.raises(KoinlyImportError, match=r"^line 4: Sent Amount 'abc' is not a number"):
        parse_koinly_csv(KOINLY_HEADER + "\n" + "\n".join(rows) + "\n", "w")
