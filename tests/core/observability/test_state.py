"""The database state exported at scrape time: queues, orders, fills, money, risk, AI, backups."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import update

from core.db.engine import Database
from core.execution.enums import OrderSide
from core.execution.executor import Executor
from core.execution.models import Order, OrderStatus
from core.execution.orders import OrderRequest
from core.execution.service import place_order
from core.observability.state import BACKUP_STATUS_KEY, StateCollector
from core.system.heartbeats import record_heartbeat
from core.system.models import QuarantinedRecord, WorkerStatus
from core.system.settings_store import set_setting
from core.timeutil import utc_now
from tests.core.execution.conftest import add_quote
from tests.core.observability.conftest import samples


def test_orders_fills_queue_and_pickup_latency_are_read_from_the_database(
    database: Database, market: dict[str, int], make_executor: Callable[..., Executor]
) -> None:
    with database.session() as session:
        place_order(session, OrderRequest(symbol="BTC/EUR", side=OrderSide.BUY, quantity=Decimal("0.1")), actor="t")
    with database.session() as session:
        add_quote(session, market["BTC/EUR"], "50000", utc_now() + timedelta(milliseconds=5))
    make_executor().run_pass(until_idle=True)
    with database.session() as session:
        place_order(session, OrderRequest(symbol="ETH/EUR", side=OrderSide.BUY, quantity=Decimal("1")), actor="t")

    found = samples(StateCollector(database))

    assert found[("konsens_orders", (("mode", "paper"), ("state", "filled")))] == 1
    assert found[("konsens_orders", (("mode", "paper"), ("state", "new")))] == 1
    assert found[("konsens_orders", (("mode", "live"), ("state", "new")))] == 0
    assert found[("konsens_fills_total", (("mode", "paper"), ("side", "buy")))] == 1
    # 0.1 BTC at 50 000 plus 0.1 % slippage
    assert abs(found[("konsens_traded_notional_eur_total", (("mode", "paper"),))] - 5005.0) < 0.01
    assert found[("konsens_order_pickup_latency_seconds_count", (("mode", "paper"),))] == 1
    assert 0 <= found[("konsens_order_pickup_latency_seconds_sum", (("mode", "paper"),))] < 60
    assert found[("konsens_orders_oldest_age_seconds", (("state", "new"),))] >= 0
    assert found[("konsens_state_up", ())] == 1
    equity = found[("konsens_equity_eur", (("account", "paper"),))]
    cash = found[("konsens_cash_eur", (("account", "paper"),))]
    fees = found[("konsens_fill_fees_eur_total", (("mode", "paper"),))]
    assert fees > 0
    assert abs(cash - (10000 - 5005 - fees)) < 0.01
    assert abs(equity - (cash + 5000)) < 0.01  # the position at the latest quote, 50 000
    assert found[("konsens_exposure_eur", (("account", "paper"),))] == 5000


def test_an_order_stuck_in_submitting_reports_its_age(database: Database, market: dict[str, int]) -> None:
    with database.session() as session:
        order = place_order(
            session, OrderRequest(symbol="BTC/EUR", side=OrderSide.BUY, quantity=Decimal("0.1")), actor="t"
        )
        order_id = order.id
    with database.session() as session:
        session.execute(
            update(Order)
            .where(Order.id == order_id)
            .values(status=OrderStatus.SUBMITTING, updated_at=utc_now() - timedelta(minutes=20))
        )

    found = samples(StateCollector(database))

    assert 1190 < found[("konsens_orders_oldest_age_seconds", (("state", "submitting"),))] < 1300
    assert found[("konsens_orders_oldest_age_seconds", (("state", "new"),))] == 0


def test_heartbeats_quarantine_and_the_last_backup_are_exported(database: Database, tmp_path: Path) -> None:
    with database.session() as session:
        record_heartbeat(session, "market", WorkerStatus.IDLE, pass_seconds=1.5, completed_pass=True)
        record_heartbeat(session, "news", WorkerStatus.FAILED, error="boom")
        session.add(QuarantinedRecord(kind="candle", source="demo", reason="high below low"))
        session.add(QuarantinedRecord(kind="candle", source="demo", reason="negative volume"))
        set_setting(session, BACKUP_STATUS_KEY, {"last_success_at": "2026-12-01T03:00:00+00:00", "last_size_bytes": 42})

    found = samples(StateCollector(database, home=tmp_path))

    assert 0 <= found[("konsens_worker_heartbeat_age_seconds", (("worker", "market"),))] < 60
    assert found[("konsens_worker_status", (("status", "failed"), ("worker", "news")))] == 1
    assert found[("konsens_worker_status", (("status", "idle"), ("worker", "news")))] == 0
    assert found[("konsens_worker_last_pass_seconds", (("worker", "market"),))] == 1.5
    assert found[("konsens_quarantined_rows", (("kind", "candle"), ("source", "demo")))] == 2
    assert found[("konsens_backup_last_success_timestamp_seconds", ())] == 1796094000.0
    assert found[("konsens_backup_last_failure_timestamp_seconds", ())] == 0
    assert found[("konsens_backup_last_size_bytes", ())] == 42
    assert found[("konsens_disk_free_bytes", ())] > 0


def test_a_database_that_cannot_be_read_reports_state_down_without_failing_the_scrape(tmp_path: Path) -> None:
    broken = Database(f"sqlite:///{tmp_path / 'never-migrated.db'}")  # no tables at all

    found = samples(StateCollector(broken, home=tmp_path))

    assert found[("konsens_state_up", ())] == 0
    assert found[("konsens_disk_free_bytes", ())] > 0
    broken.dispose()


def test_demo_data_exports_consensus_news_llm_and_budget_figures(demo_database: Database) -> None:
    found = samples(StateCollector(demo_database))

    decisions = sum(value for (name, _), value in found.items() if name == "konsens_consensus_decisions_total")
    assert decisions > 0
    assert any(name == "konsens_news_sentiment" for name, _ in found)
    assert any(name == "konsens_news_items_total" and value > 0 for (name, _), value in found.items())
    assert found[("konsens_llm_call_budget", (("provider", "ollama"),))] == 200
    assert any(name == "konsens_llm_latency_seconds_count" and value > 0 for (name, _), value in found.items())
    assert any(name == "konsens_risk_limit_usage_ratio" for name, _ in found)
