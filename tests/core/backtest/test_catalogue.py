"""The cheap strategy catalogue: the same names and parameters as the registry, without importing it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from core.backtest import catalogue
from core.backtest.strategies import STRATEGIES, register_strategy
from core.backtest.strategy import Signal, Strategy

ROOT = Path(__file__).resolve().parents[3]


def test_the_scanned_catalogue_is_the_registry_of_shipped_strategies() -> None:
    from core.backtest.strategies import BUILT_IN_STRATEGIES

    assert catalogue.scanned_strategies() == {name: tuple(STRATEGIES[name].parameters) for name in BUILT_IN_STRATEGIES}


def test_a_loaded_registry_is_the_answer_with_the_strategies_registered_in_this_process() -> None:
    class Extra(Strategy):
        name = "catalogue-extra"
        title = "Extra"

        def on_bar(self, bar: Any) -> Signal | None:
            return None

    register_strategy(Extra)
    try:
        assert "catalogue-extra" in catalogue.strategy_parameters()
    finally:
        STRATEGIES.pop("catalogue-extra")
    assert "catalogue-extra" not in catalogue.strategy_parameters()


def test_a_source_the_scan_cannot_read_falls_back_to_the_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    def unreadable() -> dict[str, object]:
        raise catalogue._NotStatic("computed")

    import core.backtest

    # A fresh import of the registry, undone afterwards (the module and the package attribute).
    monkeypatch.delitem(sys.modules, catalogue.REGISTRY_MODULE)
    monkeypatch.delattr(core.backtest, "strategies")
    monkeypatch.setattr(catalogue, "scanned_strategies", unreadable)
    found = catalogue.strategy_parameters()  # imports the registry again (a fresh module object)
    assert set(found) == set(sys.modules[catalogue.REGISTRY_MODULE].STRATEGIES)


def test_submitting_backtest_jobs_imports_neither_pandas_nor_numba(tmp_path: Path) -> None:
    from core.db.engine import Database
    from core.db.migrate import upgrade_database

    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    migrated = Database(url, instrument=False)
    upgrade_database(migrated)
    migrated.dispose()
    script = textwrap.dedent(
        f"""
        import json, sys
        from core.db.engine import Database
        from core.jobs.service import JobRefused, submit_job
        database = Database({url!r}, instrument=False)
        submitted, refused = [], []
        with database.session() as session:
            submitted.append(submit_job(session, "backtest", {{"strategy": "sma-cross", "data": "BTC/EUR",
                "parameters": {{"fast": 5, "slow": 40}}}}).params["parameters"])
            submitted.append(submit_job(session, "backtest-sweep", {{"strategy": "rsi-reversion", "data": "BTC/EUR",
                "grid": {{"period": "10:20:5"}}}}).params["grid"])
            replay = submit_job(session, "replay", {{"strategy": "sma-cross", "data": "BTC/EUR"}})
            submitted.append(replay.params["strategy"])
        try:
            with database.session() as session:
                submit_job(session, "backtest", {{"strategy": "nope", "data": "BTC/EUR"}})
        except JobRefused as error:
            refused.append(str(error))
        loaded = sorted(name for name in ("pandas", "numba", "core.backtest.strategies") if name in sys.modules)
        print(json.dumps({{"submitted": submitted, "refused": refused, "loaded": loaded}}))
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "KONSENS_HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["loaded"] == []
    assert seen["submitted"] == [{"fast": 5, "slow": 40}, {"period": [10, 15, 20]}, "sma-cross"]
    names = ", ".join(sorted(STRATEGIES))
    assert seen["refused"] == [f"Backtest: unknown strategy 'nope' (choose from {names})"]
