"""An example user strategy for Konsens: copy it to $KONSENS_HOME/strategies/ema_trend.py.

Long only. Buy when the close is above a rising exponential moving average and the RSI is not
overbought; sell when the close falls below the average. A 4 % stop-loss and a 6 % trailing stop
protect every position. `konsens backtest ema-trend --data BTC/EUR` runs it;
`konsens backtest-lookahead ema-trend --data BTC/EUR` checks that it never reads future candles.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from core.backtest.series import PriceSeries
from core.backtest.strategy import (
    FloatArray,
    Indicator,
    Parameter,
    Rsi,
    Signal,
    SignalArray,
    Strategy,
    StrategyError,
    signal_codes,
)


class EmaTrend(Strategy):
    """Trend following on an EMA of closes, filtered by the RSI."""

    name = "ema-trend"
    title = "EMA trend"
    description = "Buy above a rising EMA unless the RSI is overbought; sell below the EMA."
    parameters = (
        Parameter("span", int, 50, 5, 500, "EMA span in candles"),
        Parameter("rsi_period", int, 14, 2, 100, "RSI length in candles"),
        Parameter("rsi_max", float, 70.0, 50.0, 99.0, "no entry above this RSI"),
    )
    stop_loss = 0.04  # 4 % below the entry price
    trailing_stop = 0.06  # trails 6 % below the highest price since the entry

    def validate(self) -> None:
        if self.params["span"] <= self.params["rsi_period"]:
            raise StrategyError("ema-trend needs span > rsi_period")

    def indicators(self) -> dict[str, Indicator]:
        # Declared causal kernels: computed by Konsens, available on each bar as bar.rsi.
        return {"rsi": Rsi(int(self.params["rsi_period"]))}

    def populate_indicators(self, frame: pd.DataFrame) -> pd.DataFrame:
        # Whole-frame pandas code. Only causal operations: ewm/rolling look back, shift(1) looks back.
        span = int(self.params["span"])
        ema = frame["close"].ewm(span=span, adjust=False, min_periods=span).mean()
        frame["ema"] = ema
        frame["ema_rising"] = (ema > ema.shift(1)).astype(float).where(ema.shift(1).notna())
        return frame

    def on_bar(self, bar: Any) -> Signal | None:
        if bar.ema_rising == 1.0 and bar.close > bar.ema and bar.rsi < self.params["rsi_max"]:
            return Signal.BUY
        if bar.close < bar.ema:
            return Signal.SELL
        return None

    def signals(self, bars: PriceSeries, lines: dict[str, FloatArray]) -> SignalArray:
        ema, rising, rsi = lines["ema"], lines["ema_rising"], lines["rsi"]
        buy = (rising == 1.0) & (bars.close > ema) & (rsi < self.params["rsi_max"])
        sell = (bars.close < ema) & ~buy
        return signal_codes(np.asarray(buy), np.asarray(sell))
