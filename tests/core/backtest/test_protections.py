"""The live guard's protections in backtests: the guard's rules, and the same trades in both engines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.backtest.compare import first_difference
from core.backtest.engine import BacktestConfig, EngineKind, run_event_loop, run_fast, simulate
from core.backtest.protections import Protections, protection_clock
from core.backtest.series import PriceSeries
from core.backtest.strategies import build_strategy
from core.backtest.strategy import StrategyError
from core.execution.enums import ExitReason
from core.risk.guard import RiskRule, account_breach, stoploss_lock_from
from core.risk.settings import RiskLimits
from tests.core.backtest.conftest import make_bars

ALL_ON = Protections(
    daily_loss_limit=0.01,
    max_drawdown=0.3,
    cooldown_minutes=120,
    stoploss_guard_count=2,
    stoploss_guard_lookback_minutes=600,
    stoploss_guard_lock_minutes=300,
)
CONFIGS = [
    ALL_ON,
    Protections(max_drawdown=0.05),
    Protections(daily_loss_limit=0.005),
    Protections(cooldown_minutes=24 * 60 * 3),
    Protections(stoploss_guard_count=1, stoploss_guard_lookback_minutes=60, stoploss_guard_lock_minutes=90 * 24 * 60),
]


@pytest.mark.parametrize("protections", CONFIGS, ids=["all", "drawdown", "daily-loss", "cooldown", "stoploss-guard"])
@pytest.mark.parametrize("name", ["sma-cross", "rsi-reversion", "bollinger-breakout"])
def test_fast_path_applies_the_protections_as_the_event_loop(
    real_bars: PriceSeries, name: str, protections: Protections
) -> None:
    strategy = build_strategy(name)
    config = BacktestConfig(fee_bps=10, slippage_bps=2, stop_loss=0.01, trailing_stop=0.03, protections=protections)
    event = run_event_loop(strategy, real_bars, config)
    fast = run_fast(strategy, real_bars, config)
    assert first_difference(event.trades, fast.trades) is None
    assert event.blocked == fast.blocked
    assert event.final_cash == pytest.approx(fast.final_cash, rel=1e-12)


def test_protections_change_what_is_traded_on_real_data(real_bars: PriceSeries) -> None:
    strategy = build_strategy("sma-cross", {"fast": 5, "slow": 20})
    plain = run_fast(strategy, real_bars, BacktestConfig(stop_loss=0.01))
    guarded = run_fast(strategy, real_bars, BacktestConfig(stop_loss=0.01, protections=CONFIGS[4]))
    stop_outs = [trade for trade in plain.trades if trade.exit_reason is ExitReason.STOP_LOSS]
    if stop_outs:
        assert guarded.blocked.get("stoploss_guard", 0) > 0 and len(guarded.trades) < len(plain.trades)


def test_the_drawdown_limit_halts_every_order() -> None:
    """Buy at 100, fall 20 %: the 10 % drawdown limit halts; the sell signal is refused and the position stays."""
    rows = [(100, 100, 100, 100)] * 3 + [(100, 101, 99, 100), (100, 100, 80, 80), (80, 80, 80, 80), (80, 81, 79, 80)]
    bars = make_bars(rows)  # type: ignore[arg-type]
    strategy = _Script({1: 1, 5: -1})
    config = BacktestConfig(fee_bps=0, protections=Protections(max_drawdown=0.1))
    for engine in (EngineKind.EVENT, EngineKind.FAST):
        log = simulate(strategy, bars, config, engine)
        assert [(trade.entry_index, trade.exit_index) for trade in log.trades] == [(2, None)]
        assert log.blocked == {"halted": 1}
    unguarded = simulate(strategy, bars, BacktestConfig(fee_bps=0), EngineKind.FAST)
    assert [(trade.entry_index, trade.exit_index) for trade in unguarded.trades] == [(2, 6)]


def test_the_daily_loss_limit_blocks_entries_until_the_next_vienna_day() -> None:
    """Hourly bars from 20:00 UTC (21:00 Vienna): a 5 % loss at 21:00 UTC blocks the re-entry at 21:00 and 22:00
    UTC; the bar deciding at 23:00 UTC + 1 h = 00:00 Vienna is on the next day, so that entry goes through."""
    rows = [(100, 100, 100, 100), (100, 100, 95, 95), (95, 95, 95, 95), (95, 95, 95, 95), (95, 95, 95, 95),
            (95, 95, 95, 95), (95, 95, 95, 95)]  # fmt: skip
    bars = make_bars(rows, start="2024-01-10 20:00")  # type: ignore[arg-type]
    script = {0: 1, 1: -1, 2: 1, 3: 1, 4: 1}  # buy at bar 0's close; the loss is marked at bar 1's close
    strategy = _Script(script)
    config = BacktestConfig(fee_bps=0, protections=Protections(daily_loss_limit=0.03))
    clock = protection_clock(bars)
    assert list(clock.day[:5]) == [clock.day[0]] * 3 + [clock.day[0] + 1] * 2
    for engine in (EngineKind.EVENT, EngineKind.FAST):
        log = simulate(strategy, bars, config, engine)
        assert log.blocked == {"reducing": 1}
        assert [trade.entry_index for trade in log.trades] == [1, 4]


def test_the_guard_and_the_backtest_share_the_rules() -> None:
    limits = RiskLimits()
    protections = Protections.from_limits(limits, cooldown=False)
    assert protections.daily_loss_limit == 0.05 and protections.max_drawdown == 0.30
    assert protections.cooldown_minutes is None and protections.stoploss_guard_count == 3
    assert account_breach(0.06, 0.31, 0.05, 0.30) is RiskRule.MAX_DRAWDOWN
    assert account_breach(0.06, 0.10, 0.05, 0.30) is RiskRule.DAILY_LOSS
    start = datetime(2024, 1, 1, tzinfo=UTC)
    times = [start, start + timedelta(hours=2), start + timedelta(hours=30)]
    assert stoploss_lock_from(times, 2, timedelta(hours=3), timedelta(hours=6), start + timedelta(hours=5)) == (
        start + timedelta(hours=8)
    )
    seconds = [0, 7200, 108_000]
    assert stoploss_lock_from(seconds, 2, 3 * 3600, 6 * 3600, 5 * 3600) == 8 * 3600
    assert stoploss_lock_from(seconds, 2, 3 * 3600, 6 * 3600, 9 * 3600) is None


def test_bad_protections_are_refused_and_backtrader_does_not_pretend() -> None:
    with pytest.raises(ValueError, match="fraction"):
        Protections(max_drawdown=1.5)
    with pytest.raises(ValueError, match="at least one"):
        Protections(stoploss_guard_count=0)
    bars = make_bars([(100, 100, 100, 100)] * 5)
    with pytest.raises(StrategyError, match="protections"):
        simulate(build_strategy("sma-cross"), bars, BacktestConfig(protections=ALL_ON), EngineKind.BACKTRADER)


class _Script(build_strategy("sma-cross").__class__):  # type: ignore[misc]
    """A strategy that signals from a script {bar: +1 buy / -1 sell}, in both engines."""

    name = "script"

    def __init__(self, script: dict[int, int]) -> None:
        self.script = script
        super().__init__()

    def on_bar(self, bar):
        from core.backtest.strategy import Signal

        code = self.script.get(bar.index)
        return None if code is None else Signal(code)

    def signals(self, bars, lines):
        import numpy as np

        codes = np.zeros(len(bars), dtype=np.int8)
        for index, code in self.script.items():
            codes[index] = code
        return codes
