"""The Risk page's snapshot: state, exposure and limit use, with the account's exposure read once."""

from __future__ import annotations

from decimal import Decimal

import pytest

import core.risk.service as service
from core.risk.exposure import AccountExposure, account_exposure
from core.risk.service import limit_usage, risk_snapshot
from tests.core.risk.conftest import ACCOUNT, NOW, RiskWorld


def test_the_snapshot_reads_the_exposure_once_and_uses_it_for_the_limits(
    world: RiskWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[str] = []

    def counted(session: object, account: str) -> AccountExposure:
        reads.append(account)
        return account_exposure(session, account)  # type: ignore[arg-type]

    monkeypatch.setattr(service, "account_exposure", counted)
    with world.database.session() as session:
        snapshot = risk_snapshot(session, ACCOUNT, now=NOW)
    assert reads == [ACCOUNT]
    # 0.2 BTC at 50,000 of € 60,000 equity
    assert snapshot.exposure.equity_eur == Decimal("60000.00")
    assert snapshot.exposure.gross_exposure_eur == Decimal("10000.00")
    by_rule = {usage.rule: usage for usage in snapshot.limits}
    assert by_rule["max_total_exposure"].current.startswith("16.7%")
    assert by_rule["max_instrument_exposure"].current == "16.7% (BTC/EUR)"


def test_the_limits_with_a_given_exposure_equal_the_limits_read_alone(world: RiskWorld) -> None:
    with world.database.session() as session:
        alone = limit_usage(session, ACCOUNT, now=NOW)
        given = limit_usage(session, ACCOUNT, now=NOW, exposure=account_exposure(session, ACCOUNT))
        snapshot = risk_snapshot(session, ACCOUNT, now=NOW)
    assert alone == given == snapshot.limits
    assert len(alone) == 8


def test_the_limits_use_the_exposure_they_are_given(world: RiskWorld) -> None:
    """A given exposure is not read again: the limits show what it says (here: no positions)."""
    with world.database.session() as session:
        empty = AccountExposure(account=ACCOUNT, cash_eur=Decimal("60000.00"), positions=())
        usages = {usage.rule: usage for usage in limit_usage(session, ACCOUNT, now=NOW, exposure=empty)}
    assert usages["max_instrument_exposure"].current == "no positions"
    assert usages["max_total_exposure"].used == 0.0
