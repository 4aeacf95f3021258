from __future__ import annotations

from collections.abc import Callable

from streamlit.testing.v1 import AppTest

from app.ui.format import eur
from core.db.engine import Database
from core.portfolio.valuation import value_portfolio
from tests.pages.conftest import plotly_specs


def test_portfolio_shows_tiles_holdings_allocation_and_equity_curve(
    demo_database: Database, run_page: Callable[..., AppTest]
) -> None:
    app = run_page("portfolio")
    valuation = demo_database.run(value_portfolio)
    metrics = {metric.label: metric.value for metric in app.metric}
    assert metrics == {
        "Equity": eur(valuation.equity_eur),
        "Cash": eur(valuation.cash_eur),
        "Market value": eur(valuation.market_value_eur),
        "Unrealised P&L": eur(valuation.unrealised_pnl_eur, signed=True),
        "Realised P&L": eur(valuation.realised_pnl_eur, signed=True),
    }
    assert valuation.equity_eur > 0 and valuation.cash_eur > 0
    holdings = app.dataframe[0].value
    assert sorted(holdings["Symbol"]) == ["AAPL", "BTC/EUR", "ETH/EUR", "SOL/EUR"]
    btc = holdings.set_index("Symbol").loc["BTC/EUR"]
    expected = next(h for h in valuation.holdings if h.symbol == "BTC/EUR")
    assert expected.market_value_eur is not None
    assert btc["Market value"] == eur(expected.market_value_eur)
    figures = plotly_specs(app)
    pie = next(fig for fig in figures if fig["data"][0]["type"] == "pie")
    assert "Cash (EUR)" in pie["data"][0]["labels"]
    curve = next(fig for fig in figures if fig["data"][0]["type"] == "scatter")
    assert len(curve["data"][0]["x"]) > 300  # daily demo snapshots over a year
    assert any("refreshes every 30 s" in caption.value for caption in app.caption)


def test_portfolio_account_picker_limits_to_one_account(demo_database: Database, run_page) -> None:
    app = run_page("portfolio")
    app.segmented_control(key="portfolio_account").set_value("paper").run()
    assert not app.exception
    assert app.metric[0].label == "Equity"
    assert "Account" not in app.dataframe[0].value.columns


def test_portfolio_without_any_account_says_so(configured_sqlite: Database, run_page) -> None:
    app = run_page("portfolio")
    assert "No account has any ledger entries yet" in app.info[0].value
    assert not app.metric


def test_reducing_a_paper_position_writes_a_market_sell_intent(demo_database, run_page) -> None:
    from decimal import ROUND_DOWN, Decimal

    from sqlalchemy import select

    from core.execution.enums import ExitReason, OrderSide, OrderType
    from core.execution.models import Order, OrderStatus

    app = run_page("portfolio")
    label = app.selectbox(key="reduce_holding")
    symbol = label.format_func(label.value).split(" · ")[0]
    app.segmented_control(key="reduce_fraction").set_value(Decimal("0.5"))
    app.button(key="review_reduce").click().run()
    assert not app.exception
    assert any(item.value.startswith("Sell ") and "(paper, 50 % of" in item.value for item in app.warning)
    assert not any("queued" in item.value for item in app.success)  # nothing placed before the confirmation
    app.button(key="confirm_reduce").click().run()
    assert not app.exception
    assert any("queued" in item.value for item in app.success), [item.value for item in app.error]
    order = demo_database.run(lambda session: session.scalars(select(Order).order_by(Order.id.desc()).limit(1)).one())
    holdings = demo_database.run(lambda session: value_portfolio(session, ["paper"]).holdings)
    position = next(item for item in holdings if item.symbol == symbol)
    assert (order.symbol, order.side, order.order_type, order.status) == (
        symbol,
        OrderSide.SELL,
        OrderType.MARKET,
        OrderStatus.NEW,
    )
    assert order.exit_reason is ExitReason.MANUAL
    # half the holding, rounded down to the instrument's lot (1e-8) before the order is stored
    assert order.quantity == (position.quantity * Decimal("0.5")).quantize(Decimal("0.00000001"), ROUND_DOWN)


def test_setting_a_stop_loss_on_a_holding_asks_for_confirmation_then_arms_the_exit_plan(
    demo_database, run_page
) -> None:
    from decimal import Decimal

    from sqlalchemy import select

    from core.audit import AuditAction, AuditEntry
    from core.execution.models import ExitPlan
    from core.execution.prices import latest_price
    from core.market.query import instrument_by_symbol

    app = run_page("portfolio")
    label = app.selectbox(key="reduce_holding")
    symbol = label.format_func(label.value).split(" · ")[0]

    def last() -> Decimal:
        def read(session):
            instrument = instrument_by_symbol(session, symbol)
            assert instrument is not None
            price = latest_price(session, instrument.id)
            assert price is not None
            return price.price

        return demo_database.run(read)

    price = last()
    app.text_input(key="exit_stop_loss").set_value(str(price * 2))  # above the price: refused, nothing written
    app.button(key="review_exits").click().run()
    assert any("is not below the last price" in item.value for item in app.error)
    stop = (price * Decimal("0.9")).quantize(Decimal("0.01"))
    target = (price * Decimal("1.2")).quantize(Decimal("0.01"))
    app.text_input(key="exit_stop_loss").set_value(str(stop))
    app.text_input(key="exit_take_profit").set_value(str(target))
    app.button(key="review_exits").click().run()
    assert not app.exception
    assert any("Set the exits of" in item.value and symbol in item.value for item in app.warning)
    assert (
        demo_database.run(
            lambda session: session.scalars(
                select(AuditEntry).where(AuditEntry.action == AuditAction.EXIT_PLAN_SET)
            ).all()
        )
        == []
    )
    app.button(key="confirm_exits").click().run()
    assert not app.exception
    assert any("Exits armed" in item.value for item in app.success), [item.value for item in app.error]
    cent = Decimal("0.01")
    plans = demo_database.run(
        lambda session: [
            (Decimal(str(plan.stop_loss)).quantize(cent), Decimal(str(plan.take_profit)).quantize(cent), plan.active)
            for plan in session.scalars(select(ExitPlan).where(ExitPlan.active))
        ]
    )
    assert (stop, target, True) in plans
    app.run()
    assert any(f"stop-loss € {stop:,.2f}" in item.value for item in app.caption)  # the holding shows its new stop
