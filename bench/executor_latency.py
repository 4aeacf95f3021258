"""Pick-up latency of the executor: from a new order row to its submission.

    PYTHONPATH=$PWD python bench/executor_latency.py [--orders 300] [--db URL]

Starts ``konsens worker executor`` as a subprocess on a fresh database (SQLite file by
default), waits for its first heartbeat, then writes paper orders one at a time at random
intervals (default 50-250 ms, ``--gap-ms 5 50`` for a burst) like the Trade page does.
Latency = ``submitted_at − created_at`` of each order (``created_at`` is stamped before the
order's transaction commits, so this includes the
commit). Prints p50 / p95 / p99 / max; the targets are p50 ≤ 100 ms and p99 ≤ 500 ms.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from core.db.engine import Database  # noqa: E402
from core.db.migrate import upgrade_database  # noqa: E402
from core.execution.enums import OrderSide  # noqa: E402
from core.execution.models import Order  # noqa: E402
from core.execution.orders import OrderRequest  # noqa: E402
from core.execution.service import deposit_paper_cash, place_order  # noqa: E402
from core.market.models import AssetClass, Instrument, Quote  # noqa: E402
from core.risk.settings import save_limits  # noqa: E402
from core.system.models import WorkerHeartbeat  # noqa: E402
from core.timeutil import utc_now  # noqa: E402


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--db", default=None)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument(
        "--gap-ms",
        type=float,
        nargs=2,
        default=(50.0, 250.0),
        metavar=("MIN", "MAX"),
        help="random pause between orders (default 50-250 ms; 5 50 = a burst of ~36 orders/s)",
    )
    args = parser.parse_args()
    url = args.db or f"sqlite:///{tempfile.mkdtemp(prefix='konsens-latency-')}/latency.db"
    database = Database(url)
    upgrade_database(database)
    with database.session() as session:
        instrument = Instrument(symbol="BTC/EUR", base="BTC", quote="EUR", asset_class=AssetClass.CRYPTO)
        session.add(instrument)
        session.flush()
        session.add(Quote(instrument_id=instrument.id, source="bench", ts=utc_now(), last=Decimal("50000")))
        deposit_paper_cash(session, Decimal("10000000"), actor="bench")
        # The benchmark's own limits: the default order-rate breaker (10 orders a minute) would
        # refuse almost every order, and a refused order is never submitted.
        save_limits(session, {"max_orders_per_window": 1_000_000}, actor="bench")
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "KONSENS_DATABASE_URL": url,
        "KONSENS_HOME": tempfile.mkdtemp(prefix="konsens-latency-home-"),
        "KONSENS_TRADING_PAPER_PRICE_MAX_AGE_SECONDS": "86400",
        "KONSENS_LOG_LEVEL": "WARNING",
    }
    log_path = Path(env["KONSENS_HOME"]) / "executor.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-X", "faulthandler", "-m", "app.cli", "worker", "executor"], cwd=ROOT, env=env,
        stdout=log, stderr=log,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            beat = database.run(lambda s: s.get(WorkerHeartbeat, "executor"))
            if beat is not None and beat.passes >= 0 and beat.status.value in ("running", "idle"):
                break
            time.sleep(0.05)
        rng = random.Random(args.seed)
        for _ in range(args.orders):
            with database.session() as session:
                place_order(
                    session,
                    OrderRequest(symbol="BTC/EUR", side=OrderSide.BUY, quantity=Decimal("0.001")),
                    actor="bench",
                )
            time.sleep(rng.uniform(args.gap_ms[0], args.gap_ms[1]) / 1000)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            waiting = database.run(
                lambda s: s.scalar(select(func.count()).select_from(Order).where(Order.submitted_at.is_(None)))
            )
            if not waiting:
                break
            time.sleep(0.05)
        rows = database.run(lambda s: s.execute(select(Order.created_at, Order.submitted_at)).all())
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGABRT)  # faulthandler prints the stacks into the log
            process.wait(timeout=10)
            print(f"executor did not stop on SIGTERM; stacks in {log_path}")
    latencies = [(submitted - created).total_seconds() * 1000 for created, submitted in rows if submitted]
    missing = len(rows) - len(latencies)
    p50, p95, p99 = (percentile(latencies, f) for f in (0.5, 0.95, 0.99))
    print(f"database:        {database.kind}, order gaps {args.gap_ms[0]:g}-{args.gap_ms[1]:g} ms")
    print(f"orders:          {len(rows)} ({missing} not submitted)")
    print(f"pick-up latency: p50 {p50:.1f} ms | p95 {p95:.1f} ms | p99 {p99:.1f} ms | max {max(latencies):.1f} ms")
    print(f"mean:            {statistics.mean(latencies):.1f} ms")
    ok = missing == 0 and p50 <= 100 and p99 <= 500
    print(f"targets (p50 <= 100 ms, p99 <= 500 ms): {'MET' if ok else 'NOT MET'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
