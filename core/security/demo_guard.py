"""Demo mode must end before real use: refuse every real act while demo data is present.

A database seeded by ``konsens demo`` (or ``konsens up`` on an empty database) holds the
``demo``/``demo`` login, a synthetic market and a paper account. Storing an API key, enabling
live trading, importing an account history or adding a real login on such a database would mix
real money with a login everyone knows, so each of those acts calls :func:`refuse_while_demo`
first; it raises :class:`DemoModeError` with one message that names the way out. The executor
refuses live orders while a demo login exists (:func:`demo_login_exists`).

This module is light on purpose (no pandas, no seeder import): it is called on hot paths.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import PermanentError
from core.market.models import Instrument
from core.portfolio.models import LedgerEntry, LedgerOrigin
from core.system.models import SettingValue, StoredSecret, UserAccount

SETTING_DEMO_SEEDED_AT = "demo.seeded_at"
SETTING_DEMO_REMOVED_AT = "demo.removed_at"
SETTING_LIVE_ENABLED = "trading.live_enabled"  # core.execution.settings.KEY_LIVE_ENABLED
REMOVE_DEMO_HINT = "run `konsens demo --remove` or use Settings → Account & security → Remove demo data"


class RealAct(StrEnum):
    """An act that turns a database into a real one; refused while demo data is present."""

    STORE_API_KEY = "storing an API key"
    ENABLE_LIVE_TRADING = "enabling live trading"
    IMPORT_ACCOUNT_HISTORY = "importing an account history"
    ADD_LOGIN = "adding a login"
    LIVE_ORDER = "a live order"
    SEED_DEMO = "seeding demo data"


class DemoModeError(PermanentError, ValueError):
    """A real act was tried on a database that still holds demo data."""

    def __init__(self, act: RealAct):
        self.act = act
        super().__init__(demo_refusal_message(act))


def demo_refusal_message(act: RealAct) -> str:
    """Return the one message shown (CLI, page dialog, executor) when ``act`` is refused in demo mode."""
    if act is RealAct.SEED_DEMO:
        return (
            "This database holds real data (a login, a stored key, live trading or an imported account "
            "history), so seeding demo data is refused: the public demo/demo login must never sit beside it."
        )
    return (
        f"This database still holds demo data and the public demo/demo login, so {act.value} is refused. "
        f"End demo mode first: {REMOVE_DEMO_HINT} (your own data is kept)."
    )


def demo_login_exists(session: Session) -> bool:
    """Return True if a demo login row exists (whatever the demo setting says)."""
    return session.scalar(select(UserAccount.username).where(UserAccount.is_demo.is_(True)).limit(1)) is not None


def has_demo_data(session: Session) -> bool:
    """Return True while the database is marked as seeded with demo data (``demo.seeded_at``).

    The one reading of the mark: the demo login may log in only then, the banner and the reports
    label the data as demo. A query, not the identity map, so a bulk delete by the demo removal is
    seen at once in the same session.
    """
    seeded = select(SettingValue.key).where(SettingValue.key == SETTING_DEMO_SEEDED_AT)
    return session.scalar(seeded) is not None


def demo_data_present(session: Session) -> bool:
    """Return True while any demo marker is present: the demo setting, a demo login or a demo instrument."""
    if has_demo_data(session):
        return True
    if demo_login_exists(session):
        return True
    return session.scalar(select(Instrument.id).where(Instrument.is_demo.is_(True)).limit(1)) is not None


def real_data_present(session: Session) -> bool:
    """Return True if the database holds something real: a non-demo login, a stored secret,
    live trading switched on, or a ledger entry that is neither demo nor paper."""
    if session.scalar(select(UserAccount.username).where(UserAccount.is_demo.is_(False)).limit(1)) is not None:
        return True
    if session.scalar(select(StoredSecret.name).limit(1)) is not None:
        return True
    live = session.get(SettingValue, SETTING_LIVE_ENABLED)
    if live is not None and live.value is True:
        return True
    real_origins = [origin for origin in LedgerOrigin if origin not in (LedgerOrigin.DEMO, LedgerOrigin.PAPER)]
    return session.scalar(select(LedgerEntry.id).where(LedgerEntry.origin.in_(real_origins)).limit(1)) is not None


def refuse_while_demo(session: Session, act: RealAct) -> None:
    """Raise :class:`DemoModeError` if demo data is present; otherwise do nothing."""
    if demo_data_present(session):
        raise DemoModeError(act)
