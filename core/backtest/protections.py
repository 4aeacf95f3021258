"""The live risk guard's protections inside a backtest, so a backtest trades as live would.

Four of the guard's breakers (``core.risk.guard``) can be switched on, with the limits of
``core.risk.settings.RiskLimits`` and the guard's own rules (``account_breach``,
``stoploss_lock_from``, the Vienna trading day of ``core.risk.exposure``):

- **drawdown limit**: equity ``max_drawdown_pct`` or more below its peak (the peak starts at the
  initial cash) → HALTED for the rest of the backtest: no order at all (the guard refuses every
  order while halted, exits and protective exits included; the open position is marked to the end);
- **daily loss limit**: equity ``daily_loss_limit_pct`` or more below the day's opening (the
  equity at the last close of the previous Vienna day; the initial cash on the first day) →
  REDUCING until the next Vienna day: no new entries, exits go through;
- **stop-loss guard**: ``stoploss_guard_count`` stop-outs (stop-loss or trailing stop) within
  ``stoploss_guard_lookback_minutes`` lock new entries for ``stoploss_guard_lock_minutes`` after the last;
- **cooldown**: no new entry within ``cooldown_minutes`` after an exit.

When things happen, in simulated time: an order is checked when the strategy decides, at its
bar's close (the replay places it at close − 1 µs, and that instant names its Vienna day); the
account breakers are evaluated on the equity marked at every bar's close (as the risk worker and
the pre-trade check would see it). An exit happens at the open time of the bar it fills in (a
stop inside a bar is dated at the bar's open). Checks run in the guard's order: HALTED, REDUCING,
stop-loss guard, cooldown. A refused signal is dropped and counted by rule (``TradeLog.blocked``).

The event loop applies these rules with :class:`ProtectionState`; the compiled fast path
(``kernels.simulate_long_only``) reproduces them and is tested to give the same trades.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from core.risk.rules import RiskRule, account_breach, stoploss_lock_from
from core.timeutil import VIENNA

if TYPE_CHECKING:
    from core.backtest.series import PriceSeries
    from core.risk.settings import RiskLimits

# The order of the blocked-order counters, shared with the compiled simulator.
BLOCK_RULES: tuple[RiskRule, ...] = (RiskRule.HALTED, RiskRule.REDUCING, RiskRule.STOPLOSS_GUARD, RiskRule.COOLDOWN)
HALTED, REDUCING, STOPLOSS_GUARD, COOLDOWN = range(4)
MINUTE = 60


@dataclass(frozen=True)
class Protections:
    """Which of the guard's protections a backtest applies, with their limits (None: off)."""

    daily_loss_limit: float | None = None  # fraction of the day's opening equity
    max_drawdown: float | None = None  # fraction of the peak equity
    cooldown_minutes: int | None = None
    stoploss_guard_count: int | None = None
    stoploss_guard_lookback_minutes: int = 24 * 60
    stoploss_guard_lock_minutes: int = 6 * 60

    def __post_init__(self) -> None:
        for name in ("daily_loss_limit", "max_drawdown"):
            value = getattr(self, name)
            if value is not None and not 0 < value <= 1:
                raise ValueError(f"{name.replace('_', ' ')} must be a fraction in (0, 1]")
        if self.cooldown_minutes is not None and self.cooldown_minutes < 0:
            raise ValueError("cooldown minutes must not be negative")
        if self.stoploss_guard_count is not None and self.stoploss_guard_count < 1:
            raise ValueError("the stop-loss guard needs at least one stop-out")
        if self.stoploss_guard_lookback_minutes < 1 or self.stoploss_guard_lock_minutes < 1:
            raise ValueError("the stop-loss guard's lookback and lock must be at least a minute")

    @classmethod
    def from_limits(
        cls,
        limits: RiskLimits,
        *,
        daily_loss: bool = True,
        drawdown: bool = True,
        cooldown: bool = True,
        stoploss_guard: bool = True,
    ) -> Protections:
        """The protections with the live limits (the ones saved in Settings → Risk)."""
        return cls(
            daily_loss_limit=float(limits.daily_loss_limit_pct) if daily_loss else None,
            max_drawdown=float(limits.max_drawdown_pct) if drawdown else None,
            cooldown_minutes=limits.cooldown_minutes if cooldown and limits.cooldown_minutes > 0 else None,
            stoploss_guard_count=limits.stoploss_guard_count if stoploss_guard else None,
            stoploss_guard_lookback_minutes=limits.stoploss_guard_lookback_minutes,
            stoploss_guard_lock_minutes=limits.stoploss_guard_lock_minutes,
        )

    @property
    def active(self) -> bool:
        return any(
            value is not None
            for value in (self.daily_loss_limit, self.max_drawdown, self.cooldown_minutes, self.stoploss_guard_count)
        )

    def to_dict(self) -> dict[str, float | int | None]:
        return {
            "daily_loss_limit": self.daily_loss_limit,
            "max_drawdown": self.max_drawdown,
            "cooldown_minutes": self.cooldown_minutes,
            "stoploss_guard_count": self.stoploss_guard_count,
            "stoploss_guard_lookback_minutes": self.stoploss_guard_lookback_minutes,
            "stoploss_guard_lock_minutes": self.stoploss_guard_lock_minutes,
        }


@dataclass(frozen=True)
class ProtectionClock:
    """Per bar: the open time and the decision time (close − 1 µs) in whole seconds, and the Vienna day."""

    open_seconds: np.ndarray  # int64
    decision_seconds: np.ndarray  # int64: the bar's close, when its signal is checked
    day: np.ndarray  # int64: a number per Vienna calendar day of the decision time, increasing


def protection_clock(bars: PriceSeries) -> ProtectionClock:
    """The clock of ``bars`` for the protections (see :class:`ProtectionClock`)."""
    opens = bars.index.as_unit("s").asi8
    decisions = bars.index + pd.Timedelta(seconds=bars.bar_seconds) - pd.Timedelta(microseconds=1)
    local_days = decisions.tz_convert(VIENNA).normalize().tz_localize(None).as_unit("s")
    return ProtectionClock(
        np.ascontiguousarray(opens, dtype=np.int64),
        np.ascontiguousarray(opens + bars.bar_seconds, dtype=np.int64),
        np.ascontiguousarray(local_days.asi8 // 86_400, dtype=np.int64),
    )


class ProtectionState:
    """The protections' state during an event-loop backtest (the guard's rules on a simulated account)."""

    def __init__(self, protections: Protections, clock: ProtectionClock, initial_cash: float) -> None:
        self.protections = protections
        self.clock = clock
        self.halted = False
        self.reducing_day: int | None = None  # REDUCING until this Vienna day ends
        self.peak = initial_cash
        self.opening = initial_cash
        self.day: int | None = None
        self.previous_equity = initial_cash
        self.stop_outs: list[int] = []
        self.last_exit: int | None = None
        self.blocked = [0, 0, 0, 0]

    def exited(self, bar: int, stop_out: bool) -> None:
        """Record an exit filled in ``bar`` (a stop-out if by stop-loss or trailing stop)."""
        when = int(self.clock.open_seconds[bar])
        self.last_exit = when
        if stop_out:
            self.stop_outs.append(when)

    def close(self, bar: int, equity: float) -> None:
        """Evaluate the account breakers on the equity marked at ``bar``'s close."""
        day = int(self.clock.day[bar])
        if self.day is None or day != self.day:
            self.opening = self.previous_equity if self.day is not None else self.opening
            self.day = day
        if self.reducing_day is not None and day > self.reducing_day:
            self.reducing_day = None  # the daily-loss restriction lifts at the next Vienna day
        self.previous_equity = equity
        self.peak = max(self.peak, equity)
        if self.halted:
            return
        limits = self.protections
        loss = (self.opening - equity) / self.opening if self.opening > 0 and equity < self.opening else 0.0
        drawdown = (self.peak - equity) / self.peak if self.peak > 0 and equity < self.peak else 0.0
        rule = account_breach(
            loss if limits.daily_loss_limit is not None else 0.0,
            drawdown if limits.max_drawdown is not None else 0.0,
            limits.daily_loss_limit if limits.daily_loss_limit is not None else np.inf,
            limits.max_drawdown if limits.max_drawdown is not None else np.inf,
        )
        if rule is RiskRule.MAX_DRAWDOWN:
            self.halted = True
        elif rule is RiskRule.DAILY_LOSS:
            self.reducing_day = day

    def allows_entry(self, bar: int) -> bool:
        """Whether the guard lets a new entry decided at ``bar``'s close through (counts a refusal)."""
        rule = self._entry_refusal(int(self.clock.decision_seconds[bar]))
        if rule is not None:
            self.blocked[rule] += 1
            return False
        return True

    def allows_exit(self) -> bool:
        """Exits are refused only while HALTED (counted)."""
        if self.halted:
            self.blocked[HALTED] += 1
            return False
        return True

    def _entry_refusal(self, now: int) -> int | None:
        limits = self.protections
        if self.halted:
            return HALTED
        if self.reducing_day is not None:
            return REDUCING
        if limits.stoploss_guard_count is not None:
            lock = stoploss_lock_from(
                self.stop_outs,
                limits.stoploss_guard_count,
                limits.stoploss_guard_lookback_minutes * MINUTE,
                limits.stoploss_guard_lock_minutes * MINUTE,
                now,
            )
            if lock is not None:
                return STOPLOSS_GUARD
        cooling = limits.cooldown_minutes is not None and self.last_exit is not None
        if cooling and self.last_exit + (limits.cooldown_minutes or 0) * MINUTE > now:  # type: ignore[operator]
            return COOLDOWN
        return None

    def counts(self) -> dict[str, int]:
        return {rule.value: count for rule, count in zip(BLOCK_RULES, self.blocked, strict=True) if count}
