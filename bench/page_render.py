"""Page render benchmark: server-side time of each dashboard page with a big database.

    PYTHONPATH=. python bench/page_render.py [--db /tmp/konsens-bench.db] [--rebuild]
        [--only risk,backtest] [--pages-only]

Builds (once; reused while it exists unless ``--rebuild``) a SQLite database with the demo data
plus 1,000,000 candles in total and 10,000 ledger rows:

- the demo seed (4 instruments, ~30,800 hourly candles, the paper account, the demo login);
- 8 extra instruments with 5 years of hourly candles each (350,400);
- one instrument with only 1-minute candles (the rest up to 1,000,000, ~430 days);
- an account "bench" with 10,000 ledger rows (a deposit and buys/sells over 5 years) and a year
  of hourly portfolio snapshots.

Then it renders every page in ``pages/`` with Streamlit's AppTest as the logged-in demo user, in
two ways, and prints both:

- **first open**: each page in its own fresh process after the server path (``app/main.py``
  renders the login form and its background preload finishes, as while a user logs in), then the
  page's first render (what a user sees on first opening that page in a running dashboard: the
  page's own imports and cold caches included) and the median of two warm renders;
- **one process**: the login page first (one-off process cost: Streamlit's first script run),
  then every page in turn, first render and the median of three warm renders.

AppTest scans the installed packages for Streamlit components on the first run of *every*
``AppTest`` object (≈ 0.4 s; a server does it once at start). The benchmark times that scan once
and shares the result with every ``AppTest``, so it is not charged to a page.

Then a few Charts variants, and the Charts page's first render in a fresh Python process (cold:
imports included). Targets: ≤ 1 s per page (first open and warm); Charts first render ≤ 2 s from
a cold process.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import time
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TOTAL_CANDLES = 1_000_000
LEDGER_ROWS = 10_000
EXTRA_INSTRUMENTS = 8
EXTRA_YEARS = 5
MINUTE_SYMBOL = "MIN/EUR"
BENCH_SOURCE = "bench"
TS_FORMAT = "%Y-%m-%d %H:%M:%S.%f"
PAGE_TARGET_SECONDS = 1.0
COLD_CHARTS_TARGET_SECONDS = 2.0


def _random_walk(count: int, start_price: float, seed: int, step_volatility: float) -> np.ndarray:
    generator = np.random.default_rng(seed)
    return start_price * np.exp(np.cumsum(generator.normal(0, step_volatility, count)))


def _insert_candles(
    connection: sqlite3.Connection,
    instrument_id: int,
    timeframe: str,
    end: datetime,
    count: int,
    seed: int,
    step: timedelta,
) -> None:
    closes = _random_walk(count, 100.0 + seed, seed, 0.004 if timeframe == "1h" else 0.0006)
    opens = np.concatenate([[closes[0]], closes[:-1]])
    spread = np.abs(np.random.default_rng(seed + 1).normal(0, 0.002, count)) * closes
    highs = np.maximum(opens, closes) + spread
    lows = np.minimum(opens, closes) - spread
    volumes = np.random.default_rng(seed + 2).gamma(2.0, 50.0, count)
    first = end - step * count
    rows = (
        (
            instrument_id,
            BENCH_SOURCE,
            timeframe,
            (first + step * index).strftime(TS_FORMAT),
            round(float(opens[index]), 6),
            round(float(highs[index]), 6),
            round(float(lows[index]), 6),
            round(float(closes[index]), 6),
            round(float(volumes[index]), 6),
        )
        for index in range(count)
    )
    connection.executemany(
        "INSERT INTO candles (instrument_id, source, timeframe, ts, open, high, low, close, volume) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )


def build_database(path: Path) -> None:
    """Create the benchmark database at ``path`` (demo seed + bulk candles + ledger + snapshots)."""
    from sqlalchemy import func, insert, select

    from core.db.engine import Database
    from core.db.migrate import upgrade_database
    from core.demo.seed import seed_demo
    from core.market.models import AssetClass, Candle, Instrument
    from core.portfolio.models import LedgerEntry, LedgerKind, LedgerOrigin, PortfolioSnapshot

    path.unlink(missing_ok=True)
    database = Database(f"sqlite:///{path}")
    upgrade_database(database)
    started = time.perf_counter()
    context = seed_demo(database)
    now = context.now
    print(f"  demo seed: {time.perf_counter() - started:.1f} s")
    with database.session() as session:
        instruments = []
        for index in range(EXTRA_INSTRUMENTS):
            instrument = Instrument(
                symbol=f"BENCH{index + 1}/EUR",
                base=f"BENCH{index + 1}",
                quote="EUR",
                asset_class=AssetClass.CRYPTO,
                name=f"Benchmark coin {index + 1}",
                default_source=BENCH_SOURCE,
            )
            session.add(instrument)
            instruments.append(instrument)
        minute = Instrument(
            symbol=MINUTE_SYMBOL,
            base="MIN",
            quote="EUR",
            asset_class=AssetClass.CRYPTO,
            name="Minute-data coin",
            default_source=BENCH_SOURCE,
        )
        session.add(minute)
        session.flush()
        extra_ids = [instrument.id for instrument in instruments]
        minute_id = minute.id
        existing = int(session.scalar(select(func.count()).select_from(Candle)) or 0)
    started = time.perf_counter()
    hourly = EXTRA_YEARS * 365 * 24
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=OFF")
    with connection:
        for offset, instrument_id in enumerate(extra_ids):
            _insert_candles(connection, instrument_id, "1h", now, hourly, 100 + offset, timedelta(hours=1))
        minutes = TOTAL_CANDLES - existing - hourly * len(extra_ids)
        _insert_candles(connection, minute_id, "1m", now, minutes, 999, timedelta(minutes=1))
    total = connection.execute("SELECT count(*) FROM candles").fetchone()[0]
    connection.close()
    print(f"  candles: {total:,} in the database ({time.perf_counter() - started:.1f} s to insert)")

    started = time.perf_counter()
    generator = np.random.default_rng(7)
    start = now - timedelta(days=EXTRA_YEARS * 365)
    rows = [
        {
            "ts": start,
            "account": "bench",
            "kind": LedgerKind.DEPOSIT,
            "origin": LedgerOrigin.MANUAL,
            "external_id": "bench-0",
            "received_asset": "EUR",
            "received_quantity": Decimal("10000000"),
            "value_eur": Decimal("10000000"),
        }
    ]
    held: dict[str, Decimal] = {}
    spacing = (now - start) / LEDGER_ROWS
    for index in range(1, LEDGER_ROWS):
        instrument_index = int(generator.integers(0, EXTRA_INSTRUMENTS))
        asset = f"BENCH{instrument_index + 1}"
        price = Decimal(str(round(float(generator.uniform(50, 150)), 2)))
        quantity = Decimal(str(round(float(generator.uniform(1, 10)), 4)))
        selling = held.get(asset, Decimal(0)) > quantity and generator.random() < 0.4
        notional = (price * quantity).quantize(Decimal("0.01"))
        fee = (notional * Decimal("0.0015")).quantize(Decimal("0.01"))
        held[asset] = held.get(asset, Decimal(0)) + (-quantity if selling else quantity)
        rows.append(
            {
                "ts": start + spacing * index,
                "account": "bench",
                "kind": LedgerKind.SELL if selling else LedgerKind.BUY,
                "origin": LedgerOrigin.MANUAL,
                "external_id": f"bench-{index}",
                "sent_asset": asset if selling else "EUR",
                "sent_quantity": quantity if selling else notional,
                "received_asset": "EUR" if selling else asset,
                "received_quantity": notional if selling else quantity,
                "fee_asset": "EUR",
                "fee_quantity": fee,
                "value_eur": notional,
                "instrument_id": extra_ids[instrument_index],
                "asset_class": "crypto",
            }
        )
    snapshots = [
        {
            "account": "bench",
            "ts": now - timedelta(hours=hour),
            "equity_eur": Decimal("10000000") + hour,
            "cash_eur": Decimal("5000000"),
            "positions_value_eur": Decimal("5000000") + hour,
            "is_demo": False,
        }
        for hour in range(365 * 24)
    ]
    with database.session() as session:
        keys = sorted({key for row in rows for key in row})
        session.execute(insert(LedgerEntry), [{key: row.get(key) for key in keys} for row in rows])
        session.execute(insert(PortfolioSnapshot), snapshots)
    with database.engine.begin() as connection_:
        connection_.exec_driver_sql("ANALYZE")
    database.dispose()
    print(f"  ledger: {len(rows):,} rows, snapshots: {len(snapshots):,} ({time.perf_counter() - started:.1f} s)")


_COMPONENTS = None  # Streamlit's component registry, scanned once (see the module docstring)


def component_scan_seconds() -> float:
    """Scan the installed packages for Streamlit components once; return the seconds it took."""
    global _COMPONENTS
    from streamlit.components.v2.component_manager import BidiComponentManager

    started = time.perf_counter()
    _COMPONENTS = BidiComponentManager()
    _COMPONENTS.discover_and_register_components(start_file_watching=False)
    return time.perf_counter() - started


def _app(script: Path, *, logged_in: bool = True):
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_file(str(script), default_timeout=120)
    if _COMPONENTS is not None and hasattr(app, "_bidi_component_manager"):
        app._bidi_component_manager = _COMPONENTS  # the server scans once, not per page
    if logged_in:
        app.session_state["authentication_status"] = True
        app.session_state["username"] = "demo"
    return app


def _logged_in(page: Path):
    return _app(page)


def _timed_run(app) -> float:
    started = time.perf_counter()
    app.run()
    elapsed = time.perf_counter() - started
    if app.exception:
        raise RuntimeError(app.exception[0].value)
    return elapsed


ONLY: set[str] = set()  # --only: page names to measure (all when empty)


def page_scripts() -> list[Path]:
    return [page for page in sorted((ROOT / "pages").glob("*.py")) if not ONLY or page.stem in ONLY]


def measure_login_page() -> float:
    """Render the login page (the first script run of this process); return its seconds."""
    return _timed_run(_app(ROOT / "app" / "main.py", logged_in=False))


def measure_empty_page() -> tuple[float, float]:
    """The baseline: median wall and CPU seconds of a warm AppTest render of an empty script."""
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_string("import streamlit as st\n", default_timeout=60)
    if _COMPONENTS is not None and hasattr(app, "_bidi_component_manager"):
        app._bidi_component_manager = _COMPONENTS
    app.run()
    walls, cpus = [], []
    for _ in range(5):
        cpu = time.process_time()
        walls.append(_timed_run(app))
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def measure_pages() -> list[tuple[str, float, float, float]]:
    """Return (page, first render s, median warm render s, its CPU s) for every page script, all in this process."""
    results = []
    for page in page_scripts():
        try:
            app = _logged_in(page)
            first = _timed_run(app)
            cpu_started = time.process_time()
            warm = statistics.median(_timed_run(app) for _ in range(3))
            warm_cpu = (time.process_time() - cpu_started) / 3
        except Exception as error:  # report and go on: one broken page must not hide the others
            print(f"  {page.stem}: ERROR {error}")
            continue
        results.append((page.stem, first, warm, warm_cpu))
    return results


def measure_chart_variants(database_url: str) -> list[tuple[str, float]]:
    """Return render times of Charts with other instruments, timeframes, ranges and all indicators."""
    from core.db.engine import get_database
    from core.market.query import instrument_by_symbol

    ids = {
        symbol: get_database().run(lambda s, symbol=symbol: instrument_by_symbol(s, symbol).id)  # type: ignore[union-attr,misc]
        for symbol in ("BTC/EUR", "BENCH1/EUR", MINUTE_SYMBOL)
    }
    variants = [
        ("BTC/EUR 1h 1Y, all indicators", ids["BTC/EUR"], "1h", "1Y", True),
        ("BENCH1/EUR 1d All (5 y of 1h)", ids["BENCH1/EUR"], "1d", "All", True),
        ("BENCH1/EUR 4h 1Y", ids["BENCH1/EUR"], "4h", "1Y", False),
        (f"{MINUTE_SYMBOL} 1h 3M (from 1m)", ids[MINUTE_SYMBOL], "1h", "3M", False),
        (f"{MINUTE_SYMBOL} 1d All (from 1m, capped)", ids[MINUTE_SYMBOL], "1d", "All", False),
    ]
    results = []
    for label, instrument_id, timeframe, range_name, all_indicators in variants:
        app = _logged_in(ROOT / "pages" / "charts.py")
        app.run()
        app.selectbox(key="chart_instrument").set_value(instrument_id)
        app.segmented_control(key="chart_timeframe").set_value(timeframe)
        app.segmented_control(key="chart_range").set_value(range_name)
        if all_indicators:
            app.multiselect(key="chart_indicators").set_value(["SMA", "EMA", "Bollinger Bands", "RSI", "MACD", "ATR"])
        first = _timed_run(app)
        results.append((label, first))
    return results


COLD_SCRIPT = """
import statistics, sys, time
started = time.perf_counter()
sys.path.insert(0, {root!r})
from streamlit.testing.v1 import AppTest
mode = {mode!r}
if mode == "page":
    app = AppTest.from_file({page!r}, default_timeout=120)
    app.session_state["authentication_status"] = True
    app.session_state["username"] = "demo"
elif mode == "cookie":  # python -m app.server imports the pages, then serves; a logged-in browser opens a page
    from app.ui.preload import preload_now
    preload_now()
    app = AppTest.from_file({main!r}, default_timeout=120)
    app.session_state["authentication_status"] = True
    app.session_state["username"] = "demo"
    app.session_state["name"] = "Demo trader"
    app.switch_page({page!r})
else:  # the server path: app/main.py shows the login form and starts the preload meanwhile
    app = AppTest.from_file({main!r}, default_timeout=120)
    app.run()
    from app.ui.preload import wait_for_preload
    wait_for_preload(120)
    app.session_state["authentication_status"] = True
    app.session_state["username"] = "demo"
    app.session_state["name"] = "Demo trader"
    app.switch_page({page!r})
ready = time.perf_counter()
cpu = time.process_time()
app.run()
done = time.perf_counter()
first_cpu = time.process_time() - cpu
assert not app.exception, app.exception
if {expect_chart!r}:
    assert app.get("plotly_chart"), "no chart"
warm = []
for _ in range({warm_runs!r}):
    again = time.perf_counter()
    app.run()
    warm.append(time.perf_counter() - again)
    assert not app.exception, app.exception
median = statistics.median(warm) if warm else 0.0
print(f"{{ready - started:.3f}} {{done - ready:.3f}} {{first_cpu:.3f}} {{median:.3f}}")
"""


def _fresh_process(
    database_url: str, home: str, mode: str, page: Path, *, expect_chart: bool = False, warm_runs: int = 0
) -> tuple[float, float, float, float]:
    env = {**os.environ, "KONSENS_DATABASE_URL": database_url, "KONSENS_HOME": home, "PYTHONPATH": str(ROOT)}
    script = COLD_SCRIPT.format(
        root=str(ROOT),
        page=str(page),
        main=str(ROOT / "app" / "main.py"),
        mode=mode,
        expect_chart=expect_chart,
        warm_runs=warm_runs,
    )
    output = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=False)
    if output.returncode != 0:
        raise RuntimeError(output.stderr.strip().splitlines()[-1] if output.stderr.strip() else "failed")
    before, rendered, cpu, warm = (float(value) for value in output.stdout.split()[-4:])
    return before, rendered, cpu, warm


def measure_first_open(database_url: str, home: str) -> list[tuple[str, float, float, float]]:
    """Return (page, first render s, its CPU s, median warm s): each page in a fresh server-path process."""
    results = []
    for page in page_scripts():
        try:
            _before, first, cpu, warm = _fresh_process(database_url, home, "server", page, warm_runs=2)
        except Exception as error:
            print(f"  {page.stem}: ERROR {error}")
            continue
        results.append((page.stem, first, cpu, warm))
    return results


def measure_cold_charts(database_url: str, home: str, mode: str) -> tuple[float, float, float]:
    """Return (seconds before the timed run, Charts first render wall s, its CPU s) in a fresh process.

    ``mode`` "server": as after ``python -m app.server``: the login page rendered (the preload
    done), then the user's first page is Charts. "cookie": the server's preload done, then a
    browser that is still logged in (cookie) opens Charts, no login page; the launcher imports the
    pages before it opens its port, so no browser can come earlier. "page": the Charts script
    alone, nothing imported (a plain ``streamlit run app/main.py`` has no preload before the first
    session: the worst case, not how Konsens starts its server).
    """
    before, rendered, cpu, _warm = _fresh_process(
        database_url, home, mode, ROOT / "pages" / "charts.py", expect_chart=True
    )
    return before, rendered, cpu


def _load() -> str:
    one, five, _fifteen = os.getloadavg()
    return f"load {one:.2f} (1 min) {five:.2f} (5 min) on {os.cpu_count()} cores"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default="/tmp/konsens-bench-pages.db", help="SQLite file to build/reuse")
    parser.add_argument("--rebuild", action="store_true", help="build the database even if the file exists")
    parser.add_argument("--only", default="", help="comma-separated page names to measure (default: all)")
    parser.add_argument("--pages-only", action="store_true", help="skip the Charts variants and cold Charts")
    args = parser.parse_args()
    ONLY.update(name for name in args.only.split(",") if name)
    path = Path(args.db)
    database_url = f"sqlite:///{path}"
    home = str(path.with_suffix(".home"))
    os.environ["KONSENS_DATABASE_URL"] = database_url
    os.environ["KONSENS_HOME"] = home
    import logging

    logging.basicConfig(level=logging.WARNING)
    logging.disable(logging.WARNING)  # AppTest's "missing ScriptRunContext" and deprecation notes; errors still show
    if args.rebuild or not path.exists():
        print(f"Building {path} ...")
        build_database(path)
    from core.db.engine import get_database

    database = get_database()
    with database.engine.connect() as connection:
        candles = connection.exec_driver_sql("SELECT count(*) FROM candles").scalar()
        ledger = connection.exec_driver_sql("SELECT count(*) FROM ledger_entries").scalar()
    print(f"Database: {path} ({path.stat().st_size / 1e6:.0f} MB): {candles:,} candles, {ledger:,} ledger rows")

    print(f"Machine: {_load()}")
    print(
        f"\nFirst open of each page (fresh process per page: login page + preload, then the page; "
        f"target ≤ {PAGE_TARGET_SECONDS:.1f} s)"
    )
    print(f"  {'page':<12} {'first':>8} {'(CPU)':>8} {'warm':>8}")
    for name, first, cpu, warm in measure_first_open(database_url, home):
        flag = "ok" if max(first, warm) <= PAGE_TARGET_SECONDS else "SLOW"
        print(f"  {name:<12} {first:>7.3f}s {cpu:>7.3f}s {warm:>7.3f}s  {flag}")

    from app.ui.preload import preload

    print(f"\nOne process ({_load()})")
    print(f"  Streamlit component scan (once per server start): {component_scan_seconds():.2f} s")
    print(f"  Login page (first script run of the process): {measure_login_page():.2f} s")
    print(f"  Preload (what the server does while the login form shows): {preload():.2f} s")
    empty_wall, empty_cpu = measure_empty_page()
    print(f"  Baseline, an empty script (warm AppTest render): {empty_wall:.3f} s, CPU {empty_cpu:.3f} s")
    print(
        f"  {'page':<12} {'first':>8} {'warm':>8} {'warm CPU':>9} {'x empty (CPU)':>14}"
        "   (pages in turn: each first render follows the others)"
    )
    pages = measure_pages()
    for name, first, warm, warm_cpu in pages:
        flag = "ok" if max(first, warm) <= PAGE_TARGET_SECONDS else "SLOW"
        times_empty = warm_cpu / max(empty_cpu, 1e-9)
        print(f"  {name:<12} {first:>7.3f}s {warm:>7.3f}s {warm_cpu:>8.3f}s {times_empty:>13.1f}x  {flag}")

    if args.pages_only:
        print(f"\n{_load()}")
        return 0
    print("\nCharts variants (first render after changing the pickers)")
    for label, seconds in measure_chart_variants(database_url):
        print(f"  {label:<40} {seconds:>7.3f}s  {'ok' if seconds <= PAGE_TARGET_SECONDS else 'SLOW'}")

    print(
        f"\nCharts first render from a cold process (target ≤ {COLD_CHARTS_TARGET_SECONDS:.1f} s; the server runs as"
        " python -m app.server, which imports the pages before it serves)"
    )
    for mode, label in (
        ("server", "server start, login page, then Charts"),
        ("cookie", "server start, logged-in browser: Charts"),
        ("page", "Charts alone, no preload (plain streamlit run)"),
    ):
        before, rendered, cpu = measure_cold_charts(database_url, home, mode)
        flag = "ok" if rendered <= COLD_CHARTS_TARGET_SECONDS else "SLOW"
        print(f"  {label:<46} {rendered:>7.3f}s (CPU {cpu:.3f}s; {before:.1f}s before)  {flag}")
    print(f"\n{_load()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
