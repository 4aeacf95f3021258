"""Loading user strategy files: good files, refusals naming file and line, strategy code that fails."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.backtest.engine import BacktestConfig, EngineKind, run_event_loop, run_fast
from core.backtest.results import run_backtest
from core.backtest.series import PriceSeries
from core.backtest.strategies import STRATEGIES, build_strategy
from core.backtest.strategy import StrategyFailure
from core.backtest.user_strategies import (
    StrategyFileError,
    load_catalog,
    load_strategy_file,
    load_user_strategies,
    register_catalog,
)
from tests.core.backtest import user_files
from tests.core.backtest.conftest import real_series

EXAMPLE = Path(__file__).resolve().parents[3] / "docs" / "examples" / "ema_trend.py"


@pytest.fixture
def bars() -> PriceSeries:
    return real_series("GOOG_1d.csv").head(400)


@pytest.fixture(autouse=True)
def _forget_user_strategies() -> object:
    yield
    register_catalog(load_catalog(None))


def test_a_good_file_registers_its_strategy_and_it_backtests_on_both_engines(tmp_path: Path, bars: PriceSeries) -> None:
    path = user_files.write(tmp_path / "strategies", "momentum.py", user_files.GOOD)
    catalog = load_user_strategies(tmp_path)
    assert catalog.errors == []
    assert catalog.strategies["momentum"].path == path
    assert catalog.strategies["momentum"].line == user_files.line_of(path, "class Momentum")
    strategy = build_strategy("momentum", {"lookback": "7"})
    assert strategy.params == {"lookback": 7}
    event = run_event_loop(strategy, bars, BacktestConfig())
    fast = run_fast(build_strategy("momentum", {"lookback": 7}), bars, BacktestConfig())
    assert len(event.trades) > 3
    assert [(t.entry_index, t.exit_index) for t in event.trades] == [(t.entry_index, t.exit_index) for t in fast.trades]


def test_the_documented_example_loads_runs_with_its_own_stops_and_matches_its_fast_path(bars: PriceSeries) -> None:
    (strategy,) = load_strategy_file(EXAMPLE)
    assert strategy.name == "ema-trend"
    instance = strategy.cls(span=30)
    result = run_backtest(instance, bars, BacktestConfig())
    assert result.config.stop_loss == 0.04 and result.config.trailing_stop == 0.06
    fast = run_backtest(strategy.cls(span=30), bars, BacktestConfig(), engine=run_fast_kind())
    assert [(t.entry_index, t.exit_index, t.exit_reason) for t in result.trades] == [
        (t.entry_index, t.exit_index, t.exit_reason) for t in fast.trades
    ]
    assert any(trade.exit_reason is not None and trade.exit_reason.value != "signal" for trade in result.trades)
    # a stop given for the run wins over the strategy's own
    assert run_backtest(strategy.cls(), bars, BacktestConfig(stop_loss=0.1)).config.stop_loss == 0.1


def run_fast_kind() -> EngineKind:
    return EngineKind.FAST


@pytest.mark.parametrize(
    ("text", "fragment", "message"),
    [
        (user_files.SYNTAX_ERROR, "class Broken", "syntax error"),
        (user_files.IMPORT_ERROR, "import konsens_no_such_package", "ModuleNotFoundError"),
    ],
)
def test_a_file_that_does_not_import_is_refused_with_its_line(
    tmp_path: Path, text: str, fragment: str, message: str
) -> None:
    path = user_files.write(tmp_path, "bad.py", text)
    with pytest.raises(StrategyFileError) as caught:
        load_strategy_file(path)
    line = user_files.line_of(path, fragment)
    assert caught.value.line == line
    assert str(caught.value).startswith(f"{path}, line {line}: ")
    assert message in str(caught.value)


def test_a_file_without_strategy_and_a_duplicate_name_are_refused(tmp_path: Path) -> None:
    directory = tmp_path / "strategies"
    user_files.write(directory, "a_good.py", user_files.GOOD)
    user_files.write(directory, "b_again.py", user_files.GOOD)
    user_files.write(directory, "c_empty.py", user_files.NO_STRATEGY)
    duplicate = user_files.write(directory, "d_builtin.py", user_files.DUPLICATE_BUILT_IN)
    user_files.write(directory, "_private.py", "raise SystemExit")  # skipped: leading underscore
    catalog = load_catalog(directory)
    assert sorted(catalog.strategies) == ["momentum"]
    messages = {error.path.name: str(error) for error in catalog.errors}
    assert f"already defined in {directory / 'a_good.py'}" in messages["b_again.py"]
    assert "defines no strategy" in messages["c_empty.py"]
    assert messages["d_builtin.py"].startswith(f"{duplicate}, line {user_files.line_of(duplicate, 'class Mine')}")
    assert "is a built-in strategy" in messages["d_builtin.py"]
    register_catalog(catalog)
    assert STRATEGIES["sma-cross"].__module__ == "core.backtest.strategies"  # a user file never replaces a built-in


def test_an_edited_file_replaces_the_earlier_load_and_a_removed_one_disappears(tmp_path: Path) -> None:
    path = user_files.write(tmp_path / "strategies", "momentum.py", user_files.GOOD)
    load_user_strategies(tmp_path)
    assert "momentum" in STRATEGIES
    path.write_text(user_files.GOOD.replace('"momentum"', '"momentum-2"'), encoding="utf-8")
    load_user_strategies(tmp_path)
    assert "momentum-2" in STRATEGIES and "momentum" not in STRATEGIES
    path.unlink()
    load_user_strategies(tmp_path)
    assert "momentum-2" not in STRATEGIES


def test_a_raising_strategy_stops_the_run_naming_file_line_and_candle(tmp_path: Path, bars: PriceSeries) -> None:
    path = user_files.write(tmp_path, "raises.py", user_files.RAISES)
    (loaded,) = load_strategy_file(path)
    with pytest.raises(StrategyFailure) as caught:
        run_event_loop(loaded.cls(), bars, BacktestConfig())
    line = user_files.line_of(path, "raise ZeroDivisionError")
    assert (caught.value.file, caught.value.line) == (str(path), line)
    assert "on_bar at candle 30" in str(caught.value)
    assert "ZeroDivisionError: division by zero in my strategy" in str(caught.value)
    assert f"{path}, line {line}" in str(caught.value)


def test_on_bar_returning_garbage_is_refused(tmp_path: Path, bars: PriceSeries) -> None:
    path = user_files.write(tmp_path, "garbage.py", user_files.GARBAGE_ON_BAR)
    (loaded,) = load_strategy_file(path)
    with pytest.raises(StrategyFailure, match=r"on_bar returned 'buy' at candle 12; only Signal.BUY"):
        run_event_loop(loaded.cls(), bars, BacktestConfig())
    with pytest.raises(StrategyFailure, match=r"on_bar returned 'buy' at candle 12"):
        loaded.cls().decisions(bars)


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("short", r"signals\(\) returned 399 values for 400 candles"),
        ("nan", r"signals\(\) returned nan at candle 7"),
        ("two", r"signals\(\) returned 2 at candle 9 \(.*\); only -1 \(sell\), 0 \(nothing\) and \+1 \(buy\)"),
    ],
)
def test_garbage_signals_are_refused_before_any_trade(
    tmp_path: Path, bars: PriceSeries, mode: str, message: str
) -> None:
    path = user_files.write(tmp_path, "signals.py", user_files.GARBAGE_SIGNALS)
    (loaded,) = load_strategy_file(path)
    strategy = loaded.cls()
    strategy.mode = mode  # type: ignore[attr-defined]
    with pytest.raises(StrategyFailure, match=message) as caught:
        run_fast(strategy, bars, BacktestConfig())
    assert caught.value.file == str(path)
    assert caught.value.line == user_files.line_of(path, "def signals")


def test_an_indicator_hook_that_drops_rows_is_refused(tmp_path: Path, bars: PriceSeries) -> None:
    path = user_files.write(tmp_path, "drops.py", user_files.GARBAGE_HOOK)
    (loaded,) = load_strategy_file(path)
    with pytest.raises(StrategyFailure, match=r"populate_indicators returned 396 rows for 400 candles"):
        run_event_loop(loaded.cls(), bars, BacktestConfig())


def test_the_hook_sees_candles_declared_indicators_and_its_columns_reach_the_bar(bars: PriceSeries) -> None:
    (loaded,) = load_strategy_file(EXAMPLE)
    strategy = loaded.cls(span=20)
    lines = strategy.compute_lines(bars)
    assert sorted(lines) == ["ema", "ema_rising", "rsi"]
    expected = bars.to_frame()["close"].ewm(span=20, adjust=False, min_periods=20).mean().to_numpy()
    np.testing.assert_array_equal(lines["ema"], expected)
    first_bar = next(iter(strategy.bar_stream(bars, lines)))
    assert first_bar._fields[-3:] == ("rsi", "ema", "ema_rising")


def test_the_manual_shows_the_example_file_verbatim() -> None:
    guide = (EXAMPLE.parents[1] / "guides" / "strategies.md").read_text(encoding="utf-8")
    assert f"```python\n{EXAMPLE.read_text(encoding='utf-8')}```" in guide
