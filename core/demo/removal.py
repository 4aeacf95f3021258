"""End demo mode: remove every row the demo seeders wrote, the demo login and the demo setting.

Demo rows are found by explicit markers only, never by guessing from names or values:

- ``is_demo`` columns (instruments, portfolio snapshots, news items, calendar events, AI opinions
  and consensus results, backtest runs, users — and any table that adds such a column later);
- ``ledger_entries.origin = 'demo'``, ``orders.created_by = 'demo'``, quarantine rows of the
  ``demo`` source, risk alerts whose ``dedupe_key`` starts with ``demo:`` (the risk seeder's keys),
  and the ``demo.seeded_at`` setting;
- rows that belong to a demo row through an ``ON DELETE CASCADE`` foreign key (candles, quotes,
  positions, order events, fills, exit plans, news links, sentiment aggregates, ...), found by
  walking the foreign keys of the metadata, so a table added later is covered too.

A row that refers to a demo row through an ``ON DELETE SET NULL`` key is the user's own (e.g. a
Bitpanda ledger entry priced against the demo BTC/EUR instrument): it is kept, with that reference
cleared. Everything runs in one transaction and ends with one audit entry listing the counts.
Afterwards the ``demo.removed_at`` setting stops ``konsens up`` from seeding demo data again.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Table, delete, or_, select, true, update
from sqlalchemy.orm import Session

import core
from core.audit import AuditAction, append_audit
from core.db.base import Base
from core.db.engine import Database
from core.db.registry import import_all_models
from core.demo.state import SETTING_DEMO_SEED_FINISHED_AT, SETTING_DEMO_WALK_EPOCH
from core.security.demo_guard import SETTING_DEMO_REMOVED_AT, SETTING_DEMO_SEEDED_AT, demo_data_present
from core.system.settings_store import set_setting
from core.timeutil import utc_now

logger = logging.getLogger(__name__)

DEMO_SOURCE = "demo"
DEMO_ALERT_KEY_PREFIX = "demo:"


@dataclass(frozen=True)
class RemovalResult:
    """What :func:`remove_demo_data` did: rows deleted and references cleared, by table."""

    deleted: dict[str, int] = field(default_factory=dict)
    detached: dict[str, int] = field(default_factory=dict)

    @property
    def total_deleted(self) -> int:
        return sum(self.deleted.values())


def _explicit_marker(table: Table) -> ColumnElement[bool] | None:
    """Return the demo marker of ``table`` that is not an ``is_demo`` column, if it has one."""
    columns = table.c
    if table.name == "ledger_entries":
        return columns.origin == "demo"
    if table.name == "orders":
        return columns.created_by == "demo"
    if table.name == "quarantine":
        return columns.source == DEMO_SOURCE
    if table.name == "risk_alerts":
        return columns.dedupe_key.startswith(DEMO_ALERT_KEY_PREFIX)
    if table.name == "settings":
        return columns.key.in_((SETTING_DEMO_SEEDED_AT, SETTING_DEMO_WALK_EPOCH, SETTING_DEMO_SEED_FINISHED_AT))
    return None


def _demo_conditions(tables: list[Table]) -> dict[str, ColumnElement[bool]]:
    """Return, per table (parents before children), the condition that selects its demo rows."""
    conditions: dict[str, ColumnElement[bool]] = {}
    for table in tables:
        parts: list[ColumnElement[bool]] = []
        if "is_demo" in table.c:
            parts.append(table.c.is_demo.is_(True))
        marker = _explicit_marker(table)
        if marker is not None:
            parts.append(marker)
        for key in table.foreign_keys:
            parent = key.column.table
            if key.ondelete is None or key.ondelete.upper() != "CASCADE" or parent is table:
                continue
            parent_condition = conditions.get(parent.name)
            if parent_condition is None:
                continue
            parts.append(key.parent.in_(select(key.column).where(parent_condition)))
        if parts:
            conditions[table.name] = or_(*parts)
    return conditions


def _has_rows(session: Session, table: Table, condition: ColumnElement[bool]) -> bool:
    return session.execute(select(true()).select_from(table).where(condition).limit(1)).first() is not None


def remove_demo_data(session: Session, *, actor: str) -> RemovalResult:
    """Delete every demo row in the caller's transaction, audit it, and return the counts.

    Nothing else changes: rows without a demo marker are kept (a reference of theirs to a demo
    row is set to NULL). Calling it on a database without demo data deletes nothing and audits
    nothing.
    """
    import_all_models()
    tables = list(Base.metadata.sorted_tables)
    if not demo_data_present(session):
        return RemovalResult()
    conditions = _demo_conditions(tables)
    detached: dict[str, int] = {}
    for table in tables:  # clear SET NULL references of kept rows before their parents go
        for key in table.foreign_keys:
            parent = key.column.table
            if key.ondelete is None or key.ondelete.upper() != "SET NULL":
                continue
            parent_condition = conditions.get(parent.name)
            if parent_condition is None:
                continue
            own_condition = conditions.get(table.name)
            pointing = key.parent.in_(select(key.column).where(parent_condition))
            kept_and_pointing = pointing if own_condition is None else ~own_condition & pointing
            result = session.execute(update(table).where(kept_and_pointing).values({key.parent.name: None}))
            count = int(result.rowcount or 0)  # type: ignore[attr-defined]
            if count:
                detached[f"{table.name}.{key.parent.name}"] = count
    deleted: dict[str, int] = {}
    for table in reversed(tables):  # children first, while their parents still mark them
        condition = conditions.get(table.name)
        if condition is None or not _has_rows(session, table, condition):
            continue
        result = session.execute(delete(table).where(condition))
        count = int(result.rowcount or 0)  # type: ignore[attr-defined]
        if count:
            deleted[table.name] = count
    for hook in _area_hooks():
        hook.after_demo_removed(session)
    set_setting(session, SETTING_DEMO_REMOVED_AT, utc_now().isoformat())
    details: dict[str, Any] = {"deleted": deleted, "detached": detached}
    append_audit(session, actor=actor, action=AuditAction.DEMO_REMOVED, subject="demo:data", details=details)
    logger.warning("Demo data removed by %s: %d rows deleted", actor, sum(deleted.values()))
    return RemovalResult(deleted=deleted, detached=detached)


def remove_demo(database: Database, *, actor: str) -> RemovalResult:
    """Remove the demo data from ``database`` in one transaction (see :func:`remove_demo_data`)."""
    with database.session() as session:
        return remove_demo_data(session, actor=actor)


def _area_hooks() -> list[Any]:
    """Return the areas' ``demo_data`` modules that refresh derived rows after a removal."""
    modules = []
    for info in pkgutil.walk_packages(core.__path__, prefix="core."):
        if info.name.endswith(".demo_data"):
            module = importlib.import_module(info.name)
            if hasattr(module, "after_demo_removed"):
                modules.append(module)
    return sorted(modules, key=lambda module: getattr(module, "ORDER", 100))
