"""The import graph: no cycles, core never imports upwards, and only the seeding commands load the demo seeder."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("core", "app", "workers")
SEEDER = "core.demo.seed"
# The seeder itself, the area seeders it runs, and the command that seeds: `konsens demo` (which
# `konsens up` runs as a child process into an empty database). Everything else must not load it.
MAY_IMPORT_SEEDER = {"core.demo.seed", "app.cli.demo"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))}


def _imports(path: Path) -> set[str]:
    """Every module named by an import anywhere in the file (also inside functions)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {
        name: {other for other in _imports(path) if other in modules and other != name}
        for name, path in modules.items()
    }


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_cycle_through_a_lazy_import() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles_between_modules_even_through_imports_inside_functions() -> None:
    assert _cycles(_graph()) == []


def test_core_imports_neither_workers_nor_app_nor_streamlit() -> None:
    offenders = {
        (name, other)
        for name, path in _modules().items()
        if name.startswith("core")
        for other in _imports(path)
        if other.split(".")[0] in {"workers", "app", "pages", "streamlit"}
    }
    assert offenders == set()


def test_only_the_seeding_commands_import_the_demo_seeder_or_an_area_seeder() -> None:
    sources = dict(_modules())
    sources.update({f"pages.{path.stem}": path for path in (ROOT / "pages").glob("*.py")})
    seeder_importers = {name for name, path in sources.items() if SEEDER in _imports(path)}
    area_seeder_importers = {
        name for name, path in sources.items() if any(other.endswith(".demo_data") for other in _imports(path))
    }
    assert seeder_importers <= MAY_IMPORT_SEEDER
    assert area_seeder_importers <= {SEEDER}  # it finds them with pkgutil; nothing names one


def _words_printed_by(code: str) -> list[str]:
    """Run ``code`` in a fresh interpreter of this checkout (nothing imported yet); return its output's words."""
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, timeout=120
    )
    return result.stdout.split()


def test_starting_the_cli_the_workers_and_the_dashboard_helpers_does_not_load_the_seeder() -> None:
    code = (
        "import importlib, pkgutil, sys\n"
        "import app.cli, app.ui.auth, app.ui.context, workers.registry\n"
        "for name in workers.registry.worker_modules(): importlib.import_module('workers.' + name)\n"
        "print('core.demo.seed' in sys.modules, 'core.demo.state' in sys.modules)\n"
    )
    assert _words_printed_by(code) == ["False", "True"]


def test_the_dashboard_helpers_load_no_outside_client_library() -> None:
    """The pages read the database; the clients of outside services are the workers' (yfinance alone: 0.3–0.7 s).

    Seen: the Charts page's fundamentals panel loaded yfinance and pycoingecko through the adapters'
    module, for a dataclass; the Settings page's news section loaded praw and tweepy through the collector.
    """
    code = (
        "import importlib, pkgutil, sys\n"
        "import app.ui, app.settings_sections\n"
        "for package in (app.ui, app.settings_sections):\n"
        "    for info in pkgutil.walk_packages(package.__path__, prefix=package.__name__ + '.'):\n"
        "        importlib.import_module(info.name)\n"
        "clients = ('yfinance', 'pycoingecko', 'ccxt', 'praw', 'tweepy', 'openai', 'ollama', 'backtrader')\n"
        "print(' '.join(name for name in clients if name in sys.modules) or 'none')\n"
    )
    assert _words_printed_by(code) == ["none"]
