"""Benchmark: where the CPU of the tax report on 100,000 ledger rows goes (companion of ``tax_report.py``).

    PYTHONPATH=$PWD python bench/tax_breakdown.py [--rows 100000]

The same synthetic year as ``bench/tax_report.py`` in a fresh SQLite file. Printed, best of 3 by CPU:
- the report's phases as ``build_report`` and ``to_json_bytes`` run them: the annotated entries, the
  loader (``load_movements``), the engine (``compute_year``), the detail rows as JSON values
  (``rows_to_json``) and orjson's text of them;
- the user and system CPU and the minor page faults of the best run (``getrusage``: the system time is
  mostly the first touch of the memory the report allocates);
- the loader's steps, each line adding one to the previous: the loader's own loop rebuilt step by step
  over the same raw cursor (the driver's fetch and unpack, the ISO times, the five amounts as shortest
  decimals, the kind), then the loader itself (``load_movements``: also the movements, the values from
  prices and the transfer extras), with the cyclic collector on and the heap frozen as the report does
  it, then with the collector off.
Not a target of its own: it says which part a change to the ≤ 1.6 s target must make cheaper.
"""

from __future__ import annotations

import argparse
import gc
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import orjson

from bench.tax_report import ledger_rows
from bench.timing import load_line
from core.db.engine import Database
from core.db.migrate import upgrade_database
from core.db.upsert import bulk_upsert
from core.portfolio.models import LedgerEntry, LedgerKind
from core.tax import report
from core.tax.assumptions import load_assumptions
from core.tax.engine import compute_year

YEAR = 2024
LOAD_STEPS = ("fetch + unpack", "+ ISO times", "+ five amounts as decimals", "+ kind")
LOADER = "load_movements itself"


def best_cpu(work: Callable[[], Any], repeats: int = 3) -> float:
    """The least CPU time of ``repeats`` runs of ``work`` (a collection before each)."""
    timings = []
    for _ in range(repeats):
        gc.collect()
        started = time.process_time()
        work()
        timings.append(time.process_time() - started)
    return min(timings)


def report_phases(database: Database) -> tuple[dict[str, float], tuple[float, float, int]]:
    """CPU seconds of each phase of one report and its JSON text (one run), and the run's user CPU,
    system CPU and minor page faults."""
    phases: dict[str, float] = {}
    gc.collect()
    before = resource.getrusage(resource.RUSAGE_SELF)
    with database.session() as session:
        assumptions = load_assumptions(session)
        _, end = report.year_bounds(YEAR)
        lookup = report.cached_price_lookup(session)
        wallets = report.wallet_infos(session, assumptions)
        kest = report.entered_kest(session, YEAR)
        with report.heap_frozen():
            mark = time.process_time()
            annotated = report.annotated_entries(session, end)
            phases["annotated entries"], mark = time.process_time() - mark, time.process_time()
            movements, _ = report.load_movements(session, end, assumptions, price_lookup=lookup, annotated=annotated)
            phases["load_movements"], mark = time.process_time() - mark, time.process_time()
            domestic = [info.wallet for info in wallets if info.domestic]
            result = compute_year(
                movements,
                YEAR,
                assumptions,
                domestic_wallets=domestic,
                entered_kest=kest,
                price_of=lookup,
                checkpoint=report.refreeze,
            )
            phases["compute_year"], mark = time.process_time() - mark, time.process_time()
        rows = report.rows_to_json(result.rows)
        phases["rows_to_json"], mark = time.process_time() - mark, time.process_time()
        orjson.dumps(rows, option=orjson.OPT_INDENT_2)
        phases["orjson"] = time.process_time() - mark
        after = resource.getrusage(resource.RUSAGE_SELF)
    usage = (after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime, after.ru_minflt - before.ru_minflt)
    return phases, usage


def load_steps(database: Database, steps: int) -> None:
    """The loader's loop over the raw SQLite cursor up to step ``steps`` (1-4) of ``LOAD_STEPS``."""
    kinds = {kind.value: kind for kind in LedgerKind}
    decimal_of = report._DecimalMemo()
    parse_time = datetime.fromisoformat
    with database.session() as session, report.heap_frozen():  # as the loader runs in the report
        cursor = session.connection().connection.cursor()
        rows = cursor.execute(report.LOAD_SQL.replace(":before", "?"), (f"{YEAR + 1}-01-01 00:00:00.000000",))
        for _entry_id, ts, _wallet, kind_text, _origin, _external_id, *values in rows:
            _sent_asset, sent, _received_asset, received, _fee_asset, fee, value, kest, _asset_class = values
            if steps >= 2:
                ts_text = f"{ts[:10]}T{ts[11:19]}+00:00" if ts.endswith(".000000") else f"{ts[:10]}T{ts[11:]}+00:00"
                parse_time(ts_text)
            if steps >= 3:
                sent, received, fee = decimal_of[sent], decimal_of[received], decimal_of[fee]
                value, kest = decimal_of[value], decimal_of[kest]
            if steps >= 4:
                kinds[kind_text]


def run_loader(database: Database) -> None:
    """``load_movements`` for the year, inside ``heap_frozen`` as ``build_report`` calls it."""
    with database.session() as session:
        assumptions = load_assumptions(session)
        _, end = report.year_bounds(YEAR)
        lookup = report.cached_price_lookup(session)
        with report.heap_frozen():
            report.load_movements(session, end, assumptions, price_lookup=lookup)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        database = Database(f"sqlite:///{Path(folder) / 'tax-breakdown.db'}")
        upgrade_database(database)
        rows = ledger_rows(args.rows)
        with database.session() as session:
            bulk_upsert(session, LedgerEntry.__table__, rows, conflict_columns=["origin", "external_id"])  # type: ignore[arg-type]
        del rows
        print(f"{args.rows:,} ledger rows in {YEAR} (the data of bench/tax_report.py), SQLite; best of 3 by CPU")
        measured = [report_phases(database) for _ in range(3)]
        runs = [phases for phases, _ in measured]
        best, (user, system, faults) = min(measured, key=lambda run: sum(run[0].values()))
        for name in runs[0]:
            print(f"  {name:<36} {min(run[name] for run in runs):6.3f} s")
        print(
            f"  {'report + JSON text':<36} {sum(best.values()):6.3f} s (best run: user {user:.3f} s + system "
            f"{system:.3f} s over the whole run, {faults:,} minor page faults)"
        )
        print("the loader, step by step (each line includes the ones above):")
        for steps, name in enumerate(LOAD_STEPS, start=1):
            print(f"  {name:<36} {best_cpu(partial(load_steps, database, steps)):6.3f} s")
        print(f"  {LOADER:<36} {best_cpu(partial(run_loader, database)):6.3f} s")
        gc.disable()
        try:
            without = best_cpu(partial(run_loader, database))
        finally:
            gc.enable()
        print(f"  {LOADER + ', collector off':<36} {without:6.3f} s")
        print(load_line())
        database.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
