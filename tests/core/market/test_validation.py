"""Validation before storing: each refusal reason, exactly, and that good rows pass untouched."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from core.market.validation import (
    REASON_CLOSE_OUTSIDE,
    REASON_DUPLICATE,
    REASON_HIGH_BELOW_LOW,
    REASON_NEGATIVE_VOLUME,
    REASON_NON_POSITIVE,
    REASON_NOT_FINITE,
    REASON_OPEN_OUTSIDE,
    misaligned_reason,
    validate_candles,
)

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def frame(*rows: tuple[datetime, float, float, float, float, float]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["ts", "open", "high", "low", "close", "volume"])


def hour(index: int) -> datetime:
    return T0 + timedelta(hours=index)


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ((hour(1), math.nan, 11, 9, 10, 1), REASON_NOT_FINITE),
        ((hour(1), 10, math.inf, 9, 10, 1), REASON_NOT_FINITE),
        ((hour(1), 10, 11, 9, 10, math.nan), REASON_NOT_FINITE),
        ((hour(1), 0, 11, 9, 10, 1), REASON_NON_POSITIVE),
        ((hour(1), 10, 11, -9, 10, 1), REASON_NON_POSITIVE),
        ((hour(1), 10, 9, 11, 10, 1), REASON_HIGH_BELOW_LOW),
        ((hour(1), 12, 11, 9, 10, 1), REASON_OPEN_OUTSIDE),
        ((hour(1), 10, 11, 9, 8.5, 1), REASON_CLOSE_OUTSIDE),
        ((hour(1), 10, 11, 9, 10, -0.1), REASON_NEGATIVE_VOLUME),
        ((hour(1) + timedelta(minutes=7), 10, 11, 9, 10, 1), misaligned_reason("1h")),
    ],
)
def test_a_bad_row_is_refused_with_its_reason_and_the_good_rows_pass(
    row: tuple[datetime, float, float, float, float, float], reason: str
) -> None:
    result = validate_candles(frame((hour(0), 10, 11, 9, 10, 1), row, (hour(2), 10, 12, 8, 11, 0)), "1h")
    assert list(result.rejected["reason"]) == [reason]
    assert list(result.valid["ts"]) == [hour(0), hour(2)]
    assert list(result.valid["close"]) == [10, 11]


def test_identical_duplicates_keep_the_first_and_conflicting_duplicates_are_all_refused() -> None:
    result = validate_candles(
        frame(
            (hour(0), 10, 11, 9, 10, 1),
            (hour(0), 10, 11, 9, 10, 1),
            (hour(1), 10, 11, 9, 10, 1),
            (hour(1), 10, 12, 9, 11, 1),
        ),
        "1h",
    )
    assert list(result.valid["ts"]) == [hour(0)]
    assert list(result.rejected["reason"]) == [REASON_DUPLICATE] * 3


def test_weekly_grid_is_monday_and_daily_grid_is_midnight() -> None:
    monday, thursday = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 4, tzinfo=UTC)
    weekly = validate_candles(frame((monday, 1, 1, 1, 1, 0), (thursday, 1, 1, 1, 1, 0)), "1w")
    assert list(weekly.valid["ts"]) == [monday]
    assert list(weekly.rejected["reason"]) == [misaligned_reason("1w")]
    daily = validate_candles(frame((monday, 1, 1, 1, 1, 0), (monday + timedelta(hours=13), 1, 1, 1, 1, 0)), "1d")
    assert len(daily.valid) == 1
    assert daily.rejected_count == 1


def test_first_failing_check_names_the_reason() -> None:
    result = validate_candles(frame((hour(0) + timedelta(minutes=1), -1, 1, 2, 1, -5)), "1h")
    assert list(result.rejected["reason"]) == [REASON_NON_POSITIVE]


def test_empty_frame_is_fine() -> None:
    result = validate_candles(frame(), "1h")
    assert result.valid.empty
    assert result.rejected.empty
