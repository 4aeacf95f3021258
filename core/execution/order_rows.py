"""Order rows read through SQLAlchemy Core: the read model of ``konsens order list`` and the Trade page.

No ORM here: the ``orders`` columns these reads need are declared as a light
:func:`sqlalchemy.table` with the same column types as :class:`core.execution.models.Order`
(``tests/core/execution/test_order_rows.py`` keeps them equal), so a command that only lists
orders does not import ``sqlalchemy.orm`` nor configure the mappers of every model. The
functions take a Core ``Connection`` (``Database.read``) or an ORM ``Session``
(``core.execution.queries`` passes its session: pending changes are flushed first).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import Integer, String, Text, column, select, table

from core.db.types import Money, Quantity, UTCDateTime
from core.execution.orders import OPEN_STATUSES

if TYPE_CHECKING:
    from sqlalchemy import Connection, Select
    from sqlalchemy.orm import Session

# Enum columns are VARCHARs holding the members' values (``native_enum=False``, ``values_callable``):
# read as strings, they are what ``OrderRow`` keeps.
ORDERS = table(
    "orders",
    column("id", Integer),
    column("client_order_id", String(36)),
    column("mode", String(8)),
    column("account", String(80)),
    column("symbol", String(40)),
    column("side", String(8)),
    column("order_type", String(16)),
    column("time_in_force", String(8)),
    column("quantity", Quantity),
    column("amount_eur", Money),
    column("limit_price", Quantity),
    column("stop_price", Quantity),
    column("status", String(20)),
    column("filled_quantity", Quantity),
    column("average_fill_price", Quantity),
    column("fees_eur", Money),
    column("reject_rule", String(80)),
    column("reject_reason", Text),
    column("exit_reason", String(16)),
    column("created_by", String(80)),
    column("created_at", UTCDateTime),
    column("cancel_requested_at", UTCDateTime),
)


@dataclass(frozen=True)
class OrderRow:
    id: int
    client_order_id: str
    created_at: datetime
    mode: str
    account: str
    symbol: str
    side: str
    order_type: str
    time_in_force: str
    quantity: Decimal | None
    amount_eur: Decimal | None
    limit_price: Decimal | None
    stop_price: Decimal | None
    status: str
    filled_quantity: Decimal
    average_fill_price: Decimal | None
    fees_eur: Decimal
    reject_rule: str | None
    reject_reason: str | None
    exit_reason: str | None
    cancel_requested: bool
    created_by: str


def _rows(connection: Connection | Session, query: Select[Any]) -> list[OrderRow]:
    return [
        OrderRow(
            id=row.id,
            client_order_id=row.client_order_id,
            created_at=row.created_at,
            mode=row.mode,
            account=row.account,
            symbol=row.symbol,
            side=row.side,
            order_type=row.order_type,
            time_in_force=row.time_in_force,
            quantity=row.quantity,
            amount_eur=row.amount_eur,
            limit_price=row.limit_price,
            stop_price=row.stop_price,
            status=row.status,
            filled_quantity=row.filled_quantity,
            average_fill_price=row.average_fill_price,
            fees_eur=row.fees_eur,
            reject_rule=row.reject_rule,
            reject_reason=row.reject_reason,
            exit_reason=row.exit_reason,
            cancel_requested=row.cancel_requested_at is not None,
            created_by=row.created_by,
        )
        for row in connection.execute(query)
    ]


def open_orders(connection: Connection | Session) -> list[OrderRow]:
    """Orders not yet final (new, submitting, open, partially filled, pending cancel), newest first."""
    c = ORDERS.c
    query = select(ORDERS).where(c.status.in_(sorted(s.value for s in OPEN_STATUSES))).order_by(c.id.desc())
    return _rows(connection, query)


def orders_by_client_id(connection: Connection | Session, client_order_ids: Sequence[str]) -> list[OrderRow]:
    """The orders with these client order ids (a cheap read for a page watching its own orders)."""
    if not client_order_ids:
        return []
    c = ORDERS.c
    query = select(ORDERS).where(c.client_order_id.in_(list(client_order_ids))).order_by(c.id.desc())
    return _rows(connection, query)


def order_history(connection: Connection | Session, *, limit: int = 200, account: str | None = None) -> list[OrderRow]:
    """The newest orders of any status."""
    c = ORDERS.c
    query = select(ORDERS).order_by(c.created_at.desc(), c.id.desc()).limit(limit)
    if account:
        query = query.where(c.account == account)
    return _rows(connection, query)
