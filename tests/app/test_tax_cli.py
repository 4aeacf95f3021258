"""`konsens import koinly` and `konsens tax report` through the real command line."""

from __future__ import annotations

import json
import re
from pathlib import Path

from typer.testing import CliRunner

from app.cli import cli
from core.db.engine import Database
from tests.core.tax.conftest import EXCHANGE_ROWS, KOINLY_HEADER

AMOUNT = re.compile(r"^-?\d+\.\d{2}$")


def _koinly(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "kraken.csv"
    path.write_text("\n".join([KOINLY_HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def test_import_then_report_json_shape(configured_sqlite: Database, tmp_path: Path) -> None:
    runner = CliRunner()
    path = _koinly(tmp_path, EXCHANGE_ROWS)
    first = runner.invoke(cli, ["import", "koinly", str(path), "--wallet", "kraken"])
    assert first.exit_code == 0, first.output
    assert "Imported 5 new ledger rows into wallet 'kraken'" in first.output
    second = runner.invoke(cli, ["import", "koinly", str(path), "--wallet", "kraken"])
    assert "Imported 0 new ledger rows" in second.output
    result = runner.invoke(cli, ["tax", "report", "--year", "2024", "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout[result.stdout.index("{") :])
    assert list(data) == [
        "year",
        "neu",
        "alt",
        "kest_withheld_eur",
        "kennzahlen",
        "transactions",
        "warnings",
        "assumptions",
    ]
    assert data["year"] == 2024
    assert list(data["neu"]) == [
        "realised_gains_eur",
        "realised_losses_eur",
        "current_income_eur",
        "net_eur",
        "tax_eur",
    ]
    assert list(data["alt"]) == ["speculation_income_eur", "tax_free_gains_eur"]
    assert list(data["kennzahlen"]) == ["171", "172", "173", "174", "175", "176", "899", "E1-801"]
    amounts = [*data["neu"].values(), *data["alt"].values(), data["kest_withheld_eur"], *data["kennzahlen"].values()]
    assert all(AMOUNT.match(value) for value in amounts)
    assert data["neu"]["realised_gains_eur"] == "2431.25"
    assert data["neu"]["tax_eur"] == "668.59"  # 27.5 % of 2431.25
    (sale,) = data["transactions"]
    assert {
        "date",
        "wallet",
        "coin",
        "quantity",
        "proceeds_eur",
        "cost_eur",
        "gain_eur",
        "average_before_eur",
        "average_after_eur",
        "regime",
        "rule",
    } <= set(sale)
    assert sale["gain_eur"] == "2431.25"
    assert all({"key", "value", "description"} <= set(item) for item in data["assumptions"])


def test_report_files_in_every_format(configured_sqlite: Database, tmp_path: Path) -> None:
    runner = CliRunner()
    runner.invoke(cli, ["import", "koinly", str(_koinly(tmp_path, EXCHANGE_ROWS)), "--wallet", "kraken"])
    for fmt, magic in (("pdf", b"%PDF"), ("xlsx", b"PK"), ("csv", b"Row,Date"), ("json", b"{")):
        output = tmp_path / f"report.{fmt}"
        result = runner.invoke(cli, ["tax", "report", "--year", "2023", "--format", fmt, "--output", str(output)])
        assert result.exit_code == 0, result.output
        assert output.read_bytes().startswith(magic)


def test_bad_file_fails_with_one_line_and_imports_nothing(configured_sqlite: Database, tmp_path: Path) -> None:
    path = _koinly(tmp_path, [EXCHANGE_ROWS[0], "2023-13-01 10:00,1,EUR,1,BTC,,,,,,,"])
    result = CliRunner().invoke(cli, ["import", "koinly", str(path), "--wallet", "kraken"])
    assert result.exit_code == 1
    assert "line 3: Koinly Date '2023-13-01 10:00' is not a date" in result.output
    report = CliRunner().invoke(cli, ["tax", "report", "--year", "2023"])
    assert json.loads(report.stdout[report.stdout.index("{") :])["transactions"] == []


def test_wallet_and_kest_commands(configured_sqlite: Database) -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["tax", "wallet", "kraken", "--domestic"]).exit_code == 0
    assert (
        runner.invoke(cli, ["tax", "kest", "--year", "2024", "--wallet", "kraken", "--amount", "12.5"]).exit_code == 0
    )
    bad = runner.invoke(cli, ["tax", "kest", "--year", "2024", "--wallet", "kraken", "--amount", "x"])
    assert bad.exit_code == 1
    data = json.loads(runner.invoke(cli, ["tax", "report", "--year", "2024"]).stdout)
    assert data["kennzahlen"]["899"] == "12.50"


def test_report_output_to_a_directory_or_a_missing_folder_fails_with_one_line(
    configured_sqlite: Database, tmp_path: Path
) -> None:
    runner = CliRunner()
    for output, reason in ((tmp_path, "directory"), (tmp_path / "missing" / "r.pdf", "No such file")):
        result = runner.invoke(cli, ["tax", "report", "--year", "2023", "--format", "pdf", "--output", str(output)])
        assert result.exit_code == 1
        assert f"error: cannot write {output}" in result.stderr
        assert reason in result.stderr
        assert "Traceback" not in result.output


def test_koinly_import_names_rows_that_need_review_and_the_assumptions_used(
    configured_sqlite: Database, tmp_path: Path
) -> None:
    rows = ["2024-02-01 10:00,,,0.01,BTC,,,400,EUR,Salary,,", "2024-03-06 10:00,0.001,BTC,,,,,50,EUR,Bribe,,"]
    result = CliRunner().invoke(cli, ["import", "koinly", str(_koinly(tmp_path, rows)), "--wallet", "kraken"])
    assert result.exit_code == 0, result.output
    assert "Imported 2 new ledger rows" in result.output
    assert "needs review (kept, not used in balances or tax): Koinly CSV line 3: unknown tag 'bribe'" in result.output
    assert "assumption used: crypto received as salary is acquired at its market value" in result.output
