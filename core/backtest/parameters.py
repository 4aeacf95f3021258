"""Strategy parameters and sweep ranges, importable without numpy, pandas or numba.

:class:`Parameter` (re-exported by :mod:`core.backtest.strategy`) and :func:`parse_values` /
:data:`MAX_COMBINATIONS` (re-exported by :mod:`core.backtest.sweep`) live here so that checking a
job's parameters when it is submitted (``core/backtest/job_kinds.py``, with the names from
:mod:`core.backtest.catalogue`) imports none of the heavy libraries the backtest itself needs.
Their errors are :class:`StrategyError`, which lives here too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from core.errors import PermanentError

MAX_COMBINATIONS = 2_500


class StrategyError(PermanentError, ValueError):
    """An unknown strategy or an invalid parameter (re-exported by :mod:`core.backtest.strategy`)."""


@dataclass(frozen=True)
class Parameter:
    """One tunable parameter of a strategy, with its type, default and allowed range."""

    name: str
    kind: type[int] | type[float]
    default: int | float
    minimum: int | float
    maximum: int | float
    help: str = ""

    def parse(self, value: object) -> int | float:
        """Return ``value`` converted and checked, or raise ``StrategyError``."""
        try:
            if self.kind is int:
                number = float(str(value))
                if not number.is_integer():
                    raise ValueError
                parsed: int | float = int(number)
            else:
                parsed = float(str(value))
                if not math.isfinite(parsed):
                    raise ValueError
        except ValueError:
            raise StrategyError(f"parameter {self.name} must be {self.kind.__name__}, got {value!r}") from None
        if not self.minimum <= parsed <= self.maximum:
            raise StrategyError(
                f"parameter {self.name} must be between {self.minimum} and {self.maximum}, got {parsed}"
            )
        return parsed


def parse_values(name: str, text: str) -> list[float]:
    """Parse a sweep range: ``5:50:5`` (start:stop:step, stop included) or ``5,10,20``."""
    try:
        if ":" in text:
            parts = [float(part) for part in text.split(":")]
            if len(parts) != 3 or parts[2] <= 0 or parts[1] < parts[0]:
                raise ValueError
            start, stop, step = parts
            count = math.floor((stop - start) / step + 1e-9) + 1
            values = [start + step * position for position in range(count)]
        else:
            values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise StrategyError(f"sweep range for {name} must be start:stop:step or a,b,c, got {text!r}") from None
    if not values:
        raise StrategyError(f"sweep range for {name} is empty")
    return [round(value, 10) for value in values]
