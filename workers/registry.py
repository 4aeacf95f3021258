"""Find the workers: every module ``workers/<name>.py`` that defines ``WORKER_NAME`` and ``build_worker``.

``build_worker(database, *, interval_seconds=None) -> WorkerLoop`` returns a ready loop. The
``konsens worker NAME`` command and ``konsens up`` both use this registry, so a new worker is
one new module.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

import workers

_NOT_WORKERS = {"workers.runtime", "workers.registry"}


def worker_modules() -> dict[str, ModuleType]:
    """Return ``{worker name: module}`` for every worker module."""
    found: dict[str, ModuleType] = {}
    for info in pkgutil.iter_modules(workers.__path__, prefix="workers."):
        if info.name in _NOT_WORKERS:
            continue
        module = importlib.import_module(info.name)
        name = getattr(module, "WORKER_NAME", None)
        if name and hasattr(module, "build_worker"):
            found[name] = module
    return dict(sorted(found.items()))
