"""Technical indicators computed with pandas-ta, under stable column names.

``compute_indicators(frame, specs)`` takes an OHLCV frame (float columns ``open high low close
volume``) and returns a frame of indicator columns on the same index. Column names are ours
(``sma_20``, ``macd``, ``bb_upper``...) so callers never depend on pandas-ta's naming.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import pandas as pd
import pandas_ta as ta


class IndicatorKind(StrEnum):
    SMA = "sma"
    EMA = "ema"
    RSI = "rsi"
    MACD = "macd"
    BBANDS = "bbands"
    ATR = "atr"


# Indicators drawn on the price axis; the others get a panel of their own.
OVERLAY_KINDS = frozenset({IndicatorKind.SMA, IndicatorKind.EMA, IndicatorKind.BBANDS})


@dataclass(frozen=True)
class IndicatorSpec:
    kind: IndicatorKind
    length: int = 14
    std: float = 2.0  # Bollinger band width in standard deviations

    @property
    def label(self) -> str:
        if self.kind is IndicatorKind.MACD:
            return "MACD 12/26/9"
        if self.kind is IndicatorKind.BBANDS:
            return f"BB {self.length}/{self.std:g}"
        return f"{self.kind.value.upper()} {self.length}"


DEFAULT_LENGTHS = {
    IndicatorKind.SMA: 20,
    IndicatorKind.EMA: 50,
    IndicatorKind.RSI: 14,
    IndicatorKind.MACD: 26,
    IndicatorKind.BBANDS: 20,
    IndicatorKind.ATR: 14,
}


def compute_indicator(frame: pd.DataFrame, spec: IndicatorSpec) -> pd.DataFrame:
    """Return the columns of one indicator (NaN where there is not enough history)."""
    close = frame["close"].astype(float)
    index = frame.index
    empty = pd.Series(float("nan"), index=index)
    if spec.kind is IndicatorKind.SMA:
        result = ta.sma(close, length=spec.length)
        return pd.DataFrame({f"sma_{spec.length}": result if result is not None else empty})
    if spec.kind is IndicatorKind.EMA:
        result = ta.ema(close, length=spec.length)
        return pd.DataFrame({f"ema_{spec.length}": result if result is not None else empty})
    if spec.kind is IndicatorKind.RSI:
        result = ta.rsi(close, length=spec.length)
        return pd.DataFrame({f"rsi_{spec.length}": result if result is not None else empty})
    if spec.kind is IndicatorKind.ATR:
        result = ta.atr(frame["high"].astype(float), frame["low"].astype(float), close, length=spec.length)
        return pd.DataFrame({f"atr_{spec.length}": result if result is not None else empty})
    if spec.kind is IndicatorKind.MACD:
        result = ta.macd(close, fast=12, slow=26, signal=9)
        if result is None:
            return pd.DataFrame({"macd": empty, "macd_histogram": empty, "macd_signal": empty})
        result.columns = ["macd", "macd_histogram", "macd_signal"]
        return result
    if spec.kind is IndicatorKind.BBANDS:
        result = ta.bbands(close, length=spec.length, std=spec.std)  # type: ignore[arg-type]
        names = ["bb_lower", "bb_middle", "bb_upper"]
        if result is None:
            return pd.DataFrame(dict.fromkeys(names, empty))
        result = result.iloc[:, :3]
        result.columns = names
        return result
    raise ValueError(f"unknown indicator {spec.kind}")


def compute_indicators(frame: pd.DataFrame, specs: list[IndicatorSpec]) -> pd.DataFrame:
    """Return all indicator columns for ``specs`` side by side."""
    if not specs:
        return pd.DataFrame(index=frame.index)
    return pd.concat([compute_indicator(frame, spec) for spec in specs], axis=1)
