"""The ``trace_contexts`` table: the trace an intent was created in, so the worker continues it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from core.db.base import Base, UTCDateTime
from core.timeutil import utc_now


class TraceContext(Base):
    """The W3C ``traceparent`` of the span that wrote an intent (an order, an analysis request)."""

    __tablename__ = "trace_contexts"

    subject: Mapped[str] = mapped_column(String(120), primary_key=True, doc="e.g. order:<client order id>")
    traceparent: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
