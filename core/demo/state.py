"""What the rest of Konsens needs to know about demo data, without the seeder.

Whether a database holds demo data (the ``demo.seeded_at`` marker), whether it is empty, and the
context the area seeders receive. Pages, workers and reports import this module; only the seeding
commands import :mod:`core.demo.seed` (a test walks the imports to keep it so).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.market.models import Instrument
from core.portfolio.models import LedgerEntry
from core.system.settings_store import get_setting

if TYPE_CHECKING:
    import pandas as pd

DEMO_ACCOUNT = "paper"
SETTING_DEMO_SEEDED_AT = "demo.seeded_at"


@dataclass
class DemoContext:
    """What the base seed created, handed to the area seeders."""

    now: datetime
    instruments: dict[str, Instrument]
    candles: dict[str, pd.DataFrame]
    account: str = DEMO_ACCOUNT
    extra: dict[str, Any] = field(default_factory=dict)


def has_demo_data(session: Session) -> bool:
    """Return True if demo data has been seeded into this database."""
    return get_setting(session, SETTING_DEMO_SEEDED_AT) is not None


def database_is_empty(session: Session) -> bool:
    """Return True for a new database: no instruments, no ledger entries, nothing real, demo never removed.

    A database whose demo data was removed (``demo.removed_at``) is never "empty" again, so
    ``konsens up`` does not bring the demo login back.
    """
    from core.security.demo_guard import SETTING_DEMO_REMOVED_AT, real_data_present

    has_instruments = session.scalar(select(Instrument.id).limit(1)) is not None
    has_ledger = session.scalar(select(LedgerEntry.id).limit(1)) is not None
    if has_instruments or has_ledger or get_setting(session, SETTING_DEMO_REMOVED_AT) is not None:
        return False
    return not real_data_present(session)
