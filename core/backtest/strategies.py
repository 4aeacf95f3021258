"""The shipped strategies and the registry that finds them by name."""

from __future__ import annotations

from typing import Any

from core.backtest.consensus import COLUMNS as CONSENSUS_COLUMNS
from core.backtest.consensus import ConsensusFollower
from core.backtest.series import PriceSeries
from core.backtest.strategy import (
    BollingerBand,
    Column,
    FloatArray,
    Indicator,
    Parameter,
    Rsi,
    Signal,
    SignalArray,
    Sma,
    Strategy,
    StrategyError,
    previous,
    signal_codes,
)

NAN = float("nan")


class SmaCross(Strategy):
    """Long only: enter when the fast SMA of closes crosses above the slow one, exit when it crosses below."""

    name = "sma-cross"
    title = "SMA crossover"
    description = "Buy when the fast moving average crosses above the slow one; sell when it crosses below."
    parameters = (
        Parameter("fast", int, 10, 2, 1000, "bars in the fast moving average"),
        Parameter("slow", int, 30, 3, 5000, "bars in the slow moving average"),
    )

    def validate(self) -> None:
        if self.params["fast"] >= self.params["slow"]:
            raise StrategyError("sma-cross needs fast < slow")

    def reset(self) -> None:
        self._previous_fast = NAN
        self._previous_slow = NAN

    def indicators(self) -> dict[str, Indicator]:
        return {"fast": Sma(int(self.params["fast"])), "slow": Sma(int(self.params["slow"]))}

    def on_bar(self, bar: Any) -> Signal | None:
        fast, slow = bar.fast, bar.slow
        previous_fast, previous_slow = self._previous_fast, self._previous_slow
        self._previous_fast, self._previous_slow = fast, slow
        if fast > slow and previous_fast <= previous_slow:
            return Signal.BUY
        if fast < slow and previous_fast >= previous_slow:
            return Signal.SELL
        return None

    def signals(self, bars: PriceSeries, lines: dict[str, FloatArray]) -> SignalArray:
        fast, slow = lines["fast"], lines["slow"]
        previous_fast, previous_slow = previous(fast), previous(slow)
        buy = (fast > slow) & (previous_fast <= previous_slow)
        sell = (fast < slow) & (previous_fast >= previous_slow) & ~buy
        return signal_codes(buy, sell)


class RsiReversion(Strategy):
    """Long only mean reversion: buy when the RSI falls below ``lower``, sell when it rises above ``upper``."""

    name = "rsi-reversion"
    title = "RSI mean reversion"
    description = "Buy when the RSI is oversold (below the lower level); sell when it is overbought (above the upper)."
    parameters = (
        Parameter("period", int, 14, 2, 500, "RSI length in bars"),
        Parameter("lower", float, 30.0, 1.0, 99.0, "buy below this RSI"),
        Parameter("upper", float, 70.0, 1.0, 99.0, "sell above this RSI"),
    )

    def validate(self) -> None:
        if self.params["lower"] >= self.params["upper"]:
            raise StrategyError("rsi-reversion needs lower < upper")

    def indicators(self) -> dict[str, Indicator]:
        return {"rsi": Rsi(int(self.params["period"]))}

    def on_bar(self, bar: Any) -> Signal | None:
        rsi = bar.rsi
        if rsi < self.params["lower"]:
            return Signal.BUY
        if rsi > self.params["upper"]:
            return Signal.SELL
        return None

    def signals(self, bars: PriceSeries, lines: dict[str, FloatArray]) -> SignalArray:
        rsi = lines["rsi"]
        buy = rsi < self.params["lower"]
        sell = (rsi > self.params["upper"]) & ~buy
        return signal_codes(buy, sell)


class BollingerBreakout(Strategy):
    """Long only breakout: buy when the close ends above the upper band, sell when it falls below the middle."""

    name = "bollinger-breakout"
    title = "Bollinger breakout"
    description = (
        "Buy when a close breaks above the upper Bollinger band; sell when a close falls below the middle band."
    )
    parameters = (
        Parameter("period", int, 20, 2, 1000, "bars in the moving average"),
        Parameter("width", float, 2.0, 0.1, 10.0, "band width in standard deviations"),
    )

    def indicators(self) -> dict[str, Indicator]:
        period, width = int(self.params["period"]), float(self.params["width"])
        return {"upper": BollingerBand(period, width, 1), "middle": BollingerBand(period, width, 0)}

    def on_bar(self, bar: Any) -> Signal | None:
        if bar.close > bar.upper:
            return Signal.BUY
        if bar.close < bar.middle:
            return Signal.SELL
        return None

    def signals(self, bars: PriceSeries, lines: dict[str, FloatArray]) -> SignalArray:
        buy = bars.close > lines["upper"]
        sell = (bars.close < lines["middle"]) & ~buy
        return signal_codes(buy, sell)


STRATEGIES: dict[str, type[Strategy]] = {
    strategy.name: strategy for strategy in (SmaCross, RsiReversion, BollingerBreakout, ConsensusFollower)
}
BUILT_IN_STRATEGIES = frozenset(STRATEGIES)


def register_strategy(strategy: type[Strategy]) -> type[Strategy]:
    """Add a strategy class to the registry (usable as a class decorator)."""
    STRATEGIES[strategy.name] = strategy
    return strategy


def strategy_class(name: str) -> type[Strategy]:
    """Return the strategy class called ``name`` or raise ``StrategyError``."""
    try:
        return STRATEGIES[name]
    except KeyError:
        raise StrategyError(f"unknown strategy {name!r} (choose from: {', '.join(sorted(STRATEGIES))})") from None


def build_strategy(name: str, params: dict[str, object] | None = None) -> Strategy:
    """Return a configured strategy instance."""
    return strategy_class(name)(**(params or {}))


def needs_consensus(strategy: Strategy) -> bool:
    """True if the strategy reads the recorded AI consensus (it needs stored candles)."""
    return any(
        isinstance(indicator, Column) and indicator.name in CONSENSUS_COLUMNS
        for indicator in strategy.indicators().values()
    )
