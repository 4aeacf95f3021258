"""Spending caps in EUR: per provider per UTC day and month, and per AI history run.

Token prices are configured in USD per million tokens (as providers publish them) and converted
with ``eur_per_usd``. A cap is *hard*: before each provider call the analyst reserves the worst
case of that call (the prompt's tokens, estimated from its length, plus the full output token
limit, at the configured prices); if the spending so far plus that worst case would pass a cap,
the call is not made and the analyst is skipped with the reason (never a silent hold). What a
call really cost is then recorded. :func:`spent_eur` reads what was spent from ``ai_opinions``.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.ai.config import CostLimits
from core.ai.models import AnalystOpinion
from core.timeutil import utc_now

CHARS_PER_TOKEN_ESTIMATE = 3  # conservative for JSON full of numbers (English text is about 4)
MILLION = Decimal(1_000_000)


def start_of_utc_month(now: datetime) -> datetime:
    """Return midnight UTC of the first day of ``now``'s month."""
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def spent_eur(session: Session, since: datetime) -> dict[str, Decimal]:
    """Return the EUR spent per provider since ``since`` (demo rows excluded)."""
    rows = session.execute(
        select(AnalystOpinion.provider, func.sum(AnalystOpinion.cost_eur))
        .where(AnalystOpinion.created_at >= since, AnalystOpinion.is_demo.is_(False))
        .group_by(AnalystOpinion.provider)
    )
    return {provider: Decimal(str(total or 0)) for provider, total in rows}


def worst_case_call_eur(
    prompt: str,
    max_output_tokens: int,
    input_usd_per_million: Decimal,
    output_usd_per_million: Decimal,
    eur_per_usd: Decimal,
) -> Decimal:
    """Return the most one call can cost in EUR: the prompt's estimated tokens plus the full output limit."""
    prompt_tokens = Decimal(len(prompt) // CHARS_PER_TOKEN_ESTIMATE + 1)
    usd = (prompt_tokens * input_usd_per_million + Decimal(max_output_tokens) * output_usd_per_million) / MILLION
    return usd * eur_per_usd


@dataclass
class SpendingGuard:
    """What may still be spent, per provider today / this month, and in this run (thread-safe)."""

    limits: CostLimits
    spent_today: dict[str, Decimal] = field(default_factory=dict)
    spent_month: dict[str, Decimal] = field(default_factory=dict)
    run_cap_eur: Decimal | None = None
    run_spent_eur: Decimal = Decimal(0)
    refusals: dict[str, str] = field(default_factory=dict)  # provider -> reason, for one alert each
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def from_database(
        cls, session: Session, limits: CostLimits, *, now: datetime | None = None, run_cap_eur: Decimal | None = None
    ) -> SpendingGuard:
        """Return a guard loaded with today's and this month's spending."""
        now = now or utc_now()
        day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        return cls(
            limits,
            spent_today=spent_eur(session, day_start),
            spent_month=spent_eur(session, start_of_utc_month(now)),
            run_cap_eur=run_cap_eur,
        )

    def reserve(self, provider: str, worst_case_eur: Decimal) -> str | None:
        """Return None if a call costing up to ``worst_case_eur`` fits every cap, else the reason."""
        with self._lock:
            reason = self._refusal(provider, worst_case_eur)
            if reason is not None:
                self.refusals.setdefault(provider, reason)
            return reason

    def _refusal(self, provider: str, worst_case_eur: Decimal) -> str | None:
        checks: list[tuple[str, Decimal, Decimal]] = [
            ("today", self.spent_today.get(provider, Decimal(0)), self.limits.daily_cap_of(provider)),
            ("this month", self.spent_month.get(provider, Decimal(0)), self.limits.monthly_cap_of(provider)),
        ]
        if self.run_cap_eur is not None:
            checks.append(("in this run", self.run_spent_eur, self.run_cap_eur))
        for period, spent, cap in checks:
            if spent + worst_case_eur > cap:
                return (
                    f"cost cap reached: € {spent:.2f} of € {cap:.2f} spent {period} "
                    f"({provider}; the next call could cost up to € {worst_case_eur:.4f})"
                )
        return None

    def record(self, provider: str, cost_eur: Decimal | None) -> None:
        """Add what a call really cost."""
        if not cost_eur:
            return
        with self._lock:
            self.spent_today[provider] = self.spent_today.get(provider, Decimal(0)) + cost_eur
            self.spent_month[provider] = self.spent_month.get(provider, Decimal(0)) + cost_eur
            self.run_spent_eur += cost_eur

    def spent_in_run(self) -> Decimal:
        with self._lock:
            return self.run_spent_eur


def cost_by_analyst_per_day(session: Session, *, days: int = 30, now: datetime | None = None) -> Mapping[str, Decimal]:
    """Return each analyst's mean EUR cost per day over the last ``days`` days (live opinions)."""
    now = now or utc_now()
    from datetime import timedelta

    rows = session.execute(
        select(AnalystOpinion.analyst, func.sum(AnalystOpinion.cost_eur))
        .where(AnalystOpinion.created_at >= now - timedelta(days=days), AnalystOpinion.is_demo.is_(False))
        .group_by(AnalystOpinion.analyst)
    )
    return {analyst: (Decimal(str(total or 0)) / days).quantize(Decimal("0.0001")) for analyst, total in rows}
