"""Builders for engine movements in tests."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from itertools import count
from typing import Any

from core.portfolio.models import LedgerKind
from core.tax.engine import Movement

_ids = count(1)


def when(text: str) -> datetime:
    """'2024-01-15' or '2024-01-15 10:00' as aware UTC (noon when no time is given)."""
    if len(text) == 10:
        text += " 12:00"
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=UTC)


def D(value: str | int) -> Decimal:
    return Decimal(str(value))


def _movement(ts: str, kind: LedgerKind, *, wallet: str, value: str | None, **fields: Any) -> Movement:
    """A movement with the next id, the time parsed and the EUR value (if any) as a Decimal."""
    return Movement(
        entry_id=next(_ids), ts=when(ts), wallet=wallet, kind=kind, value_eur=D(value) if value else None, **fields
    )


def buy(
    ts: str, coin: str, quantity: str, eur: str, *, wallet: str = "w", fee_eur: str | None = None, **extra: object
) -> Movement:
    return _movement(
        ts,
        LedgerKind.BUY,
        wallet=wallet,
        value=eur,
        sent_asset="EUR",
        sent_quantity=D(eur),
        received_asset=coin,
        received_quantity=D(quantity),
        fee_asset="EUR" if fee_eur else None,
        fee_quantity=D(fee_eur) if fee_eur else None,
        **extra,
    )


def sell(ts: str, coin: str, quantity: str, eur: str, *, wallet: str = "w", **extra: object) -> Movement:
    return _movement(
        ts,
        LedgerKind.SELL,
        wallet=wallet,
        value=eur,
        sent_asset=coin,
        sent_quantity=D(quantity),
        received_asset="EUR",
        received_quantity=D(eur),
        **extra,
    )


def swap(
    ts: str,
    sent: str,
    sent_quantity: str,
    received: str,
    received_quantity: str,
    *,
    wallet: str = "w",
    value: str | None = None,
    **extra: object,
) -> Movement:
    return _movement(
        ts,
        LedgerKind.SWAP,
        wallet=wallet,
        value=value,
        sent_asset=sent,
        sent_quantity=D(sent_quantity),
        received_asset=received,
        received_quantity=D(received_quantity),
        **extra,
    )


def receive(
    ts: str, kind: LedgerKind, coin: str, quantity: str, *, wallet: str = "w", value: str | None = None, **extra: object
) -> Movement:
    return _movement(ts, kind, wallet=wallet, value=value, received_asset=coin, received_quantity=D(quantity), **extra)


def send(
    ts: str, kind: LedgerKind, coin: str, quantity: str, *, wallet: str = "w", value: str | None = None, **extra: object
) -> Movement:
    return _movement(ts, kind, wallet=wallet, value=value, sent_asset=coin, sent_quantity=D(quantity), **extra)
