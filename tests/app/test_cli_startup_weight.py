"""What ``konsens order list`` and ``konsens --help`` import: none of the heavy libraries (issue 17).

Not a timing test: it lists the modules a real run leaves in ``sys.modules``. ``order list`` reads
through SQLAlchemy Core, so not even the ORM is imported, nor the metrics, the retry library or
the areas' settings modules (nothing but the core settings is configured here).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from core.db.engine import Database

ROOT = Path(__file__).resolve().parents[2]
HEAVY = (
    "pandas",
    "numpy",
    "numba",
    "ccxt",
    "plotly",
    "streamlit",
    "openai",
    "anthropic",
    "optuna",
    "alembic",
    "rich",
    "prometheus_client",
    "tenacity",
    "cryptography",
    "opentelemetry",
)
NOT_FOR_A_LIST = ("sqlalchemy.orm", "core.execution.models", "core.market.models", "core.risk.settings")

PROBE = """
import contextlib, io, json, sys
from app.cli import cli
from typer.main import get_command
out = io.StringIO()
with contextlib.redirect_stdout(out):
    try:
        get_command(cli).main(sys.argv[1:], prog_name="konsens", standalone_mode=False)
    except SystemExit:
        pass
print(json.dumps({"output": out.getvalue(), "modules": sorted(sys.modules)}))
"""


def _run(*args: str, home: Path) -> tuple[str, set[str]]:
    # Only the core settings configured (the database, the data folder), as on a plain install.
    env = {name: value for name, value in os.environ.items() if not name.startswith("KONSENS_")}
    if "KONSENS_DATABASE_URL" in os.environ:
        env["KONSENS_DATABASE_URL"] = os.environ["KONSENS_DATABASE_URL"]
    env["KONSENS_HOME"] = str(home)
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    return answer["output"], set(answer["modules"])


def _heavy(modules: set[str]) -> list[str]:
    return sorted(name for name in modules if name.split(".")[0] in HEAVY)


def test_order_list_imports_no_heavy_module_and_no_orm(configured_sqlite: Database, tmp_path: Path) -> None:
    output, modules = _run("order", "list", "--all", home=tmp_path)
    assert output.strip() == "no orders"
    assert _heavy(modules) == []
    assert [name for name in NOT_FOR_A_LIST if name in modules] == []
    assert "app.cli.trading" in modules and "core.execution.order_rows" in modules


def test_help_imports_no_heavy_module_and_no_database_layer(tmp_path: Path) -> None:
    output, modules = _run("--help", home=tmp_path)
    assert "order" in output and "backtest" in output
    # Typer draws its help with rich (the panels of `konsens --help`): the one heavy import it needs.
    assert _heavy(modules - {name for name in modules if name.split(".")[0] == "rich"}) == []
    assert not [name for name in modules if name.split(".")[0] == "sqlalchemy" or name.startswith("core.db")]
