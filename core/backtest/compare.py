"""Compare the trades of two engines: same bars, same prices, same quantities."""

from __future__ import annotations

import math

from core.backtest.engine import Trade

# Prices come from the same bar and must agree to float rounding; quantities and fees are derived
# from cash, which engines accumulate in a slightly different order (backtrader), hence 1e-9.
PRICE_TOLERANCE = 1e-12
QUANTITY_TOLERANCE = 1e-9


def first_difference(
    left: list[Trade], right: list[Trade], *, quantity_tolerance: float = QUANTITY_TOLERANCE
) -> str | None:
    """Return a description of the first trade that differs, or None if the lists match.

    ``quantity_tolerance`` is relative; a replay through the executor rounds quantities down to
    8 decimals and fees to 10, so comparing it with a backtest needs about 1e-6.
    """
    for number, (one, other) in enumerate(zip(left, right, strict=False), start=1):
        if (one.side, one.entry_index, one.exit_index, one.exit_reason) != (
            other.side,
            other.entry_index,
            other.exit_index,
            other.exit_reason,
        ):
            return f"trade {number}: {_brief(one)} vs {_brief(other)}"
        if not _close(one.entry_price, other.entry_price, PRICE_TOLERANCE) or not _close(
            one.exit_price, other.exit_price, PRICE_TOLERANCE
        ):
            return f"trade {number}: prices {_brief(one)} vs {_brief(other)}"
        if not _close(one.quantity, other.quantity, quantity_tolerance):
            return f"trade {number}: quantity {one.quantity} vs {other.quantity}"
        # Each leg's fee on its own: a sum would let a wrong entry fee hide behind a wrong exit fee.
        if not _close(one.entry_fee, other.entry_fee, quantity_tolerance) or not _close(
            one.exit_fee, other.exit_fee, quantity_tolerance
        ):
            return f"trade {number}: fees {one.entry_fee} + {one.exit_fee} vs {other.entry_fee} + {other.exit_fee}"
    if len(left) != len(right):
        return f"{len(left)} trades vs {len(right)}"
    return None


def trades_match(left: list[Trade], right: list[Trade], *, quantity_tolerance: float = QUANTITY_TOLERANCE) -> bool:
    """True if both engines made the same trades."""
    return first_difference(left, right, quantity_tolerance=quantity_tolerance) is None


def _close(one: float | None, other: float | None, tolerance: float) -> bool:
    if one is None or other is None:
        return one is None and other is None
    return math.isclose(one, other, rel_tol=tolerance, abs_tol=0.0)


def _brief(trade: Trade) -> str:
    exit_part = f"{trade.exit_time:%Y-%m-%d %H:%M} @ {trade.exit_price}" if trade.exit_time else "open"
    return f"{trade.entry_time:%Y-%m-%d %H:%M} @ {trade.entry_price} → {exit_part}"
