"""Write a tax report as CSV (the detail), XLSX (one sheet per section) or PDF (readable report).

Every format carries the demo-data notice when the database holds demo data, and the PDF and
XLSX carry the note that a tax adviser should review the report.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from core.tax.report import (
    ADVISER_NOTE,
    DEMO_NOTICE,
    KENNZAHL_LABELS,
    TaxReport,
    money,
    rows_to_json,
)
from core.timeutil import to_vienna

DETAIL_COLUMNS = (
    ("id", "Row"), ("date", "Date (UTC)"), ("wallet", "Wallet"), ("coin", "Coin"), ("category", "Category"),
    ("quantity", "Quantity"), ("proceeds_eur", "Proceeds EUR"), ("cost_eur", "Cost EUR"), ("gain_eur", "Gain EUR"),
    ("average_before_eur", "Average before EUR"), ("average_after_eur", "Average after EUR"), ("regime", "Regime"),
    ("kennzahl", "Kennzahl"), ("withholding", "KESt provider"), ("kest_withheld_eur", "KESt withheld EUR"),
    ("rule", "Rule applied"), ("ledger_entry_id", "Ledger entry"), ("external_id", "External id"),
    ("origin", "Origin"),
)  # fmt: skip
PDF_DETAIL_LIMIT = 3000
PDF_WARNING_LIMIT = 500
PDF_WARNING_ROW_IDS = 20


def render_report(report: TaxReport, fmt: str) -> bytes:
    """Return the report in ``fmt`` (json, csv, pdf, xlsx) as bytes."""
    renderers: dict[str, Callable[[TaxReport], bytes]] = {
        "json": _json_bytes,
        "csv": report_csv,
        "pdf": report_pdf,
        "xlsx": report_xlsx,
    }
    if fmt not in renderers:
        raise ValueError(f"unknown format {fmt!r}: use json, csv, pdf or xlsx")
    return renderers[fmt](report)


def _json_bytes(report: TaxReport) -> bytes:
    return report.to_json_bytes(newline=True)


def report_csv(report: TaxReport) -> bytes:
    """Return the per-transaction detail as CSV (a leading ``#`` line marks demo data)."""
    buffer = io.StringIO()
    if report.demo:
        buffer.write(f"# {DEMO_NOTICE}\n")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([title for _, title in DETAIL_COLUMNS])
    for data in rows_to_json(report.rows):
        writer.writerow([_csv_cell(data[key]) for key, _ in DETAIL_COLUMNS])
    return buffer.getvalue().encode("utf-8")


FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: Any) -> Any:
    """Return a CSV cell; text a spreadsheet would run as a formula gets a leading ``'`` (numbers stay as they are)."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES) and not _is_number(value):
        return "'" + value
    return value


def _is_number(text: str) -> bool:
    try:
        return Decimal(text).is_finite()
    except ArithmeticError:
        return False


# ----- sections shared by XLSX and PDF -----------------------------------------------------------------


def summary_table(report: TaxReport) -> list[tuple[str, str]]:
    """Return (label, EUR amount) pairs of the year's summary."""
    summary = report.summary()
    settlement = report.kest_settlement()
    return [
        ("Neuvermögen realised gains", _eur(summary["realised_gains_eur"])),
        ("Neuvermögen realised losses", _eur(summary["realised_losses_eur"])),
        ("Neuvermögen current income", _eur(summary["current_income_eur"])),
        ("Neuvermögen net (losses offset within the year)", _eur(summary["net_eur"])),
        ("Tax at 27.5 % on a positive net", _eur(summary["tax_eur"])),
        ("KESt withheld by domestic providers (KZ 899)", _eur(summary["kest_withheld_eur"])),
        ("Payable after crediting the KESt (negative: refund)", _eur(settlement["payable_after_credit_eur"])),
        # the § 31 net may be negative (a loss stays within § 31); KZ 801 takes it only when positive
        ("Altvermögen § 31 speculation net (E 1 KZ 801 when positive)", _eur(summary["speculation_income_eur"])),
        ("Altvermögen tax-free gains (held more than a year)", _eur(summary["tax_free_gains_eur"])),
    ]


def kennzahlen_table(report: TaxReport) -> list[tuple[str, str, str]]:
    """Return (Kennzahl, meaning, EUR amount) rows."""
    return [(key, KENNZAHL_LABELS[key], _eur(value)) for key, value in report.kennzahlen().items()]


def alt_neu_table(report: TaxReport) -> list[tuple[str, str, str, str, str]]:
    """Return (regime, rows, proceeds, cost, gain) for realisations by regime and outcome."""
    groups: dict[str, list[Decimal]] = {}
    for row in report.rows:
        if row.category.value != "realisation":
            continue
        if row.regime.value == "Neu" and row.kennzahl.startswith("17"):
            label = "Neuvermögen, 27.5 %"
        elif row.kennzahl == "E1-801":
            label = f"{row.regime.value}vermögen, § 31 speculation (KZ 801)"
        else:
            label = f"{row.regime.value}vermögen, § 31 tax-free"
        sums = groups.setdefault(label, [Decimal(0), Decimal(0), Decimal(0), Decimal(0)])
        sums[0] += 1
        sums[1] += row.proceeds_eur or 0
        sums[2] += row.cost_eur or 0
        sums[3] += row.gain_eur or 0
    return [(label, str(int(s[0])), _eur(s[1]), _eur(s[2]), _eur(s[3])) for label, s in sorted(groups.items())]


def kest_table(report: TaxReport) -> list[tuple[str, ...]]:
    """Return the KESt reconciliation rows per domestic wallet."""
    return [
        (
            line.wallet,
            _eur(line.gains),
            _eur(line.losses),
            _eur(line.income),
            _eur(line.net),
            _eur(line.kest_withheld_ledger),
            _eur(line.kest_withheld_entered),
            _eur(line.kest_expected),
            _eur(line.difference),
        )
        for line in report.kest_reconciliation()
    ]


KEST_HEADERS = (
    "Wallet",
    "Gains",
    "Losses",
    "Income",
    "Net",
    "KESt (ledger)",
    "KESt (entered)",
    "27.5 % of net",
    "Withheld − expected",
)
KEST_EXPLANATION = (
    "Results on which a domestic provider withheld KESt are final (Endbesteuerung) and need not be declared. "
    "Declare them (KZ 171/173/175) only to offset losses against other providers or to correct flat-cost cases; "
    "the withheld KESt is then credited (KZ 899). The Kennzahlen above include them so that nothing is taxed twice "
    "once the credit is applied."
)


def _eur(amount: Decimal | None) -> str:
    return money(amount) or ""


# ----- XLSX --------------------------------------------------------------------------------------------------


def report_xlsx(report: TaxReport) -> bytes:
    """Return the report as an XLSX workbook with one sheet per section."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    workbook = Workbook(write_only=True)
    banner = [DEMO_NOTICE] if report.demo else []

    def sheet(title: str, header: tuple[str, ...] | list[str], rows: list[Any]) -> None:
        worksheet = workbook.create_sheet(title)

        def cell(value: Any) -> Any:
            # openpyxl stores text starting with "=" as a formula: keep such text (a wallet, a coin) plain text
            if isinstance(value, str) and len(value) > 1 and value.startswith("="):
                text_cell = WriteOnlyCell(worksheet, value)
                text_cell.data_type = "s"
                return text_cell
            return value

        if banner:
            worksheet.append(banner)
        worksheet.append([f"Konsens — Austrian crypto tax report {report.year}: {title}"])
        worksheet.append(list(header))
        for row in rows:
            worksheet.append([cell(value) for value in row])

    summary_rows: list[Any] = [(label, _number(value)) for label, value in summary_table(report)]
    summary_rows += [(), ("Generated", to_vienna(report.generated_at).strftime("%Y-%m-%d %H:%M Europe/Vienna")),
                     ("Note", ADVISER_NOTE)]  # fmt: skip
    sheet("Summary", ("Figure", "EUR"), summary_rows)
    sheet(
        "Kennzahlen",
        ("Kennzahl", "Meaning", "EUR"),
        [(key, label, _number(value)) for key, label, value in kennzahlen_table(report)],
    )
    sheet(
        "Alt-Neu",
        ("Regime", "Rows", "Proceeds", "Cost", "Gain"),
        [(label, int(count), _number(p), _number(c), _number(g)) for label, count, p, c, g in alt_neu_table(report)],
    )
    kest_rows: list[Any] = [tuple([row[0], *(_number(value) for value in row[1:])]) for row in kest_table(report)]
    kest_rows += [(), (KEST_EXPLANATION,)]
    sheet("KESt", KEST_HEADERS, kest_rows)
    numeric = {
        "quantity",
        "proceeds_eur",
        "cost_eur",
        "gain_eur",
        "average_before_eur",
        "average_after_eur",
        "kest_withheld_eur",
    }
    detail = []
    for data in rows_to_json(report.rows):
        detail.append([_number(data[key]) if key in numeric else data[key] for key, _ in DETAIL_COLUMNS])
    sheet("Transactions", [title for _, title in DETAIL_COLUMNS], detail)
    sheet(
        "Warnings",
        ("Code", "Message", "Rows", "Wallet", "Coin"),
        [(w.code.value, w.message, ", ".join(w.row_ids), w.wallet, w.coin) for w in report.warnings],
    )
    sheet(
        "Assumptions",
        ("Key", "Value", "Description"),
        [(a["key"], a["value"], a["description"]) for a in report.assumptions.listed()],
    )
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _number(value: str | None) -> Decimal | str | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(value)
    except ArithmeticError:
        return value


# ----- PDF ---------------------------------------------------------------------------------------------------

_PDF_REPLACEMENTS = {"→": "->", "−": "-", "≤": "<=", "≥": ">=", "—": "-", "–": "-", "…": "..."}


def _pdf_text(text: str) -> str:
    for source, target in _PDF_REPLACEMENTS.items():
        text = text.replace(source, target)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def report_pdf(report: TaxReport) -> bytes:
    """Return a readable PDF: summary, Kennzahlen, Alt/Neu split, KESt, warnings, detail, assumptions."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import LongTable, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    styles = getSampleStyleSheet()
    body = styles["BodyText"]
    small = styles["BodyText"].clone("small", fontSize=7, leading=8.5)
    heading = styles["Heading2"].clone("section", keepWithNext=1)
    buffer = io.BytesIO()
    page_size = landscape(A4)
    document = SimpleDocTemplate(
        buffer,
        pagesize=page_size,
        leftMargin=12 * mm,
        rightMargin=12 * mm,
        topMargin=20 * mm,
        bottomMargin=14 * mm,
        title=f"Konsens tax report {report.year}",
        author="Konsens",
    )
    grid = TableStyle(
        [
            ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef7")),
            ("FONTSIZE", (0, 0), (-1, -1), 8),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ]
    )

    def table(header: list[str], rows: list[list[Any]], widths: list[float] | None = None, long: bool = False) -> Any:
        cells = [[Paragraph(f"<b>{_pdf_text(str(cell))}</b>", small) for cell in header]]
        cells += [[Paragraph(_pdf_text("" if cell is None else str(cell)), small) for cell in row] for row in rows]
        factory = LongTable if long else Table
        result = factory(cells, colWidths=widths, repeatRows=1)
        result.setStyle(grid)
        return result

    def paragraph(text: str, style: Any = body) -> Any:
        return Paragraph(_pdf_text(text), style)

    wallet_list = (
        ", ".join(f"{wallet.wallet} ({'domestic' if wallet.domestic else 'foreign'})" for wallet in report.wallets)
        or "none"
    )
    story: list[Any] = [
        Paragraph(f"Austrian crypto tax report {report.year}", styles["Title"]),
        paragraph(
            f"Generated {to_vienna(report.generated_at):%Y-%m-%d %H:%M} (Europe/Vienna) from the Konsens ledger. "
            f"Wallets: {wallet_list}."
        ),
        Paragraph("<b>Note:</b> " + _pdf_text(ADVISER_NOTE), body),
    ]
    if report.demo:
        story.insert(1, Paragraph("<b>" + _pdf_text(DEMO_NOTICE) + "</b>", body))
    story += [
        Paragraph("Summary", heading),
        table(["Figure", "EUR"], [list(row) for row in summary_table(report)], [120 * mm, 40 * mm]),
    ]
    story += [
        Paragraph("Kennzahlen to type into the E 1kv (section Kryptowährungen) and E 1", heading),
        table(
            ["Kennzahl", "Meaning", "EUR"],
            [list(row) for row in kennzahlen_table(report)],
            [25 * mm, 135 * mm, 35 * mm],
        ),
        paragraph("Verify the Kennzahlen against the year's form; losses are shown as positive amounts."),
    ]
    alt_neu = alt_neu_table(report)
    story += [Paragraph("Alt- / Neuvermögen split of realisations", heading)]
    story.append(
        table(["Regime", "Rows", "Proceeds", "Cost", "Gain"], [list(row) for row in alt_neu])
        if alt_neu
        else paragraph("No realisations in this year.")
    )
    story += [Paragraph("KESt reconciliation (domestic providers)", heading)]
    kest_rows = kest_table(report)
    story.append(
        table(list(KEST_HEADERS), [list(row) for row in kest_rows])
        if kest_rows
        else paragraph("No domestic (KESt-withholding) wallet had results in this year.")
    )
    settlement = report.kest_settlement()
    story += [
        Spacer(1, 3 * mm),
        paragraph(
            f"Tax on all Neuvermögen results: {_eur(settlement['tax_on_all_neu_eur'])} EUR; KESt credited (KZ 899): "
            f"{_eur(settlement['kest_credit_eur'])} EUR; payable after credit: "
            f"{_eur(settlement['payable_after_credit_eur'])} EUR. If only the results without KESt are declared: "
            f"net {_eur(settlement['foreign_only_net_eur'])} EUR, tax {_eur(settlement['foreign_only_tax_eur'])} EUR."
        ),
        paragraph(KEST_EXPLANATION),
    ]
    warnings = report.warnings
    story += [Paragraph(f"Warnings ({len(warnings)})", heading)]
    story.append(
        table(
            ["Code", "Message", "Rows"],
            [[w.code.value, w.message, _first_ids(w.row_ids)] for w in warnings[:PDF_WARNING_LIMIT]],
            [32 * mm, 205 * mm, 35 * mm],
            long=True,
        )
        if warnings
        else paragraph("No warnings.")
    )
    if len(warnings) > PDF_WARNING_LIMIT:
        story.append(paragraph(f"... {len(warnings) - PDF_WARNING_LIMIT} more warnings: see the XLSX or JSON export."))
    story += [Paragraph(f"Per-transaction detail ({len(report.rows)} rows)", heading)]
    header = [
        "Row",
        "Date (Vienna)",
        "Wallet",
        "Coin",
        "Qty",
        "Proceeds",
        "Cost",
        "Gain",
        "Avg before",
        "Avg after",
        "Regime",
        "KZ",
        "Rule applied",
    ]
    detail = []
    for row, data in zip(report.rows[:PDF_DETAIL_LIMIT], rows_to_json(report.rows[:PDF_DETAIL_LIMIT]), strict=True):
        detail.append(
            [
                data["id"],
                to_vienna(row.ts).strftime("%Y-%m-%d %H:%M"),
                data["wallet"],
                data["coin"],
                data["quantity"],
                data["proceeds_eur"],
                data["cost_eur"],
                data["gain_eur"],
                _short_price(data["average_before_eur"]),
                _short_price(data["average_after_eur"]),
                data["regime"],
                data["kennzahl"],
                data["rule"],
            ]
        )
    widths = [14, 24, 20, 13, 22, 20, 20, 20, 20, 20, 17, 11, 62]
    story.append(table(header, detail, [w * mm for w in widths], long=True) if detail else paragraph("No rows."))
    if len(report.rows) > PDF_DETAIL_LIMIT:
        story.append(paragraph(f"... {len(report.rows) - PDF_DETAIL_LIMIT} more rows: see the CSV or XLSX export."))
    story += [
        Paragraph("Assumptions", heading),
        table(
            ["Setting", "Value", "Description"],
            [[a["key"], a["value"], a["description"]] for a in report.assumptions.listed()],
            [50 * mm, 35 * mm, 185 * mm],
            long=True,
        ),
    ]

    def decorate(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        width, height = page_size
        canvas.setFont("Helvetica", 8)
        canvas.drawString(12 * mm, height - 10 * mm, f"Konsens - Austrian crypto tax report {report.year}")
        canvas.drawRightString(width - 12 * mm, 8 * mm, f"Page {doc.page}")
        canvas.drawString(12 * mm, 8 * mm, "Not tax advice: have a tax adviser review this report.")
        if report.demo:
            canvas.setFillColor(colors.red)
            canvas.setFont("Helvetica-Bold", 9)
            canvas.drawString(12 * mm, height - 15 * mm, DEMO_NOTICE)
        canvas.restoreState()

    document.build(story, onFirstPage=decorate, onLaterPages=decorate)
    return buffer.getvalue()


def _first_ids(row_ids: list[str]) -> str:
    shown = ", ".join(row_ids[:PDF_WARNING_ROW_IDS])
    more = len(row_ids) - PDF_WARNING_ROW_IDS
    return f"{shown} (+{more} more)" if more > 0 else shown


def _short_price(value: str | None) -> str:
    if value is None:
        return ""
    number = Decimal(value)
    return f"{number:.2f}" if abs(number) >= 1 else f"{number:.6f}"
