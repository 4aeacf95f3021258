"""Test doubles for the executor's collaborators."""

from __future__ import annotations

from sqlalchemy.orm import Session

from core.execution.pretrade import OrderIntent, PreTradeVerdict


class AllowEveryOrder:
    """Stands in for the risk guard in tests of the execution path itself (the guard is tested in tests/core/risk).

    The executor denies every order when it has no check at all, so tests that are not about risk
    replace the guard explicitly with this one.
    """

    name = "test-allow-all"

    def check(self, session: Session, intent: OrderIntent) -> PreTradeVerdict:
        return PreTradeVerdict.allow()
