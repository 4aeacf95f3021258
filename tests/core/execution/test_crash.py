"""The crash test (fewer orders than the bench): SIGKILL the executor subprocess at random moments."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.crash_test import run_crash_test


@pytest.mark.slow
def test_sigkilled_executor_loses_and_doubles_nothing(tmp_path: Path) -> None:
    result = run_crash_test(f"sqlite:///{tmp_path / 'crash.db'}", 60, seed=11, home=str(tmp_path / "home"))
    assert result.kills >= 1, result.report()
    assert result.unfinished == 0
    assert result.orders_with_several_fills == 0
    assert result.ledger_entries_of_fills == result.fills == result.statuses["filled"]
    assert abs(result.cash_difference) < 1e-6 and abs(result.btc_difference) < 1e-8
    assert result.audit_ok
    assert result.ok, result.report()
