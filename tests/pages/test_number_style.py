"""Every page, rendered on the demo database, shows its figures in the one number style (core.numbers).

A figure breaks the style when it shows more decimals than its style allows: money (``€``) more
than 2, a percentage more than 2, a figure of 1,000 or more more than 2 (no price that large has a
finer tick than the cent), any figure more than 8 (the finest lot step), or a float column in a
table without a display format whose values carry more than 2 decimals.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from core.db.engine import Database
from core.numbers import STYLE_LIMITS, eur, number, percent, price, quantity

PAGES = sorted(path.stem for path in (Path(__file__).resolve().parents[2] / "pages").glob("*.py"))
FIGURE = re.compile(r"(?P<money>[€$£¥]\s?)?(?P<num>-?\d[\d,]*(?:\.(?P<frac>\d+))?)(?P<pct>\s?%)?")


def style_problems(text: str) -> list[str]:
    """Return the figures in ``text`` that show more decimals than their style allows."""
    problems = []
    for match in FIGURE.finditer(text):
        fraction = match.group("frac") or ""
        if not fraction:
            continue
        whole = float(match.group("num").replace(",", ""))
        if match.group("money"):
            limit = STYLE_LIMITS["money"]
        elif match.group("pct"):
            limit = STYLE_LIMITS["percent"]
        elif abs(whole) >= 1000:
            limit = STYLE_LIMITS["price_from_1000"]
        else:
            limit = STYLE_LIMITS["quantity"]
        if len(fraction) > limit:
            problems.append(match.group(0))
    return problems


def _decimals(value: float) -> int:
    text = repr(float(value))
    if "e" in text or "." not in text:
        return 0 if "e" not in text else 99
    return len(text.split(".")[1].rstrip("0"))


def _column_formats(element: object) -> dict[str, str]:
    """The display format (column_config) of each column of a dataframe element that has one."""
    raw = getattr(getattr(element, "proto", None), "columns", "")
    config = json.loads(raw) if raw else {}
    formats = {}
    for key, value in config.items():
        type_config = value.get("type_config", {}) if isinstance(value, dict) else {}
        if type_config.get("format") or type_config.get("type") == "progress":
            formats[key.removeprefix("name:")] = str(type_config.get("format") or "percent")
    return formats


def format_problems(fmt: str) -> list[str]:
    """A printf format showing more decimals than its style allows (``€ %.4f``, ``%.10f``)."""
    match = re.search(r"%[+,]*\.(\d+)f", fmt)
    if match is None:
        return []
    places = int(match.group(1))
    if "€" in fmt or "$" in fmt:
        limit = STYLE_LIMITS["money"]
    elif "%%" in fmt:
        limit = STYLE_LIMITS["percent"]
    else:
        limit = STYLE_LIMITS["quantity"]
    return [fmt] if places > limit else []


def table_problems(frame: pd.DataFrame, formats: dict[str, str]) -> Iterator[str]:
    for column in frame.columns:
        series = frame[column]
        if str(column) in formats:
            yield from (f"column {column!r}: format {fmt}" for fmt in format_problems(formats[str(column)]))
        elif pd.api.types.is_float_dtype(series):
            worst = max((_decimals(value) for value in series.dropna() if math.isfinite(value)), default=0)
            if worst > 2:
                yield f"column {column!r}: raw float with {worst} decimals and no display format"
        elif pd.api.types.is_string_dtype(series) or series.dtype == object:
            for value in series.dropna():
                for figure in style_problems(str(value)):
                    yield f"column {column!r}: {figure}"


def page_problems(app: AppTest) -> list[str]:
    problems: list[str] = []
    for element in app.dataframe:
        frame = element.value
        if isinstance(frame, pd.DataFrame):
            problems.extend(table_problems(frame, _column_formats(element)))
    for table in app.table:
        if isinstance(table.value, pd.DataFrame):
            problems.extend(table_problems(table.value, {}))
    for metric in app.metric:
        problems.extend(f"metric {metric.label!r}: {figure}" for figure in style_problems(str(metric.value)))
    return problems


def test_the_style_helpers_never_show_more_decimals_than_allowed() -> None:
    from decimal import Decimal

    assert eur(Decimal("86696.2964850000")) == "€ 86,696.30"
    assert eur(Decimal("-0.004")) == "€ 0.00"
    assert eur(Decimal("-12.345"), signed=True) == "-€ 12.35"
    assert price(Decimal("103024.9167"), tick=Decimal("0.01")) == "103,024.92"
    assert price(Decimal("0.000012345")) == "0.00001235"
    assert quantity(Decimal("0.118400000000001"), step=Decimal("0.0001")) == "0.1184"
    assert quantity(Decimal("12.000")) == "12"
    assert percent(0.012345) == "+1.23 %"
    assert number(Decimal("1.23456"), 2) == "1.23"
    for text in ("€ 86,696.30", "103,024.92", "0.1184", "+1.23 %", "1.5 %"):
        assert style_problems(text) == [], text
    assert style_problems("103024.9167") == ["103024.9167"]
    assert style_problems("86696.2964850000") == ["86696.2964850000"]
    assert style_problems("€ 1.2345") == ["€ 1.2345"]
    assert style_problems("12.345 %") == ["12.345 %"]


@pytest.mark.parametrize("page", PAGES)
def test_every_page_shows_figures_in_the_number_style(
    page: str, demo_database: Database, run_page: Callable[..., AppTest]
) -> None:
    app = run_page(page)
    problems = page_problems(app)
    assert not problems, "\n".join(problems)


# Pages whose tabs run only when open (``?section=``): each tab besides the default one, checked too.
OTHER_SECTIONS = [
    ("backtest", "Sweep"),
    ("backtest", "Past runs"),
    ("backtest", "Robustness"),
    ("backtest", "Your strategies"),
    ("risk", "Exposure and limits"),
    ("risk", "Alerts"),
]


@pytest.mark.parametrize(("page", "section"), OTHER_SECTIONS)
def test_every_section_of_a_tabbed_page_shows_figures_in_the_number_style(
    page: str, section: str, demo_database: Database, run_page: Callable[..., AppTest]
) -> None:
    app = run_page(page)
    app.session_state["section"] = section  # what a click on the tab does
    app.run()
    assert not app.exception, [item.value for item in app.exception]
    assert [tab.label for tab in app.tabs].count(section) == 1
    problems = page_problems(app)
    assert not problems, "\n".join(problems)
