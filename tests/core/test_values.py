"""Value types and the one rounding policy: every report rounds money the same way."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

import core.backtest.replay as replay
import core.demo.seed as seed
import core.execution.accounting as accounting
import core.portfolio.valuation as valuation
import core.risk.sizing as sizing
import core.tax.engine as tax_engine
from app.ui.format import eur
from core.portfolio import position_math
from core.tax.report import money as tax_report_money
from core.values import (
    QUANTITY_STEP,
    Money,
    PrecisionError,
    Price,
    Quantity,
    round_eur,
    round_money,
    round_price,
    round_quantity,
)

HALF_CASES = [("0.125", "0.13"), ("2.675", "2.68"), ("-0.125", "-0.13"), ("1.005", "1.01"), ("0.135", "0.14")]


@pytest.mark.parametrize(("amount", "rounded"), HALF_CASES)
def test_money_rounds_half_up_in_every_report(amount: str, rounded: str) -> None:
    value = D(amount)
    assert round_eur(value) == D(rounded)
    assert valuation.money(value) == D(rounded)  # portfolio valuation (was half-even)
    assert tax_engine.round_eur(value) == D(rounded)  # the tax engine
    assert tax_report_money(value) == rounded  # the tax report's JSON/CSV figures
    assert eur(value).replace("€ ", "").replace("-€ ", "-") == rounded  # the dashboard


def test_the_quantity_step_and_the_average_cost_are_defined_once() -> None:
    assert D("0.00000001") == QUANTITY_STEP
    for module in (replay, seed):
        assert module.QUANTITY_STEP is QUANTITY_STEP
    assert sizing.DEFAULT_QUANTITY_STEP is QUANTITY_STEP
    assert accounting.quantize_quantity(D("0.123456789")) == D("0.12345678")
    assert tax_engine.cost_of_part is position_math.cost_of_part
    assert valuation.cost_of_part is position_math.cost_of_part


def test_a_sale_carries_the_same_cost_basis_in_positions_and_pools() -> None:
    state = position_math.PositionState()
    state = state.apply_fill(position_math.OrderSide.BUY, D("3"), D("10"), D("0.30"))
    state = state.apply_fill(position_math.OrderSide.BUY, D("1"), D("14"))
    after = state.apply_fill(position_math.OrderSide.SELL, D("1.5"), D("20"))
    basis = position_math.cost_of_part(D("4"), D("44.30"), D("1.5"))
    assert after.realised_pnl == D("1.5") * D("20") - basis
    assert basis == D("16.6125")


def test_price_quantity_and_money_know_their_precision() -> None:
    assert Price.on_tick(D("100.05"), D("0.01")).value == D("100.05")
    with pytest.raises(PrecisionError, match=r"not on the tick of 0\.01"):
        Price.on_tick(D("100.005"), D("0.01"))
    with pytest.raises(PrecisionError):
        Price(D("-1"))
    assert Quantity.of(D("0.0008379"), D("0.00001")).value == D("0.00083")
    with pytest.raises(PrecisionError, match="not a multiple"):
        Quantity(D("0.0008379"), D("0.00001"))
    assert round_quantity(D("1.999999999")) == D("1.99999999")
    assert round_price(D("101.237"), D("0.05"), down=True) == D("101.20")
    assert round_price(D("101.237"), D("0.05"), down=False) == D("101.25")
    assert round_price(D("101.237"), None, down=True) == D("101.237")
    total = Money(D("10.005")) + Money(D("0.001"))
    assert total.rounded() == Money(D("10.01")) and str(total) == "10.01 EUR"
    with pytest.raises(PrecisionError, match="cannot combine EUR and USD"):
        Money(D("1")) + Money(D("1"), "USD")
    assert round_money(D("0.123456789"), "BTC") == D("0.12345679")
    assert round_money(D("2.5"), "JPY") == D("3")
