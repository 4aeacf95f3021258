"""Job-kind discovery is light: every kind is found, and listing, describing and (for the AI replay)
validating them imports none of the heavy modules their work needs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from core.jobs.kinds import job_kind_modules, job_kinds

ROOT = Path(__file__).resolve().parents[3]
HEAVY = ("numpy", "pandas", "numba", "optuna", "scipy", "pyarrow", "sqlalchemy", "core.lab.service", "core.ai.history")
EXPECTED_KINDS = {
    "ai.history",
    "backtest",
    "backtest-sweep",
    "replay",
    "lab.robustness",
    "lab.search",
    "lab.walk_forward",
}


def test_every_job_kinds_module_is_found_by_the_file_scan() -> None:
    on_disk = sorted(f"core.{path.parent.name}.job_kinds" for path in (ROOT / "core").glob("*/job_kinds.py"))
    assert job_kind_modules() == on_disk
    assert {"core.ai.job_kinds", "core.backtest.job_kinds", "core.lab.job_kinds"} <= set(on_disk)


def test_every_kind_is_found() -> None:
    assert set(job_kinds()) == EXPECTED_KINDS


def test_discovery_describe_and_the_ai_validation_import_no_heavy_module() -> None:
    script = textwrap.dedent(
        f"""
        import json, sys, time
        began = time.process_time()
        from core.jobs.kinds import job_kinds
        kinds = job_kinds()
        cpu = time.process_time() - began
        params = {{
            "ai.history": {{"symbol": "BTC/EUR", "since": "2025-01-01", "every_hours": 24}},
            "backtest": {{"strategy": "sma-cross", "data": "BTC/EUR"}},
            "backtest-sweep": {{"strategy": "sma-cross", "data": "BTC/EUR", "grid": {{"fast": [5, 10]}}}},
            "replay": {{"strategy": "sma-cross", "data": "BTC/EUR", "timeframe": "1h"}},
            "lab.robustness": {{"strategy": "sma-cross", "data": "BTC/EUR", "timeframe": "1h"}},
            "lab.search": {{"strategy": "sma-cross", "data": "BTC/EUR"}},
            "lab.walk_forward": {{"strategy": "sma-cross", "data": "BTC/EUR"}},
        }}
        labels = {{
            name: (kind.describe(params[name]) if kind.describe else kind.title) for name, kind in kinds.items()
        }}
        checked = kinds["ai.history"].validate(params["ai.history"])
        loaded = [name for name in {HEAVY!r} if name in sys.modules]
        seen = {{"kinds": sorted(kinds), "labels": labels, "checked": checked, "loaded": loaded, "cpu": cpu}}
        print(json.dumps(seen))
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(seen["kinds"]) == EXPECTED_KINDS
    assert seen["loaded"] == [], f"discovery imported {seen['loaded']}"
    assert seen["labels"]["lab.search"] == "sma-cross on BTC/EUR"
    assert seen["labels"]["backtest-sweep"].startswith("Sweep sma-cross over fast (2)")
    assert seen["checked"]["since"] == "2025-01-01T00:00:00+00:00"


def test_the_lab_kinds_run_their_work_from_job_runs() -> None:
    import core.lab.job_kinds as declared

    source = Path(declared.__file__).read_text(encoding="utf-8")
    top_level_imports = [line for line in source.splitlines() if line.startswith(("import ", "from "))]
    assert all("core.lab." not in line for line in top_level_imports), top_level_imports
    for kind in declared.JOB_KINDS:
        assert kind.run.__module__ == "core.lab.job_kinds"
