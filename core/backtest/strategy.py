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

Besides the declared causal kernels, a strategy may compute indicator columns itself from the whole
candle frame in ``populate_indicators(frame)`` (pandas / pandas-ta, like freqtrade). That hook sees
every candle at once, so it *can* peek into the future (``shift(-1)``, a centred window);
``core.backtest.lookahead.check_lookahead`` finds such peeking by recomputing on truncated data.

Everything a strategy's own code returns is checked before it is used (``check_lines``,
``check_signal_codes``, ``check_signal``): a wrong length, NaN, an unknown signal value or an
exception becomes a ``StrategyFailure`` naming the strategy's file and line, and no order is
derived from a partly computed decision.

Optional protective exits: class attributes ``stop_loss``, ``take_profit`` and ``trailing_stop``
(fractions of the entry price) apply whenever a run does not set its own (``with_strategy_exits``).
"""

from __future__ import annotations

import collections
import functools
import inspect
import traceback
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from core.backtest import kernel_codes as kernels
from core.backtest.native import kernel
from core.backtest.parameters import Parameter as Parameter  # its home: importable without numpy
from core.backtest.parameters import StrategyError as StrategyError
from core.backtest.series import PriceSeries

FloatArray = NDArray[np.float64]
SignalArray = NDArray[np.int8]


class Signal(IntEnum):
    """What a strategy asks for at a bar's close; it is executed at the next bar's open."""

    SELL = kernels.SIGNAL_SELL
    BUY = kernels.SIGNAL_BUY


class StrategyFailure(StrategyError):
    """A strategy's own code raised or returned garbage; the message names its file and line."""

    def __init__(self, message: str, *, strategy: str, file: str | None = None, line: int | None = None) -> None:
        where = f" ({file}, line {line})" if file and line else (f" ({file})" if file else "")
        super().__init__(f"strategy {strategy}{where}: {message}")
        self.strategy = strategy
        self.file = file
        self.line = line


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
        return kernel("sma")(bars.close, self.period)


@dataclass(frozen=True)
class Rsi(Indicator):
    """Relative strength index of closes with Wilder's smoothing."""

    period: int

    def compute(self, bars: PriceSeries) -> FloatArray:
        return kernel("rsi_wilder")(bars.close, self.period)


@dataclass(frozen=True)
class BollingerBand(Indicator):
    """A Bollinger band of closes: SMA ± ``width`` population standard deviations (``side`` -1, 0 or +1)."""

    period: int
    width: float
    side: int

    def compute(self, bars: PriceSeries) -> FloatArray:
        middle: FloatArray = kernel("sma")(bars.close, self.period)
        if self.side == 0:
            return middle
        deviation = kernel("rolling_std")(bars.close, middle, self.period)
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
    # Protective exits as fractions of the entry price (None: none), used when a run sets none.
    stop_loss: ClassVar[float | None] = None
    take_profit: ClassVar[float | None] = None
    trailing_stop: ClassVar[float | None] = None

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
        guarded(self, "validate", self.validate)
        guarded(self, "reset", self.reset)

    def validate(self) -> None:  # noqa: B027 - optional hook
        """Check relations between parameters; raise ``StrategyError``."""

    def reset(self) -> None:  # noqa: B027 - optional hook
        """Forget the memory of a previous run (called before each run)."""

    def indicators(self) -> dict[str, Indicator]:
        """Return the causal indicators ``on_bar`` reads, by the name they get on the bar."""
        return {}

    def populate_indicators(self, frame: pd.DataFrame) -> pd.DataFrame | None:
        """Optional hook: add indicator columns computed from the whole candle frame.

        ``frame`` holds ``open high low close volume``, the data's extra columns and the declared
        indicators, indexed by the candle open time (UTC). Return the frame with new columns (or a
        frame of only the new columns); each new column becomes a line on the bar under its name.
        Values must be causal: the value at a candle may only use that candle and earlier ones.
        """
        return None

    @classmethod
    def has_indicator_hook(cls) -> bool:
        """True if the strategy computes its own columns in ``populate_indicators``."""
        return cls.populate_indicators is not Strategy.populate_indicators

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
        """Compute every declared indicator over ``bars``, then the columns of ``populate_indicators``."""
        declared = guarded(self, "indicators", self.indicators)
        if not isinstance(declared, dict) or not all(isinstance(value, Indicator) for value in declared.values()):
            raise self.failure("indicators() must return a dict of name → Indicator", self.indicators)
        lines = {name: indicator.compute(bars) for name, indicator in declared.items()}
        if self.has_indicator_hook():
            frame = bars.to_frame()
            for name, values in {**bars.extras, **lines}.items():
                frame[name] = values
            before = set(frame.columns)
            result = guarded(self, "populate_indicators", self.populate_indicators, frame)
            lines.update(check_lines(self, result, bars, before))
        return lines

    def decisions(self, bars: PriceSeries, lines: dict[str, FloatArray] | None = None) -> SignalArray:
        """``on_bar``'s checked answer at every bar (+1 buy, -1 sell, 0 none), from a fresh ``reset``."""
        guarded(self, "reset", self.reset)
        lines = self.compute_lines(bars) if lines is None else lines
        codes = np.zeros(len(bars), dtype=np.int8)
        on_bar = self.on_bar
        for bar in self.bar_stream(bars, lines):
            try:
                signal = on_bar(bar)
            except StrategyError:
                raise
            except Exception as error:
                raise failure_from(
                    self, f"on_bar at candle {bar.index} ({bars.index[bar.index].isoformat()})", error
                ) from error
            checked = check_signal(self, signal, bar)
            if checked is not None:
                codes[bar.index] = int(checked)
        return codes

    def failure(self, message: str, method: Callable[..., object] | None = None) -> StrategyFailure:
        """A ``StrategyFailure`` located at ``method``'s definition (or the class)."""
        file, line = source_location(type(self), method)
        return StrategyFailure(message, strategy=self.name, file=file, line=line)

    def exit_fractions(self) -> dict[str, float | None]:
        """The strategy's own protective exits (``stop_loss``, ``take_profit``, ``trailing_stop``)."""
        return {"stop_loss": self.stop_loss, "take_profit": self.take_profit, "trailing_stop": self.trailing_stop}

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


def source_location(cls: type, method: Callable[..., object] | None = None) -> tuple[str | None, int | None]:
    """Return the file and first line of ``method`` (or of ``cls``), where Python can tell."""
    target: object = getattr(method, "__func__", method) if method is not None else cls
    try:
        file = inspect.getsourcefile(target)  # type: ignore[arg-type]
        _, line = inspect.getsourcelines(target)  # type: ignore[arg-type]
    except (OSError, TypeError):
        return None, None
    return file, max(line, 1)


def _raising_location(cls: type, error: BaseException) -> tuple[str | None, int | None]:
    """The deepest frame of ``error``'s traceback inside the strategy's file, else the deepest frame."""
    own_file, _ = source_location(cls)
    frames = traceback.extract_tb(error.__traceback__)
    for frame in reversed(frames):
        if own_file is not None and frame.filename == own_file:
            return frame.filename, frame.lineno
    if frames:
        return frames[-1].filename, frames[-1].lineno
    return own_file, None


def guarded(strategy: Strategy, what: str, call: Callable[..., Any], *args: Any) -> Any:
    """Call strategy code; an exception becomes a ``StrategyFailure`` naming the file and line."""
    try:
        return call(*args)
    except StrategyError:
        raise
    except Exception as error:
        raise failure_from(strategy, what, error) from error


def failure_from(strategy: Strategy, what: str, error: Exception) -> StrategyError:
    """The ``StrategyFailure`` for an exception ``what`` (e.g. ``on_bar at candle 7``) raised."""
    if isinstance(error, StrategyError):
        return error
    file, line = _raising_location(type(strategy), error)
    return StrategyFailure(
        f"{what} raised {type(error).__name__}: {error}", strategy=strategy.name, file=file, line=line
    )


def check_lines(strategy: Strategy, result: object, bars: PriceSeries, before: set[str]) -> dict[str, FloatArray]:
    """Validate what ``populate_indicators`` returned and return its new columns as float arrays."""
    hook = strategy.populate_indicators
    if not isinstance(result, pd.DataFrame):
        raise strategy.failure(f"populate_indicators must return a DataFrame, got {type(result).__name__}", hook)
    if len(result) != len(bars):
        raise strategy.failure(
            f"populate_indicators returned {len(result)} rows for {len(bars)} candles (rows must not be "
            "added, dropped or reordered)",
            hook,
        )
    if isinstance(result.index, pd.DatetimeIndex) and not result.index.equals(bars.index):
        raise strategy.failure("populate_indicators changed the frame's index (candles reordered or replaced)", hook)
    lines: dict[str, FloatArray] = {}
    for column in result.columns:
        if column in before:
            continue
        name = str(column)
        if not name.isidentifier() or name in BAR_FIELDS:
            raise strategy.failure(f"indicator column name {name!r} is not allowed (use a Python identifier)", hook)
        try:
            values = np.ascontiguousarray(pd.to_numeric(result[column], errors="raise").to_numpy(dtype=np.float64))
        except (TypeError, ValueError):
            raise strategy.failure(f"indicator column {name!r} holds values that are not numbers", hook) from None
        lines[name] = values
    return lines


_SIGNAL_CODES = np.array([kernels.SIGNAL_SELL, 0, kernels.SIGNAL_BUY], dtype=np.int8)


def check_signal_codes(strategy: Strategy, codes: object, bars: PriceSeries) -> SignalArray:
    """Validate what ``signals()`` returned: one finite -1 / 0 / +1 per bar, else ``StrategyFailure``."""
    method = strategy.signals
    if isinstance(codes, pd.Series):
        codes = codes.to_numpy()
    if not isinstance(codes, np.ndarray) or codes.ndim != 1:
        raise strategy.failure(f"signals() must return a 1-d numpy array, got {type(codes).__name__}", method)
    if codes.shape[0] != len(bars):
        raise strategy.failure(f"signals() returned {codes.shape[0]} values for {len(bars)} candles", method)
    if codes.dtype.kind not in "biuf":
        raise strategy.failure(f"signals() returned values of type {codes.dtype} (use -1, 0, +1)", method)
    values = codes.astype(np.float64)
    bad = ~np.isin(values, _SIGNAL_CODES)
    if bad.any():
        position = int(np.argmax(bad))
        raise strategy.failure(
            f"signals() returned {codes[position].item()!r} at candle {position} ({bars.index[position].isoformat()}); "
            "only -1 (sell), 0 (nothing) and +1 (buy) are allowed",
            method,
        )
    return np.ascontiguousarray(values.astype(np.int8))


def check_signal(strategy: Strategy, signal: object, bar: Any) -> Signal | None:
    """Validate one ``on_bar`` answer: ``Signal.BUY``, ``Signal.SELL`` or None, else ``StrategyFailure``."""
    if signal is None or signal is Signal.BUY or signal is Signal.SELL:
        return signal
    raise strategy.failure(
        f"on_bar returned {signal!r} at candle {bar.index}; only Signal.BUY, Signal.SELL or None are allowed",
        strategy.on_bar,
    )


def with_strategy_exits(config: Any, strategy: Strategy) -> Any:
    """``config`` (a ``BacktestConfig``) with the strategy's own exits where the run sets none."""
    import dataclasses

    own = {name: value for name, value in strategy.exit_fractions().items() if value is not None}
    missing = {name: value for name, value in own.items() if getattr(config, name) is None}
    return dataclasses.replace(config, **missing) if missing else config


def signal_codes(buy: NDArray[np.bool_], sell: NDArray[np.bool_]) -> SignalArray:
    """Combine buy and sell masks into signal codes (a bar with both counts as buy, as in ``on_bar``)."""
    codes = np.zeros(buy.shape[0], dtype=np.int8)
    codes[sell] = kernels.SIGNAL_SELL
    codes[buy] = kernels.SIGNAL_BUY
    return codes
