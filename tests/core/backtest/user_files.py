"""Strategy files the loading, look-ahead and signal-source tests write into a temporary directory."""

from __future__ import annotations

from pathlib import Path

HEADER = """
from typing import Any
import numpy as np
import pandas as pd
from core.backtest.strategy import Parameter, Signal, Sma, Strategy, signal_codes
"""

GOOD = (
    HEADER
    + """
class Momentum(Strategy):
    name = "momentum"
    title = "Momentum"
    parameters = (Parameter("lookback", int, 5, 2, 50, "candles"),)

    def populate_indicators(self, frame: pd.DataFrame) -> pd.DataFrame:
        frame["change"] = frame["close"].pct_change(int(self.params["lookback"]))
        return frame

    def on_bar(self, bar: Any) -> Signal | None:
        if bar.change > 0.01:
            return Signal.BUY
        if bar.change < -0.01:
            return Signal.SELL
        return None

    def signals(self, bars, lines):
        change = lines["change"]
        buy = change > 0.01
        return signal_codes(buy, (change < -0.01) & ~buy)
"""
)

# Peeks at the next candle in the indicator hook (freqtrade's classic mistake).
PEEK_SHIFT = (
    HEADER
    + """
class NextClose(Strategy):
    name = "next-close"
    title = "Peeks at the next close"

    def populate_indicators(self, frame: pd.DataFrame) -> pd.DataFrame:
        frame["sma"] = frame["close"].rolling(10).mean()
        frame["next_close"] = frame["close"].shift(-1)
        return frame

    def on_bar(self, bar: Any) -> Signal | None:
        if bar.next_close > bar.close * 1.001:
            return Signal.BUY
        if bar.next_close < bar.close * 0.999:
            return Signal.SELL
        return None
"""
)

# A centred rolling window: each value uses the two candles after it.
PEEK_CENTRED = (
    HEADER
    + """
class Centred(Strategy):
    name = "centred"
    title = "Centred window"

    def populate_indicators(self, frame: pd.DataFrame) -> pd.DataFrame:
        frame["smooth"] = frame["close"].rolling(5, center=True).mean()
        return frame

    def on_bar(self, bar: Any) -> Signal | None:
        if bar.close > bar.smooth:
            return Signal.BUY
        if bar.close < bar.smooth:
            return Signal.SELL
        return None
"""
)

# Normalises by the maximum over all candles: every value depends on the whole future.
PEEK_GLOBAL = (
    HEADER
    + """
class Normalised(Strategy):
    name = "normalised"
    title = "Normalised by the global maximum"

    def populate_indicators(self, frame: pd.DataFrame) -> pd.DataFrame:
        frame["level"] = frame["close"] / frame["close"].max()
        return frame

    def on_bar(self, bar: Any) -> Signal | None:
        return Signal.BUY if bar.level > 0.9 else (Signal.SELL if bar.level < 0.8 else None)
"""
)

SYNTAX_ERROR = HEADER + "\nclass Broken(Strategy)\n    name = 'broken'\n"

IMPORT_ERROR = HEADER + "\nimport konsens_no_such_package\n"

NO_STRATEGY = HEADER + "\nVALUE = 1\n"

RAISES = (
    HEADER
    + """
class Raises(Strategy):
    name = "raises"
    title = "Raises at candle 30"

    def indicators(self):
        return {"sma": Sma(5)}

    def on_bar(self, bar: Any) -> Signal | None:
        if bar.index == 30:
            raise ZeroDivisionError("division by zero in my strategy")
        return Signal.BUY if bar.index == 10 else None
"""
)

GARBAGE_ON_BAR = (
    HEADER
    + """
class SaysYes(Strategy):
    name = "says-yes"
    title = "Returns a string"

    def on_bar(self, bar: Any) -> Signal | None:
        return "buy" if bar.index == 12 else None
"""
)

GARBAGE_SIGNALS = (
    HEADER
    + """
class ShortSignals(Strategy):
    name = "short-signals"
    title = "signals() too short, with NaN and a 2"
    mode = "short"

    def on_bar(self, bar: Any) -> Signal | None:
        return None

    def signals(self, bars, lines):
        if self.mode == "short":
            return np.zeros(len(bars) - 1, dtype=np.int8)
        if self.mode == "nan":
            codes = np.zeros(len(bars))
            codes[7] = np.nan
            return codes
        codes = np.zeros(len(bars), dtype=np.int8)
        codes[9] = 2
        return codes
"""
)

GARBAGE_HOOK = (
    HEADER
    + """
class DropsRows(Strategy):
    name = "drops-rows"
    title = "populate_indicators drops the warm-up rows"

    def populate_indicators(self, frame: pd.DataFrame) -> pd.DataFrame:
        frame["sma"] = frame["close"].rolling(5).mean()
        return frame.dropna()

    def on_bar(self, bar: Any) -> Signal | None:
        return None
"""
)

DUPLICATE_BUILT_IN = (
    HEADER
    + """
class Mine(Strategy):
    name = "sma-cross"
    title = "My own SMA cross"

    def on_bar(self, bar: Any) -> Signal | None:
        return None
"""
)


def write(directory: Path, name: str, text: str) -> Path:
    """Write ``text`` to ``directory/name`` and return the path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def line_of(path: Path, fragment: str) -> int:
    """The 1-based line of ``path`` that contains ``fragment``."""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if fragment in line:
            return number
    raise AssertionError(f"{fragment!r} not in {path}")
