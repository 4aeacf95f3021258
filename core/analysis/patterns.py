"""Candlestick and chart patterns, computed in pandas/numpy (no TA-Lib).

``candlestick_patterns(frame)`` marks the classic one- to three-bar patterns with vectorised
masks (doji, hammer, shooting star, engulfing, harami, morning/evening star, three white
soldiers / black crows). Reversal patterns need the trend they reverse (a hammer only after a
decline), and every bar must be a real bar (its range at least a third of the average range),
so a flat stretch reports nothing.

``chart_patterns(frame)`` works on alternating swing points (a zigzag of swing highs and lows,
each at least ``min_swing_atr`` average true ranges from the previous one): double top/bottom,
head and shoulders (and inverse), ascending/descending/symmetric triangles, bull/bear flags and
breakouts from a tight horizontal channel. Sizes are measured in ATR, so the same rules hold for
a 5-minute altcoin and a daily stock.

Each :class:`Pattern` has its time span, its key levels, a confidence in 0..1 and the breakout
level that confirms it (``confirmed`` once a close is beyond it). ``pattern_signals`` turns
them into a per-bar bias column for strategies.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum

import numpy as np
import pandas as pd

ATR_LENGTH = 14


class PatternKind(StrEnum):
    DOJI = "doji"
    HAMMER = "hammer"
    SHOOTING_STAR = "shooting_star"
    BULLISH_ENGULFING = "bullish_engulfing"
    BEARISH_ENGULFING = "bearish_engulfing"
    BULLISH_HARAMI = "bullish_harami"
    BEARISH_HARAMI = "bearish_harami"
    MORNING_STAR = "morning_star"
    EVENING_STAR = "evening_star"
    THREE_WHITE_SOLDIERS = "three_white_soldiers"
    THREE_BLACK_CROWS = "three_black_crows"
    DOUBLE_TOP = "double_top"
    DOUBLE_BOTTOM = "double_bottom"
    HEAD_AND_SHOULDERS = "head_and_shoulders"
    INVERSE_HEAD_AND_SHOULDERS = "inverse_head_and_shoulders"
    ASCENDING_TRIANGLE = "ascending_triangle"
    DESCENDING_TRIANGLE = "descending_triangle"
    SYMMETRIC_TRIANGLE = "symmetric_triangle"
    BULL_FLAG = "bull_flag"
    BEAR_FLAG = "bear_flag"
    CHANNEL_BREAKOUT_UP = "channel_breakout_up"
    CHANNEL_BREAKOUT_DOWN = "channel_breakout_down"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


class PatternBias(StrEnum):
    BULLISH = "bullish"
    BEARISH = "bearish"
    NEUTRAL = "neutral"


CANDLESTICK_KINDS = frozenset(
    {
        PatternKind.DOJI,
        PatternKind.HAMMER,
        PatternKind.SHOOTING_STAR,
        PatternKind.BULLISH_ENGULFING,
        PatternKind.BEARISH_ENGULFING,
        PatternKind.BULLISH_HARAMI,
        PatternKind.BEARISH_HARAMI,
        PatternKind.MORNING_STAR,
        PatternKind.EVENING_STAR,
        PatternKind.THREE_WHITE_SOLDIERS,
        PatternKind.THREE_BLACK_CROWS,
    }
)


@dataclass(frozen=True)
class Pattern:
    """One detected pattern: its span (first and last bar, open times), levels and breakout."""

    kind: PatternKind
    bias: PatternBias
    start: pd.Timestamp
    end: pd.Timestamp
    confidence: float
    levels: dict[str, float] = field(default_factory=dict)
    breakout: float | None = None
    confirmed: bool = False
    # The bar at whose close the pattern is known (a swing point needs ``window`` bars after it).
    detected_at: pd.Timestamp | None = None

    @property
    def known_at(self) -> pd.Timestamp:
        return self.detected_at if self.detected_at is not None else self.end

    @property
    def is_candlestick(self) -> bool:
        return self.kind in CANDLESTICK_KINDS

    def describe(self) -> str:
        """Return a one-line description for tooltips and prompts."""
        parts = [f"{self.kind.label} ({self.bias.value}, confidence {self.confidence:.2f})"]
        if self.breakout is not None:
            parts.append(f"breakout {self.breakout:.6g}" + (" confirmed" if self.confirmed else ""))
        return ", ".join(parts)


def average_true_range(frame: pd.DataFrame, length: int = ATR_LENGTH) -> pd.Series:
    """Return the rolling mean true range (simple average; the first bars use what exists)."""
    high = frame["high"].astype(float)
    low = frame["low"].astype(float)
    previous_close = frame["close"].astype(float).shift(1)
    true_range = pd.concat([high - low, (high - previous_close).abs(), (low - previous_close).abs()], axis=1).max(
        axis=1
    )
    return true_range.rolling(length, min_periods=1).mean()


# --- candlestick patterns -------------------------------------------------------------------


def _candle_masks(frame: pd.DataFrame, trend_bars: int) -> dict[PatternKind, tuple[pd.Series, int]]:
    """Return, per kind, the mask of the bar that completes it and the pattern's length in bars."""
    open_ = frame["open"].astype(float)
    high = frame["high"].astype(float)
    low = frame["low"].astype(float)
    close = frame["close"].astype(float)
    body = (close - open_).abs()
    candle_range = high - low
    upper = high - np.maximum(open_, close)
    lower = np.minimum(open_, close) - low
    average_range = candle_range.rolling(ATR_LENGTH, min_periods=3).mean().shift(1)
    average_body = body.rolling(ATR_LENGTH, min_periods=3).mean().shift(1)
    real = (candle_range > 0) & (candle_range >= average_range / 3)
    bullish = close > open_
    bearish = close < open_
    # The trend a reversal reverses: the close before the pattern against the close trend_bars earlier.
    down_before = close.shift(1) < close.shift(1 + trend_bars)
    up_before = close.shift(1) > close.shift(1 + trend_bars)
    previous = {name: series.shift(1) for name, series in (("open", open_), ("close", close), ("body", body))}
    previous_bullish = bullish.shift(1, fill_value=False)
    previous_bearish = bearish.shift(1, fill_value=False)
    previous_real = real.shift(1, fill_value=False)

    doji = real & (body <= 0.05 * candle_range) & (candle_range >= average_range * 0.8)
    hammer = (
        real
        & ~doji
        & (lower >= 2 * body)
        & (upper <= 0.25 * candle_range)
        & down_before
        & (candle_range >= average_range * 0.8)
    )
    shooting_star = (
        real
        & ~doji
        & (upper >= 2 * body)
        & (lower <= 0.25 * candle_range)
        & up_before
        & (candle_range >= average_range * 0.8)
    )
    bullish_engulfing = (
        real
        & previous_real
        & bullish
        & previous_bearish
        & (open_ <= previous["close"])
        & (close >= previous["open"])
        & (body > previous["body"] * 1.1)
        & down_before.shift(1, fill_value=False)
    )
    bearish_engulfing = (
        real
        & previous_real
        & bearish
        & previous_bullish
        & (open_ >= previous["close"])
        & (close <= previous["open"])
        & (body > previous["body"] * 1.1)
        & up_before.shift(1, fill_value=False)
    )
    bullish_harami = (
        real
        & previous_real
        & bullish
        & previous_bearish
        & (previous["body"] >= average_body * 1.2)
        & (open_ > previous["close"])
        & (close < previous["open"])
        & (body <= previous["body"] * 0.5)
        & down_before.shift(1, fill_value=False)
    )
    bearish_harami = (
        real
        & previous_real
        & bearish
        & previous_bullish
        & (previous["body"] >= average_body * 1.2)
        & (open_ < previous["close"])
        & (close > previous["open"])
        & (body <= previous["body"] * 0.5)
        & up_before.shift(1, fill_value=False)
    )
    first_open, first_close, first_body = open_.shift(2), close.shift(2), body.shift(2)
    middle_body = body.shift(1)
    star_small = middle_body <= first_body * 0.35
    morning_star = (
        real
        & bearish.shift(2, fill_value=False)
        & (first_body >= average_body * 1.2)
        & star_small
        & (np.maximum(open_.shift(1), close.shift(1)) <= first_close + first_body * 0.25)
        & bullish
        & (close >= (first_open + first_close) / 2)
        & down_before.shift(2, fill_value=False)
    )
    evening_star = (
        real
        & bullish.shift(2, fill_value=False)
        & (first_body >= average_body * 1.2)
        & star_small
        & (np.minimum(open_.shift(1), close.shift(1)) >= first_close - first_body * 0.25)
        & bearish
        & (close <= (first_open + first_close) / 2)
        & up_before.shift(2, fill_value=False)
    )
    strong = real & (body >= 0.5 * candle_range) & (body >= average_body * 0.8)
    soldier = strong & bullish & (close > close.shift(1)) & (open_ >= open_.shift(1)) & (open_ <= close.shift(1))
    crow = strong & bearish & (close < close.shift(1)) & (open_ <= open_.shift(1)) & (open_ >= close.shift(1))
    three_soldiers = (
        soldier
        & soldier.shift(1, fill_value=False)
        & strong.shift(2, fill_value=False)
        & bullish.shift(2, fill_value=False)
    )
    three_crows = (
        crow & crow.shift(1, fill_value=False) & strong.shift(2, fill_value=False) & bearish.shift(2, fill_value=False)
    )
    return {
        PatternKind.DOJI: (doji, 1),
        PatternKind.HAMMER: (hammer, 1),
        PatternKind.SHOOTING_STAR: (shooting_star, 1),
        PatternKind.BULLISH_ENGULFING: (bullish_engulfing, 2),
        PatternKind.BEARISH_ENGULFING: (bearish_engulfing, 2),
        PatternKind.BULLISH_HARAMI: (bullish_harami, 2),
        PatternKind.BEARISH_HARAMI: (bearish_harami, 2),
        PatternKind.MORNING_STAR: (morning_star, 3),
        PatternKind.EVENING_STAR: (evening_star, 3),
        PatternKind.THREE_WHITE_SOLDIERS: (three_soldiers, 3),
        PatternKind.THREE_BLACK_CROWS: (three_crows, 3),
    }


CANDLE_BIAS = {
    PatternKind.DOJI: PatternBias.NEUTRAL,
    PatternKind.HAMMER: PatternBias.BULLISH,
    PatternKind.SHOOTING_STAR: PatternBias.BEARISH,
    PatternKind.BULLISH_ENGULFING: PatternBias.BULLISH,
    PatternKind.BEARISH_ENGULFING: PatternBias.BEARISH,
    PatternKind.BULLISH_HARAMI: PatternBias.BULLISH,
    PatternKind.BEARISH_HARAMI: PatternBias.BEARISH,
    PatternKind.MORNING_STAR: PatternBias.BULLISH,
    PatternKind.EVENING_STAR: PatternBias.BEARISH,
    PatternKind.THREE_WHITE_SOLDIERS: PatternBias.BULLISH,
    PatternKind.THREE_BLACK_CROWS: PatternBias.BEARISH,
}
# Base confidence: how reliable the pattern is on its own, before its size is counted.
CANDLE_CONFIDENCE = {
    PatternKind.DOJI: 0.3,
    PatternKind.HAMMER: 0.5,
    PatternKind.SHOOTING_STAR: 0.5,
    PatternKind.BULLISH_ENGULFING: 0.55,
    PatternKind.BEARISH_ENGULFING: 0.55,
    PatternKind.BULLISH_HARAMI: 0.4,
    PatternKind.BEARISH_HARAMI: 0.4,
    PatternKind.MORNING_STAR: 0.6,
    PatternKind.EVENING_STAR: 0.6,
    PatternKind.THREE_WHITE_SOLDIERS: 0.6,
    PatternKind.THREE_BLACK_CROWS: 0.6,
}


def candlestick_patterns(frame: pd.DataFrame, *, trend_bars: int = 5) -> list[Pattern]:
    """Return the candlestick patterns in ``frame`` (float OHLC columns on a DatetimeIndex), oldest first."""
    if len(frame) < 3:
        return []
    masks = _candle_masks(frame, trend_bars)
    candle_range = (frame["high"] - frame["low"]).astype(float)
    average_range = candle_range.rolling(ATR_LENGTH, min_periods=3).mean().shift(1)
    size = (candle_range / average_range).clip(0, 3).fillna(1.0).to_numpy()
    high = frame["high"].to_numpy(dtype=float)
    low = frame["low"].to_numpy(dtype=float)
    index = frame.index
    found: list[Pattern] = []
    for kind, (mask, length) in masks.items():
        positions = np.flatnonzero(mask.fillna(False).to_numpy(dtype=bool))
        for position in positions:
            first = max(0, position - length + 1)
            bias = CANDLE_BIAS[kind]
            pattern_high = float(high[first : position + 1].max())
            pattern_low = float(low[first : position + 1].min())
            breakout = (
                pattern_high if bias is PatternBias.BULLISH else pattern_low if bias is PatternBias.BEARISH else None
            )
            confidence = min(1.0, CANDLE_CONFIDENCE[kind] * (0.75 + 0.25 * float(size[position])))
            found.append(
                Pattern(
                    kind=kind,
                    bias=bias,
                    start=index[first],
                    end=index[position],
                    confidence=round(confidence, 3),
                    levels={"high": pattern_high, "low": pattern_low},
                    breakout=breakout,
                )
            )
    return _confirm(sorted(found, key=lambda item: (item.end, item.kind.value)), frame)


# --- swing points -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Swing:
    position: int
    price: float
    is_high: bool


def zigzag(frame: pd.DataFrame, *, window: int = 3, min_swing_atr: float = 1.5) -> list[Swing]:
    """Return alternating swing highs and lows, each at least ``min_swing_atr`` ATR from the previous one.

    A candidate is a bar whose high (low) is the extreme of the ``window`` bars on each side;
    of consecutive candidates of one kind the more extreme is kept, and a move smaller than the
    threshold does not count as a new swing.
    """
    if len(frame) < 2 * window + 1:
        return []
    high = frame["high"].astype(float)
    low = frame["low"].astype(float)
    span = 2 * window + 1
    atr = average_true_range(frame).to_numpy()
    is_high = (high == high.rolling(span, center=True).max()).to_numpy()
    is_low = (low == low.rolling(span, center=True).min()).to_numpy()
    candidates = sorted(
        [Swing(int(position), float(high.iat[position]), True) for position in np.flatnonzero(is_high)]
        + [Swing(int(position), float(low.iat[position]), False) for position in np.flatnonzero(is_low)],
        key=lambda swing: (swing.position, not swing.is_high),
    )
    swings: list[Swing] = []
    for swing in candidates:
        threshold = min_swing_atr * float(atr[swing.position])
        if threshold <= 0:
            continue
        if not swings:
            swings.append(swing)
            continue
        last = swings[-1]
        if swing.is_high == last.is_high:
            more_extreme = swing.price > last.price if swing.is_high else swing.price < last.price
            if more_extreme:
                swings[-1] = swing
            continue
        if abs(swing.price - last.price) >= threshold:
            swings.append(swing)
    # A first swing that nothing significant followed is dropped with the rest of the noise.
    return swings


# --- chart patterns ---------------------------------------------------------------------------


def _confidence(*parts: float) -> float:
    return round(float(np.clip(np.mean(parts), 0.05, 0.99)), 3)


def _double_patterns(frame: pd.DataFrame, swings: list[Swing], atr: np.ndarray, window: int) -> list[Pattern]:
    found: list[Pattern] = []
    index = frame.index
    high = frame["high"].to_numpy(dtype=float)
    low = frame["low"].to_numpy(dtype=float)
    for position in range(len(swings) - 2):
        first, _middle, second = swings[position : position + 3]
        scale = float(atr[second.position])
        width = second.position - first.position
        if scale <= 0 or width < 4 or first.position == 0:
            continue
        between = slice(first.position, second.position + 1)
        neckline = float(low[between].min()) if first.is_high else float(high[between].max())
        depth = abs(((first.price + second.price) / 2) - neckline)
        difference = abs(first.price - second.price)
        # The move into the first peak (trough), over as many bars as the pattern is wide.
        prior = slice(max(0, first.position - width), first.position)
        advance = (first.price - low[prior].min()) if first.is_high else (high[prior].max() - first.price)
        if difference > 0.6 * scale or depth < 2.5 * scale or advance < depth * 0.8:
            continue
        top = first.is_high
        kind = PatternKind.DOUBLE_TOP if top else PatternKind.DOUBLE_BOTTOM
        similarity = 1 - difference / (0.6 * scale)
        found.append(
            Pattern(
                kind=kind,
                bias=PatternBias.BEARISH if top else PatternBias.BULLISH,
                start=index[first.position],
                end=index[second.position],
                detected_at=index[min(second.position + window, len(index) - 1)],
                confidence=_confidence(similarity, min(1.0, depth / (5 * scale)), 0.6),
                levels={
                    "first_peak" if top else "first_trough": first.price,
                    "second_peak" if top else "second_trough": second.price,
                    "neckline": neckline,
                    "target": neckline - depth if top else neckline + depth,
                },
                breakout=neckline,
            )
        )
    return found


def _head_and_shoulders(frame: pd.DataFrame, swings: list[Swing], atr: np.ndarray, window: int) -> list[Pattern]:
    found: list[Pattern] = []
    index = frame.index
    for position in range(len(swings) - 4):
        left, trough_one, head, trough_two, right = swings[position : position + 5]
        scale = float(atr[right.position])
        if scale <= 0:
            continue
        sign = 1.0 if head.is_high else -1.0
        head_over_left = sign * (head.price - left.price)
        head_over_right = sign * (head.price - right.price)
        shoulder_difference = abs(left.price - right.price)
        neckline_difference = abs(trough_one.price - trough_two.price)
        height = sign * (head.price - (trough_one.price + trough_two.price) / 2)
        if min(head_over_left, head_over_right) < 1.0 * scale or shoulder_difference > 1.5 * scale:
            continue
        if neckline_difference > 1.5 * scale or height < 3 * scale:
            continue
        slope = (trough_two.price - trough_one.price) / max(trough_two.position - trough_one.position, 1)
        breakout = trough_two.price + slope * (right.position - trough_two.position)
        top = head.is_high
        found.append(
            Pattern(
                kind=PatternKind.HEAD_AND_SHOULDERS if top else PatternKind.INVERSE_HEAD_AND_SHOULDERS,
                bias=PatternBias.BEARISH if top else PatternBias.BULLISH,
                start=index[left.position],
                end=index[right.position],
                detected_at=index[min(right.position + window, len(index) - 1)],
                confidence=_confidence(
                    1 - shoulder_difference / (1.5 * scale), 1 - neckline_difference / (1.5 * scale), 0.7
                ),
                levels={
                    "left_shoulder": left.price,
                    "head": head.price,
                    "right_shoulder": right.price,
                    "neckline_left": trough_one.price,
                    "neckline_right": trough_two.price,
                    "target": breakout - sign * height,
                },
                breakout=float(breakout),
            )
        )
    return found


def _fit(points: list[Swing]) -> tuple[float, float]:
    x = np.array([point.position for point in points], dtype=float)
    y = np.array([point.price for point in points], dtype=float)
    slope, intercept = np.polyfit(x, y, 1)
    return float(slope), float(intercept)


def _triangles(frame: pd.DataFrame, swings: list[Swing], atr: np.ndarray, window: int) -> list[Pattern]:
    """Triangles from the last two or three swing highs and lows of a run of four to six swings."""
    found: list[Pattern] = []
    index = frame.index
    last_end = -1
    for stop in range(4, len(swings) + 1):
        group = swings[max(0, stop - 6) : stop]
        if len(group) < 4 or group[0].position <= last_end:
            continue
        highs = [swing for swing in group if swing.is_high]
        lows = [swing for swing in group if not swing.is_high]
        if len(highs) < 2 or len(lows) < 2:
            continue
        scale = float(np.mean(atr[group[0].position : group[-1].position + 1]))
        bars = group[-1].position - group[0].position
        if scale <= 0 or bars < 8:
            continue
        high_slope, high_intercept = _fit(highs)
        low_slope, low_intercept = _fit(lows)
        start_width = (high_slope - low_slope) * group[0].position + high_intercept - low_intercept
        end_width = (high_slope - low_slope) * group[-1].position + high_intercept - low_intercept
        if start_width < 3 * scale or end_width <= 0 or end_width > 0.7 * start_width:
            continue
        high_move = high_slope * bars / scale
        low_move = low_slope * bars / scale
        flat = 0.75
        if abs(high_move) <= flat and low_move >= 1.5:
            kind, bias = PatternKind.ASCENDING_TRIANGLE, PatternBias.BULLISH
        elif abs(low_move) <= flat and high_move <= -1.5:
            kind, bias = PatternKind.DESCENDING_TRIANGLE, PatternBias.BEARISH
        elif high_move <= -1.0 and low_move >= 1.0:
            kind, bias = PatternKind.SYMMETRIC_TRIANGLE, PatternBias.NEUTRAL
        else:
            continue
        end_position = group[-1].position
        upper = high_slope * end_position + high_intercept
        lower = low_slope * end_position + low_intercept
        if kind is PatternKind.ASCENDING_TRIANGLE:
            breakout = float(np.mean([swing.price for swing in highs]))
        elif kind is PatternKind.DESCENDING_TRIANGLE:
            breakout = float(np.mean([swing.price for swing in lows]))
        else:
            breakout = float(upper)
        residuals = [abs(swing.price - (high_slope * swing.position + high_intercept)) for swing in highs] + [
            abs(swing.price - (low_slope * swing.position + low_intercept)) for swing in lows
        ]
        fit_quality = 1 - min(1.0, float(np.mean(residuals)) / scale)
        found.append(
            Pattern(
                kind=kind,
                bias=bias,
                start=index[group[0].position],
                end=index[end_position],
                detected_at=index[min(end_position + window, len(index) - 1)],
                confidence=_confidence(fit_quality, 1 - end_width / start_width, 0.5),
                levels={"upper": float(upper), "lower": float(lower), "start_width": float(start_width)},
                breakout=breakout,
            )
        )
        last_end = end_position
    return found


def _flags(frame: pd.DataFrame, atr: np.ndarray, *, pole_bars: int = 8, flag_bars: int = 10) -> list[Pattern]:
    """A strong move (the pole, ≥ 5 ATR in ``pole_bars``) then a tight, shallow counter-drift."""
    close = frame["close"].to_numpy(dtype=float)
    high = frame["high"].to_numpy(dtype=float)
    low = frame["low"].to_numpy(dtype=float)
    index = frame.index
    count = len(frame)
    found: list[Pattern] = []
    position = pole_bars
    while position + flag_bars <= count:
        pole_start = position - pole_bars
        scale = float(atr[position])
        move = close[position] - close[pole_start]
        if scale <= 0 or abs(move) < 5 * scale:
            position += 1
            continue
        bull = move > 0
        # The pole ends where the move stops: extend it while the closes keep going its way.
        while position + 1 < count and (close[position + 1] > close[position]) == bull:
            position += 1
        move = close[position] - close[pole_start]
        if position + flag_bars >= count:
            break
        flag = slice(position + 1, position + flag_bars + 1)
        flag_high, flag_low = float(high[flag].max()), float(low[flag].min())
        flag_close = close[flag]
        drift = float(np.polyfit(np.arange(flag_bars), flag_close, 1)[0]) * flag_bars
        retrace = (close[position] - flag_low) if bull else (flag_high - close[position])
        tight = (flag_high - flag_low) <= 0.5 * abs(move)
        counter = (drift <= 0.25 * scale) if bull else (drift >= -0.25 * scale)
        if tight and counter and retrace <= 0.5 * abs(move):
            found.append(
                Pattern(
                    kind=PatternKind.BULL_FLAG if bull else PatternKind.BEAR_FLAG,
                    bias=PatternBias.BULLISH if bull else PatternBias.BEARISH,
                    start=index[pole_start],
                    end=index[position + flag_bars],
                    confidence=_confidence(1 - retrace / abs(move), min(1.0, abs(move) / (10 * scale)), 0.6),
                    levels={
                        "pole_start": float(close[pole_start]),
                        "pole_end": float(close[position]),
                        "flag_high": flag_high,
                        "flag_low": flag_low,
                        "target": float(flag_high + abs(move)) if bull else float(flag_low - abs(move)),
                    },
                    breakout=flag_high if bull else flag_low,
                )
            )
            position += flag_bars + pole_bars
            continue
        position += 1
    return found


def _channel_breakouts(
    frame: pd.DataFrame, atr: pd.Series, *, lookback: int = 30, max_width_atr: float = 4.0
) -> list[Pattern]:
    """A close beyond the high/low of ``lookback`` bars that stayed within ``max_width_atr`` ATR."""
    high = frame["high"].astype(float)
    low = frame["low"].astype(float)
    close = frame["close"].astype(float)
    channel_high = high.rolling(lookback).max().shift(1)
    channel_low = low.rolling(lookback).min().shift(1)
    width = channel_high - channel_low
    reference = atr.shift(lookback)  # ATR before the channel, so the breakout bar does not widen it
    tight = (width <= max_width_atr * reference) & (width > 0.5 * reference)
    up = tight & (close > channel_high + 0.25 * reference)
    down = tight & (close < channel_low - 0.25 * reference)
    found: list[Pattern] = []
    index = frame.index
    for mask, kind, bias in (
        (up, PatternKind.CHANNEL_BREAKOUT_UP, PatternBias.BULLISH),
        (down, PatternKind.CHANNEL_BREAKOUT_DOWN, PatternBias.BEARISH),
    ):
        # Only the first breakout out of one channel: not again within ``lookback`` bars.
        positions = np.flatnonzero(mask.fillna(False).to_numpy(dtype=bool))
        last = -lookback
        for position in positions:
            if position - last < lookback:
                continue
            last = position
            top, bottom = float(channel_high.iat[position]), float(channel_low.iat[position])
            scale = float(reference.iat[position])
            found.append(
                Pattern(
                    kind=kind,
                    bias=bias,
                    start=index[position - lookback],
                    end=index[position],
                    confidence=_confidence(1 - (top - bottom) / (max_width_atr * scale), 0.6),
                    levels={"channel_high": top, "channel_low": bottom},
                    breakout=top if bias is PatternBias.BULLISH else bottom,
                    confirmed=True,
                )
            )
    return found


def _confirm(patterns: list[Pattern], frame: pd.DataFrame) -> list[Pattern]:
    """Mark a pattern confirmed when a later close is beyond its breakout level in its direction."""
    if not patterns:
        return patterns
    close = frame["close"].astype(float)
    positions = frame.index.get_indexer(pd.DatetimeIndex([pattern.end for pattern in patterns]))
    result: list[Pattern] = []
    highest_after = close[::-1].cummax()[::-1].shift(-1).to_numpy()
    lowest_after = close[::-1].cummin()[::-1].shift(-1).to_numpy()
    for pattern, position in zip(patterns, positions, strict=True):
        if pattern.confirmed or pattern.breakout is None or position < 0:
            result.append(pattern)
            continue
        if pattern.bias is PatternBias.BULLISH:
            confirmed = bool(highest_after[position] > pattern.breakout)
        elif pattern.bias is PatternBias.BEARISH:
            confirmed = bool(lowest_after[position] < pattern.breakout)
        else:
            confirmed = bool(highest_after[position] > pattern.breakout)
        result.append(replace(pattern, confirmed=confirmed))
    return result


def chart_patterns(frame: pd.DataFrame, *, window: int = 3, min_swing_atr: float = 1.5) -> list[Pattern]:
    """Return the chart patterns in ``frame`` (float OHLC columns on a DatetimeIndex), oldest first."""
    if len(frame) < 30:
        return []
    atr_series = average_true_range(frame)
    atr = atr_series.to_numpy()
    swings = zigzag(frame, window=window, min_swing_atr=min_swing_atr)
    found = (
        _double_patterns(frame, swings, atr, window)
        + _head_and_shoulders(frame, swings, atr, window)
        + _triangles(frame, swings, atr, window)
        + _flags(frame, atr)
        + _channel_breakouts(frame, atr_series)
    )
    return _confirm(sorted(found, key=lambda item: (item.end, item.kind.value)), frame)


def detect_patterns(frame: pd.DataFrame, *, candlesticks: bool = True, chart: bool = True) -> list[Pattern]:
    """Return candlestick and/or chart patterns of ``frame``, oldest first."""
    found: list[Pattern] = []
    if candlesticks:
        found += candlestick_patterns(frame)
    if chart:
        found += chart_patterns(frame)
    return sorted(found, key=lambda item: (item.end, item.kind.value))


BIAS_SIGN = {PatternBias.BULLISH: 1, PatternBias.BEARISH: -1, PatternBias.NEUTRAL: 0}


def pattern_signals(frame: pd.DataFrame, patterns: list[Pattern] | None = None) -> pd.Series:
    """Return per bar the summed bias (+1 bullish, -1 bearish) of patterns completed on that bar.

    For strategies: a value is known at the close of its bar (``Pattern.known_at``: a pattern
    ending on a swing point is known only ``window`` bars after it, so there is no look-ahead).
    """
    found = detect_patterns(frame) if patterns is None else patterns
    signal = pd.Series(0.0, index=frame.index, name="pattern_signal")
    for pattern in found:
        if pattern.known_at in signal.index:
            signal.loc[pattern.known_at] += BIAS_SIGN[pattern.bias] * pattern.confidence
    return signal
