"""The report's fast paths equal straightforward references on randomized input (issue 21).

- the loader's Decimal memo (``_DecimalMemo``) reads every driver value as ``_decimal`` does;
- the JSON text of the detail rows (written by orjson, inline quantity text) parses to the plain
  per-row dicts built with ``money`` / ``price_text`` / ``quantity_text`` (``bench.tax_report.reference_row``,
  the builder the benchmark checks the report with), keys in order;
- the engine's buy/sale path (fee helpers skipped when the movement has no crypto fee) gives the
  same rows and totals as the general path that asks ``crypto_fee()`` for every movement.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import core.tax.engine as engine_module
from bench.tax_report import reference_row
from core.portfolio.models import LedgerKind
from core.tax.assumptions import TaxAssumptions
from core.tax.engine import Movement, compute_year
from core.tax.report import ROW_KEYS, _decimal, _DecimalMemo, rows_json_text

driver_values = st.one_of(
    st.none(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, -0.0, 5.0, 0.1, 0.99, 1e20, 1e-7, 2.5]),
)


@given(st.lists(driver_values, max_size=40))
def test_decimal_memo_reads_every_value_as_decimal_does(values: list[Any]) -> None:
    memo = _DecimalMemo()
    for value in values + values:  # the second round reads from the memo where it keeps values
        read = memo[value]
        if value is None:
            assert read is None
        else:
            expected = _decimal(value)
            assert str(read) == str(expected)


MOVE_KINDS = ["buy", "sell", "swap", "reward", "withdrawal", "fee_buy", "crypto_fee_sell"]
moves = st.lists(
    st.tuples(
        st.sampled_from(MOVE_KINDS),
        st.sampled_from(["a", "b", "bitpanda"]),
        st.sampled_from(["BTC", "eth", "SOL"]),
        st.integers(1, 10**6),  # quantity in 1e-4
        st.integers(0, 10**7),  # EUR in cents
        st.booleans(),  # value_eur missing
    ),
    min_size=1,
    max_size=40,
)


def _ledger(ops: list[tuple[str, str, str, int, int, bool]]) -> list[Movement]:
    start = datetime(2020, 6, 1, tzinfo=UTC)  # Alt, old law, FIFO and moving-average periods
    movements: list[Movement] = []
    for index, (kind, wallet, coin, quantity_units, cents, no_value) in enumerate(ops):
        ts = start + timedelta(days=47 * index, seconds=index)
        quantity = Decimal(quantity_units) / 10_000
        eur = Decimal(cents) / 100
        value = None if no_value else eur
        common: dict[str, Any] = {"entry_id": index + 1, "ts": ts, "wallet": wallet, "external_id": f"x{index}"}
        if kind in ("buy", "fee_buy"):
            fee: dict[str, Any] = {"fee_asset": "EUR", "fee_quantity": Decimal("0.99")} if kind == "fee_buy" else {}
            movements.append(
                Movement(
                    **common,
                    kind=LedgerKind.BUY,
                    sent_asset="EUR",
                    sent_quantity=eur,
                    received_asset=coin,
                    received_quantity=quantity,
                    value_eur=value,
                    **fee,
                )
            )
        elif kind in ("sell", "crypto_fee_sell"):
            fee = {"fee_asset": "SOL", "fee_quantity": Decimal("0.01")} if kind == "crypto_fee_sell" else {}
            kest = (eur * Decimal("0.05")).quantize(Decimal("0.01")) if wallet == "bitpanda" else None
            movements.append(
                Movement(
                    **common,
                    kind=LedgerKind.SELL,
                    sent_asset=coin,
                    sent_quantity=quantity,
                    received_asset="EUR",
                    received_quantity=eur,
                    value_eur=value,
                    kest_withheld_eur=kest,
                    **fee,
                )
            )
        elif kind == "swap":
            movements.append(
                Movement(
                    **common,
                    kind=LedgerKind.SWAP,
                    sent_asset=coin,
                    sent_quantity=quantity,
                    received_asset="ADA",
                    received_quantity=quantity * 3,
                    value_eur=value,
                )
            )
        elif kind == "reward":
            movements.append(
                Movement(
                    **common, kind=LedgerKind.REWARD, received_asset=coin, received_quantity=quantity, value_eur=value
                )
            )
        else:
            movements.append(Movement(**common, kind=LedgerKind.WITHDRAWAL, sent_asset=coin, sent_quantity=quantity))
    return movements


def _general_by_sides(
    self: Any,
    movement: Movement,
    sent: str | None,
    sent_quantity: Decimal,
    received: str | None,
    received_quantity: Decimal,
    crypto_fee: bool,
    sent_crypto: bool,
    received_crypto: bool,
) -> None:
    """The dispatch without the shortcut: every buy and sale asks ``crypto_fee()`` and ``check_flat_cost``."""
    if sent_crypto and received_crypto:
        self.swap(movement, sent or "", sent_quantity, received or "", received_quantity)
    elif sent_crypto:
        self.sale(movement, sent or "", sent_quantity, what="sale", spend=received is None, crypto_fee=True)
    elif received_crypto:
        self.buy(movement, received or "", received_quantity, crypto_fee=True)
    elif crypto_fee:
        self.leave_without_realisation(movement, (movement.fee_asset or "").upper(), Decimal(0))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(moves, st.sampled_from([2021, 2022, 2023, 2024]))
def test_fast_paths_equal_the_general_path_and_plain_json(ops: list[Any], year: int) -> None:
    movements = _ledger(ops)
    assumptions = TaxAssumptions()
    fast = compute_year(movements, year, assumptions, domestic_wallets=["bitpanda"])
    original = engine_module._Engine._by_sides
    engine_module._Engine._by_sides = _general_by_sides  # type: ignore[method-assign]
    try:
        general = compute_year(movements, year, assumptions, domestic_wallets=["bitpanda"])
    finally:
        engine_module._Engine._by_sides = original  # type: ignore[method-assign]
    assert fast.rows == general.rows
    assert fast.totals == general.totals
    assert [(w.code, w.message, w.row_ids) for w in fast.warnings] == [
        (w.code, w.message, w.row_ids) for w in general.warnings
    ]
    plain = [reference_row(row) for row in fast.rows]  # the benchmark's reference builder
    text = rows_json_text(fast.rows)
    assert json.loads(text) == plain  # orjson's text parses to the plain rows (same keys, order and strings)
    assert [list(row) for row in json.loads(text)] == [list(ROW_KEYS)] * len(plain)
