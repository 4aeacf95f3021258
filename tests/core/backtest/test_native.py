"""The kernels compiled ahead of time (``core.backtest.native``) give exactly what numba's JIT kernels give.

Slow: the build compiles the kernels with numba's ``pycc`` and the C compiler (tens of seconds).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from core.backtest import kernels, native
from core.backtest.engine import BacktestConfig, EngineKind, simulate_codes
from core.backtest.protections import Protections
from core.backtest.results import run_backtest
from core.backtest.strategies import build_strategy
from core.backtest.strategy import Sma
from tests.shared_data import shared_data_path

from .conftest import REAL_FILES, real_series

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ModuleType]:
    folder = tmp_path_factory.mktemp("native")
    environment = {**os.environ, "NUMBA_CACHE_DIR": str(folder), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "core.backtest.native_build"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    path = Path(done.stdout.strip().splitlines()[-1])
    assert path.parent == folder and path.name.startswith(native.module_name())
    module = native._import(path)
    assert module is not None
    return folder, module


@pytest.mark.parametrize("name", REAL_FILES)
def test_each_compiled_kernel_equals_the_jit_one(built: tuple[Path, ModuleType], name: str) -> None:
    _folder, module = built
    bars = real_series(name)
    for period in (2, 14, 50):
        jit_sma = kernels.sma(bars.close, period)
        assert np.array_equal(module.sma(bars.close, period), jit_sma, equal_nan=True)
        assert np.array_equal(
            module.rsi_wilder(bars.close, period), kernels.rsi_wilder(bars.close, period), equal_nan=True
        )
        assert np.array_equal(
            module.rolling_std(bars.close, jit_sma, period),
            kernels.rolling_std(bars.close, jit_sma, period),
            equal_nan=True,
        )
    codes = np.zeros(len(bars), dtype=np.int8)
    codes[::7], codes[3::11] = 1, -1
    configs = (
        BacktestConfig(fee_bps=10.0, slippage_bps=2.0, stop_loss=0.02, take_profit=0.05, trailing_stop=0.03),
        BacktestConfig(protections=Protections(daily_loss_limit=0.01, max_drawdown=0.2, stoploss_guard_count=2)),
    )
    for config in configs:
        jit = simulate_codes(bars, codes, config)
        native._loaded.update({"module": module, "simulate_long_only": module.simulate_long_only})
        try:
            compiled = simulate_codes(bars, codes, config)
        finally:
            native._loaded.clear()
            native._loaded["module"] = None
        for ours, theirs in zip(compiled, jit, strict=True):
            if isinstance(ours, np.ndarray):
                assert isinstance(theirs, np.ndarray)
                assert ours.dtype == theirs.dtype and np.array_equal(ours, theirs, equal_nan=True)
            else:
                assert ours == theirs


def test_a_fast_run_on_the_compiled_kernels_imports_no_numba_and_gives_the_same_result(
    built: tuple[Path, ModuleType],
) -> None:
    folder, _module = built
    path = shared_data_path("ohlcv", "ETH_BTC_5m.csv")
    bars = real_series("ETH_BTC_5m.csv")
    code = (
        "import json, sys\n"
        "from core.backtest import native\n"
        "from core.backtest.data import read_candle_csv\n"
        "from core.backtest.engine import BacktestConfig, EngineKind\n"
        "from core.backtest.results import run_backtest\n"
        "from core.backtest.strategies import build_strategy\n"
        f"bars = read_candle_csv({str(path)!r})\n"
        "config = BacktestConfig(stop_loss=0.03)\n"
        "for name in ('sma-cross', 'rsi-reversion', 'bollinger-breakout'):\n"
        "    result = run_backtest(build_strategy(name), bars, config, engine=EngineKind.FAST)\n"
        "    data = result.to_dict(); data.pop('seconds')\n"
        "    print(json.dumps(data, default=str))\n"
        "print(json.dumps({'built': native.is_built(), 'numba': 'numba' in sys.modules}))\n"
    )
    environment = {**os.environ, "NUMBA_CACHE_DIR": str(folder), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    *runs, state = done.stdout.strip().splitlines()
    assert json.loads(state) == {"built": True, "numba": False}
    for name, line in zip(("sma-cross", "rsi-reversion", "bollinger-breakout"), runs, strict=True):
        expected = run_backtest(build_strategy(name), bars, BacktestConfig(stop_loss=0.03), engine=EngineKind.FAST)
        data = expected.to_dict()
        data.pop("seconds")
        assert json.loads(line) == json.loads(json.dumps(data, default=str)), name


def test_without_the_module_the_jit_kernels_serve() -> None:
    assert native.load() is None  # the fixture of this folder: nothing built
    assert native.kernel("sma") is kernels.sma
    assert np.array_equal(
        Sma(3).compute(real_series("GOOG_1d.csv")), kernels.sma(real_series("GOOG_1d.csv").close, 3), equal_nan=True
    )
