"""The fast path's kernels compiled ahead of time into one extension module, loaded without numba.

A backtest process that loads numba's cached kernels pays for importing numba and for numba
registering all its typing and lowering tables before it loads the first cached function: more
than half a second of a one-second run. numba's ahead-of-time compiler (``numba.pycc``) builds the
very same kernels — the Python functions of :mod:`core.backtest.kernels`, with the signatures a real
run compiles (read from the JIT dispatchers after a warm-up) — into a plain extension module that
imports in a millisecond and needs no numba at run time.

:func:`kernel` hands out the compiled function when that module is built, else numba's JIT kernel
(so nothing changes where it cannot be built: no C compiler, or a numba without ``pycc``). The
module's name carries a digest of ``kernels.py``, ``kernel_codes.py`` and the numba, numpy and
Python versions, so a changed kernel or an upgrade never loads a stale module. It lives in
``$NUMBA_CACHE_DIR`` when set, else beside numba's own cache in this package's ``__pycache__``.
``konsens backtest --engine fast`` builds it after its first run (``python -m core.backtest.native_build``,
:mod:`core.backtest.native_build`, which imports the engine: this module imports none of it),
which is why that first run is the slow, cold one.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import logging
import os
import sys
import sysconfig
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

logger = logging.getLogger(__name__)

# The kernels the fast path calls (indicators of the built-in strategies, the simulator).
KERNELS = ("sma", "rsi_wilder", "rolling_std", "simulate_long_only")
_HERE = Path(__file__).resolve().parent
_SOURCES = (_HERE / "kernels.py", _HERE / "kernel_codes.py")
_loaded: dict[str, Any] = {}


def _version(distribution: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return "none"


def module_name() -> str:
    """The compiled module's name: a digest of the kernels' source and the numba, numpy and Python versions."""
    digest = hashlib.sha256()
    for source in _SOURCES:
        digest.update(source.read_bytes())
    for part in (_version("numba"), _version("numpy"), sys.version, sysconfig.get_platform()):
        digest.update(part.encode())
    return f"konsens_kernels_{digest.hexdigest()[:16]}"


def cache_dir() -> Path:
    """Where the compiled module lives: ``$NUMBA_CACHE_DIR`` if set, else this package's ``__pycache__``."""
    configured = os.environ.get("NUMBA_CACHE_DIR")
    return Path(configured) if configured else _HERE / "__pycache__"


def module_path() -> Path:
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    return cache_dir() / f"{module_name()}{suffix}"


def load() -> ModuleType | None:
    """The compiled module if it is built for these sources and versions, else None (looked up once)."""
    if "module" not in _loaded:
        _loaded["module"] = _import(module_path())
    module: ModuleType | None = _loaded["module"]
    return module


def _import(path: Path) -> ModuleType | None:
    if not path.is_file():
        return None
    name = path.name.split(".", 1)[0]
    try:
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            return None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    except (ImportError, OSError) as error:  # e.g. built for another machine: the JIT kernels serve
        logger.warning("compiled kernels %s not loaded: %s", path, error)
        return None
    if not all(hasattr(module, name) for name in KERNELS):
        return None
    return module


def kernel(name: str) -> Callable[..., Any]:
    """The kernel ``name`` of :mod:`core.backtest.kernels`: compiled ahead of time if built, else numba's JIT one."""
    found = _loaded.get(name)
    if found is None:
        module = load()
        if module is not None:
            found = getattr(module, name)
        else:
            from core.backtest import kernels

            found = getattr(kernels, name)
        _loaded[name] = found
    return found


def is_built() -> bool:
    """True when the compiled module is loaded (the kernels run without numba)."""
    return load() is not None


def can_build() -> bool:
    """True when the module's folder is writable (a read-only install keeps the JIT kernels)."""
    folder = cache_dir()
    while not folder.exists():
        folder = folder.parent
    return os.access(folder, os.W_OK)
