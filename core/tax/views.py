"""Tables of a tax report for display (the Tax report page): detail rows with filters, Kennzahlen."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import pandas as pd

from core.tax.engine import TaxRow
from core.tax.report import KENNZAHL_LABELS, TaxReport
from core.timeutil import to_vienna


@dataclass(frozen=True)
class DetailFilter:
    """What the detail table shows; empty collections mean 'all'."""

    wallets: Collection[str] = ()
    coins: Collection[str] = ()
    categories: Collection[str] = ()
    regimes: Collection[str] = ()
    row_ids: Collection[str] = ()


def filter_rows(report: TaxReport, chosen: DetailFilter) -> list[TaxRow]:
    """Return the detail rows that pass ``chosen``."""
    row_ids = set(chosen.row_ids)
    return [
        row
        for row in report.rows
        if (not chosen.wallets or row.wallet in chosen.wallets)
        and (not chosen.coins or row.coin in chosen.coins)
        and (not chosen.categories or row.category.value in chosen.categories)
        and (not chosen.regimes or row.regime.value in chosen.regimes)
        and (not row_ids or row.row_id in row_ids)
    ]


def detail_frame(rows: list[TaxRow]) -> pd.DataFrame:
    """Return detail rows as a display frame (Vienna time; amounts as floats for display only)."""

    def number(value: object) -> float | None:
        return None if value is None else float(value)  # type: ignore[arg-type]

    records = [
        {
            "Row": row.row_id,
            "Date (Vienna)": to_vienna(row.ts).strftime("%Y-%m-%d %H:%M"),
            "Wallet": row.wallet,
            "Coin": row.coin,
            "Category": row.category.value,
            "Quantity": number(row.quantity),
            "Proceeds €": number(row.proceeds_eur),
            "Cost €": number(row.cost_eur),
            "Gain €": number(row.gain_eur),
            "Avg before €": number(row.average_before_eur),
            "Avg after €": number(row.average_after_eur),
            "Regime": row.regime.value,
            "KZ": row.kennzahl,
            "KESt €": number(row.kest_withheld_eur),
            "Rule applied": row.rule,
        }
        for row in rows
    ]
    columns = [
        "Row",
        "Date (Vienna)",
        "Wallet",
        "Coin",
        "Category",
        "Quantity",
        "Proceeds €",
        "Cost €",
        "Gain €",
        "Avg before €",
        "Avg after €",
        "Regime",
        "KZ",
        "KESt €",
        "Rule applied",
    ]
    return pd.DataFrame.from_records(records, columns=columns)


def kennzahlen_frame(report: TaxReport) -> pd.DataFrame:
    """Return the Kennzahlen with their meaning and EUR amount (as two-place strings)."""
    return pd.DataFrame(
        [
            {"Kennzahl": key, "Meaning": KENNZAHL_LABELS[key], "EUR": f"{value:,.2f}"}
            for key, value in report.kennzahlen().items()
        ]
    )


def report_choices(report: TaxReport) -> dict[str, list[str]]:
    """Return the values each filter can take in this report."""
    return {
        "wallets": sorted({row.wallet for row in report.rows}),
        "coins": sorted({row.coin for row in report.rows}),
        "categories": sorted({row.category.value for row in report.rows}),
        "regimes": sorted({row.regime.value for row in report.rows}),
    }
