"""The strategy API: small classes that see one bar at a time, so look-ahead is impossible.

A strategy declares its parameters and the indicators it needs. The engine computes each
indicator with a causal kernel (its value at bar ``i`` depends only on bars ``0..i``) and then
calls ``on_bar(bar)`` once per bar, oldest first. ``bar`` is a named tuple holding only the
current bar: ``index``, ``open``, ``high``, ``low``, ``close``, ``volume`` and the current value of
each declared indicator under its name. A strategy keeps whatever memory it needs (e.g. the
previous bar's averages) in its own attributes; it never holds the price arrays, so it cannot
read a future bar. ``on_bar`` returns ``Signal.BUY`` (enter long), ``Signal.SELL`` (exit) or None.

A strategy whose decisions depend only on the bars (not on its own position) may also implement
``signals(bars, lines)``: the same decisions for all bars at once, vectorised. The fast path uses
it; tests check it against ``on_bar`` on real data, bar for bar.
"""

from __future__ import annotations

import collections
import functools
import math
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from core.backtest import kernels
from core.backtest.series import PriceSeries
from core.errors import PermanentError

FloatArray = NDArray[np.float64]
SignalArray = NDArray[np.int8]


class Signal(IntEnum):
    """What a strategy asks for at a bar's close; it is executed at the next bar's open."""

    SELL = kernels.SIGNAL_SELL
    BUY = kernels.SIGNAL_BUY


class StrategyError(PermanentError, ValueError):
    """An unknown strategy or an invalid parameter."""


@dataclass(frozen=True)
class Parameter:
    """One tunable parameter of a strategy, with its type, default and allowed range."""

    name: str
    kind: type[int] | type[float]
    default: int | float
    minimum: int | float
    maximum: int | float
    help: str = ""

    def parse(self, value: object) -> int | float:
        """Return ``value`` converted and checked, or raise ``StrategyError``."""
        try:
            if self.kind is int:
                number = float(str(value))
                if not number.is_integer():
                    raise ValueError
                parsed: int | float = int(number)
            else:
                parsed = float(str(value))
                if not math.isfinite(parsed):
                    raise ValueError
        except ValueError:
            raise StrategyError(f"parameter {self.name} must be {self.kind.__name__}, got {value!r}") from None
        if not self.minimum <= parsed <= self.maximum:
            raise StrategyError(
                f"parameter {self.name} must be between {self.minimum} and {self.maximum}, got {parsed}"
            )
        return parsed


# ---------------------------------------------------------------------------------------------
# Indicators: causal, computed once per run by compiled kernels.


class Indicator(ABC):
    """A causal per-bar value derived from the bars (value at ``i`` uses bars ``0..i`` only)."""

    @abstractmethod
    def compute(self, bars: PriceSeries) -> FloatArray:
        """Return one float per bar (NaN while there is not enough history)."""


@dataclass(frozen=True)
class Sma(Indicator):
    """Simple moving average of closes over ``period`` bars (exact ``fsum`` window sums)."""

    period: int

    def compute(self, bars: PriceSeries) -> FloatArray:
        return kernels.sma(bars.close, self.period)


@dataclass(frozen=True)
class Rsi(Indicator):
    """Relative strength index of closes with Wilder's smoothing."""

    period: int

    def compute(self, bars: PriceSeries) -> FloatArray:
        return kernels.rsi_wilder(bars.close, self.period)


@dataclass(frozen=True)
class BollingerBand(Indicator):
    """A Bollinger band of closes: SMA ± ``width`` population standard deviations (``side`` -1, 0 or +1)."""

    period: int
    width: float
    side: int

    def compute(self, bars: PriceSeries) -> FloatArray:
        middle = kernels.sma(bars.close, self.period)
        if self.side == 0:
            return middle
        deviation = kernels.rolling_std(bars.close, middle, self.period)
        return middle + self.side * self.width * deviation


@dataclass(frozen=True)
class Column(Indicator):
    """A per-bar column supplied with the data (``PriceSeries.extras``), already causal by construction."""

    name: str

    def compute(self, bars: PriceSeries) -> FloatArray:
        if self.name not in bars.extras:
            raise StrategyError(f"this strategy needs the data column {self.name!r}, which the data lacks")
        return np.asarray(bars.extras[self.name], dtype=np.float64)


# ---------------------------------------------------------------------------------------------


BAR_FIELDS = ("index", "open", "high", "low", "close", "volume")


class Strategy(ABC):
    """Base class of a strategy; subclasses set ``name``, ``title``, ``parameters`` and ``on_bar``."""

    name: ClassVar[str]
    title: ClassVar[str]
    description: ClassVar[str] = ""
    parameters: ClassVar[tuple[Parameter, ...]] = ()

    def __init__(self, **values: object) -> None:
        known = {parameter.name: parameter for parameter in self.parameters}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise StrategyError(
                f"{self.name} has no parameter {', '.join(unknown)} (it takes: {', '.join(known) or 'none'})"
            )
        self.params: dict[str, int | float] = {
            name: parameter.parse(values[name]) if name in values else parameter.default
            for name, parameter in known.items()
        }
        self.validate()
        self.reset()

    def validate(self) -> None:  # noqa: B027 - optional hook
        """Check relations between parameters; raise ``StrategyError``."""

    def reset(self) -> None:  # noqa: B027 - optional hook
        """Forget the memory of a previous run (called before each run)."""

    @abstractmethod
    def indicators(self) -> dict[str, Indicator]:
        """Return the indicators ``on_bar`` reads, by the name they get on the bar."""

    @abstractmethod
    def on_bar(self, bar: Any) -> Signal | None:
        """Decide at the close of ``bar`` (a named tuple of the current bar only)."""

    def signals(self, bars: PriceSeries, lines: dict[str, FloatArray]) -> SignalArray | None:
        """Return the decisions of every bar at once (fast path), or None if not vectorisable."""
        return None

    @classmethod
    def has_fast_path(cls) -> bool:
        """True if the strategy implements ``signals`` (the compiled fast path can run it)."""
        return cls.signals is not Strategy.signals

    # -- engine helpers --------------------------------------------------------------------

    def compute_lines(self, bars: PriceSeries) -> dict[str, FloatArray]:
        """Compute every declared indicator over ``bars``."""
        return {name: indicator.compute(bars) for name, indicator in self.indicators().items()}

    def bar_stream(self, bars: PriceSeries, lines: dict[str, FloatArray]) -> Iterator[Any]:
        """Yield one named tuple per bar: the bar itself and each indicator's current value."""
        names = tuple(lines)
        for name in names:
            if not name.isidentifier() or name in BAR_FIELDS:
                raise StrategyError(f"indicator name {name!r} is not allowed")
        bar_type = _bar_type(names)
        columns = [
            range(len(bars)),
            bars.open.tolist(),
            bars.high.tolist(),
            bars.low.tolist(),
            bars.close.tolist(),
            bars.volume.tolist(),
            *(lines[name].tolist() for name in names),
        ]
        return map(functools.partial(tuple.__new__, bar_type), zip(*columns, strict=True))

    def describe(self) -> str:
        """Return e.g. ``sma-cross(fast=10, slow=30)``."""
        inside = ", ".join(f"{name}={value}" for name, value in self.params.items())
        return f"{self.name}({inside})"


@functools.cache
def _bar_type(indicator_names: tuple[str, ...]) -> type:
    return collections.namedtuple("Bar", (*BAR_FIELDS, *indicator_names))


def previous(values: FloatArray) -> FloatArray:
    """Return ``values`` shifted one bar later (NaN first): the value each bar saw one bar ago."""
    shifted = np.empty_like(values)
    if values.shape[0]:
        shifted[0] = np.nan
        shifted[1:] = values[:-1]
    return shifted


def signal_codes(buy: NDArray[np.bool_], sell: NDArray[np.bool_]) -> SignalArray:
    """Combine buy and sell masks into signal codes (a bar with both counts as buy, as in ``on_bar``)."""
    codes = np.zeros(buy.shape[0], dtype=np.int8)
    codes[sell] = kernels.SIGNAL_SELL
    codes[buy] = kernels.SIGNAL_BUY
    return codes
