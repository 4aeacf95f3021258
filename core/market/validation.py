"""Validate candles before they are stored: bad rows go to quarantine with a reason, never into candles.

Checks, in this order (a row is refused for the first reason that applies):

- ``missing or non-finite value`` (NaN, inf, None in any of open/high/low/close/volume)
- ``non-positive price`` (open, high, low or close ≤ 0)
- ``high below low``
- ``open outside [low, high]`` / ``close outside [low, high]``
- ``negative volume``
- ``timestamp not on the <tf> grid`` (e.g. 10:07 for 1h candles; 1w candles open on Mondays)
- ``timestamp in the future`` (a candle that opens more than ``FUTURE_TOLERANCE`` after now, e.g. a
  2099 row: a clock or unit error upstream, never a real candle)
- ``duplicate timestamp`` (several rows for one open time in one batch: if they are identical, the
  first is kept; if they differ, all are refused, since we cannot know which one is right)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from core.market.sources.base import CANDLE_COLUMNS
from core.market.timeframes import grid_anchor, timeframe_seconds
from core.timeutil import utc_now

PRICE_COLUMNS = ["open", "high", "low", "close"]
VALUE_COLUMNS = [*PRICE_COLUMNS, "volume"]

REASON_NOT_FINITE = "missing or non-finite value"
REASON_NON_POSITIVE = "non-positive price"
REASON_HIGH_BELOW_LOW = "high below low"
REASON_OPEN_OUTSIDE = "open outside [low, high]"
REASON_CLOSE_OUTSIDE = "close outside [low, high]"
REASON_NEGATIVE_VOLUME = "negative volume"
REASON_DUPLICATE = "duplicate timestamp"
REASON_FUTURE = "timestamp in the future"
FUTURE_TOLERANCE = timedelta(minutes=1)  # clock drift between us and the source


def misaligned_reason(timeframe: str) -> str:
    """Return the quarantine reason for a timestamp off the ``timeframe`` grid."""
    return f"timestamp not on the {timeframe} grid"


@dataclass(frozen=True)
class ValidationResult:
    """The rows fit to store and the refused rows with a ``reason`` column."""

    valid: pd.DataFrame
    rejected: pd.DataFrame

    @property
    def rejected_count(self) -> int:
        """Return the number of refused rows."""
        return len(self.rejected)


def validate_candles(frame: pd.DataFrame, timeframe: str, *, now: datetime | None = None) -> ValidationResult:
    """Split ``frame`` (columns ``ts, open, high, low, close, volume``) into valid and refused rows.

    ``now`` (default: the current time) dates the future check. Vectorised: no Python loop over
    rows, so it keeps pace with the bulk store.
    """
    step_ns = timeframe_seconds(timeframe) * 1_000_000_000
    frame = frame.reset_index(drop=True)
    if frame.empty:
        rejected = frame.assign(reason=pd.Series(dtype=object))
        return ValidationResult(valid=frame[CANDLE_COLUMNS] if len(frame.columns) else frame, rejected=rejected)
    values = frame[VALUE_COLUMNS].to_numpy(dtype=float, na_value=np.nan)
    open_, high, low, close, volume = (values[:, index] for index in range(5))
    reasons = np.full(len(frame), None, dtype=object)

    def refuse(mask: np.ndarray, reason: str) -> None:
        target = mask & (reasons == None)  # noqa: E711 - elementwise comparison on an object array
        reasons[target] = reason

    with np.errstate(invalid="ignore"):
        refuse(~np.isfinite(values).all(axis=1), REASON_NOT_FINITE)
        refuse((values[:, :4] <= 0).any(axis=1), REASON_NON_POSITIVE)
        refuse(high < low, REASON_HIGH_BELOW_LOW)
        refuse((open_ < low) | (open_ > high), REASON_OPEN_OUTSIDE)
        refuse((close < low) | (close > high), REASON_CLOSE_OUTSIDE)
        refuse(volume < 0, REASON_NEGATIVE_VOLUME)

    timestamps = pd.to_datetime(frame["ts"], utc=True)
    nanos = timestamps.to_numpy(dtype="datetime64[ns]").astype("int64")
    anchor_ns = pd.Timestamp(grid_anchor(timeframe)).value
    refuse(((nanos - anchor_ns) % step_ns) != 0, misaligned_reason(timeframe))
    latest_allowed_ns = pd.Timestamp((now or utc_now()) + FUTURE_TOLERANCE).value
    refuse(nanos > latest_allowed_ns, REASON_FUTURE)

    duplicated_any = timestamps.duplicated(keep=False).to_numpy()
    if duplicated_any.any():
        rounded = frame.loc[duplicated_any, VALUE_COLUMNS].astype(float).round(12)
        rounded.insert(0, "ts", timestamps[duplicated_any])
        distinct_versions = rounded.drop_duplicates().groupby("ts").size()
        conflicting = timestamps.isin(distinct_versions[distinct_versions > 1].index).to_numpy()
        later_copies = timestamps.duplicated(keep="first").to_numpy()
        refuse(duplicated_any & (conflicting | later_copies), REASON_DUPLICATE)

    bad = reasons != None  # noqa: E711
    valid = frame.loc[~bad, CANDLE_COLUMNS].reset_index(drop=True)
    valid["ts"] = timestamps[~bad].reset_index(drop=True)
    rejected = frame.loc[bad, CANDLE_COLUMNS].assign(reason=reasons[bad]).reset_index(drop=True)
    return ValidationResult(valid=valid, rejected=rejected)
