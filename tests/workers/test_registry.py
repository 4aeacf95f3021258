"""A worker process imports only its own worker module; names are read without importing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from workers.registry import worker_module, worker_modules, worker_names

ROOT = Path(__file__).resolve().parents[2]


def test_worker_names_agree_with_the_imported_modules() -> None:
    assert worker_names() == {name: module.__name__ for name, module in worker_modules().items()}


def test_loading_one_worker_imports_no_other_worker_module() -> None:
    probe = (
        "import sys, json\n"
        "from workers.registry import worker_module\n"
        "worker_module('market')\n"
        "print(json.dumps(sorted(name for name in sys.modules if name.startswith(('workers.', 'core.ai')))))"
    )
    output = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    loaded = json.loads(output.stdout.strip().splitlines()[-1])
    assert "workers.market" in loaded
    assert not [name for name in loaded if name.startswith("core.ai")]
    assert not {"workers.analyst", "workers.executor", "workers.news", "workers.risk"} & set(loaded)


def test_an_unknown_worker_has_no_module() -> None:
    assert worker_module("no-such-worker") is None
