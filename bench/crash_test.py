"""Crash test: SIGKILL the executor at random moments while it works through paper orders.

    PYTHONPATH=$PWD python bench/crash_test.py [--orders 500] [--db URL] [--seed 7]

Creates a fresh database (SQLite file by default), queues the orders (market and limit buys,
sells of what earlier buys bought), then starts ``konsens worker executor`` as a subprocess and
kills it with SIGKILL after a random time, again and again, until every order is final. Then it
checks: no order lost (none left new/submitting, every order final), none filled twice (one fill
and one ledger entry per filled order), the ledger balances equal the sum of the fills, the
positions equal the fills, and the audit chain is intact. Prints the counts; exit 1 on a failure.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.timing import cpu_seconds, load_line  # noqa: E402
from core.audit import verify_audit_chain  # noqa: E402
from core.db.engine import Database  # noqa: E402
from core.db.migrate import upgrade_database  # noqa: E402
from core.execution.accounting import account_balances  # noqa: E402
from core.execution.enums import OrderSide, OrderType  # noqa: E402
from core.execution.models import Fill, Order, OrderStatus  # noqa: E402
from core.execution.orders import TERMINAL_STATUSES, OrderRequest  # noqa: E402
from core.execution.service import deposit_paper_cash, place_order  # noqa: E402
from core.market.models import AssetClass, Instrument, Quote  # noqa: E402
from core.portfolio.models import LedgerEntry, Position  # noqa: E402
from core.system.models import WorkerHeartbeat  # noqa: E402
from core.timeutil import utc_now  # noqa: E402

STARTING_CASH = Decimal("1000000")
EIGHT = Decimal("1e-8")


@dataclass
class CrashResult:
    orders: int = 0
    kills: int = 0
    starts: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    fills: int = 0
    orders_with_several_fills: int = 0
    ledger_entries_of_fills: int = 0
    unfinished: int = 0
    cash_difference: Decimal = Decimal(0)
    btc_difference: Decimal = Decimal(0)
    position_difference: Decimal = Decimal(0)
    audit_ok: bool = False
    audit_rows: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return (
            self.unfinished == 0
            and self.orders_with_several_fills == 0
            and self.fills == self.statuses.get("filled", 0)
            and self.ledger_entries_of_fills == self.fills
            and abs(self.cash_difference) < Decimal("1e-6")
            and abs(self.btc_difference) < EIGHT
            and abs(self.position_difference) < EIGHT
            and self.audit_ok
            and sum(self.statuses.values()) == self.orders
        )

    def report(self) -> str:
        lines = [
            f"orders queued:                 {self.orders}",
            f"executor starts / SIGKILLs:    {self.starts} / {self.kills}",
            f"final statuses:                {dict(sorted(self.statuses.items()))}",
            f"orders not final (lost):       {self.unfinished}",
            f"fills recorded:                {self.fills}",
            f"orders filled more than once:  {self.orders_with_several_fills}",
            f"ledger entries of fills:       {self.ledger_entries_of_fills}",
            f"EUR ledger − expected:         {self.cash_difference}",
            f"BTC ledger − sum of fills:     {self.btc_difference}",
            f"position − sum of fills:       {self.position_difference}",
            f"audit chain:                   {'intact' if self.audit_ok else 'BROKEN'} ({self.audit_rows} rows)",
            f"wall time:                     {self.seconds:.1f} s",
            f"RESULT:                        {'PASS' if self.ok else 'FAIL'}",
        ]
        return "\n".join(lines)


def prepare(database: Database, orders: int, rng: random.Random) -> None:
    """Create the instrument, a quote, the cash, and queue ``orders`` paper orders."""
    with database.session() as session:
        instrument = Instrument(symbol="BTC/EUR", base="BTC", quote="EUR", asset_class=AssetClass.CRYPTO)
        session.add(instrument)
        session.flush()
        session.add(Quote(instrument_id=instrument.id, source="crash", ts=utc_now(), last=Decimal("50000")))
        deposit_paper_cash(session, STARTING_CASH, actor="crash-test")
    bought = Decimal(0)
    for index in range(orders):
        with database.session() as session:
            roll = rng.random()
            if roll < 0.25 and bought >= Decimal("0.02"):
                request = OrderRequest(symbol="BTC/EUR", side=OrderSide.SELL, quantity=Decimal("0.01"))
                bought -= Decimal("0.01")
            elif roll < 0.45:
                request = OrderRequest(
                    symbol="BTC/EUR",
                    side=OrderSide.BUY,
                    order_type=OrderType.LIMIT,
                    quantity=Decimal("0.003"),
                    limit_price=Decimal("60000"),  # above the price: fills at once
                )
                bought += Decimal("0.003")
            else:
                request = OrderRequest(symbol="BTC/EUR", side=OrderSide.BUY, quantity=Decimal("0.002"))
                bought += Decimal("0.002")
            place_order(session, request, actor=f"crash-test-{index}")


def pending(database: Database) -> int:
    with database.session() as session:
        return int(
            session.scalar(
                select(func.count()).select_from(Order).where(Order.status.not_in([s.value for s in TERMINAL_STATUSES]))
            )
            or 0
        )


def run_executor_with_kills(url: str, home: str, rng: random.Random, result: CrashResult, database: Database) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "KONSENS_DATABASE_URL": url,
        "KONSENS_HOME": home,
        "KONSENS_TRADING_PAPER_PRICE_MAX_AGE_SECONDS": "86400",
        "KONSENS_LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "-m", "app.cli", "worker", "executor"]
    while pending(database) > 0:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        result.starts += 1
        # Kill at a random moment after the executor has started working (start-up time varies a
        # lot on a busy machine, so the clock starts at its first heartbeat).
        started_waiting = time.monotonic()
        while process.poll() is None and not _working(database, process.pid):
            if time.monotonic() - started_waiting > 300:
                break
            time.sleep(0.02)
        deadline = time.monotonic() + rng.uniform(0.02, 0.4)
        while time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.005)
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            result.kills += 1
        process.wait()
        if result.starts > 400:
            raise RuntimeError("the executor makes no progress")


def _working(database: Database, pid: int) -> bool:
    with database.session() as session:
        heartbeat = session.get(WorkerHeartbeat, "executor")
        return heartbeat is not None and heartbeat.pid == pid


def verify(database: Database, result: CrashResult) -> None:
    with database.session() as session:
        orders = list(session.scalars(select(Order)))
        result.statuses = Counter(order.status.value for order in orders)
        result.unfinished = sum(1 for order in orders if order.status not in TERMINAL_STATUSES)
        fills = list(session.scalars(select(Fill)))
        result.fills = len(fills)
        per_order = Counter(fill.order_id for fill in fills)
        result.orders_with_several_fills = sum(1 for count in per_order.values() if count > 1)
        fill_ids = [fill.fill_id for fill in fills]
        result.ledger_entries_of_fills = int(
            session.scalar(select(func.count()).select_from(LedgerEntry).where(LedgerEntry.external_id.in_(fill_ids)))
            or 0
        )
        expected_cash = STARTING_CASH
        expected_btc = Decimal(0)
        for fill in fills:
            notional = fill.quantity * fill.price
            if fill.side is OrderSide.BUY:
                expected_cash -= notional
                expected_btc += fill.quantity
            else:
                expected_cash += notional
                expected_btc -= fill.quantity
            expected_cash -= fill.fee
        balances = account_balances(session, "paper")
        result.cash_difference = balances.get("EUR", Decimal(0)) - expected_cash
        result.btc_difference = balances.get("BTC", Decimal(0)) - expected_btc
        position = session.scalar(select(Position).where(Position.account == "paper"))
        result.position_difference = (position.quantity if position else Decimal(0)) - expected_btc
        audit = verify_audit_chain(session)
        result.audit_ok = audit.ok
        result.audit_rows = audit.rows_checked
        for order in orders:
            if order.status is OrderStatus.FILLED and per_order.get(order.id) != 1:
                result.orders_with_several_fills += 1


def run_crash_test(url: str, orders: int, *, seed: int = 7, home: str | None = None) -> CrashResult:
    """Run the whole crash test against the (empty) database at ``url``."""
    started = time.monotonic()
    rng = random.Random(seed)
    database = Database(url)
    upgrade_database(database)
    result = CrashResult(orders=orders)
    prepare(database, orders, rng)
    home = home or tempfile.mkdtemp(prefix="konsens-crash-home-")
    run_executor_with_kills(url, home, rng, result, database)
    verify(database, result)
    database.dispose()
    result.seconds = time.monotonic() - started
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=500)
    parser.add_argument("--db", default=None, help="database URL (default: a new SQLite file)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    url = args.db or f"sqlite:///{tempfile.mkdtemp(prefix='konsens-crash-')}/crash.db"
    print(f"before: {load_line()}")
    cpu_before = cpu_seconds(children=True)
    result = run_crash_test(url, args.orders, seed=args.seed)
    print(result.report())
    # a correctness test: no speed target; the CPU time (this process + the killed executors) says what it cost
    print(
        f"CPU {cpu_seconds(children=True) - cpu_before:.1f} s (this process and the executor subprocesses); "
        f"after: {load_line()}"
    )
    return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
