"""Pattern detection on constructed series with a known pattern, and on real recorded candles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.analysis.patterns import (
    PatternBias,
    PatternKind,
    candlestick_patterns,
    chart_patterns,
    detect_patterns,
    pattern_signals,
)

DATA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "ohlcv"


def path_frame(waypoints: list[tuple[int, float]], *, spread: float = 0.2, start: float | None = None) -> pd.DataFrame:
    """Candles whose closes walk linearly through (bars, close) legs; each bar opens at the last close."""
    closes = [start if start is not None else waypoints[0][1]]
    for bars, target in waypoints[1:]:
        closes.extend(np.linspace(closes[-1], target, bars + 1)[1:].tolist())
    close = np.array(closes)
    open_ = np.concatenate([[close[0]], close[:-1]])
    high = np.maximum(open_, close) + spread
    low = np.minimum(open_, close) - spread
    index = pd.date_range("2026-01-01", periods=len(close), freq="1h", tz="UTC")
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close, "volume": 1.0}, index=index)


def bars(frame: pd.DataFrame, *positions: int) -> list[pd.Timestamp]:
    return [frame.index[position] for position in positions]


def of_kind(patterns, kind):
    return [pattern for pattern in patterns if pattern.kind is kind]


def test_double_top_is_found_with_its_peaks_neckline_and_span():
    frame = path_frame([(0, 100), (20, 120), (10, 110), (10, 120), (25, 100)])
    found = of_kind(chart_patterns(frame), PatternKind.DOUBLE_TOP)
    assert len(found) == 1
    top = found[0]
    assert (top.start, top.end) == tuple(bars(frame, 20, 40))
    assert top.levels["first_peak"] == pytest.approx(120.2)
    assert top.levels["second_peak"] == pytest.approx(120.2)
    assert top.levels["neckline"] == pytest.approx(109.8)
    assert top.breakout == pytest.approx(109.8)
    assert top.bias is PatternBias.BEARISH
    assert top.confirmed  # the closes fell to 100, below the neckline
    assert top.known_at == frame.index[43]  # a swing is known three bars after it
    assert 0.5 < top.confidence <= 1


def test_double_bottom_not_yet_broken_is_unconfirmed():
    frame = path_frame([(0, 120), (20, 100), (10, 110), (10, 100), (8, 106)])
    found = of_kind(chart_patterns(frame), PatternKind.DOUBLE_BOTTOM)
    assert len(found) == 1
    assert found[0].levels["neckline"] == pytest.approx(110.2)
    assert found[0].bias is PatternBias.BULLISH
    assert not found[0].confirmed  # price never closed above 110.2


def test_head_and_shoulders_is_found_with_head_shoulders_and_neckline():
    frame = path_frame([(0, 100), (15, 115), (7, 108), (17, 125), (17, 108), (7, 115), (20, 95)])
    found = of_kind(chart_patterns(frame), PatternKind.HEAD_AND_SHOULDERS)
    assert len(found) == 1
    pattern = found[0]
    assert (pattern.start, pattern.end) == tuple(bars(frame, 15, 63))
    assert pattern.levels["head"] == pytest.approx(125.2)
    assert pattern.levels["left_shoulder"] == pytest.approx(115.2)
    assert pattern.levels["right_shoulder"] == pytest.approx(115.2)
    assert pattern.breakout == pytest.approx(107.8)
    assert pattern.confirmed


def test_inverse_head_and_shoulders_is_bullish():
    frame = path_frame([(0, 125), (15, 110), (7, 117), (17, 100), (17, 117), (7, 110), (20, 130)])
    found = of_kind(chart_patterns(frame), PatternKind.INVERSE_HEAD_AND_SHOULDERS)
    assert len(found) == 1
    assert found[0].levels["head"] == pytest.approx(99.8)
    assert found[0].bias is PatternBias.BULLISH and found[0].confirmed


def test_ascending_triangle_has_a_flat_top_as_its_breakout():
    frame = path_frame([(0, 95), (10, 100), (12, 120), (10, 106), (10, 120), (8, 111), (8, 120), (6, 115), (12, 130)])
    found = of_kind(chart_patterns(frame), PatternKind.ASCENDING_TRIANGLE)
    assert found, "ascending triangle not found"
    assert found[0].breakout == pytest.approx(120.2, abs=0.05)
    assert found[0].bias is PatternBias.BULLISH
    assert found[0].confirmed


def test_symmetric_triangle_converges():
    frame = path_frame([(0, 110), (10, 130), (12, 90), (11, 125), (10, 96), (8, 119), (7, 102), (6, 114), (10, 100)])
    found = of_kind(chart_patterns(frame), PatternKind.SYMMETRIC_TRIANGLE)
    assert found
    assert found[0].levels["upper"] - found[0].levels["lower"] < 0.7 * found[0].levels["start_width"]


def test_bull_flag_after_a_strong_pole():
    frame = path_frame([(0, 100), (30, 100.5), (8, 112), (10, 110.5), (10, 118)], spread=0.1)
    found = of_kind(chart_patterns(frame), PatternKind.BULL_FLAG)
    assert len(found) == 1
    flag = found[0]
    assert flag.levels["pole_end"] == pytest.approx(112)
    assert flag.breakout == pytest.approx(flag.levels["flag_high"])
    assert flag.confirmed


def test_breakout_from_a_tight_channel_is_reported_once():
    rng = np.random.default_rng(7)
    wiggle = [(1, 100 + float(value)) for value in rng.uniform(-0.8, 0.8, 40)]
    frame = path_frame([(0, 100), *wiggle, (3, 106), (10, 108)], spread=0.3)
    found = of_kind(chart_patterns(frame), PatternKind.CHANNEL_BREAKOUT_UP)
    assert len(found) == 1
    assert found[0].end <= frame.index[43]
    assert found[0].levels["channel_high"] < 101.2


def test_flat_series_reports_no_pattern():
    frame = path_frame([(0, 100), (200, 100)], spread=0.0)
    assert detect_patterns(frame) == []


def test_steady_trend_reports_no_chart_pattern():
    frame = path_frame([(0, 100), (300, 160)], spread=0.1)
    assert chart_patterns(frame) == []


def test_hammer_after_decline_and_not_after_rise():
    frame = path_frame([(0, 110), (10, 100)], spread=0.2)
    hammer = {"open": 99.8, "high": 100.0, "low": 97.0, "close": 100.0, "volume": 1.0}
    frame.loc[frame.index[-1] + pd.Timedelta(hours=1)] = hammer
    assert of_kind(candlestick_patterns(frame), PatternKind.HAMMER)[-1].end == frame.index[-1]
    rising = path_frame([(0, 90), (10, 100)], spread=0.2)
    rising.loc[rising.index[-1] + pd.Timedelta(hours=1)] = hammer
    assert not [p for p in of_kind(candlestick_patterns(rising), PatternKind.HAMMER) if p.end == rising.index[-1]]


def test_bullish_engulfing_and_morning_star_are_found_on_their_bars():
    frame = path_frame([(0, 110), (10, 100)], spread=0.2)
    last = frame.index[-1]
    rows = [
        {"open": 100.0, "high": 100.2, "low": 98.8, "close": 99.0, "volume": 1.0},  # bearish
        {"open": 98.9, "high": 100.8, "low": 98.7, "close": 100.6, "volume": 1.0},  # engulfs it
    ]
    for offset, row in enumerate(rows, start=1):
        frame.loc[last + pd.Timedelta(hours=offset)] = row
    engulfing = of_kind(candlestick_patterns(frame), PatternKind.BULLISH_ENGULFING)
    assert engulfing and engulfing[-1].end == frame.index[-1] and engulfing[-1].start == frame.index[-2]

    star = path_frame([(0, 110), (10, 100)], spread=0.2)
    last = star.index[-1]
    for offset, row in enumerate(
        [
            {"open": 100.0, "high": 100.1, "low": 97.9, "close": 98.0, "volume": 1.0},  # long bearish
            {"open": 97.9, "high": 98.1, "low": 97.4, "close": 97.7, "volume": 1.0},  # small star
            {"open": 97.8, "high": 99.9, "low": 97.7, "close": 99.6, "volume": 1.0},  # bullish, above midpoint
        ],
        start=1,
    ):
        star.loc[last + pd.Timedelta(hours=offset)] = row
    found = of_kind(candlestick_patterns(star), PatternKind.MORNING_STAR)
    assert found and (found[-1].start, found[-1].end) == (star.index[-3], star.index[-1])


def test_three_white_soldiers_and_three_black_crows():
    up = path_frame([(0, 100), (10, 100)], spread=0.05)
    last = up.index[-1]
    for offset, (open_, close) in enumerate([(100.0, 101.0), (100.8, 102.0), (101.8, 103.0)], start=1):
        up.loc[last + pd.Timedelta(hours=offset)] = {
            "open": open_,
            "high": close + 0.1,
            "low": open_ - 0.1,
            "close": close,
            "volume": 1.0,
        }
    assert of_kind(candlestick_patterns(up), PatternKind.THREE_WHITE_SOLDIERS)[-1].end == up.index[-1]
    down = path_frame([(0, 100), (10, 100)], spread=0.05)
    last = down.index[-1]
    for offset, (open_, close) in enumerate([(100.0, 99.0), (99.2, 98.0), (98.2, 97.0)], start=1):
        down.loc[last + pd.Timedelta(hours=offset)] = {
            "open": open_,
            "high": open_ + 0.1,
            "low": close - 0.1,
            "close": close,
            "volume": 1.0,
        }
    assert of_kind(candlestick_patterns(down), PatternKind.THREE_BLACK_CROWS)[-1].end == down.index[-1]


def test_pattern_signal_appears_only_when_the_pattern_is_known():
    frame = path_frame([(0, 100), (20, 120), (10, 110), (10, 120), (25, 100)])
    patterns = of_kind(chart_patterns(frame), PatternKind.DOUBLE_TOP)
    signal = pattern_signals(frame, patterns)
    assert signal.loc[: frame.index[42]].eq(0).all()
    assert signal.loc[frame.index[43]] < 0


def read_real(name: str) -> pd.DataFrame:
    frame = pd.read_csv(DATA / name)
    frame.columns = [str(column).lower() for column in frame.columns]
    time_column = "timestamp" if "timestamp" in frame else "date" if "date" in frame else frame.columns[0]
    frame.index = pd.DatetimeIndex(pd.to_datetime(frame[time_column], utc=True))
    return frame[["open", "high", "low", "close", "volume"]].astype(float)


@pytest.mark.parametrize("name", ["ETH_BTC_5m.csv", "SPY_1d.csv", "GOOG_1d.csv"])
def test_real_double_tops_and_bottoms_match_the_recorded_prices(name):
    frame = read_real(name)
    found = chart_patterns(frame)
    assert 0 < len(found) < 0.05 * len(frame)  # patterns are the exception, not every bar
    for pattern in found:
        if pattern.kind not in (PatternKind.DOUBLE_TOP, PatternKind.DOUBLE_BOTTOM):
            continue
        top = pattern.kind is PatternKind.DOUBLE_TOP
        column = "high" if top else "low"
        assert pattern.levels["first_peak" if top else "first_trough"] == frame.loc[pattern.start, column]
        assert pattern.levels["second_peak" if top else "second_trough"] == frame.loc[pattern.end, column]
        between = frame.loc[pattern.start : pattern.end, "low" if top else "high"]
        neckline = between.min() if top else between.max()
        assert pattern.levels["neckline"] == pytest.approx(neckline)


def test_real_flat_stretch_reports_nothing():
    frame = read_real("SPY_1d.csv").iloc[:300].copy()
    frame[["open", "high", "low", "close"]] = float(frame["close"].iloc[0])
    assert detect_patterns(frame) == []
