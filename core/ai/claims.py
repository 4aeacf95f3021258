"""Check the figures an LLM says its opinion relies on against the snapshot it was given.

Every LLM answer carries, besides its rationale, a list of ``{"name", "value"}`` figures taken
from the snapshot (part of the JSON schema sent to every provider). A figure is *true* when the
snapshot holds a value of that name within the tolerance of its kind, and *false* when the
snapshot has no such figure or the value does not match. An opinion with a false figure gets
weight 0 in its consensus and counts towards its analyst's hallucination rate.

Names are the snapshot's own (``last_close``, ``change_24h``, ``change_7d``, every indicator key
such as ``rsi_14`` or ``bb_upper``, ``support``, ``resistance``, ``recent_high``, ``recent_low``,
``volume``, and for an open position ``position_quantity``, ``average_price_eur``,
``unrealised_pnl_eur``); a few common spellings are accepted as aliases (``close``, ``price``,
``rsi``, ``sma20``...). Tolerances per kind of figure (:data:`TOLERANCES`):

- prices and price-like indicators (closes, SMA/EMA, Bollinger bands, ATR, support/resistance,
  highs and lows, position averages): 0.5 % of the true value;
- bounded oscillators (RSI): 1 point;
- MACD lines (price units, often near zero): 2 % of the true value or 0.05 % of the last close;
- changes (fractions, e.g. ``-0.021``): 0.5 percentage points; the same figure given in percent
  (``-2.1``) is accepted too;
- volume, P&L, fundamentals (market cap, supply, ratios) and macro values (FRED series by id):
  1 %; chart-pattern breakouts and levels count as prices.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.ai.context import ContextSnapshot


class FigureKind(StrEnum):
    """How a figure is compared."""

    PRICE = "price"
    OSCILLATOR = "oscillator"
    MACD = "macd"
    CHANGE = "change"
    AMOUNT = "amount"


@dataclass(frozen=True)
class Tolerance:
    """``|claimed − true| ≤ max(relative × |true|, absolute, of_close × last_close)``."""

    relative: float = 0.0
    absolute: float = 0.0
    of_close: float = 0.0

    def allows(self, claimed: float, true_value: float, last_close: float) -> bool:
        """Return True if ``claimed`` matches ``true_value`` within this tolerance."""
        limit = max(self.relative * abs(true_value), self.absolute, self.of_close * abs(last_close))
        return abs(claimed - true_value) <= limit + 1e-12


TOLERANCES: dict[FigureKind, Tolerance] = {
    FigureKind.PRICE: Tolerance(relative=0.005),
    FigureKind.OSCILLATOR: Tolerance(absolute=1.0),
    FigureKind.MACD: Tolerance(relative=0.02, of_close=0.0005),
    FigureKind.CHANGE: Tolerance(absolute=0.005),
    FigureKind.AMOUNT: Tolerance(relative=0.01),
}

ALIASES: dict[str, str] = {
    "close": "last_close",
    "price": "last_close",
    "last_price": "last_close",
    "current_price": "last_close",
    "rsi": "rsi_14",
    "sma": "sma_20",
    "ema": "ema_50",
    "atr": "atr_14",
    "upper_band": "bb_upper",
    "lower_band": "bb_lower",
    "middle_band": "bb_middle",
    "bollinger_upper": "bb_upper",
    "bollinger_lower": "bb_lower",
    "bollinger_middle": "bb_middle",
    "macd_hist": "macd_histogram",
    "support_level": "support",
    "resistance_level": "resistance",
    "change_1d": "change_24h",
    "change_1w": "change_7d",
    "high_24h": "recent_high",
    "low_24h": "recent_low",
}

_MULTI_VALUED = ("support", "resistance")
_PRICE_LIKE = frozenset({"last_close", "average_price_eur", "breakout", "neckline"})


def normalise_name(name: str) -> str:
    """Return the canonical figure name: lower case, words joined by ``_``, ``sma20`` → ``sma_20``, aliases."""
    text = re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")
    text = re.sub(r"(?<=[a-z])(?=\d)", "_", text)
    text = re.sub(r"_+", "_", text)
    if text in ALIASES:
        return ALIASES[text]
    for multi in _MULTI_VALUED:  # "support_1", "support_2": any level of that kind
        if text.startswith(multi + "_") and text[len(multi) + 1 :].isdigit():
            return multi
    return text


def _kind_of(name: str) -> FigureKind:
    if name in _PRICE_LIKE or name.startswith(("sma", "ema", "bb_", "atr", "support", "resistance", "recent_")):
        return FigureKind.PRICE
    if name.startswith("rsi"):
        return FigureKind.OSCILLATOR
    if name.startswith("macd"):
        return FigureKind.MACD
    if name.startswith("change"):
        return FigureKind.CHANGE
    # volume, position, fundamentals (market cap, supply, ratios...) and macro values
    return FigureKind.AMOUNT


def snapshot_figures(snapshot: ContextSnapshot) -> dict[str, list[float]]:
    """Return every figure an answer may quote, by canonical name (support/resistance: all levels)."""
    figures: dict[str, list[float]] = {"last_close": [snapshot.last_close]}
    if snapshot.change_24h is not None:
        figures["change_24h"] = [snapshot.change_24h]
    if snapshot.change_7d is not None:
        figures["change_7d"] = [snapshot.change_7d]
    for name, value in snapshot.indicators.items():
        if value is not None:
            figures[normalise_name(name)] = [value]
    for level in snapshot.levels:
        figures.setdefault(level.kind, []).append(level.price)
    if snapshot.recent_bars:
        figures["recent_high"] = [max(bar.high for bar in snapshot.recent_bars)]
        figures["recent_low"] = [min(bar.low for bar in snapshot.recent_bars)]
        figures["volume"] = [snapshot.recent_bars[-1].volume]
    for pattern in snapshot.patterns:
        if pattern.breakout is not None:
            figures.setdefault("breakout", []).append(pattern.breakout)
        for level_name, level_value in pattern.levels.items():
            figures.setdefault(normalise_name(level_name), []).append(level_value)
    if snapshot.fundamentals is not None:
        for metric, value in snapshot.fundamentals.metrics.items():
            if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
                figures.setdefault(normalise_name(metric), []).append(float(value))
    for series in snapshot.macro:
        figures.setdefault(normalise_name(series.series_id), []).append(series.value)
    if snapshot.position is not None:
        figures["position_quantity"] = [float(snapshot.position.quantity)]
        figures["average_price_eur"] = [float(snapshot.position.average_price_eur)]
        figures["unrealised_pnl_eur"] = [float(snapshot.position.unrealised_pnl_eur)]
    return figures


def figure_names_hint(snapshot: ContextSnapshot) -> str:
    """Return the figure names of ``snapshot``, comma-separated, for the prompt."""
    return ", ".join(snapshot_figures(snapshot))


@dataclass(frozen=True)
class CheckedClaim:
    """One figure of an answer, checked."""

    name: str
    claimed: Any
    true_value: float | None
    ok: bool
    reason: str | None = None

    def as_json(self) -> dict[str, Any]:
        """Return the claim as stored with the opinion and printed by ``konsens analyze --json``."""
        return {
            "name": self.name,
            "claimed": self.claimed,
            "true_value": self.true_value,
            "ok": self.ok,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class ClaimCheck:
    """All figures of one answer, checked."""

    claims: tuple[CheckedClaim, ...]

    @property
    def checked(self) -> int:
        return len(self.claims)

    @property
    def false_claims(self) -> tuple[CheckedClaim, ...]:
        return tuple(claim for claim in self.claims if not claim.ok)

    @property
    def has_false_claims(self) -> bool:
        return any(not claim.ok for claim in self.claims)

    def describe(self) -> str:
        """Return one line naming the false figures with their true values."""
        parts = []
        for claim in self.false_claims:
            truth = f"snapshot: {claim.true_value:g}" if claim.true_value is not None else "not in the snapshot"
            parts.append(f"{claim.name} {claim.claimed!r} ({truth})")
        return "false figures: " + "; ".join(parts)


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.replace(",", "").replace("%", "").strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def check_claims(snapshot: ContextSnapshot, figures: Iterable[Mapping[str, Any]]) -> ClaimCheck:
    """Check each ``{"name", "value"}`` figure against ``snapshot`` (see the module docstring)."""
    known = snapshot_figures(snapshot)
    checked: list[CheckedClaim] = []
    for figure in figures:
        raw_name = str(figure.get("name", ""))
        claimed = figure.get("value")
        name = normalise_name(raw_name)
        number = _as_number(claimed)
        if number is None:
            checked.append(CheckedClaim(raw_name, claimed, None, False, "not a number"))
            continue
        candidates = known.get(name)
        if not candidates:
            checked.append(CheckedClaim(raw_name, claimed, None, False, "not in the snapshot"))
            continue
        kind = _kind_of(name)
        tolerance = TOLERANCES[kind]
        nearest = min(candidates, key=lambda value: abs(value - number))
        ok = tolerance.allows(number, nearest, snapshot.last_close)
        if not ok and kind is FigureKind.CHANGE:  # the same change given in percent
            ok = tolerance.allows(number / 100.0, nearest, snapshot.last_close)
        reason = None if ok else f"does not match ({kind.value} tolerance)"
        checked.append(CheckedClaim(raw_name, claimed, nearest, ok, reason))
    return ClaimCheck(tuple(checked))
