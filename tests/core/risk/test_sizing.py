"""Position sizing and exits: quantities, money at risk, caps, and refusals of bad input."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.execution.enums import OrderSide
from core.risk.sizing import (
    SizingError,
    TradeStatistics,
    fixed_fraction_size,
    fixed_risk_size,
    kelly_fraction,
    kelly_size,
    trade_statistics,
    volatility_size,
)

D = Decimal


def test_fixed_fraction_spends_the_fraction_of_equity() -> None:
    size = fixed_fraction_size(D("10000"), D("250"), D("0.1"), stop=D("240"))
    assert size.quantity == D("4")
    assert size.notional_eur == D("1000.00")
    assert size.money_at_risk_eur == D("40.00")
    assert size.fraction_of_equity == D("0.1")


def test_fixed_fraction_without_a_stop_risks_the_whole_notional() -> None:
    size = fixed_fraction_size(D("10000"), D("3"), D("0.1"))
    assert size.quantity == D("333.33333333")
    assert size.money_at_risk_eur == size.notional_eur == D("1000.00")


def test_fixed_risk_loses_the_risk_fraction_at_the_stop() -> None:
    size = fixed_risk_size(D("20000"), D("100"), D("95"), D("0.01"))
    assert size.quantity == D("40")
    assert size.money_at_risk_eur == D("200.00")
    assert size.notional_eur == D("4000.00")


def test_fixed_risk_is_capped_at_the_maximum_notional() -> None:
    size = fixed_risk_size(D("20000"), D("100"), D("99.9"), D("0.01"), max_notional=D("5000"))
    assert size.notional_eur == D("5000.00")
    assert size.quantity == D("50")
    assert size.note is not None and "capped" in size.note


def test_short_sizes_need_the_stop_above_the_entry() -> None:
    size = fixed_risk_size(D("20000"), D("100"), D("104"), D("0.01"), side=OrderSide.SELL)
    assert size.quantity == D("50")
    with pytest.raises(SizingError, match="above the entry"):
        fixed_risk_size(D("20000"), D("100"), D("96"), D("0.01"), side=OrderSide.SELL)
    with pytest.raises(SizingError, match="below the entry"):
        fixed_risk_size(D("20000"), D("100"), D("101"), D("0.01"))


def test_volatility_size_uses_the_atr_stop() -> None:
    size = volatility_size(D("50000"), D("2000"), D("80"), D("0.01"), atr_multiple=D("2.5"))
    assert size.stop_price == D("1800.0")
    assert size.quantity == D("2.5")
    assert size.money_at_risk_eur == D("500.00")


def test_quantities_round_down_to_the_step() -> None:
    size = fixed_fraction_size(D("10000"), D("187.3"), D("0.1"), quantity_step=D("1"))
    assert size.quantity == D("5")
    assert size.notional_eur == D("936.50")


def test_kelly_fraction_and_fractional_kelly_size() -> None:
    assert kelly_fraction(D("0.6"), D("1.5")) == D("0.6") - D("0.4") / D("1.5")
    statistics = trade_statistics([D("150")] * 6 + [D("-100")] * 4)
    assert statistics.win_rate == D("0.6") and statistics.win_loss_ratio == D("1.5")
    size = kelly_size(D("30000"), D("100"), statistics, fraction_of_kelly=D("0.5"), max_fraction=D("0.5"))
    # f* = 0.6 - 0.4/1.5 = 0.3333...; half Kelly = 0.1666... of 30,000 = 5,000 at 100
    assert size.quantity == D("49.99999999")
    capped = kelly_size(D("30000"), D("100"), statistics, fraction_of_kelly=D("1"), max_fraction=D("0.2"))
    assert capped.notional_eur == D("6000.00") and capped.note is not None


def test_kelly_without_an_edge_or_history_sizes_nothing() -> None:
    losing = trade_statistics([D("100")] * 3 + [D("-100")] * 7)
    size = kelly_size(D("30000"), D("100"), losing)
    assert size.quantity == 0 and "no edge" in (size.note or "")
    young = kelly_size(D("30000"), D("100"), TradeStatistics(3, 2, 1, D("0.66"), D("2")))
    assert young.quantity == 0 and "at least 10" in (young.note or "")


@pytest.mark.parametrize(
    ("equity", "entry"),
    [(D("0"), D("100")), (D("1000"), D("-1")), (D("1000"), D("NaN"))],
)
def test_bad_input_is_refused(equity: Decimal, entry: Decimal) -> None:
    with pytest.raises(SizingError):
        fixed_fraction_size(equity, entry, D("0.1"))


def test_floats_are_refused() -> None:
    with pytest.raises(SizingError, match="Decimal"):
        fixed_fraction_size(10000.0, D("10"), D("0.1"))  # type: ignore[arg-type]
