"""Find the workers: every module ``workers/<name>.py`` that defines ``WORKER_NAME`` and ``build_worker``.

``build_worker(database, *, interval_seconds=None) -> WorkerLoop`` returns a ready loop. The
``konsens worker NAME`` command and ``konsens up`` both use this registry, so a new worker is
one new module.

A worker process imports only its own module (``worker_module``): the names come from the
modules' source (``worker_names``), so the market worker never loads the AI context, the
analyst never the executor, and so on. ``worker_modules`` imports them all (tests, listings).
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path
from types import ModuleType

import workers

_NOT_WORKERS = {"workers.runtime", "workers.registry"}


def _module_names() -> list[str]:
    return sorted(
        info.name for info in pkgutil.iter_modules(workers.__path__, prefix="workers.") if info.name not in _NOT_WORKERS
    )


def _declared_name(module_name: str) -> str | None:
    """The literal ``WORKER_NAME`` of a module read from its source, or None if it is not a literal."""
    path = Path(workers.__path__[0]) / f"{module_name.rsplit('.', 1)[1]}.py"
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError):
        return None
    has_builder = any(isinstance(node, ast.FunctionDef) and node.name == "build_worker" for node in tree.body)
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "WORKER_NAME" for target in node.targets
        ):
            if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                return node.value.value if has_builder else ""
            return None
    return ""  # no WORKER_NAME: not a worker


def worker_names() -> dict[str, str]:
    """Return ``{worker name: module name}`` without importing worker modules (where the name is a literal)."""
    found: dict[str, str] = {}
    for module_name in _module_names():
        name = _declared_name(module_name)
        if name is None:  # a computed name: import to know it
            module = importlib.import_module(module_name)
            name = getattr(module, "WORKER_NAME", None) if hasattr(module, "build_worker") else None
        if name:
            found[name] = module_name
    return dict(sorted(found.items()))


def worker_module(name: str) -> ModuleType | None:
    """Import and return the module of worker ``name`` only, or None if there is no such worker."""
    same_name = f"workers.{name}"
    if same_name in _module_names() and _declared_name(same_name) in (name, None):
        module = importlib.import_module(same_name)  # the usual case: workers/<name>.py
        if getattr(module, "WORKER_NAME", None) == name and hasattr(module, "build_worker"):
            return module
    module_name = worker_names().get(name)
    if module_name is None:
        return None
    module = importlib.import_module(module_name)
    return module if getattr(module, "WORKER_NAME", None) == name and hasattr(module, "build_worker") else None


def worker_modules() -> dict[str, ModuleType]:
    """Return ``{worker name: module}`` for every worker module (imports them all)."""
    found: dict[str, ModuleType] = {}
    for module_name in _module_names():
        module = importlib.import_module(module_name)
        name = getattr(module, "WORKER_NAME", None)
        if name and hasattr(module, "build_worker"):
            found[name] = module
    return dict(sorted(found.items()))
