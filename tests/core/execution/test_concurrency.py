"""Two executors at once over the same queue on PostgreSQL: no order is submitted twice."""

from __future__ import annotations

import threading
from collections import Counter
from decimal import Decimal

import pytest
from sqlalchemy import select

from core.audit import AuditAction, AuditEntry, verify_audit_chain
from core.db.engine import Database
from core.execution.admin import set_live_mode, store_api_key
from core.execution.enums import OrderSide
from core.execution.executor import Executor
from core.execution.live import OneTradingBroker
from core.execution.models import Fill, Order, OrderEvent, OrderStatus
from core.execution.orders import OrderRequest
from core.execution.service import deposit_paper_cash, place_order
from core.execution.settings import SECRET_ONETRADING_KEY, TradingSettings
from core.market.models import AssetClass, Instrument, Quote
from core.timeutil import utc_now
from tests.core.execution.fake_onetrading import API_KEY, start_fake_onetrading
from tests.core.execution.stubs import AllowEveryOrder

pytestmark = pytest.mark.postgres


def _seed(database: Database, orders: int, *, live: bool = False) -> None:
    with database.session() as session:
        instrument = Instrument(symbol="BTC/EUR", base="BTC", quote="EUR", asset_class=AssetClass.CRYPTO)
        session.add(instrument)
        session.flush()
        session.add(Quote(instrument_id=instrument.id, source="test", ts=utc_now(), last=Decimal("50000")))
        deposit_paper_cash(session, Decimal("1000000"), actor="test")
        if live:
            store_api_key(session, SECRET_ONETRADING_KEY, API_KEY, actor="test")
            set_live_mode(session, True, actor="test")
        for _ in range(orders):
            place_order(
                session,
                OrderRequest(
                    symbol="BTC/EUR", side=OrderSide.BUY, quantity=Decimal("0.001"), live=live, live_confirmed=live
                ),
                actor="test",
            )


def _run_together(executors: list[Executor]) -> None:
    barrier = threading.Barrier(len(executors))
    errors: list[BaseException] = []

    def work(executor: Executor) -> None:
        try:
            barrier.wait()
            executor.run_pass(until_idle=True)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=work, args=(executor,)) for executor in executors]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors


def test_two_paper_executors_never_submit_an_order_twice(postgres_database: Database) -> None:
    _seed(postgres_database, 80)
    settings = TradingSettings(paper_price_max_age_seconds=3600)
    executors = [Executor(postgres_database, settings=settings, checks=[AllowEveryOrder()], hooks=[]) for _ in range(2)]
    _run_together(executors)
    with postgres_database.session() as session:
        orders = list(session.scalars(select(Order)))
        assert {order.status for order in orders} == {OrderStatus.FILLED}
        submitted = Counter(
            session.scalars(select(OrderEvent.order_id).where(OrderEvent.to_status == OrderStatus.SUBMITTING))
        )
        assert len(submitted) == 80 and set(submitted.values()) == {1}
        audited_fills = Counter(
            session.scalars(select(AuditEntry.subject).where(AuditEntry.action == AuditAction.FILL))
        )
        assert len(audited_fills) == 80 and set(audited_fills.values()) == {1}
        fills = Counter(session.scalars(select(Fill.order_id)))
        assert len(fills) == 80 and set(fills.values()) == {1}
        assert verify_audit_chain(session).ok
    # both executors did real work: the queue was shared, not taken by one
    assert all(executor.stats.submitted > 0 for executor in executors), [e.stats for e in executors]


def test_two_live_executors_never_send_an_order_twice_to_the_venue(postgres_database: Database) -> None:
    server, venue, base_url = start_fake_onetrading()
    try:
        _seed(postgres_database, 20, live=True)
        settings = TradingSettings(onetrading_base_url=base_url)
        executors = [
            Executor(
                postgres_database,
                settings=settings,
                checks=[AllowEveryOrder()],
                hooks=[],
                live_broker_factory=lambda s, c: OneTradingBroker(API_KEY, base_url=base_url, rate_limit=False),
            )
            for _ in range(2)
        ]
        _run_together(executors)
    finally:
        server.shutdown()
    assert len(venue.create_requests) == 20
    assert set(venue.create_requests.values()) == {1}
    with postgres_database.session() as session:
        assert {order.status for order in session.scalars(select(Order))} == {OrderStatus.FILLED}
