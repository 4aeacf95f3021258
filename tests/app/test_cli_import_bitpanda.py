"""``konsens import bitpanda FILE``: counts on success, one clear line and nothing written on a bad file."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select
from typer.testing import CliRunner

from app.cli import cli
from core.db.engine import Database
from core.portfolio.models import LedgerEntry

runner = CliRunner()
HEADER = (
    '"Transaction ID",Timestamp,"Transaction Type",In/Out,"Amount Fiat",Fiat,"Amount Asset",Asset,'
    '"Asset market price","Asset market price currency","Asset class","Product ID",Fee,"Fee asset",'
    '"Fee percent",Spread,"Spread Currency","Tax Fiat"\n'
)
GOOD = "T-1,2024-02-01T09:00:00+01:00,deposit,incoming,5000.00,EUR,-,EUR,-,-,Fiat,-,-,-,-,-,-,-\n"
BAD = "T-2,2024-02-02T10:15:30+01:00,buy,incoming,nan,EUR,0.025,BTC,40000,EUR,Cryptocurrency,1,-,-,-,-,-,-\n"


def _count(database: Database) -> int:
    with database.session() as session:
        return session.scalar(select(func.count()).select_from(LedgerEntry)) or 0


def test_import_twice_then_a_bad_file(configured_sqlite: Database, tmp_path: Path) -> None:
    good = tmp_path / "good.csv"
    good.write_text('"Disclaimer"\n' + HEADER + GOOD, encoding="utf-8")
    first = runner.invoke(cli, ["import", "bitpanda", str(good)])
    assert first.exit_code == 0, first.output
    assert "1 rows, 1 new ledger entries, 0 already imported" in first.output
    again = runner.invoke(cli, ["import", "bitpanda", str(good)])
    assert "1 rows, 0 new ledger entries, 1 already imported" in again.output
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + GOOD.replace("T-1", "T-9") + BAD, encoding="utf-8")
    result = runner.invoke(cli, ["import", "bitpanda", str(bad)])
    assert result.exit_code == 1
    assert "bad.csv: line 3: Amount Fiat is not a finite number" in result.output
    assert "nothing imported" in result.output and "Traceback" not in result.output
    assert _count(configured_sqlite) == 1


SWAP_OUT = "T-o,2024-03-01T12:00:05+01:00,swap,outgoing,50.00,EUR,0.001,BTC,50000,EUR,Cryptocurrency,1,-,-,-,-,-,-\n"
SWAP_IN = "T-i,2024-03-01T12:00:05+01:00,swap,incoming,50.00,EUR,0.02,ETH,2500,EUR,Cryptocurrency,5,-,-,-,-,-,-\n"
LONE = "T-l,2024-03-02T12:00:05+01:00,swap,outgoing,50.00,EUR,0.001,BTC,50000,EUR,Cryptocurrency,1,-,-,-,-,-,-\n"


def test_swaps_are_counted_and_unpaired_legs_named(configured_sqlite: Database, tmp_path: Path) -> None:
    path = tmp_path / "swaps.csv"
    path.write_text(HEADER + SWAP_OUT + SWAP_IN + LONE, encoding="utf-8")
    result = runner.invoke(cli, ["import", "bitpanda", str(path)])
    assert result.exit_code == 0, result.output
    assert "3 rows, 2 new ledger entries, 0 already imported, 1 swaps (two rows each, one entry)" in result.output
    assert "1 swap legs could not be paired and were imported as a sell (outgoing) or buy (incoming)" in result.output
    assert "T-l (1 outgoing and 0 incoming swap legs at this second, expected one of each)" in result.output
    assert _count(configured_sqlite) == 2
