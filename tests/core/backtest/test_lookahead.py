"""The look-ahead check: peeking strategies are caught with the right indicator and candle; built-ins are clean."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.backtest.lookahead import check_lookahead, cut_points
from core.backtest.series import PriceDataError, PriceSeries
from core.backtest.strategies import BUILT_IN_STRATEGIES, build_strategy
from core.backtest.user_strategies import load_strategy_file
from tests.core.backtest import user_files
from tests.core.backtest.conftest import make_bars, real_series
from tests.core.backtest.test_user_strategies import EXAMPLE


@pytest.fixture
def bars() -> PriceSeries:
    return real_series("ETH_BTC_5m.csv").head(3000)


def _load(tmp_path: Path, text: str) -> type:
    (loaded,) = load_strategy_file(user_files.write(tmp_path, "peek.py", text))
    return loaded.cls


def test_a_shift_minus_one_in_the_hook_is_caught_at_the_last_candle_before_each_cut(
    tmp_path: Path, bars: PriceSeries
) -> None:
    report = check_lookahead(_load(tmp_path, user_files.PEEK_SHIFT)(), bars, cuts=[1000, 2000, 2999])
    assert not report.clean
    assert report.peeking_indicators() == ["next_close"]  # the honest rolling mean is not blamed
    findings = report.by_line()[("indicator", "next_close")]
    assert [(item.cut, item.candle, item.ahead, item.changed) for item in findings] == [
        (1000, 999, 1, 1), (2000, 1999, 1, 1), (2999, 2998, 1, 1)
    ]  # fmt: skip
    first = findings[0]
    assert first.full_value == float(bars.close[1000])  # the future close it read
    assert first.truncated_value != first.truncated_value  # NaN once that candle is gone
    assert first.time == bars.index[999].to_pydatetime()
    summary = report.summary()
    assert "LOOK-AHEAD" in summary and "indicator 'next_close' at candle 999" in summary
    assert "reads up to 1 candle ahead" in summary and "The look-ahead comes from: next_close." in summary


def test_a_centred_window_reads_two_candles_ahead(tmp_path: Path, bars: PriceSeries) -> None:
    report = check_lookahead(_load(tmp_path, user_files.PEEK_CENTRED)(), bars)
    findings = report.by_line()[("indicator", "smooth")]
    assert len(findings) == len(report.cuts) == 8
    assert {item.ahead for item in findings} == {2}
    # two candles changed at each cut, except at the last where the full data lacks the second one too
    assert [item.changed for item in findings] == [2] * 7 + [1]
    assert "reads up to 2 candles ahead" in report.summary()


def test_a_normalisation_over_all_candles_depends_on_the_whole_future(tmp_path: Path, bars: PriceSeries) -> None:
    report = check_lookahead(_load(tmp_path, user_files.PEEK_GLOBAL)(), bars)
    assert report.peeking_indicators() == ["level"]
    assert "depends on far-future candles" in report.summary()


@pytest.mark.parametrize("name", sorted(BUILT_IN_STRATEGIES - {"ai-consensus"}))
def test_every_built_in_strategy_is_clean_on_real_data(name: str, bars: PriceSeries) -> None:
    report = check_lookahead(build_strategy(name), bars, cut_count=12)
    assert report.clean, report.summary()
    assert "no look-ahead" in report.summary()


def test_ai_consensus_and_the_documented_example_are_clean(bars: PriceSeries) -> None:
    import numpy as np

    values = np.linspace(-1, 1, len(bars))
    with_consensus = bars.with_extras(
        consensus_decision=np.sign(values),
        consensus_score=values,
        consensus_agreement=np.abs(values),
        consensus_flagged=np.zeros(len(bars)),
    )
    assert check_lookahead(build_strategy("ai-consensus"), with_consensus).clean
    (example,) = load_strategy_file(EXAMPLE)
    report = check_lookahead(example.cls(span=30), bars)
    assert report.clean, report.summary()
    assert report.indicators == ["ema", "ema_rising", "rsi"]


def test_cut_points_and_too_little_data() -> None:
    assert cut_points(100, 5) == [20, 40, 60, 79, 99]
    with pytest.raises(PriceDataError, match="at least 20 candles"):
        check_lookahead(build_strategy("sma-cross", {"fast": 2, "slow": 3}), make_bars([(1, 1, 1, 1)] * 10))


def test_warm_up_is_measured_per_line_and_does_not_make_a_strategy_unclean(bars: PriceSeries) -> None:
    report = check_lookahead(build_strategy("sma-cross", {"fast": 10, "slow": 30}), bars, cuts=[2999])
    assert report.clean
    needed = report.warmup_candles()
    assert needed["fast"] == 9 and needed["slow"] == 29  # an SMA of n is NaN for n - 1 candles after a new start
    assert {item.start for item in report.warmup} == {300, 750}
    assert "Warm-up (candles until the values match a run with all earlier history): slow 29" in report.summary()
    assert report.to_dict()["warmup"]["slow"] == 29


def test_a_value_that_depends_on_where_the_data_starts_never_settles(tmp_path: Path, bars: PriceSeries) -> None:
    cumulative = (
        user_files.HEADER
        + """
class Cumulative(Strategy):
    name = "cumulative"
    title = "Cumulative volume"

    def populate_indicators(self, frame: pd.DataFrame) -> pd.DataFrame:
        frame["total_volume"] = frame["volume"].cumsum()
        return frame

    def on_bar(self, bar: Any) -> Signal | None:
        return None
"""
    )
    report = check_lookahead(_load(tmp_path, cumulative)(), bars, cuts=[1500], warmup_starts=[100])
    assert report.clean  # not look-ahead
    assert report.warmup_candles() == {"total_volume": None}
    assert "total_volume never (it depends on where the data starts)" in report.summary()


def test_pandas_ta_indicators_in_the_hook_ema_and_rsi_are_clean_but_the_centred_dpo_is_caught(
    tmp_path: Path,
) -> None:
    # pandas-ta's dpo() is centred by default (centered=True shifts by -(length // 2 + 1)): a real
    # library indicator that reads the future, the kind of bug the check exists for.
    text = (
        user_files.HEADER
        + """
import pandas_ta as ta

class Oscillators(Strategy):
    name = "oscillators"
    title = "pandas-ta oscillators"

    def populate_indicators(self, frame: pd.DataFrame) -> pd.DataFrame:
        frame["ema"] = ta.ema(frame["close"], length=20)
        frame["rsi"] = ta.rsi(frame["close"], length=14)
        frame["dpo"] = ta.dpo(frame["close"], length=20)
        return frame

    def on_bar(self, bar: Any) -> Signal | None:
        return Signal.BUY if bar.dpo > 0 else (Signal.SELL if bar.dpo < 0 else None)
"""
    )
    report = check_lookahead(_load(tmp_path, text)(), real_series("GOOG_1d.csv"))
    assert report.peeking_indicators() == ["dpo"]
    assert {item.ahead for item in report.by_line()[("indicator", "dpo")]} == {11}
    assert ("signal", "on_bar") in report.by_line()


def test_a_fast_path_that_disagrees_with_on_bar_is_reported(tmp_path: Path, bars: PriceSeries) -> None:
    text = user_files.GOOD.replace("buy = change > 0.01", "buy = change > 0.02")
    report = check_lookahead(_load(tmp_path, text)(), bars, cuts=[2999], warmup_starts=[])
    assert report.clean  # not look-ahead, but the fast path would trade differently
    assert report.fast_path_mismatches and all(slow == 1 and fast == 0 for _, slow, fast in report.fast_path_mismatches)
    assert "signals() disagrees with on_bar at" in report.summary()
    assert check_lookahead(build_strategy("sma-cross"), bars, cuts=[2999]).fast_path_mismatches == []
