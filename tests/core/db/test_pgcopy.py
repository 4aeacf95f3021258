"""Binary COPY encoding against the real PostgreSQL server: numerics arrive as PostgreSQL's own cast makes them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import create_engine

from core.db import pgcopy

pytestmark = pytest.mark.postgres


@pytest.fixture
def cursor(postgres_url: str) -> Iterator[object]:
    engine = create_engine(postgres_url)
    connection = engine.raw_connection()
    try:
        raw_cursor = connection.cursor()
        raw_cursor.execute("CREATE TABLE loaded (i integer, label text, ts timestamptz, v numeric(38, 18))")
        yield raw_cursor
    finally:
        connection.close()
        engine.dispose()


def load(cursor: object, values: np.ndarray, label: str = "x") -> list[tuple[int, str, datetime, Decimal]]:
    stamps = pd.date_range("2024-03-01", periods=len(values), freq="1h", tz="UTC")
    rows = pgcopy.empty_rows(
        len(values),
        [
            ("i", pgcopy.INT4_FIELD),
            ("label", pgcopy.text_field(label)),
            ("ts", pgcopy.TIMESTAMPTZ_FIELD),
            ("v", pgcopy.NUMERIC_FIELD),
        ],
    )
    pgcopy.set_int4(rows, "i", np.arange(len(values)))
    pgcopy.set_text(rows, "label", label)
    pgcopy.set_timestamptz(rows, "ts", pd.Series(stamps))
    pgcopy.set_numeric(rows, "v", values)
    pgcopy.copy_from(cursor, "COPY loaded (i, label, ts, v) FROM STDIN WITH (FORMAT binary)", pgcopy.payload(rows))
    cursor.execute("SELECT i, label, ts, v FROM loaded ORDER BY i")  # type: ignore[attr-defined]
    return list(cursor.fetchall())  # type: ignore[attr-defined]


def postgres_cast(cursor: object, values: np.ndarray) -> list[Decimal]:
    cursor.execute(  # type: ignore[attr-defined]
        "SELECT v::numeric(38, 18) FROM unnest(%s::float8[]) WITH ORDINALITY AS t(v, n) ORDER BY n",
        (values.tolist(),),
    )
    return [row[0] for row in cursor.fetchall()]  # type: ignore[attr-defined]


def test_prices_volumes_and_edge_values_arrive_exactly_as_postgresql_casts_them(cursor: object) -> None:
    values = np.array(
        [
            61234.5,
            0.1,
            1e-8,
            123456789.123456789,
            0.30000000000000004,
            1.0,
            0.0,
            -42.125,
            999999.999999999,
            2.5e-12,
            1e19,
            0.000123456,
            57.3,
            3e-19,
            5e-20,
            9.99999999999999e14,
            1234567890123456.0,
        ]
    )
    loaded = load(cursor, values)
    assert [row[3] for row in loaded] == postgres_cast(cursor, values)
    assert loaded[0][3] == Decimal("61234.5")
    assert loaded[6][3] == 0
    assert loaded[13][3] == Decimal("3E-19").quantize(Decimal("1E-18"))  # rounds to 0 at scale 18
    assert loaded[0][:3] == (0, "x", datetime(2024, 3, 1, tzinfo=UTC))
    assert loaded[-1][2] == datetime(2024, 3, 1, 16, tzinfo=UTC)


def test_random_floats_over_thirty_orders_of_magnitude_match_to_fifteen_significant_digits(cursor: object) -> None:
    generator = np.random.default_rng(11)
    values = np.concatenate(
        [
            np.exp(generator.uniform(np.log(1e-12), np.log(1e18), 20_000)),
            np.round(generator.uniform(0, 100_000, 20_000), 2),  # prices as exchanges send them
            np.round(generator.lognormal(0, 1, 20_000), 8),  # volumes
        ]
    )
    loaded = [row[3] for row in load(cursor, values)]
    expected = postgres_cast(cursor, values)
    for got, want, value in zip(loaded, expected, values.tolist(), strict=True):
        # identical, except at an exact tie in the 16th significant digit: one unit in the 15th
        tolerance = Decimal(10) ** (Decimal(abs(value)).adjusted() - 14) if value else Decimal(0)
        assert abs(got - want) <= max(tolerance, Decimal("1E-18")), (value, got, want)
    decimal_prices = slice(20_000, 60_000)
    assert loaded[decimal_prices] == expected[decimal_prices]  # short decimals: always identical


def test_a_nan_or_infinity_is_refused_before_anything_is_sent() -> None:
    rows = pgcopy.empty_rows(2, [("v", pgcopy.NUMERIC_FIELD)])
    with pytest.raises(ValueError, match="NaN or infinite"):
        pgcopy.set_numeric(rows, "v", np.array([1.0, float("nan")]))
    with pytest.raises(ValueError, match="NaN or infinite"):
        pgcopy.set_numeric(rows, "v", np.array([float("inf"), 1.0]))
