"""Instrument order rules: from ccxt markets (both precision modes), defaults, and the order check."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from core.market.models import AssetClass, Instrument
from core.market.trading_rules import (
    CCXT_DECIMAL_PLACES,
    CCXT_TICK_SIZE,
    RuleViolation,
    check_order,
    default_rules,
    rules_for,
    rules_from_ccxt_market,
    store_rules,
)
from core.values import QUANTITY_STEP

# ccxt's One Trading market (ts/src/test/static/markets/onetrading.json, "LTC/EUR"), TICK_SIZE mode
LTC_EUR = {"precision": {"amount": 0.00001, "price": 0.01}, "limits": {"amount": {}, "cost": {"min": 10}}}


def test_rules_from_a_tick_size_market() -> None:
    rules = rules_from_ccxt_market(LTC_EUR, precision_mode=CCXT_TICK_SIZE, source="ccxt:onetrading")
    assert (rules.lot_size, rules.tick_size, rules.min_quantity, rules.min_notional) == (
        D("0.00001"),
        D("0.01"),
        None,
        D("10"),
    )


def test_rules_from_a_decimal_places_market() -> None:
    market = {"precision": {"amount": 4, "price": 2}, "limits": {"amount": {"min": 0.001}, "cost": {"min": None}}}
    rules = rules_from_ccxt_market(market, precision_mode=CCXT_DECIMAL_PLACES, source="ccxt:x")
    assert (rules.lot_size, rules.tick_size, rules.min_quantity, rules.min_notional) == (
        D("0.0001"),
        D("0.01"),
        D("0.001"),
        None,
    )


def test_defaults_for_crypto_and_stocks() -> None:
    crypto = default_rules(AssetClass.CRYPTO)
    assert crypto.lot_size is QUANTITY_STEP and crypto.tick_size is None and crypto.min_notional is None
    stock = default_rules(AssetClass.STOCK)
    assert (stock.tick_size, stock.min_notional) == (D("0.01"), D("1"))


def test_stored_rules_are_read_back_and_unknown_ones_fall_to_the_defaults() -> None:
    instrument = Instrument(symbol="LTC/EUR", base="LTC", quote="EUR", asset_class=AssetClass.CRYPTO)
    assert rules_for(instrument) == default_rules(AssetClass.CRYPTO)
    rules = rules_from_ccxt_market(LTC_EUR, precision_mode=CCXT_TICK_SIZE, source="ccxt:onetrading")
    assert store_rules(instrument, rules) is True
    assert store_rules(instrument, rules) is False
    assert rules_for(instrument) == rules and instrument.rules_updated_at is not None


@pytest.mark.parametrize(
    ("quantity", "prices", "reference", "rule"),
    [
        ("0.000001", {}, "90", "venue_lot_size"),
        ("0.2", {"limit price": D("90.005")}, "90", "venue_tick_size"),
        ("0.1", {}, "90", "venue_min_notional"),
    ],
)
def test_an_order_breaking_a_rule_is_refused_with_the_rule_named(
    quantity: str, prices: dict[str, D | None], reference: str, rule: str
) -> None:
    rules = rules_from_ccxt_market(LTC_EUR, precision_mode=CCXT_TICK_SIZE, source="ccxt:onetrading")
    with pytest.raises(RuleViolation) as refused:
        check_order(
            rules, symbol="LTC/EUR", quote="EUR", quantity=D(quantity), prices=prices, reference_price=D(reference)
        )
    assert refused.value.rule == rule and "LTC/EUR (ccxt:onetrading)" in refused.value.reason


def test_a_valid_order_is_rounded_down_to_the_lot() -> None:
    rules = rules_from_ccxt_market(LTC_EUR, precision_mode=CCXT_TICK_SIZE, source="ccxt:onetrading")
    assert check_order(
        rules,
        symbol="LTC/EUR",
        quote="EUR",
        quantity=D("0.1234567"),
        prices={"limit price": D("90.05")},
        reference_price=D("90.05"),
    ) == D("0.12345")
