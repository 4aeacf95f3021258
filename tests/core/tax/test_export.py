"""Exports of a report: CSV and XLSX cells that a spreadsheet opens safely and as numbers."""

from __future__ import annotations

import csv
import io
import subprocess
from decimal import Decimal
from pathlib import Path

from openpyxl import load_workbook

from core.tax.assumptions import TaxAssumptions
from core.tax.engine import TaxWarning, WarningCode, compute_year
from core.tax.export import PDF_WARNING_LIMIT, render_report, summary_table
from core.tax.report import TaxReport
from tests.core.tax.helpers import buy, sell

HOSTILE_WALLET = '=HYPERLINK("http://evil.example","x")'


def _report(wallet: str = HOSTILE_WALLET) -> TaxReport:
    movements = [
        buy("2023-01-10", "BTC", "0.5", "10000", wallet=wallet),
        sell("2024-02-01", "BTC", "0.25", "4000", wallet=wallet),
    ]
    result = compute_year(movements, 2024, TaxAssumptions())
    return TaxReport(year=2024, result=result, assumptions=TaxAssumptions(), demo=False, wallets=[])


def test_csv_cells_that_start_like_a_formula_are_quoted_but_numbers_stay_numbers() -> None:
    rows = list(csv.DictReader(io.StringIO(render_report(_report(), "csv").decode("utf-8"))))
    (sale,) = rows
    assert sale["Wallet"] == "'" + HOSTILE_WALLET
    assert sale["Gain EUR"] == "-1000.00"  # a negative amount is a number, not a formula: left alone
    assert sale["Quantity"] == "0.25"
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "@")), value
            assert not value.startswith("-") or Decimal(value).is_finite()


def test_xlsx_keeps_text_that_starts_with_equals_as_text_and_stores_numbers_as_numbers() -> None:
    report = _report()
    workbook = load_workbook(io.BytesIO(render_report(report, "xlsx")))
    sheet = workbook["Transactions"]
    header = [cell.value for cell in sheet[2]]
    (sale,) = [
        dict(zip(header, row, strict=True))
        for row in sheet.iter_rows(min_row=3, values_only=True)
        if row[header.index("Category")] == "realisation"
    ]
    assert sale["Wallet"] == HOSTILE_WALLET
    wallet_cell = sheet.cell(row=3, column=header.index("Wallet") + 1)
    assert wallet_cell.data_type == "s"  # not "f": Excel would run it
    for title in ("Quantity", "Proceeds EUR", "Cost EUR", "Gain EUR", "Average before EUR", "Average after EUR"):
        assert isinstance(sale[title], int | float), (title, sale[title])
    assert sale["Gain EUR"] == -1000
    assert sale["Quantity"] == 0.25
    assert sale["Average before EUR"] == 20000
    for worksheet in workbook.worksheets:
        for row in worksheet.iter_rows():
            assert all(cell.data_type != "f" for cell in row)


def test_pdf_says_how_many_warnings_and_row_ids_it_leaves_out(tmp_path: Path) -> None:
    report = _report(wallet="kraken")
    report.result.warnings = [
        TaxWarning(
            code=WarningCode.VALUE_MISSING,
            message=f"warning {number}",
            row_ids=[f"{number}-{index}" for index in range(25)],
        )
        for number in range(PDF_WARNING_LIMIT + 3)
    ]
    path = tmp_path / "r.pdf"
    path.write_bytes(render_report(report, "pdf"))
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, check=True, text=True).stdout
    assert "3 more warnings: see the XLSX or JSON export" in text
    assert "(+5 more)" in text
    assert "Date (Vienna)" in text


def test_summary_does_not_label_a_negative_speculation_net_as_kz_801() -> None:
    result = compute_year([], 2024, TaxAssumptions())
    result.totals.speculation = Decimal("-100")
    report = TaxReport(year=2024, result=result, assumptions=TaxAssumptions(), demo=False, wallets=[])
    (label, amount) = next(row for row in summary_table(report) if "speculation" in row[0])
    assert amount == "-100.00"
    assert label == "Altvermögen § 31 speculation net (E 1 KZ 801 when positive)"
    assert report.kennzahlen()["E1-801"] == Decimal("0.00")
