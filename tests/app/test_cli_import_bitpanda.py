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
