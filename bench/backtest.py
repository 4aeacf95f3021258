"""Benchmark: SMA crossover over 1,000,000 candles — engines side by side, then the command end to end.

Run: ``PYTHONPATH=$PWD python bench/backtest.py [--candles 1000000] [--backtrader-candles 100000]
[--big-candles 5000000] [--skip-engines]``

The candles are a seeded random walk (one instrument, 1-minute bars). The fast path and the
event loop run over all of them; backtrader runs over the first ``--backtrader-candles`` (it is
too slow for a million within a sensible time) and its rate is stated per candle. The trades of
all three over that same slice must be identical, and the fast path and the event loop must
agree over the full million. Compilation (numba, cached on disk) is warmed up before timing, and
the project's sources are byte-compiled first (``bench.timing.compile_sources``; ``--no-compile``
skips it), as an installed package has them: with ``PYTHONDONTWRITEBYTECODE=1`` every child process
would otherwise compile our modules again (about 60 ms of the command).

End to end, as the user meets it: the same candles are written to a CSV file and
``konsens backtest sma-cross --data FILE --engine fast --json`` runs as a child process (interpreter
start, imports, load, run, JSON). Every figure is a ratio against a baseline measured in the same
run, with CPU time beside the wall time, so a loaded machine can make no claim true or false:

- the command vs ``pandas.read_csv`` of the same file (the call alone, and a child process doing
  only that) and vs the kernel alone (``run_fast`` in this process);
- cold compilation: the command once with an empty ``NUMBA_CACHE_DIR`` (numba compiles the kernels, then
  the command builds their ahead-of-time module, ``core.backtest.native``; then the cache is warm);
- storing the run (``--store`` minus ``--no-store``, and the command's own ``timing.store_seconds``)
  as a share of the run; and the store step's CPU time as a share of the run's, measured in a child
  process doing what the command does (``STORE_PROBE``: a fresh interpreter, so the step pays its
  first-use costs as the command does);
- peak RSS of the child on ``--big-candles`` (5,000,000) candles.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.timing import compile_sources
from core.backtest.backtrader_bridge import run_backtrader
from core.backtest.compare import trades_match
from core.backtest.engine import BacktestConfig, run_event_loop, run_fast
from core.backtest.series import PriceSeries
from core.backtest.strategies import build_strategy

TARGET_FAST = 1_000_000
TARGET_EVENT = 200_000
TARGET_RATIO = 50
TARGET_END_TO_END = 500_000  # candles per second of the whole command
TARGET_READ_CSV_RATIO = 3.0  # the whole command within 3 × pandas.read_csv of the same file
TARGET_STORE_SHARE = 0.10  # storing the run costs at most 10 % of the run
TARGET_BIG_RSS = 1.5 * 1024**3  # 5M candles within 1.5 GB peak RSS
ROOT = Path(__file__).resolve().parents[1]


def random_walk(candles: int, seed: int = 7) -> PriceSeries:
    """Seeded 1-minute OHLCV random walk."""
    generator = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(generator.normal(0.0, 0.002, candles)))
    open_ = np.concatenate([[100.0], close[:-1]]) * np.exp(generator.normal(0.0, 0.0003, candles))
    spread = np.abs(generator.normal(0.0, 0.001, candles))
    high = np.maximum(open_, close) * (1.0 + spread)
    low = np.minimum(open_, close) * (1.0 - spread)
    index = pd.date_range("2020-01-01", periods=candles, freq="1min", tz="UTC")
    frame = pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": np.ones(candles)}, index=index
    )
    return PriceSeries.from_frame(frame, label="random walk", timeframe="1m")


def best_of(runs: int, work: object) -> tuple[float, object]:
    best = math.inf
    result = None
    for _ in range(runs):
        began = time.perf_counter()
        result = work()  # type: ignore[operator]
        best = min(best, time.perf_counter() - began)
    return best, result


def write_csv(bars: PriceSeries, path: Path) -> None:
    """Write the candles as a CSV file (``timestamp`` in ISO-8601 UTC, shortest round-trip floats)."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    table = pa.table(
        {
            "timestamp": pa.array(bars.index.as_unit("s").asi8, pa.int64()).cast(pa.timestamp("s", tz="UTC")),
            "open": bars.open,
            "high": bars.high,
            "low": bars.low,
            "close": bars.close,
            "volume": bars.volume,
        }
    )
    pa_csv.write_csv(table, path, write_options=pa_csv.WriteOptions(quoting_style="none"))


@dataclass(frozen=True)
class ChildRun:
    """One child process: wall seconds, CPU seconds (user + system), peak RSS in bytes, its stdout."""

    wall: float
    cpu: float
    peak_rss: int
    stdout: str


def run_child(arguments: list[str], environment: dict[str, str]) -> ChildRun:
    """Run a child process and measure it by its own resource usage (``wait4``: CPU and peak RSS)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        began = time.perf_counter()
        process = subprocess.Popen(arguments, stdout=out, stderr=err, env=environment, cwd=ROOT)
        _pid, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - began
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if process.returncode:
            raise SystemExit(f"{' '.join(arguments)} failed ({process.returncode}): {err.read().decode()[-2000:]}")
        return ChildRun(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024, out.read().decode())


def best_child(runs: int, arguments: list[str], environment: dict[str, str]) -> ChildRun:
    """The fastest of ``runs`` child runs (by wall time)."""
    return min((run_child(arguments, environment) for _ in range(runs)), key=lambda run: run.wall)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candles", type=int, default=1_000_000)
    parser.add_argument("--backtrader-candles", type=int, default=100_000)
    parser.add_argument("--fast", type=int, default=10)
    parser.add_argument("--slow", type=int, default=30)
    parser.add_argument("--big-candles", type=int, default=5_000_000, help="candles of the peak-RSS run (0: skip)")
    parser.add_argument("--runs", type=int, default=3, help="end-to-end runs per figure (the best is shown)")
    parser.add_argument("--skip-engines", action="store_true", help="only the end-to-end figures")
    parser.add_argument(
        "--no-compile", action="store_true", help="do not byte-compile the sources first (see compile_sources)"
    )
    arguments = parser.parse_args()
    compiled = None if arguments.no_compile else compile_sources()
    print(
        f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} "
        f"on {os.cpu_count()} CPUs; sources "
        + (f"byte-compiled first ({compiled:.1f} s)" if compiled is not None else "not compiled (--no-compile)")
    )
    engines_ok = True if arguments.skip_engines else engines(arguments)
    end_to_end_ok = end_to_end(arguments)
    return 0 if engines_ok and end_to_end_ok else 1


def engines(arguments: argparse.Namespace) -> bool:
    """The engines side by side in this process (fast path, event loop, backtrader)."""
    bars = random_walk(arguments.candles)
    strategy = build_strategy("sma-cross", {"fast": arguments.fast, "slow": arguments.slow})
    config = BacktestConfig(fee_bps=10.0)
    small = random_walk(2_000)
    run_fast(strategy, small, config)  # warm up the compiled kernels
    run_event_loop(strategy, small, config)

    fast_seconds, fast_log = best_of(3, lambda: run_fast(strategy, bars, config))
    event_seconds, event_log = best_of(2, lambda: run_event_loop(strategy, bars, config))
    full_match = trades_match(fast_log.trades, event_log.trades)  # type: ignore[attr-defined]

    slice_bars = bars.between(end=bars.index[min(arguments.backtrader_candles, len(bars)) - 1] + pd.Timedelta(1, "s"))
    backtrader_seconds, backtrader_log = best_of(1, lambda: run_backtrader(strategy, slice_bars, config))
    slice_event = run_event_loop(strategy, slice_bars, config)
    slice_fast = run_fast(strategy, slice_bars, config)
    slice_match = trades_match(slice_event.trades, backtrader_log.trades) and trades_match(  # type: ignore[attr-defined]
        slice_fast.trades,
        backtrader_log.trades,  # type: ignore[attr-defined]
    )

    fast_rate = len(bars) / fast_seconds
    event_rate = len(bars) / event_seconds
    backtrader_rate = len(slice_bars) / backtrader_seconds
    print(f"SMA crossover (fast={arguments.fast}, slow={arguments.slow}), fee 10 bp, one instrument")
    print(f"{'engine':<12} {'candles':>10} {'seconds':>9} {'candles/s':>12} {'trades':>8}")
    print(f"{'fast path':<12} {len(bars):>10,} {fast_seconds:>9.3f} {fast_rate:>12,.0f} {len(fast_log.trades):>8}")  # type: ignore[attr-defined]
    print(f"{'event loop':<12} {len(bars):>10,} {event_seconds:>9.3f} {event_rate:>12,.0f} {len(event_log.trades):>8}")  # type: ignore[attr-defined]
    print(
        f"{'backtrader':<12} {len(slice_bars):>10,} {backtrader_seconds:>9.3f} {backtrader_rate:>12,.0f} "
        f"{len(backtrader_log.trades):>8}  (timed on the first {len(slice_bars):,} candles; rate per candle)"  # type: ignore[attr-defined]
    )
    fast_ratio, event_ratio = fast_rate / backtrader_rate, event_rate / backtrader_rate
    print(f"fast path / backtrader:  {fast_ratio:,.0f} ×")
    print(f"event loop / backtrader: {event_ratio:,.0f} ×")
    print(
        f"identical trades: fast path = event loop over {len(bars):,} candles: {full_match}; "
        f"all three over {len(slice_bars):,} candles: {slice_match}"
    )
    checks = {
        f"fast path ≥ {TARGET_FAST:,} candles/s": fast_rate >= TARGET_FAST,
        f"event loop ≥ {TARGET_EVENT:,} candles/s": event_rate >= TARGET_EVENT,
        f"both ≥ {TARGET_RATIO} × backtrader": min(fast_ratio, event_ratio) >= TARGET_RATIO,
        "identical trades": full_match and slice_match,
    }
    for label, passed in checks.items():
        print(f"  [{'ok' if passed else 'MISSED'}] {label}")
    return all(checks.values())


# The store step as ``konsens backtest --engine fast --store`` runs it, in a fresh interpreter (argv: the
# CSV file, fast, slow): the run (kernel + results) and then the store step, each timed in wall and CPU
# seconds. Opening the database (with its migration check) is timed apart, as the command does. It
# mirrors the command's call (keep them alike); its heap is smaller than the command's (no Typer), so
# garbage collections during the step cost it a little less.
STORE_PROBE = """
import json, sys, time
from core.backtest.data import read_candle_csv
from core.backtest.engine import BacktestConfig
from core.backtest.results import run_backtest
from core.backtest.strategies import build_strategy
from core.backtest.trades import EngineKind
bars = read_candle_csv(sys.argv[1])
strategy = build_strategy("sma-cross", {"fast": int(sys.argv[2]), "slow": int(sys.argv[3])})
wall, cpu = time.perf_counter(), time.process_time()
result = run_backtest(strategy, bars, BacktestConfig(), engine=EngineKind.FAST)
run = (time.perf_counter() - wall, time.process_time() - cpu)
wall, cpu = time.perf_counter(), time.process_time()
from app.cli._common import open_database
from core.backtest.store import save_result
database = open_database(metrics=False)
opened = (time.perf_counter() - wall, time.process_time() - cpu)
wall, cpu = time.perf_counter(), time.process_time()
with database.engine.begin() as connection:
    save_result(connection, result)
store = (time.perf_counter() - wall, time.process_time() - cpu)
print(json.dumps({"run": run, "database": opened, "store": store, "orm": "sqlalchemy.orm" in sys.modules}))
"""


def cpu_seconds() -> float:
    """CPU seconds (user + system) of this process so far, all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def end_to_end(arguments: argparse.Namespace) -> bool:
    """``konsens backtest ... --engine fast --json`` as a child process, against baselines of the same run."""
    import pandas

    from core.backtest.data import read_candle_csv

    candles = arguments.candles
    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="konsens-bench-backtest-") as scratch:
        folder = Path(scratch)
        path = folder / f"random_walk_{candles}.csv"
        bars = random_walk(candles)
        write_csv(bars, path)
        environment = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "KONSENS_HOME": str(folder / "home"),
            "KONSENS_DATABASE_URL": f"sqlite:///{folder / 'bench.db'}",
        }
        command = [
            python,
            "-m",
            "app.cli",
            "backtest",
            "sma-cross",
            "--data",
            str(path),
            "--engine",
            "fast",
            "--param",
            f"fast={arguments.fast}",
            "--param",
            f"slow={arguments.slow}",
            "--json",
        ]
        size_mb = path.stat().st_size / 1e6

        # Cold: an empty numba cache directory, so every kernel compiles; after that run it is warm.
        cold = run_child([*command, "--no-store"], {**environment, "NUMBA_CACHE_DIR": str(folder / "numba")})
        warm = best_child(arguments.runs, [*command, "--no-store"], environment)
        stored = best_child(arguments.runs, [*command, "--store"], environment)
        probe = [python, "-c", STORE_PROBE, str(path), str(arguments.fast), str(arguments.slow)]
        probes = [json.loads(run_child(probe, environment).stdout) for _ in range(arguments.runs)]
        store_probe = min(probes, key=lambda report: report["store"][1])  # the run with the cheapest store step

        # Baselines of the same run: pandas.read_csv of the file (the call; and a process doing only it),
        # our reader in this process, and the kernel alone (run_fast on the bars read from the file).
        pandas_seconds, pandas_cpu = _timed(arguments.runs, lambda: pandas.read_csv(path))
        pandas_child = best_child(
            arguments.runs, [python, "-c", f"import pandas; pandas.read_csv({str(path)!r})"], environment
        )
        reader_seconds, reader_cpu = _timed(arguments.runs, lambda: read_candle_csv(path))
        loaded = read_candle_csv(path)
        strategy = build_strategy("sma-cross", {"fast": arguments.fast, "slow": arguments.slow})
        config = BacktestConfig(fee_bps=10.0)
        run_fast(strategy, loaded, config)
        kernel_seconds, kernel_cpu = _timed(arguments.runs, lambda: run_fast(strategy, loaded, config))

        warm_report = json.loads(warm.stdout)
        stored_report = json.loads(stored.stdout)
        timing = warm_report["timing"]
        store_seconds = stored_report["timing"]["store_seconds"]
        run_seconds = stored_report["timing"]["kernel_seconds"] + stored_report["timing"]["results_seconds"]
        rate = candles / warm.wall
        print()
        print(
            f"End to end: konsens backtest sma-cross --data FILE --engine fast --json ({candles:,} candles, "
            f"{size_mb:.0f} MB CSV, {len(warm_report['trades']):,} trades)"
        )
        print(f"{'what':<44} {'wall s':>8} {'CPU s':>8} {'peak RSS':>10}")
        rows = [
            ("command, cold numba cache (compiles)", cold),
            ("command, warm cache, --no-store", warm),
            ("command, warm cache, --store (SQLite)", stored),
            ("python -c 'pandas.read_csv(FILE)'", pandas_child),
        ]
        for label, run in rows:
            print(f"{label:<44} {run.wall:>8.3f} {run.cpu:>8.3f} {run.peak_rss / 2**20:>8.0f} MB")
        print(f"{'pandas.read_csv(FILE) call, in process':<44} {pandas_seconds:>8.3f} {pandas_cpu:>8.3f}")
        print(f"{'read_candle_csv(FILE) call, in process':<44} {reader_seconds:>8.3f} {reader_cpu:>8.3f}")
        print(f"{'kernel alone (run_fast), in process':<44} {kernel_seconds:>8.3f} {kernel_cpu:>8.3f}")
        print(
            f"the command's own timing: total {timing['total_seconds']:.3f} s = load {timing['load_seconds']:.3f} "
            f"+ kernel {timing['kernel_seconds']:.3f} + results {timing['results_seconds']:.3f} + the rest "
            "(interpreter start, Typer, settings, JSON; load holds the pandas import and the kernels' load — "
            "the ahead-of-time module, or numba and its cache where it is not built — which overlap the parse)"
        )
        read_ratio = warm.wall / pandas_seconds
        read_cpu_ratio = warm.cpu / pandas_cpu
        print(
            f"command / pandas.read_csv call: {read_ratio:.2f} × wall, {read_cpu_ratio:.2f} × CPU; "
            f"/ the read_csv process: {warm.wall / pandas_child.wall:.2f} × wall, "
            f"{warm.cpu / pandas_child.cpu:.2f} × CPU"
        )
        print(
            f"command / kernel alone: {warm.wall / kernel_seconds:.1f} × wall; "
            f"end to end {rate:,.0f} candles/s wall, {candles / warm.cpu:,.0f} candles per CPU second"
        )
        print(
            f"cold compile adds {cold.wall - warm.wall:.2f} s wall, {cold.cpu - warm.cpu:.2f} s CPU "
            f"({cold.wall / warm.wall:.2f} × the warm command)"
        )
        store_share = store_seconds / run_seconds
        print(
            f"storing the run: {store_seconds:.3f} s = {store_share:.1%} of the run's {run_seconds:.3f} s "
            f"(the command's timing, wall; opening the database before it "
            f"{stored_report['timing']['database_seconds']:.3f} s); the --store command is "
            f"{stored.wall / warm.wall:.2f} × the --no-store one in wall, {stored.cpu / warm.cpu:.2f} × in CPU"
        )
        (run_wall, run_cpu), (open_wall, open_cpu) = store_probe["run"], store_probe["database"]
        store_wall, store_cpu = store_probe["store"]
        print(
            f"store step in a fresh process (save_result on a Core connection as the command calls it; "
            f"best of {len(probes)} by CPU): {store_wall:.3f} s wall, "
            f"{store_cpu:.3f} s CPU = {store_cpu / run_cpu:.1%} of the run's CPU ({run_cpu:.3f} s CPU, "
            f"{run_wall:.3f} s wall); opening the database {open_wall:.3f} s wall, {open_cpu:.3f} s CPU; "
            f"ORM imported: {store_probe['orm']}"
        )

        checks = {
            f"end to end ≥ {TARGET_END_TO_END:,} candles/s (wall)": rate >= TARGET_END_TO_END,
            f"command ≤ {TARGET_READ_CSV_RATIO:g} × pandas.read_csv of the file (wall)": read_ratio
            <= TARGET_READ_CSV_RATIO,
            # issue 21 words it against a process doing only the read (interpreter start on both sides)
            f"command ≤ {TARGET_READ_CSV_RATIO:g} × the read_csv process (wall)": warm.wall / pandas_child.wall
            <= TARGET_READ_CSV_RATIO,
            f"storing ≤ {TARGET_STORE_SHARE:.0%} of the run": store_share <= TARGET_STORE_SHARE,
            f"storing ≤ {TARGET_STORE_SHARE:.0%} of the run (CPU, fresh process)": store_cpu / run_cpu
            <= TARGET_STORE_SHARE,
        }
        if arguments.big_candles:
            big_path = folder / f"random_walk_{arguments.big_candles}.csv"
            big_bars = random_walk(arguments.big_candles)
            write_csv(big_bars, big_path)
            del big_bars
            big = run_child([*command[:6], str(big_path), *command[7:], "--no-store"], environment)
            print(
                f"{arguments.big_candles:,} candles ({big_path.stat().st_size / 1e6:.0f} MB): {big.wall:.2f} s wall, "
                f"{big.cpu:.2f} s CPU, peak RSS {big.peak_rss / 2**30:.2f} GB, "
                f"{arguments.big_candles / big.wall:,.0f} candles/s"
            )
            checks[f"{arguments.big_candles:,} candles ≤ {TARGET_BIG_RSS / 2**30:.1f} GB peak RSS"] = (
                big.peak_rss <= TARGET_BIG_RSS
            )
    for label, passed in checks.items():
        print(f"  [{'ok' if passed else 'MISSED'}] {label}")
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    return all(checks.values())


def _timed(runs: int, work: object) -> tuple[float, float]:
    """Best wall seconds of ``runs`` calls, and the CPU seconds of that call."""
    best = (math.inf, math.inf)
    for _ in range(runs):
        began, began_cpu = time.perf_counter(), cpu_seconds()
        work()  # type: ignore[operator]
        elapsed = (time.perf_counter() - began, cpu_seconds() - began_cpu)
        best = min(best, elapsed)
    return best


if __name__ == "__main__":
    raise SystemExit(main())
