"""The ledger (single source for portfolio, P&L and tax), positions and portfolio snapshots.

A ledger entry is one account movement in the shape of a transaction: what was sent, what was
received, and the fee, each as (asset, quantity); balances are sums over received − sent − fee.
``(origin, external_id)`` is unique, so a re-import of the same data stores nothing twice.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import JSON, Boolean, Enum, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db.base import Base, Money, Quantity, UTCDateTime
from core.timeutil import utc_now


def _enum_values(enum_cls: type[StrEnum]) -> list[str]:
    return [member.value for member in enum_cls]


class LedgerKind(StrEnum):
    """What kind of movement a ledger entry is."""

    BUY = "buy"  # fiat -> asset
    SELL = "sell"  # asset -> fiat
    SWAP = "swap"  # asset -> other asset
    DEPOSIT = "deposit"  # into the account from outside
    WITHDRAWAL = "withdrawal"  # out of the account
    TRANSFER_IN = "transfer_in"  # from another own account
    TRANSFER_OUT = "transfer_out"  # to another own account
    REWARD = "reward"  # staking reward, bounty: acquisition cost 0
    AIRDROP = "airdrop"
    FORK = "fork"
    INCOME = "income"  # lending interest, mining: current income at market value
    FEE = "fee"  # a fee on its own
    SPEND = "spend"  # crypto spent on goods or services
    GIFT_IN = "gift_in"
    GIFT_OUT = "gift_out"
    LOSS = "loss"  # lost or stolen: no realisation
    TAX = "tax"  # KESt a provider withheld (fiat sent) or refunded (fiat received): cash only, never a trade
    INTERNAL = "internal"  # a move inside one account (staking, unstaking): moves no balance, sides left empty
    NEEDS_REVIEW = "needs_review"  # a well-formed source row of an unknown type: moves nothing until reviewed


class LedgerOrigin(StrEnum):
    """Where a ledger entry came from."""

    DEMO = "demo"
    PAPER = "paper"
    LIVE = "live"
    BITPANDA_API = "bitpanda_api"
    BITPANDA_CSV = "bitpanda_csv"
    KOINLY_CSV = "koinly_csv"
    MANUAL = "manual"


class LedgerEntry(Base):
    """One account movement."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        UniqueConstraint("origin", "external_id", name="uq_ledger_entries_origin_external_id"),
        Index("ix_ledger_entries_account_ts", "account", "ts"),
        Index("ix_ledger_entries_ts_id", "ts", "id"),  # the tax report reads the ledger in this order
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ts: Mapped[datetime] = mapped_column(UTCDateTime)
    account: Mapped[str] = mapped_column(String(80))
    kind: Mapped[LedgerKind] = mapped_column(
        Enum(LedgerKind, native_enum=False, length=20, values_callable=_enum_values)
    )
    origin: Mapped[LedgerOrigin] = mapped_column(
        Enum(LedgerOrigin, native_enum=False, length=20, values_callable=_enum_values)
    )
    external_id: Mapped[str] = mapped_column(String(120))
    sent_asset: Mapped[str | None] = mapped_column(String(20))
    sent_quantity: Mapped[Decimal | None] = mapped_column(Quantity)
    received_asset: Mapped[str | None] = mapped_column(String(20))
    received_quantity: Mapped[Decimal | None] = mapped_column(Quantity)
    fee_asset: Mapped[str | None] = mapped_column(String(20))
    fee_quantity: Mapped[Decimal | None] = mapped_column(Quantity)
    value_eur: Mapped[Decimal | None] = mapped_column(Money, doc="Market value of the movement in EUR, where known.")
    kest_withheld_eur: Mapped[Decimal | None] = mapped_column(Money)
    instrument_id: Mapped[int | None] = mapped_column(ForeignKey("instruments.id", ondelete="SET NULL"))
    asset_class: Mapped[str | None] = mapped_column(String(16))
    order_ref: Mapped[str | None] = mapped_column(String(64), doc="Client order id of the order behind it.")
    description: Mapped[str | None] = mapped_column(Text)
    raw: Mapped[dict | None] = mapped_column(JSON, doc="The source row as imported, for audit.")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class Position(Base):
    """A cached open position of an account in one instrument (derived from the ledger)."""

    __tablename__ = "positions"

    account: Mapped[str] = mapped_column(String(80), primary_key=True)
    instrument_id: Mapped[int] = mapped_column(ForeignKey("instruments.id", ondelete="CASCADE"), primary_key=True)
    quantity: Mapped[Decimal] = mapped_column(Quantity)
    average_price_eur: Mapped[Decimal] = mapped_column(Quantity)
    realised_pnl_eur: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now, onupdate=utc_now)


class PortfolioSnapshot(Base):
    """The value of an account at one moment: the points of the equity curve."""

    __tablename__ = "portfolio_snapshots"

    account: Mapped[str] = mapped_column(String(80), primary_key=True)
    ts: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    equity_eur: Mapped[Decimal] = mapped_column(Money)
    cash_eur: Mapped[Decimal] = mapped_column(Money)
    positions_value_eur: Mapped[Decimal] = mapped_column(Money)
    is_demo: Mapped[bool] = mapped_column(Boolean, default=False)
