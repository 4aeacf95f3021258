"""``_Engine.process_fast`` (inlined buys, sales, swaps, rewards) books exactly what ``process`` books (issue 21).

The reference is the general engine itself: the same ledger runs once with the fast path and once
with ``_Engine.fast_paths`` off, over random ledgers that mix the cases the fast path takes with
every case it must leave to ``process`` (FIFO and old-law periods, Altvermögen lots, crypto and
odd fees, sales beyond the holding, tiny quantities, KESt and flat-cost rows, other asset classes,
lower-case coins, swaps, transfers, sale fees deducted). Rows, totals, wallet results, holdings
and warnings must be equal, every Decimal with the same representation (``repr``), not only the
same value.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import core.tax.engine as engine_module
from core.portfolio.models import LedgerKind
from core.tax.assumptions import AltNeuOrder, TaxAssumptions
from core.tax.engine import EngineResult, Movement, compute_year

FEES = ["none", "eur", "eur_zero", "no_asset", "crypto_same", "crypto_other", "usd"]
OPS = ["buy", "sell", "sell_all", "oversell", "tiny_sell", "reward", "airdrop", "swap", "swap", "withdrawal", "deposit"]
operation = st.tuples(
    st.sampled_from(OPS),
    st.sampled_from(["a", "b", "bitpanda"]),
    st.sampled_from(["BTC", "eth", "SOL"]),
    st.integers(1, 10**6),  # quantity in 1e-4 (a percentage of the holding for sales)
    st.integers(0, 10**7),  # EUR in cents
    st.sampled_from(FEES),
    st.sampled_from([None, "crypto", "Crypto", "stock"]),
    st.sampled_from(["none", "kest", "flat"]),
    st.integers(0, 40),  # days to the next movement
)
START = datetime(2020, 11, 1, tzinfo=UTC)  # Alt, old law, FIFO 2022 and moving-average periods


def _ledger(ops: list[tuple[Any, ...]]) -> list[Movement]:
    movements: list[Movement] = []
    held: dict[tuple[str, str], Decimal] = {}
    ts = START
    for index, (op, wallet, coin, units, cents, fee, asset_class, kest_kind, gap) in enumerate(ops):
        ts += timedelta(days=gap, seconds=index)
        eur = Decimal(cents) / 100
        key = (wallet, coin.upper())
        holding = held.get(key, Decimal(0))
        common: dict[str, Any] = {
            "entry_id": index + 1,
            "ts": ts,
            "wallet": wallet,
            "external_id": f"x{index}",
            "asset_class": asset_class,
        }
        fee_choices: dict[str, dict[str, Any]] = {
            "none": {},
            "eur": {"fee_asset": "EUR", "fee_quantity": Decimal("0.99")},
            "eur_zero": {"fee_asset": "EUR", "fee_quantity": Decimal("0")},
            "no_asset": {"fee_quantity": Decimal("0.5")},
            "crypto_same": {"fee_asset": coin, "fee_quantity": Decimal("0.001")},
            "crypto_other": {"fee_asset": "ADA", "fee_quantity": Decimal("0.5")},
            "usd": {"fee_asset": "USD", "fee_quantity": Decimal("1.5"), "fee_value_eur": Decimal("1.38")},
        }
        fee_fields = fee_choices[fee]
        kest = (eur * Decimal("0.05")).quantize(Decimal("0.01")) if kest_kind != "none" else None
        if op == "buy":
            quantity = Decimal(units) / 10_000
            movements.append(
                Movement(
                    **common,
                    kind=LedgerKind.BUY,
                    sent_asset="EUR",
                    sent_quantity=eur,
                    received_asset=coin,
                    received_quantity=quantity,
                    value_eur=eur,
                    **fee_fields,
                )
            )
            held[key] = holding + quantity
        elif op in ("sell", "sell_all", "oversell", "tiny_sell"):
            quantity = {
                "sell": (holding * (units % 100) / 100).quantize(Decimal("0.0001")),
                "sell_all": holding,
                "oversell": holding + Decimal(units) / 10_000,
                "tiny_sell": Decimal("1e-13"),
            }[op]
            movements.append(
                Movement(
                    **common,
                    kind=LedgerKind.SELL,
                    sent_asset=coin,
                    sent_quantity=quantity,
                    received_asset="EUR",
                    received_quantity=eur,
                    value_eur=eur,
                    kest_withheld_eur=kest,
                    flat_cost=kest_kind == "flat",
                    **fee_fields,
                )
            )
            held[key] = max(holding - quantity, Decimal(0))
        elif op in ("reward", "airdrop"):
            quantity = Decimal(units) / 1_000_000
            movements.append(
                Movement(
                    **common,
                    kind=LedgerKind.REWARD if op == "reward" else LedgerKind.AIRDROP,
                    received_asset=coin,
                    received_quantity=quantity,
                    value_eur=eur,
                    **fee_fields,
                )
            )
            held[key] = holding + quantity
        elif op == "swap":
            quantity = (holding * (units % 100) / 100).quantize(Decimal("0.0001"))
            movements.append(
                Movement(
                    **common,
                    kind=LedgerKind.SWAP,
                    sent_asset=coin,
                    sent_quantity=quantity,
                    received_asset=["ADA", "eth", coin, "EUR"][units % 4],  # also the same coin, or fiat
                    received_quantity=quantity * 3,
                    value_eur=eur,
                    **fee_fields,
                )
            )
            held[key] = holding - quantity
        elif op == "withdrawal":
            quantity = (holding * (units % 100) / 100).quantize(Decimal("0.0001"))
            movements.append(Movement(**common, kind=LedgerKind.WITHDRAWAL, sent_asset=coin, sent_quantity=quantity))
            held[key] = holding - quantity
        else:
            quantity = Decimal(units) / 10_000
            movements.append(
                Movement(
                    **common, kind=LedgerKind.DEPOSIT, received_asset=coin, received_quantity=quantity, value_eur=eur
                )
            )
            held[key] = holding + quantity
    return movements


@contextmanager
def _reference_engine() -> Iterator[None]:
    engine_module._Engine.fast_paths = False
    try:
        yield
    finally:
        engine_module._Engine.fast_paths = True


def _exact(value: Any) -> Any:
    """A comparable form that tells Decimals of equal value but different representation apart."""
    if isinstance(value, Decimal):
        return ("Decimal", repr(value))
    if isinstance(value, dict):
        return [(key, _exact(item)) for key, item in value.items()]
    if isinstance(value, list | tuple):
        return tuple(_exact(item) for item in value)
    if hasattr(value, "__dataclass_fields__"):
        return (type(value).__name__, [(field.name, _exact(getattr(value, field.name))) for field in fields(value)])
    return value


def _compare(fast: EngineResult, reference: EngineResult) -> None:
    assert fast.rows == reference.rows
    assert _exact(fast.rows) == _exact(reference.rows)
    assert _exact(fast.totals) == _exact(reference.totals)
    assert _exact(fast.wallets) == _exact(reference.wallets)
    assert list(fast.wallets) == list(reference.wallets)
    assert _exact(fast.holdings) == _exact(reference.holdings)
    assert _exact(fast.warnings) == _exact(reference.warnings)
    # the "average after" of one movement is the same object as the next one's "average before"
    assert [row.average_before_eur is row.average_after_eur for row in fast.rows] == [
        row.average_before_eur is row.average_after_eur for row in reference.rows
    ]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(operation, min_size=1, max_size=40),
    st.sampled_from([2021, 2022, 2023, 2024]),
    st.booleans(),  # fifo_2022
    st.sampled_from(list(AltNeuOrder)),
    st.booleans(),  # sale_fees_reduce_proceeds
)
def test_fast_path_books_what_the_general_engine_books(
    ops: list[tuple[Any, ...]], year: int, fifo_2022: bool, order: AltNeuOrder, sale_fees: bool
) -> None:
    movements = _ledger(ops)
    assumptions = TaxAssumptions(fifo_2022=fifo_2022, alt_neu_order=order, sale_fees_reduce_proceeds=sale_fees)
    fast = compute_year(movements, year, assumptions, domestic_wallets=["bitpanda"])
    with _reference_engine():
        reference = compute_year(movements, year, assumptions, domestic_wallets=["bitpanda"])
    _compare(fast, reference)


def test_fast_path_takes_the_common_rows_and_leaves_the_rest() -> None:
    """The plain buys, sales, swaps and rewards of 2024 stay in ``process_fast``; the others reach ``process``."""
    ops: list[tuple[Any, ...]] = [
        ("buy", "a", "BTC", 20_000, 100_000, "eur", "crypto", "none", 1),
        ("reward", "a", "BTC", 500, 10, "none", None, "none", 1),
        ("sell", "a", "BTC", 50, 80_000, "none", "crypto", "kest", 1),
        ("sell_all", "a", "BTC", 0, 90_000, "none", "crypto", "none", 1),
        ("oversell", "a", "BTC", 10, 5_000, "none", "crypto", "none", 1),  # negative balance: process
        ("buy", "a", "eth", 10_000, 50_000, "crypto_other", "crypto", "none", 1),  # crypto fee: process
        ("buy", "a", "SOL", 10_000, 50_000, "none", "crypto", "none", 1),
        ("swap", "a", "SOL", 41, 50_000, "none", "crypto", "none", 1),  # SOL -> eth
        ("swap", "a", "eth", 42, 50_000, "none", "crypto", "none", 1),  # eth -> eth: process
    ]
    movements = _ledger(ops)
    for movement in movements:
        movement.ts = movement.ts.replace(year=2024)
    seen: list[int] = []
    original = engine_module._Engine.process

    def counting(self: Any, movement: Movement) -> None:
        seen.append(movement.entry_id)
        original(self, movement)

    engine_module._Engine.process = counting  # type: ignore[method-assign]
    try:
        fast = compute_year(movements, 2024, TaxAssumptions())
    finally:
        engine_module._Engine.process = original  # type: ignore[method-assign]
    assert seen == [5, 6, 9]
    with _reference_engine():
        reference = compute_year(movements, 2024, TaxAssumptions())
    _compare(fast, reference)
    assert [warning.code.value for warning in fast.warnings] == ["negative_balance"] * 2  # the sale, the ADA fee
