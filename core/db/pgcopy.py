"""PostgreSQL binary ``COPY``, encoded with numpy: the fastest way to bulk-load many rows.

The binary COPY format (https://www.postgresql.org/docs/current/sql-copy.html#id-1.9.3.55.9.4) is a
header, then per row a big-endian ``int16`` field count and per field an ``int32`` byte length and
the value in the type's binary wire format, then the trailer ``-1``. Fixed-size rows make a numpy
structured array; its bytes are the payload, with no Python code per row.

``numeric`` values are sent as ``numeric`` (not ``float8``): the server then only rounds them to
the column's scale, instead of running its float-to-numeric conversion once per value, which
costs more than the rest of the load. Each float is first rounded to 15 significant digits, as
PostgreSQL's own ``float8::numeric`` cast does (``DBL_DIG``); the only difference is at an exact
decimal tie in the 16th digit, where the 15th may differ by one unit (float noise, 1e-15 relative).
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pandas as pd

COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
COPY_TRAILER = b"\xff\xff"
PG_EPOCH_OFFSET_US = 946_684_800_000_000  # 2000-01-01, PostgreSQL's binary timestamp epoch, in Unix microseconds

SIGNIFICANT_DIGITS = 15
_NUMERIC_GROUPS = 5  # base-10000 digits per value: a 15-digit mantissa shifted by up to 3 places fits in 18 digits
_NUMERIC_NEGATIVE = 0x4000
_SMALLEST = 1e-19  # below this a value rounds to 0 at scale 18, the finest scale Konsens stores
_POWERS_OF_TEN = np.array([1, 10, 100, 1000], dtype=np.int64)
COPY_CHUNK_BYTES = 1 << 20  # psycopg2 reads the payload in chunks of this size (its default, 8 KiB, means 4,000 calls)
NUMERIC_FIELD = np.dtype(
    [
        ("length", ">i4"),
        ("ndigits", ">i2"),
        ("weight", ">i2"),
        ("sign", ">u2"),
        ("dscale", ">i2"),
        ("digits", ">i2", (_NUMERIC_GROUPS,)),
    ]
)
TIMESTAMPTZ_FIELD = np.dtype([("length", ">i4"), ("value", ">i8")])
INT4_FIELD = np.dtype([("length", ">i4"), ("value", ">i4")])


def text_field(value: str) -> np.dtype[Any]:
    """Return the field dtype of one constant text value (the same in every row)."""
    return np.dtype([("length", ">i4"), ("value", f"S{len(value.encode())}")])


def row_dtype(fields: list[tuple[str, np.dtype[Any]]]) -> np.dtype[Any]:
    """Return the dtype of one COPY row: the field count, then ``fields`` in column order."""
    return np.dtype([("field_count", ">i2"), *fields])


def empty_rows(count: int, fields: list[tuple[str, np.dtype[Any]]]) -> np.ndarray:
    """Return ``count`` rows of ``fields`` with the field count set."""
    rows = np.zeros(count, dtype=row_dtype(fields))
    rows["field_count"] = len(fields)
    return rows


def set_int4(rows: np.ndarray, name: str, value: int | np.ndarray) -> None:
    """Fill the ``integer`` field ``name``."""
    rows[name]["length"] = 4
    rows[name]["value"] = value


def set_text(rows: np.ndarray, name: str, value: str) -> None:
    """Fill the text field ``name`` with one value for every row (its dtype from ``text_field``)."""
    encoded = value.encode()
    rows[name]["length"] = len(encoded)
    rows[name]["value"] = encoded


def set_timestamptz(rows: np.ndarray, name: str, stamps: pd.Series | pd.DatetimeIndex) -> None:
    """Fill the ``timestamptz`` field ``name`` from aware or UTC-naive timestamps (microseconds)."""
    micros = pd.to_datetime(stamps, utc=True).to_numpy(dtype="datetime64[us]").astype("int64")
    rows[name]["length"] = 8
    rows[name]["value"] = micros - PG_EPOCH_OFFSET_US


def set_numeric(rows: np.ndarray, name: str, values: np.ndarray) -> None:
    """Fill the ``numeric`` field ``name`` from finite floats, rounded to 15 significant digits.

    Each value is ``m * 10**q`` with an integer mantissa ``m < 10**18`` and ``q`` a multiple of 4,
    so ``m`` splits into five base-10000 digits; the server strips the leading and trailing zero
    digits. Raise ``ValueError`` on a NaN or infinity (validation keeps those out of the database).
    """
    values = np.asarray(values, dtype=float)
    if not np.isfinite(values).all():
        raise ValueError(f"cannot store a NaN or infinite value in numeric column {name!r}")
    magnitudes = np.abs(values)
    magnitudes[magnitudes < _SMALLEST] = 0.0
    exponents = np.zeros(len(values), dtype=np.int64)
    nonzero = magnitudes > 0
    exponents[nonzero] = np.floor(np.log10(magnitudes[nonzero])).astype(np.int64)
    # log10 rounds: 999999999999999.0 gives 15.0. Correct the exponent against exact powers of ten.
    exponents -= (nonzero & (magnitudes < np.power(10.0, exponents))).astype(np.int64)
    exponents += (nonzero & (magnitudes >= np.power(10.0, exponents + 1))).astype(np.int64)
    powers = exponents - (SIGNIFICANT_DIGITS - 1)  # value ≈ mantissa * 10**powers
    mantissas = np.rint(magnitudes * np.power(10.0, -powers)).astype(np.int64)
    aligned = np.floor_divide(powers, 4) * 4
    mantissas *= _POWERS_OF_TEN[powers - aligned]  # 10**(0..3), exact in int64
    # the base-10000 digits in native byte order, written into the big-endian field in one assignment
    digits = np.empty((len(values), _NUMERIC_GROUPS), dtype=np.int16)
    for position in range(_NUMERIC_GROUPS - 1, -1, -1):
        mantissas, digits[:, position] = np.divmod(mantissas, 10_000)
    field = rows[name]
    field["length"] = NUMERIC_FIELD.itemsize - 4
    field["ndigits"] = _NUMERIC_GROUPS
    field["weight"] = aligned // 4 + (_NUMERIC_GROUPS - 1)
    field["sign"] = np.where(values < 0, _NUMERIC_NEGATIVE, 0)
    field["dscale"] = np.maximum(-aligned, 0)  # no truncation on receipt; the column's scale rounds
    field["digits"] = digits


def payload(rows: np.ndarray) -> bytes:
    """Return the complete COPY payload of ``rows`` (one copy of the rows' bytes, not two)."""
    return b"".join((COPY_HEADER, memoryview(np.ascontiguousarray(rows)).cast("B"), COPY_TRAILER))


def copy_from(cursor: Any, sql: str, data: bytes) -> None:
    """Run ``COPY ... FROM STDIN WITH (FORMAT binary)`` on a psycopg2 or psycopg 3 cursor."""
    if hasattr(cursor, "copy_expert"):  # psycopg2
        cursor.copy_expert(sql, io.BytesIO(data), size=COPY_CHUNK_BYTES)
    else:  # psycopg 3
        with cursor.copy(sql) as copy:
            copy.write(data)


def copy_to(cursor: Any, sql: str) -> io.BytesIO:
    """Run ``COPY ... TO STDOUT`` on a psycopg2 cursor; return the whole output in one buffer.

    psycopg2 hands the output over row by row (one ``write`` per row, no Python object per value);
    the buffer is read back in place (``getbuffer()``), not copied.
    """
    buffer = io.BytesIO()
    cursor.copy_expert(sql, buffer)
    return buffer
