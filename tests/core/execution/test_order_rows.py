"""The Core read model of orders (``konsens order list``) equals the ORM: same columns, same rows."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import String, TableClause, select
from sqlalchemy.sql.schema import Table

from core.db.engine import Database
from core.execution.enums import ExitReason, OrderSide, OrderStatus, OrderType
from core.execution.models import Order
from core.execution.order_rows import ORDERS, OrderRow, open_orders, order_history, orders_by_client_id
from core.execution.orders import OPEN_STATUSES
from core.market.models import AssetClass, Instrument
from core.market.precision import INSTRUMENT_RULES, display_precisions, precision_of
from core.timeutil import utc_now
from tests.orders import place_test_order

ENUM_COLUMNS = ("mode", "side", "order_type", "time_in_force", "status", "exit_reason", "asset_class")


def _assert_same_types(light: TableClause, real: Table) -> None:
    """Every light column is a column of ``real`` of the same type; enums are VARCHARs of their length."""
    assert light.name == real.name
    for light_column in light.c:
        column = real.c[light_column.name]
        if light_column.name in ENUM_COLUMNS:
            assert isinstance(light_column.type, String) and light_column.type.length == column.type.length  # type: ignore[attr-defined]
        else:
            assert type(light_column.type) is type(column.type), light_column.name
            assert getattr(light_column.type, "length", None) == getattr(column.type, "length", None)


def test_the_light_tables_have_the_models_column_types() -> None:
    assert isinstance(Order.__table__, Table) and isinstance(Instrument.__table__, Table)
    _assert_same_types(ORDERS, Order.__table__)
    _assert_same_types(INSTRUMENT_RULES, Instrument.__table__)
    # OrderRow has a field for every light column (cancel_requested from cancel_requested_at).
    fields = {name for name in OrderRow.__dataclass_fields__} | {"cancel_requested_at"}
    assert {column.name for column in ORDERS.c} <= fields


def _orm_row(order: Order) -> OrderRow:
    """What the ORM read model returned before (one field per column, enums as their values)."""
    return OrderRow(
        id=order.id,
        client_order_id=order.client_order_id,
        created_at=order.created_at,
        mode=order.mode.value,
        account=order.account,
        symbol=order.symbol,
        side=order.side.value,
        order_type=order.order_type.value,
        time_in_force=order.time_in_force.value,
        quantity=order.quantity,
        amount_eur=order.amount_eur,
        limit_price=order.limit_price,
        stop_price=order.stop_price,
        status=order.status.value,
        filled_quantity=order.filled_quantity,
        average_fill_price=order.average_fill_price,
        fees_eur=order.fees_eur,
        reject_rule=order.reject_rule,
        reject_reason=order.reject_reason,
        exit_reason=order.exit_reason.value if order.exit_reason else None,
        cancel_requested=order.cancel_requested_at is not None,
        created_by=order.created_by,
    )


def test_core_rows_equal_the_orm_rows_through_a_connection_and_a_session(
    database: Database, market: dict[str, int]
) -> None:
    with database.session() as session:
        place_test_order(session, "BTC/EUR", quantity=Decimal("0.015"), limit_price=Decimal("49000.5"))
        place_test_order(session, "ETH/EUR", order_type=OrderType.MARKET, amount_eur=Decimal("250"))
        cancelled = place_test_order(session, "ETH/EUR", OrderSide.SELL, OrderType.MARKET, quantity=Decimal("0.5"))
        # Final (so in the history, not among the open orders), with an exit reason and a cancel intent.
        cancelled.status = OrderStatus.CANCELLED
        cancelled.exit_reason = ExitReason.MANUAL
        cancelled.cancel_requested_at = utc_now()
    with database.session() as session:
        everything = list(session.scalars(select(Order).order_by(Order.created_at.desc(), Order.id.desc())))
        expected_history = [_orm_row(order) for order in everything]
        expected_open = sorted(
            (_orm_row(order) for order in everything if order.status in OPEN_STATUSES), key=lambda row: -row.id
        )
        assert order_history(session) == expected_history
        assert open_orders(session) == expected_open
    assert len(expected_history) == 3 and len(expected_open) == 2
    assert [row.cancel_requested for row in expected_history].count(True) == 1
    assert database.read(order_history) == expected_history
    assert database.read(open_orders) == expected_open
    assert database.read(lambda c: order_history(c, limit=1)) == expected_history[:1]
    assert database.read(lambda c: order_history(c, account="nobody")) == []
    wanted = [expected_history[0].client_order_id]
    assert database.read(lambda c: orders_by_client_id(c, wanted)) == expected_history[:1]
    assert database.read(lambda c: orders_by_client_id(c, [])) == []


def test_display_precisions_through_core_equal_the_orm_instruments(database: Database) -> None:
    with database.session() as session:
        session.add_all(
            [
                Instrument(symbol="BTC/EUR", base="BTC", quote="EUR", asset_class=AssetClass.CRYPTO),
                Instrument(
                    symbol="AAPL",
                    base="AAPL",
                    quote="USD",
                    asset_class=AssetClass.STOCK,
                    lot_size=Decimal("0.001"),
                    tick_size=Decimal("0.05"),
                    rules_source="test",
                ),
                Instrument(symbol="VWCE", base="VWCE", quote="EUR", asset_class=AssetClass.ETF),
            ]
        )
    with database.session() as session:
        expected = {item.symbol: precision_of(item) for item in session.scalars(select(Instrument))}
        assert dict(display_precisions(session)) == expected
    through_core = database.read(display_precisions)
    assert dict(through_core) == expected
    assert through_core["AAPL"].lot_size == Decimal("0.001") and through_core["VWCE"].tick_size == Decimal("0.01")
    assert through_core["NOT/LISTED"].tick_size is None  # the default style for an unknown symbol
