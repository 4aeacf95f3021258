"""The executor refuses every live order while a demo login exists, before anything reaches the venue."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from sqlalchemy import select

from core.db.engine import Database
from core.execution.admin import set_live_mode, store_api_key
from core.execution.enums import OrderSide
from core.execution.executor import Executor
from core.execution.live import OneTradingBroker
from core.execution.models import Order, OrderStatus
from core.execution.orders import OrderRequest
from core.execution.service import place_order
from core.execution.settings import SECRET_ONETRADING_KEY, TradingSettings
from core.security.demo_guard import RealAct, demo_refusal_message
from core.system.models import UserAccount
from tests.core.execution.fake_onetrading import API_KEY, FakeOneTrading, start_fake_onetrading


@pytest.fixture
def fake_venue() -> Iterator[tuple[FakeOneTrading, str]]:
    server, venue, base_url = start_fake_onetrading()
    yield venue, base_url
    server.shutdown()


def test_a_live_order_is_refused_while_a_demo_login_exists(
    database: Database, market: dict[str, int], fake_venue: tuple[FakeOneTrading, str]
) -> None:
    venue, base_url = fake_venue
    with database.session() as session:
        store_api_key(session, SECRET_ONETRADING_KEY, API_KEY, actor="tester")
        set_live_mode(session, True, actor="tester")
        order = place_order(
            session,
            OrderRequest(symbol="BTC/EUR", side=OrderSide.BUY, quantity=Decimal("0.1"), live=True, live_confirmed=True),
            actor="tester",
        )
        assert order.status is OrderStatus.NEW
        # A demo login appears (e.g. an old database, or `konsens demo` run by mistake).
        session.add(UserAccount(username="demo", display_name="Demo", password_hash="x", is_demo=True))
    executor = Executor(
        database,
        settings=TradingSettings(onetrading_base_url=base_url, live_timeout_seconds=1.0, executor_pass_seconds=0.2),
        checks=[],
        hooks=[],
        live_broker_factory=lambda s, c: OneTradingBroker(
            API_KEY, base_url=base_url, timeout_seconds=1.0, rate_limit=False
        ),
    )
    executor.run_pass(until_idle=True)
    with database.session() as session:
        stored = session.scalar(select(Order))
        assert stored is not None and stored.status is OrderStatus.DENIED  # Konsens refused it; the venue never saw it
        assert stored.reject_rule == "demo_mode"
        assert stored.reject_reason == demo_refusal_message(RealAct.LIVE_ORDER)
    assert venue.create_requests == {}
