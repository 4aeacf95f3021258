"""Build the fast path's ahead-of-time kernel module (:mod:`core.backtest.native`).

``python -m core.backtest.native_build`` builds it and prints its path.

Apart from :mod:`core.backtest.native` because the build warms the engine up to read the argument
types a real run passes, and the engine itself loads its kernels through ``native``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from core.backtest import native


def build() -> Path:
    """Compile :data:`native.KERNELS` ahead of time into :func:`module_path` (replacing it atomically); return the path.

    The signatures are the JIT dispatchers' after a warm-up of every built-in strategy with and without
    protections, i.e. exactly the argument types a real run passes. Needs numba's ``pycc`` and a C compiler.
    """
    import warnings

    from numba.core.errors import NumbaPendingDeprecationWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NumbaPendingDeprecationWarning)
        from numba.pycc import CC

    from core.backtest import kernels
    from core.backtest.engine import BacktestConfig, warm_up
    from core.backtest.protections import Protections
    from core.backtest.strategies import build_strategy

    native._loaded.clear()
    native._loaded["module"] = None  # the warm-up compiles the JIT kernels, whose signatures are exported
    for name in ("sma-cross", "rsi-reversion", "bollinger-breakout"):
        for config in (BacktestConfig(), BacktestConfig(protections=Protections(max_drawdown=0.5))):
            warm_up(build_strategy(name, {}), config)
    target = native.module_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    name = native.module_name()
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".build-") as scratch:
        compiler = CC(name)
        compiler.output_dir = scratch
        compiler.verbose = False
        for kernel_name in native.KERNELS:
            dispatcher = getattr(kernels, kernel_name)
            signatures = dispatcher.nopython_signatures
            if len(signatures) != 1:  # a run passes one set of argument types (``series.read_only``)
                raise RuntimeError(f"{kernel_name} has {len(signatures)} compiled signatures, expected one")
            compiler.export(kernel_name, signatures[0])(dispatcher.py_func)
        compiler.compile()
        built = next(Path(scratch).glob(f"{name}*"))
        os.replace(built, target)
    native._loaded.clear()
    return target


if __name__ == "__main__":  # ``python -m core.backtest.native_build``: build the module, print its path
    print(build())
