"""The look-ahead check: does any indicator value or signal change when future candles are removed?

A causal strategy computes the same value at candle ``i`` whether or not candles ``i+1…`` exist.
``check_lookahead`` runs the strategy once on all the data and again on prefixes of it (several cut
points: the data as it was known at that candle) and compares, candle by candle, every indicator
line (declared kernels and the columns of ``populate_indicators``) and every signal (``on_bar``, and
``signals()`` where the strategy has a fast path). Every value that differs is a finding.

Like freqtrade's ``lookahead-analysis`` it finds signals that depend on the future; unlike it, it
names the indicator that changed, the candle, both values, at how many cut points it happened and how
far ahead the strategy reads (a ``shift(-1)`` reads 1 candle ahead, a centred 5-candle window 2; a
value that changes far before the cut depends on the whole future, e.g. a normalisation over all
candles). A changed signal whose indicators did not change points at ``on_bar``/``signals()`` itself.

It also does what freqtrade's ``recursive-analysis`` does, the other way round: it drops candles at
the *start* and reports, per indicator and signal, how many candles after the new start it takes
until the values agree with the full-history run (``warmup``). An SMA of 30 needs 29; a recursive
smoothing (EMA, Wilder's RSI) more; a value that never agrees depends on where the data starts
(e.g. a cumulative sum). That is not look-ahead (``clean`` ignores it), but it says how much
history a backtest window or a live signal source (``signal_source.HISTORY_BARS``) needs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from core.backtest.series import PriceDataError, PriceSeries
from core.backtest.strategy import FloatArray, Strategy, check_signal_codes, guarded

DEFAULT_CUTS = 8
MINIMUM_CANDLES = 20
WHOLE_FUTURE = 50  # a value this many candles before the cut that changes: it depends on the whole future


@dataclass(frozen=True)
class LookaheadFinding:
    """One line (indicator or signal) that changed at one cut point."""

    kind: str  # "indicator" or "signal"
    name: str  # the indicator's name, or "on_bar" / "signals()"
    cut: int  # candles kept (the data ended after candle cut - 1)
    candle: int  # the first candle whose value changed
    time: datetime  # that candle's open time (UTC)
    full_value: float  # its value on the full data
    truncated_value: float  # its value on the truncated data
    changed: int  # how many candles of this prefix changed
    ahead: int  # how far before the cut the earliest change lies: the strategy reads this many candles ahead

    def describe(self) -> str:
        what = "indicator" if self.kind == "indicator" else "signal of"
        return (
            f"{what} {self.name!r} at candle {self.candle} ({self.time:%Y-%m-%d %H:%M}): "
            f"{_format(self.full_value)} with all candles, {_format(self.truncated_value)} with the data cut "
            f"after candle {self.cut - 1} ({self.changed} value{'s' if self.changed != 1 else ''} changed)"
        )


@dataclass(frozen=True)
class WarmupFinding:
    """How long one line takes to agree with the full-history run after ``start`` candles are dropped."""

    kind: str  # "indicator" or "signal"
    name: str
    start: int  # candles dropped at the front
    differing: int  # candles after the new start whose value differs
    settles_after: int | None  # candles after the new start until it agrees for good (None: not within the data)


@dataclass
class LookaheadReport:
    """The result of ``check_lookahead``."""

    strategy: str
    candles: int
    cuts: list[int]
    indicators: list[str]
    findings: list[LookaheadFinding] = field(default_factory=list)
    warmup: list[WarmupFinding] = field(default_factory=list)
    # Candles where the vectorised ``signals()`` disagrees with ``on_bar`` on the full data (the fast
    # path would trade differently from the event loop): (candle, on_bar's code, signals()'s code).
    fast_path_mismatches: list[tuple[int, int, int]] = field(default_factory=list)

    def warmup_candles(self) -> dict[str, int | None]:
        """Per line (``name`` or ``signal name``): the most candles any start needed (None: never agrees)."""
        needed: dict[str, int | None] = {}
        for item in self.warmup:
            key = item.name if item.kind == "indicator" else f"signal {item.name}"
            if key in needed and needed[key] is None:
                continue
            previous = needed.get(key, 0)
            needed[key] = None if item.settles_after is None else max(previous or 0, item.settles_after)
        return needed

    @property
    def clean(self) -> bool:
        """True if no indicator value and no signal changed at any cut point."""
        return not self.findings

    def by_line(self) -> dict[tuple[str, str], list[LookaheadFinding]]:
        """The findings grouped by (kind, name), indicators first."""
        grouped: dict[tuple[str, str], list[LookaheadFinding]] = {}
        for finding in sorted(self.findings, key=lambda item: (item.kind != "indicator", item.name, item.cut)):
            grouped.setdefault((finding.kind, finding.name), []).append(finding)
        return grouped

    def peeking_indicators(self) -> list[str]:
        """The names of the indicators that changed (where the look-ahead comes from)."""
        return sorted({finding.name for finding in self.findings if finding.kind == "indicator"})

    def summary(self) -> str:
        """Plain words: clean, or each changed line with its first finding and how far it reads ahead."""
        checked = (
            f"{self.strategy}: {len(self.indicators)} indicator line(s) and the signals compared on "
            f"{self.candles} candles and {len(self.cuts)} truncations"
        )
        warmup = [*self._mismatch_line(), *self._warmup_line()]
        if self.clean:
            return "\n".join(
                [f"{checked}: no look-ahead — no value changed when future candles were removed.", *warmup]
            )
        lines = [f"{checked}: LOOK-AHEAD — values change when future candles are removed."]
        for findings in self.by_line().values():
            first = findings[0]
            ahead = max(finding.ahead for finding in findings)
            reach = (
                "depends on far-future candles (e.g. a normalisation over all candles)"
                if ahead >= WHOLE_FUTURE
                else f"reads up to {ahead} candle{'s' if ahead != 1 else ''} ahead"
            )
            lines.append(f"- {first.describe()}; changed at {len(findings)} of {len(self.cuts)} cut points; {reach}.")
        if self.peeking_indicators():
            lines.append(f"The look-ahead comes from: {', '.join(self.peeking_indicators())}.")
        else:
            lines.append("No indicator changed: the signal code itself reads ahead.")
        return "\n".join([*lines, *warmup])

    def _mismatch_line(self) -> list[str]:
        if not self.fast_path_mismatches:
            return []
        candle, slow, fast = self.fast_path_mismatches[0]
        return [
            f"signals() disagrees with on_bar at {len(self.fast_path_mismatches)} candle(s), first at candle "
            f"{candle} (on_bar {slow:+d}, signals() {fast:+d}): --engine fast would trade differently."
        ]

    def _warmup_line(self) -> list[str]:
        needed = self.warmup_candles()
        if not needed:
            return []
        parts = [
            f"{name} {'never (it depends on where the data starts)' if count is None else count}"
            for name, count in sorted(needed.items(), key=lambda item: (item[1] is not None, -(item[1] or 0)))
        ]
        return [f"Warm-up (candles until the values match a run with all earlier history): {', '.join(parts)}."]

    def to_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "candles": self.candles,
            "cuts": self.cuts,
            "indicators": self.indicators,
            "clean": self.clean,
            "findings": [
                {
                    "kind": item.kind,
                    "name": item.name,
                    "cut": item.cut,
                    "candle": item.candle,
                    "time": item.time.isoformat(),
                    "full_value": _json_number(item.full_value),
                    "truncated_value": _json_number(item.truncated_value),
                    "changed": item.changed,
                    "ahead": item.ahead,
                }
                for item in self.findings
            ],
            "warmup": {name: count for name, count in self.warmup_candles().items()},
            "fast_path_mismatches": [list(item) for item in self.fast_path_mismatches],
            "summary": self.summary(),
        }


def cut_points(candles: int, count: int = DEFAULT_CUTS) -> list[int]:
    """``count`` prefix lengths spread from a fifth of the data to one candle short of the end."""
    if candles < MINIMUM_CANDLES:
        raise PriceDataError(f"the look-ahead check needs at least {MINIMUM_CANDLES} candles, got {candles}")
    if count < 1:
        raise ValueError("the look-ahead check needs at least one cut point")
    first, last = max(candles // 5, 2), candles - 1
    points = np.unique(np.linspace(first, last, num=count).round().astype(int))
    return [int(point) for point in points]


def check_lookahead(
    strategy: Strategy,
    bars: PriceSeries,
    *,
    cuts: list[int] | None = None,
    cut_count: int = DEFAULT_CUTS,
    tolerance: float = 1e-9,
    warmup_starts: list[int] | None = None,
    warmup_tolerance: float = 1e-6,
    progress: Callable[[int, int], None] | None = None,
) -> LookaheadReport:
    """Compare indicators and signals on ``bars`` with those on truncated copies (see the module doc).

    ``cuts`` are prefix lengths (default: ``cut_count`` points from ``cut_points``); ``tolerance`` is
    the relative difference below which two floats count as equal. ``warmup_starts`` are the
    numbers of candles dropped at the front for the warm-up measurement (default: a tenth and a
    quarter of the data; ``[]`` skips it), compared with ``warmup_tolerance``. Strategy code that
    raises or returns garbage raises ``StrategyFailure`` (nothing to compare).
    """
    points = sorted(set(cuts)) if cuts is not None else cut_points(len(bars), cut_count)
    for point in points:
        if not 0 < point < len(bars):
            raise ValueError(f"a cut point must keep between 1 and {len(bars) - 1} candles, got {point}")
    starts = sorted(set(warmup_starts)) if warmup_starts is not None else sorted({len(bars) // 10, len(bars) // 4})
    for start in starts:
        if not 0 < start < len(bars) - 1:
            raise ValueError(f"a warm-up start must drop between 1 and {len(bars) - 2} candles, got {start}")
    full_lines, full_signals = _run(strategy, bars)
    report = LookaheadReport(strategy.describe(), len(bars), points, sorted(full_lines))
    if "signals()" in full_signals:
        slow, fast = full_signals["on_bar"], full_signals["signals()"]
        report.fast_path_mismatches = [
            (int(candle), int(slow[candle]), int(fast[candle])) for candle in np.flatnonzero(slow != fast)
        ]
    for done, point in enumerate(points, start=1):
        prefix = bars.head(point)
        lines, signals = _run(strategy, prefix)
        for name in sorted(set(full_lines) | set(lines)):
            if name not in lines or name not in full_lines:  # a column that only exists with more data
                report.findings.append(_missing(name, point, prefix, full_lines, lines))
                continue
            finding = _compare("indicator", name, point, prefix, full_lines[name][:point], lines[name], tolerance)
            if finding is not None:
                report.findings.append(finding)
        for name, values in signals.items():
            finding = _compare("signal", name, point, prefix, full_signals[name][:point], values, 0.0)
            if finding is not None:
                report.findings.append(finding)
        if progress is not None:
            progress(done, len(points) + len(starts))
    for done, start in enumerate(starts, start=len(points) + 1):
        report.warmup.extend(_warmup(strategy, bars, start, full_lines, full_signals, warmup_tolerance))
        if progress is not None:
            progress(done, len(points) + len(starts))
    return report


def _warmup(
    strategy: Strategy,
    bars: PriceSeries,
    start: int,
    full_lines: dict[str, FloatArray],
    full_signals: dict[str, FloatArray],
    tolerance: float,
) -> list[WarmupFinding]:
    later = bars.between(bars.index[start].to_pydatetime())
    lines, signals = _run(strategy, later)
    found: list[WarmupFinding] = []
    for kind, full, part in (("indicator", full_lines, lines), ("signal", full_signals, signals)):
        for name in sorted(set(full) & set(part)):
            expected = np.asarray(full[name][start:], dtype=np.float64)
            got = np.asarray(part[name], dtype=np.float64)
            with np.errstate(invalid="ignore"):
                close = np.abs(expected - got) <= tolerance * np.maximum(np.abs(expected), np.abs(got))
            same = (np.isnan(expected) & np.isnan(got)) | close | (expected == got)
            if same.all():
                continue
            differing = np.flatnonzero(~same)
            last = int(differing[-1])
            settled = None if last >= len(later) - 1 else last + 1
            found.append(WarmupFinding(kind, name, start, int(differing.shape[0]), settled))
    return found


def _run(strategy: Strategy, bars: PriceSeries) -> tuple[dict[str, FloatArray], dict[str, FloatArray]]:
    lines = strategy.compute_lines(bars)
    signals = {"on_bar": strategy.decisions(bars, lines).astype(np.float64)}
    if strategy.has_fast_path():
        codes = guarded(strategy, "signals()", strategy.signals, bars, lines)
        if codes is not None:
            signals["signals()"] = check_signal_codes(strategy, codes, bars).astype(np.float64)
    return lines, signals


def _compare(
    kind: str, name: str, cut: int, prefix: PriceSeries, full: FloatArray, truncated: FloatArray, tolerance: float
) -> LookaheadFinding | None:
    full = np.asarray(full, dtype=np.float64)
    truncated = np.asarray(truncated, dtype=np.float64)
    both_nan = np.isnan(full) & np.isnan(truncated)
    with np.errstate(invalid="ignore"):
        close = np.abs(full - truncated) <= tolerance * np.maximum(np.abs(full), np.abs(truncated))
    same = both_nan | close | (full == truncated)
    if same.all():
        return None
    changed = np.flatnonzero(~same)
    candle = int(changed[0])
    return LookaheadFinding(
        kind=kind,
        name=name,
        cut=cut,
        candle=candle,
        time=prefix.index[candle].to_pydatetime(),
        full_value=float(full[candle]),
        truncated_value=float(truncated[candle]),
        changed=int(changed.shape[0]),
        ahead=cut - candle,
    )


def _missing(
    name: str, cut: int, prefix: PriceSeries, full_lines: dict[str, FloatArray], lines: dict[str, FloatArray]
) -> LookaheadFinding:
    present = full_lines.get(name)
    last = cut - 1
    return LookaheadFinding(
        kind="indicator",
        name=name,
        cut=cut,
        candle=last,
        time=prefix.index[last].to_pydatetime(),
        full_value=float(present[last]) if present is not None else float("nan"),
        truncated_value=float(lines[name][last]) if name in lines else float("nan"),
        changed=cut,
        ahead=cut,
    )


def _format(value: float) -> str:
    if np.isnan(value):
        return "NaN"
    return f"{value:.10g}"


def _json_number(value: float) -> float | None:
    return None if np.isnan(value) else value
