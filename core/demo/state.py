"""What the rest of Konsens needs to know about demo data, without the seeder.

Whether a database holds demo data (the ``demo.seeded_at`` marker), whether it is empty, and the
context the area seeders receive. Pages, workers and reports import this module; only the seeding
commands import :mod:`core.demo.seed` (a test walks the imports to keep it so).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.market.models import Instrument
from core.portfolio.models import LedgerEntry
from core.security.demo_guard import SETTING_DEMO_REMOVED_AT, real_data_present
from core.security.demo_guard import SETTING_DEMO_SEEDED_AT as SETTING_DEMO_SEEDED_AT
from core.security.demo_guard import has_demo_data as has_demo_data
from core.system.settings_store import get_setting, get_utc_time_setting

if TYPE_CHECKING:
    import pandas as pd

DEMO_ACCOUNT = "paper"
SETTING_DEMO_WALK_EPOCH = "demo.walk_epoch"  # where the seed started the demo market's walk (ISO, UTC)
# set once every area's demo data is seeded: the anchor of that seed (ISO, UTC; the row's updated_at is when)
SETTING_DEMO_SEED_FINISHED_AT = "demo.seed_finished_at"


@dataclass
class DemoContext:
    """What the base seed created, handed to the area seeders."""

    now: datetime
    instruments: dict[str, Instrument]
    candles: dict[str, pd.DataFrame]
    epoch: datetime | None = None  # the demo market walk's epoch (``core.market.demo_source``)
    account: str = DEMO_ACCOUNT
    extra: dict[str, Any] = field(default_factory=dict)


def demo_walk_epoch(session: Session) -> datetime:
    """Return the epoch of this database's demo market walk (``core.market.demo_source``).

    The seed stores it (``demo.walk_epoch``); a database seeded before it was stored, or never
    seeded, has the original fixed epoch ``DEMO_EPOCH``, so the candles collected later continue
    the ones seeded then.
    """
    from core.market.demo_source import DEMO_EPOCH  # numpy and pandas: only for who makes demo prices

    return get_utc_time_setting(session, SETTING_DEMO_WALK_EPOCH, "demo walk epoch") or DEMO_EPOCH


class DemoSeedState(StrEnum):
    """How far this database's demo seed got."""

    NONE = "none"  # never seeded (or the demo data was removed)
    UNFINISHED = "unfinished"  # seeding began; its last area is not seeded (yet)
    FINISHED = "finished"


def demo_seed_state(session: Session) -> DemoSeedState:
    """Return how far the demo seed got, by one query over its two marks.

    The base seed (instruments, candles, paper account, login) is one transaction and each area's
    demo data another; ``seed_demo`` marks the start (``demo.seeded_at``) and the end
    (``demo.seed_finished_at``). A seed stopped in between (Ctrl-C in ``konsens up``), or still
    running, leaves the end out: ``konsens up`` then runs the (idempotent) seed again, and the
    banner says the demo data is incomplete.
    """
    from core.system.models import SettingValue

    marks = (SETTING_DEMO_SEEDED_AT, SETTING_DEMO_SEED_FINISHED_AT)
    present = set(session.scalars(select(SettingValue.key).where(SettingValue.key.in_(marks))))
    if SETTING_DEMO_SEEDED_AT not in present:
        return DemoSeedState.NONE
    return DemoSeedState.FINISHED if SETTING_DEMO_SEED_FINISHED_AT in present else DemoSeedState.UNFINISHED


def demo_seed_unfinished(session: Session) -> bool:
    """Return True when the demo seed began here but its last area has not been seeded (yet)."""
    return demo_seed_state(session) is DemoSeedState.UNFINISHED


def database_is_empty(session: Session) -> bool:
    """Return True for a new database: no instruments, no ledger entries, nothing real, demo never removed.

    A database whose demo data was removed (``demo.removed_at``) is never "empty" again, so
    ``konsens up`` does not bring the demo login back.
    """
    has_instruments = session.scalar(select(Instrument.id).limit(1)) is not None
    has_ledger = session.scalar(select(LedgerEntry.id).limit(1)) is not None
    if has_instruments or has_ledger or get_setting(session, SETTING_DEMO_REMOVED_AT) is not None:
        return False
    return not real_data_present(session)
