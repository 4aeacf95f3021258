from __future__ import annotations

import itertools
import statistics
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from app.ui.format import eur
from core.db.engine import Database
from core.execution.models import Order, OrderStatus
from core.execution.queries import recent_fills, trade_log
from core.portfolio.models import Position

PAGE = Path(__file__).resolve().parents[2] / "pages" / "trade.py"


def _app() -> AppTest:
    at = AppTest.from_file(str(PAGE), default_timeout=60)
    at.session_state["authentication_status"] = True
    at.session_state["username"] = "demo"
    return at


def test_trade_page_shows_ticket_orders_fills_and_trade_log(demo_database: Database) -> None:
    at = _app()
    at.run()
    assert not at.exception
    assert any("Order ticket" in header.value for header in at.subheader)
    assert any("Position sizing" in header.value for header in at.subheader)
    labels = [tab.label for tab in at.tabs]
    assert labels[:4] == ["Open orders", "Order history", "Fills", "Trade log"]
    sizing = at.table[0].value
    frames = [frame.value for frame in at.dataframe]
    assert "Fixed fraction" in " ".join(sizing["Method"]) and "At risk" in sizing.columns
    assert all(quantity != "–" for quantity in sizing["Quantity"][:1])
    open_frame = frames[0]
    assert list(open_frame["symbol"]) == ["BTC/EUR"] and list(open_frame["status"]) == ["open"]
    history = frames[1]
    assert len(history) == 15 and "denied" in set(history["status"])
    assert any("insufficient SOL" in reason for reason in history["reason"])
    events = frames[2]
    assert next(iter(events["to"])) == "new"
    fills = frames[3]
    assert len(fills) == 13
    log = frames[4]
    assert len(log) == 13 and (log["realised P&L"] != "").sum() == 5  # the five demo sells
    # the trade log's realised P&L agrees with the seeded positions (same average-cost rule)
    with demo_database.session() as session:
        expected = sum(
            session.scalars(select(Position.realised_pnl_eur).where(Position.account == "paper")), Decimal(0)
        )
        realised = sum((row.realised_pnl_eur or Decimal(0) for row in trade_log(session)), Decimal(0))
    assert abs(realised - expected) < Decimal("0.05")  # SQLite keeps NUMERIC as REAL: cents may differ
    metric = next(metric for metric in at.metric if "Realised P&L" in metric.label)
    assert metric.value == eur(realised, signed=True)


def test_ticket_places_a_paper_order_and_a_bad_one_is_rejected(demo_database: Database) -> None:
    at = _app()
    at.run()
    at.text_input[0].set_value("0.01")
    at.button[0].click()  # the form's submit button
    at.run()
    assert not at.exception
    assert any("queued" in message.value for message in at.info), [message.value for message in at.info]
    at.text_input[0].set_value("-3")
    at.button[0].click()
    at.run()
    assert any("quantity must be positive" in message.value for message in at.error)
    with demo_database.session() as session:
        # orders from the ticket keep the ticket input; the seeded demo orders have none
        placed = list(session.scalars(select(Order).where(Order.request.is_not(None)).order_by(Order.id)))
        assert [order.status for order in placed] == [OrderStatus.NEW, OrderStatus.DENIED]


def test_cancel_button_writes_a_cancel_intent(demo_database: Database) -> None:
    at = _app()
    at.run()
    cancel = next(button for button in at.button if button.label == "Request cancel")
    cancel.click()
    at.run()
    assert not at.exception
    assert any("Cancel requested" in message.value for message in at.success)
    with demo_database.session() as session:
        order = session.scalar(select(Order).where(Order.status == OrderStatus.OPEN))
        assert order is not None and order.cancel_requested_at is not None


def test_trade_draws_the_price_with_orders_and_toasts_fills_new_since_the_last_run(
    demo_database: Database, run_page: Callable[..., AppTest]
) -> None:
    from tests.pages.conftest import chart_payloads

    app = run_page("trade")
    (payload,) = chart_payloads(app)
    times = payload["candles"]["t"]
    steps = [later - earlier for earlier, later in itertools.pairwise(times)]
    # hourly bars; a stock's week has overnight gaps, so the first step may be one (when the window
    # starts on a session's last bar, at 20:00 UTC) and is not the test of the timeframe
    assert len(times) > 20 and min(steps) == 3600 and statistics.mode(steps) == 3600
    assert all(step > 0 and step % 3600 == 0 for step in steps)
    assert len(app.toast) == 0  # the first run only remembers the newest fill
    newest = app.session_state["trade_seen_fill"]
    assert newest
    fills = demo_database.run(lambda session: recent_fills(session, limit=5))
    app.session_state["trade_seen_fill"] = fills[2].fill_id  # as if two fills arrived since
    app.run()
    assert len(app.toast) == 2
    for toast, fill in zip(app.toast, fills[:2], strict=True):
        assert toast.value.startswith(f"Filled: {fill.side} ") and fill.symbol in toast.value
    assert app.session_state["trade_seen_fill"] == newest


def test_a_live_order_asks_a_fresh_authenticator_code_when_the_user_chose_so(configured_sqlite: Database) -> None:
    import time

    import pyotp

    from core.execution.settings import KEY_LIVE_ENABLED
    from core.market.models import AssetClass, Instrument, Quote
    from core.security.totp import enable_totp, new_totp_secret, set_totp_for_orders
    from core.security.users import create_user
    from core.system.settings_store import set_setting
    from core.timeutil import utc_now

    secret = new_totp_secret()
    with configured_sqlite.session() as session:
        create_user(session, "anna", "correct horse battery")
        enable_totp(session, "anna", secret, pyotp.TOTP(secret).now(), actor="anna")
        set_totp_for_orders(session, "anna", True, actor="anna")
        set_setting(session, KEY_LIVE_ENABLED, True)
        btc = Instrument(symbol="BTC/EUR", base="BTC", quote="EUR", asset_class=AssetClass.CRYPTO)
        session.add(btc)
        session.flush()
        session.add(Quote(instrument_id=btc.id, source="test", ts=utc_now(), last=Decimal("50000")))
    at = AppTest.from_file(str(PAGE), default_timeout=60)
    at.session_state["authentication_status"] = True
    at.session_state["username"] = "anna"
    at.run()
    at.radio[0].set_value("Live (One Trading)").run()
    at.text_input[0].set_value("0.01")
    next(box for box in at.checkbox if box.label == "I confirm this LIVE order").check()
    at.text_input(key="ticket_totp_code").set_value("000000" if pyotp.TOTP(secret).now() != "000000" else "111111")
    next(button for button in at.button if button.label == "Place LIVE order").click().run()
    assert any("authenticator code is wrong" in item.value for item in at.error)
    assert configured_sqlite.run(lambda session: session.scalar(select(Order))) is None
    time.sleep(max(0.0, 30 - time.time() % 30) + 0.5)  # the enrolment used this step's code
    at.text_input[0].set_value("0.01")
    next(box for box in at.checkbox if box.label == "I confirm this LIVE order").check()
    at.text_input(key="ticket_totp_code").set_value(pyotp.TOTP(secret).now())
    next(button for button in at.button if button.label == "Place LIVE order").click().run()
    assert not at.exception
    order = configured_sqlite.run(lambda session: session.scalar(select(Order)))
    assert order is not None and order.is_live and order.status is OrderStatus.NEW


def test_a_placed_order_updates_in_place_with_a_toast_when_the_executor_fills_it(demo_database: Database) -> None:
    from core.execution.models import Fill
    from core.timeutil import utc_now

    at = _app()
    at.run()
    at.text_input[0].set_value("0.01")
    at.button[0].click()
    at.run()
    watched = dict(at.session_state["trade_watched_orders"])
    (client_id,) = watched
    assert watched[client_id] == "new" and not at.toast
    assert any(client_id[:8] in message.value and "**new**" in message.value for message in at.info)
    with demo_database.session() as session:  # what the executor writes when it fills the order
        order = session.scalars(select(Order).where(Order.client_order_id == client_id)).one()
        order.status, order.filled_quantity, order.average_fill_price = (
            OrderStatus.FILLED,
            Decimal("0.01"),
            Decimal("61234.5"),
        )
        session.add(
            Fill(
                fill_id=f"test-{client_id}",
                order_id=order.id,
                ts=utc_now(),
                side=order.side,
                quantity=Decimal("0.01"),
                price=Decimal("61234.5"),
                fee=Decimal("0.61"),
                fee_asset="EUR",
                fee_eur=Decimal("0.61"),
            )
        )
    at.run()
    assert not at.exception
    toasts = [toast.value for toast in at.toast]
    symbol = order.symbol
    assert f"Order {client_id[:8]} {symbol}: filled" in toasts
    assert any(text.startswith(f"Filled: buy 0.01 {symbol} at € 61,234.50") for text in toasts), toasts
    assert any(
        client_id[:8] in message.value and "filled 0.01 at € 61,234.50" in message.value for message in at.success
    )
    assert at.session_state["trade_watched_orders"][client_id] == "filled"


def test_the_sizing_panel_badges_a_stale_last_price(demo_database: Database) -> None:
    from datetime import timedelta

    from sqlalchemy import delete

    from core.market.models import Candle
    from core.market.query import instrument_by_symbol
    from core.timeutil import utc_now

    at = _app()
    at.run()
    symbol = str(at.selectbox(key="sizing_symbol").value)
    assert not any("stale since" in item.value for item in at.markdown)  # the demo prices are fresh
    with demo_database.session() as session:  # the market worker stopped five days ago
        instrument = instrument_by_symbol(session, symbol)
        assert instrument is not None
        session.execute(
            delete(Candle).where(Candle.instrument_id == instrument.id, Candle.ts > utc_now() - timedelta(days=5))
        )
    at.run()
    assert not at.exception
    assert any("Last price stale since" in item.value for item in at.markdown), [m.value for m in at.markdown]
