"""Property tests: wallet splits with transfers, and idempotent re-imports."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from core.db.engine import Database
from core.db.migrate import upgrade_database
from core.portfolio.models import LedgerKind
from core.tax.assumptions import TaxAssumptions
from core.tax.engine import Movement, compute_year, round_eur
from core.tax.koinly import import_koinly_file
from core.tax.report import build_report
from tests.core.tax.conftest import KOINLY_HEADER
from tests.core.tax.helpers import buy, sell, when

# An operation: ("buy", quantity, price) or ("sell", fraction of the holding in percent, price).
operations = st.lists(
    st.one_of(
        st.tuples(st.just("buy"), st.integers(1, 50), st.integers(1, 5000)),
        st.tuples(st.just("sell"), st.integers(1, 100), st.integers(1, 5000)),
    ),
    min_size=1,
    max_size=25,
)


def _history(ops: list[tuple[str, int, int]], *, split: bool) -> list[Movement]:
    """Buys and sells in wallet 'a'; with ``split`` every buy happens in wallet 'b' and is moved to 'a' at once."""
    movements: list[Movement] = []
    holding = Decimal(0)
    start = when("2023-01-02")
    for index, (action, amount, price) in enumerate(ops):
        day = (start + timedelta(days=2 * index)).strftime("%Y-%m-%d")
        if action == "buy":
            quantity = Decimal(amount) / 10
            movements.append(buy(day, "ETH", str(quantity), str(quantity * price), wallet="b" if split else "a"))
            if split:
                moved_at = movements[-1].ts + timedelta(minutes=10)
                movements.append(
                    replace(
                        movements[-1],
                        entry_id=movements[-1].entry_id * 1000 + 1,
                        ts=moved_at,
                        kind=LedgerKind.WITHDRAWAL,
                        received_asset=None,
                        received_quantity=None,
                        sent_asset="ETH",
                        sent_quantity=quantity,
                        value_eur=None,
                    )
                )
                movements.append(
                    replace(
                        movements[-1],
                        entry_id=movements[-1].entry_id + 1,
                        ts=moved_at + timedelta(minutes=5),
                        wallet="a",
                        kind=LedgerKind.DEPOSIT,
                        sent_asset=None,
                        sent_quantity=None,
                        received_asset="ETH",
                        received_quantity=quantity,
                    )
                )
            holding += quantity
        elif holding > 0:
            quantity = (holding * amount / 100).quantize(Decimal("0.0001"))
            if quantity > 0:
                movements.append(sell(day, "ETH", str(quantity), str(quantity * price), wallet="a"))
                holding -= quantity
    return movements


@settings(max_examples=60, deadline=None)
@given(operations)
def test_splitting_a_wallet_with_transfers_changes_no_neu_total(ops: list[tuple[str, int, int]]) -> None:
    assumptions = TaxAssumptions()
    one = compute_year(_history(ops, split=False), 2023, assumptions)
    two = compute_year(_history(ops, split=True), 2023, assumptions)
    for name in ("realised_gains", "realised_losses", "current_income", "net", "tax"):
        assert round_eur(getattr(one.totals, name)) == round_eur(getattr(two.totals, name)), name
    assert not [w for w in two.warnings if w.code.value == "unmatched_transfer"]


koinly_rows = st.lists(
    st.tuples(
        st.integers(0, 700),  # day offset
        st.sampled_from(["buy", "sell", "swap", "reward", "deposit", "withdrawal"]),
        st.integers(1, 10_000),
        st.integers(1, 10_000),
    ),
    min_size=1,
    max_size=30,
)


def _row(day: int, action: str, first: int, second: int) -> str:
    ts = (when("2023-01-01") + timedelta(days=day, minutes=first % 60)).strftime("%Y-%m-%d %H:%M")
    quantity, eur = Decimal(first) / 1000, Decimal(second)
    return {
        "buy": f"{ts},{eur},EUR,{quantity},BTC,1.5,EUR,,,,,",
        "sell": f"{ts},{quantity},BTC,{eur},EUR,,,,,,,",
        "swap": f"{ts},{quantity},BTC,{quantity * 20},ETH,,,{eur},EUR,,,",
        "reward": f"{ts},,,{quantity},ETH,,,{eur},EUR,staking,,",
        "deposit": f"{ts},,,{quantity},BTC,,,{eur},EUR,,,",
        "withdrawal": f"{ts},{quantity},BTC,,,0.0001,BTC,,,,,",
    }[action]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=koinly_rows)
def test_reimporting_a_file_changes_nothing(tmp_path: Path, rows: list[tuple[int, str, int, int]]) -> None:
    database = Database(f"sqlite:///{tmp_path / 'property.db'}")
    upgrade_database(database)
    path = tmp_path / "file.csv"
    path.write_text("\n".join([KOINLY_HEADER, *(_row(*row) for row in rows)]) + "\n", encoding="utf-8")
    try:
        with database.session() as session:
            session.execute(text("DELETE FROM ledger_entries"))
        with database.session() as session:
            first = import_koinly_file(session, path, "w")
        with database.session() as session:
            report_before = build_report(session, 2024).to_json()
        with database.session() as session:
            second = import_koinly_file(session, path, "w")
        with database.session() as session:
            report_after = build_report(session, 2024).to_json()
    finally:
        database.dispose()
    assert first.rows_inserted == len(rows)
    assert second.rows_inserted == 0
    assert report_after == report_before
