"""The four worked examples of TAX_RULES_AT.md, end to end through the engine."""

from __future__ import annotations

from decimal import Decimal

from core.portfolio.models import LedgerKind
from core.tax.assumptions import TaxAssumptions
from core.tax.engine import compute_year
from tests.core.tax.helpers import buy, receive, sell, swap


def test_example_1_neuvermoegen_bought_2022_sold_2024() -> None:
    result = compute_year(
        [buy("2022-01-20", "BTC", "1", "32000"), sell("2024-01-15", "BTC", "1", "40000")], 2024, TaxAssumptions()
    )
    assert result.totals.realised_gains == Decimal("8000")
    assert result.totals.tax == Decimal("2200")
    (row,) = [row for row in result.rows if row.category == "realisation"]
    assert row.regime == "Neu"
    assert row.kennzahl == "174"


def test_example_2_moving_average() -> None:
    movements = [
        buy("2022-09-01", "BTC", "1", "300"),
        buy("2023-02-01", "BTC", "1", "600"),
        sell("2024-09-01", "BTC", "1", "5000"),
    ]
    result = compute_year(movements, 2024, TaxAssumptions())
    (row,) = result.rows
    assert row.average_before_eur == Decimal("450")
    assert row.cost_eur == Decimal("450")
    assert row.gain_eur == Decimal("4550")
    assert row.average_after_eur == Decimal("450")  # a disposal leaves the average unchanged


def test_example_3_staking_reward_has_cost_zero() -> None:
    movements = [
        receive("2022-04-01", LedgerKind.REWARD, "DOT", "5", value="100"),
        sell("2024-07-05", "DOT", "5", "500"),
    ]
    result = compute_year(movements, 2024, TaxAssumptions())
    assert result.totals.realised_gains == Decimal("500")
    assert result.totals.current_income == 0  # no income when received
    assert result.totals.tax == Decimal("137.5")
    assert compute_year(movements, 2022, TaxAssumptions()).totals.net == 0


def test_example_4_swap_carries_the_cost() -> None:
    movements = [
        buy("2023-01-10", "BTC", "1", "50000"),
        swap("2023-05-01", "BTC", "1", "ETH", "20", value="61000"),
        sell("2024-03-01", "ETH", "10", "40000"),
    ]
    year_of_swap = compute_year(movements, 2023, TaxAssumptions())
    assert year_of_swap.totals.net == 0  # the swap is no realisation
    result = compute_year(movements, 2024, TaxAssumptions())
    (row,) = result.rows
    assert row.cost_eur == Decimal("25000")
    assert row.gain_eur == Decimal("15000")
    assert result.totals.tax == Decimal("4125")
