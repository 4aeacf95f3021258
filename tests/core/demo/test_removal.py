"""Ending demo mode: every marked demo row goes, real rows stay, real acts are refused before and allowed after."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.accounts.bitpanda_api import BitpandaClient, sync_bitpanda
from core.accounts.bitpanda_csv import import_bitpanda_csv
from core.ai.models import AnalystOpinion, AnalystTrackRecord, ConsensusRecord
from core.audit import AuditAction, AuditEntry, verify_audit_chain
from core.backtest.models import BacktestRun
from core.db.base import Base
from core.db.engine import Database
from core.db.registry import import_all_models
from core.demo.removal import remove_demo_data
from core.demo.seed import database_is_empty, seed_demo
from core.demo.state import DemoSeedState, demo_seed_state, has_demo_data
from core.execution.admin import set_live_mode, store_api_key
from core.execution.models import Order
from core.execution.settings import KEY_LIVE_ENABLED, SECRET_ONETRADING_KEY
from core.fundamentals.models import AssetFundamentals
from core.market.models import AssetClass, Candle, Instrument
from core.news.models import CalendarEvent, NewsItem, NewsItemInstrument, NewsKind
from core.portfolio.models import LedgerEntry, LedgerKind, LedgerOrigin, PortfolioSnapshot, Position
from core.risk.models import RiskAlert
from core.security.demo_guard import (
    DemoModeError,
    RealAct,
    demo_data_present,
    demo_refusal_message,
)
from core.security.demo_guard import has_demo_data as guard_has_demo_data
from core.security.secrets import SecretStore
from core.security.users import create_user, list_users
from core.system.models import SettingValue, StoredSecret, UserAccount
from core.system.settings_store import get_setting, set_setting
from core.tax.koinly import import_koinly_file
from tests.core.accounts.test_bitpanda_csv import NEW_HEADER, NEW_ROWS, PREAMBLE
from tests.core.tax.conftest import EXCHANGE_ROWS, write_koinly

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def _table_counts(session: Session) -> dict[str, int]:
    import_all_models()
    return {
        table.name: session.scalar(select(func.count()).select_from(table)) or 0
        for table in Base.metadata.sorted_tables
    }


def _demo_marked_rows(session: Session) -> dict[str, int]:
    """Rows still carrying a demo marker, by table (must be empty after the removal)."""
    found: dict[str, int] = {}
    import_all_models()
    for table in Base.metadata.sorted_tables:
        if "is_demo" in table.c:
            count = session.scalar(select(func.count()).select_from(table).where(table.c.is_demo.is_(True))) or 0
            if count:
                found[table.name] = count
    checks: dict[str, Any] = {
        "ledger_entries": select(func.count(LedgerEntry.id)).where(LedgerEntry.origin == LedgerOrigin.DEMO),
        "orders": select(func.count(Order.id)).where(Order.created_by == "demo"),
        "risk_alerts": select(func.count(RiskAlert.id)).where(RiskAlert.dedupe_key.startswith("demo:")),
        "candles": select(func.count()).select_from(Candle).where(Candle.source == "demo"),
        "settings": select(func.count())
        .select_from(SettingValue)
        .where(SettingValue.key.in_(("demo.seeded_at", "demo.walk_epoch", "demo.seed_finished_at"))),
    }
    for name, query in checks.items():
        count = session.scalar(query) or 0
        if count:
            found[name] = count
    return found


def _add_real_data(session: Session) -> dict[str, int]:
    """Rows a real user had before the removal (written directly: the guarded acts refuse in demo mode)."""
    demo_btc = session.scalar(select(Instrument).where(Instrument.symbol == "BTC/EUR"))
    assert demo_btc is not None and demo_btc.is_demo
    real = Instrument(symbol="ADA/EUR", base="ADA", quote="EUR", asset_class=AssetClass.CRYPTO, default_source="ccxt")
    session.add(real)
    session.flush()
    session.add(
        Candle(
            instrument_id=real.id,
            source="ccxt:onetrading",
            timeframe="1h",
            ts=datetime(2026, 5, 1, tzinfo=UTC),
            open=Decimal("0.5"),
            high=Decimal("0.6"),
            low=Decimal("0.4"),
            close=Decimal("0.55"),
            volume=Decimal(10),
        )
    )
    entry = LedgerEntry(
        ts=datetime(2025, 1, 2, tzinfo=UTC),
        account="bitpanda",
        kind=LedgerKind.BUY,
        origin=LedgerOrigin.BITPANDA_CSV,
        external_id="T-real-1",
        sent_asset="EUR",
        sent_quantity=Decimal(100),
        received_asset="BTC",
        received_quantity=Decimal("0.001"),
        value_eur=Decimal(100),
        instrument_id=demo_btc.id,
    )
    news = NewsItem(
        source="rss:real",
        source_id="real-1",
        kind=NewsKind.ARTICLE,
        title="A real headline",
        url="https://example.org/real-1",
        canonical_url="https://example.org/real-1",
        published_at=datetime(2026, 5, 30, tzinfo=UTC),
        is_demo=False,
    )
    session.add_all([entry, news])
    session.flush()
    session.add(NewsItemInstrument(news_item_id=news.id, instrument_id=demo_btc.id))
    return {"instrument": real.id, "ledger": entry.id, "news": news.id}


def test_remove_deletes_every_demo_row_and_keeps_real_data(database: Database) -> None:
    seed_demo(database, now=NOW)
    with database.session() as session:
        assert demo_data_present(session)
        assert _demo_marked_rows(session)  # the seed really wrote marked rows
        real = _add_real_data(session)
    with database.session() as session:
        before = _table_counts(session)
        result = remove_demo_data(session, actor="tester")
    with database.session() as session:
        assert _demo_marked_rows(session) == {}
        assert not demo_data_present(session)
        assert session.get(UserAccount, "demo") is None
        assert get_setting(session, "demo.seeded_at") is None
        assert get_setting(session, "demo.removed_at") is not None
        # Everything hanging off the demo instruments went with them.
        assert session.scalar(select(func.count()).select_from(Instrument)) == 1
        assert session.scalar(select(func.count()).select_from(Position)) == 0
        assert session.scalar(select(func.count()).select_from(PortfolioSnapshot)) == 0
        assert session.scalar(select(func.count()).select_from(ConsensusRecord)) == 0
        assert session.scalar(select(func.count()).select_from(AnalystOpinion)) == 0
        assert session.scalar(select(func.count()).select_from(AnalystTrackRecord)) == 0
        assert session.scalar(select(func.count()).select_from(BacktestRun)) == 0
        assert session.scalar(select(func.count()).select_from(CalendarEvent)) == 0
        assert session.scalar(select(func.count()).select_from(AssetFundamentals)) == 0
        assert session.scalar(select(func.count()).select_from(Order)) == 0
        # The real rows are kept; the real ledger entry lost only its link to the demo instrument.
        assert session.get(Instrument, real["instrument"]) is not None
        assert session.scalar(select(func.count()).select_from(Candle)) == 1
        entry = session.get(LedgerEntry, real["ledger"])
        assert entry is not None and entry.instrument_id is None and entry.received_quantity == Decimal("0.001")
        assert session.get(NewsItem, real["news"]) is not None
        assert session.scalar(select(func.count()).select_from(NewsItemInstrument)) == 0
        # One audit entry with the counts, and the chain still verifies.
        removal = session.scalars(select(AuditEntry).where(AuditEntry.action == AuditAction.DEMO_REMOVED)).all()
        assert len(removal) == 1 and removal[0].actor == "tester"
        assert removal[0].details["deleted"]["candles"] == before["candles"] - 1
        assert verify_audit_chain(session).ok
        assert not database_is_empty(session)  # `konsens up` does not seed demo data again
    assert result.deleted["users"] == 1 and result.detached == {
        "ledger_entries.instrument_id": 1,
    }


def test_remove_on_a_database_without_demo_data_changes_nothing(database: Database) -> None:
    with database.session() as session:
        create_user(session, "anna", "correct horse battery")
        before = _table_counts(session)
        result = remove_demo_data(session, actor="tester")
        assert result.deleted == {} and _table_counts(session) == before


def _bitpanda_file(tmp_path: Path) -> Path:
    path = tmp_path / "bitpanda.csv"
    path.write_text(PREAMBLE + NEW_HEADER + NEW_ROWS, encoding="utf-8")
    return path


def _real_acts(tmp_path: Path) -> dict[RealAct, Any]:
    koinly = write_koinly(tmp_path / "koinly.csv", EXCHANGE_ROWS)
    bitpanda = _bitpanda_file(tmp_path)
    return {
        RealAct.STORE_API_KEY: lambda session: store_api_key(
            session, SECRET_ONETRADING_KEY, "ot-key-1234", actor="tester"
        ),
        RealAct.ENABLE_LIVE_TRADING: lambda session: set_live_mode(session, True, actor="tester"),
        RealAct.IMPORT_ACCOUNT_HISTORY: lambda session: (
            import_bitpanda_csv(session, bitpanda, actor="tester"),
            import_koinly_file(session, koinly, "kraken"),
        ),
        RealAct.ADD_LOGIN: lambda session: create_user(session, "anna", "correct horse battery"),
    }


def test_each_real_act_is_refused_on_a_demo_database_and_allowed_after_remove(
    database: Database, tmp_path: Path
) -> None:
    seed_demo(database, now=NOW)
    acts = _real_acts(tmp_path)
    with database.session() as session:
        before = _table_counts(session)
    for act, run in acts.items():
        with database.session() as session, pytest.raises(DemoModeError) as refused:
            run(session)
        assert str(refused.value) == demo_refusal_message(act)
        assert "konsens demo --remove" in str(refused.value)
        with database.session() as session:
            assert _table_counts(session) == before, act
    # A single Koinly import, a Bitpanda API sync and a direct secret write are refused too.
    with database.session() as session, pytest.raises(DemoModeError):
        import_koinly_file(session, write_koinly(tmp_path / "other.csv", EXCHANGE_ROWS), "other")
    with database.session() as session, pytest.raises(DemoModeError):
        sync_bitpanda(session, BitpandaClient("unused", base_url="http://127.0.0.1:9"))
    with database.session() as session, pytest.raises(DemoModeError):
        SecretStore().set(session, "news.newsapi", "abcd")
    with database.session() as session:
        assert _table_counts(session) == before

    with database.session() as session:
        remove_demo_data(session, actor="tester")
    for act in (RealAct.ADD_LOGIN, RealAct.STORE_API_KEY, RealAct.ENABLE_LIVE_TRADING, RealAct.IMPORT_ACCOUNT_HISTORY):
        with database.session() as session:
            acts[act](session)
    with database.session() as session:
        assert [user.username for user in list_users(session)] == ["anna"]
        assert get_setting(session, KEY_LIVE_ENABLED) is True
        assert session.get(StoredSecret, SECRET_ONETRADING_KEY) is not None
        origins = set(session.scalars(select(LedgerEntry.origin).distinct()))
        assert origins == {LedgerOrigin.BITPANDA_CSV, LedgerOrigin.KOINLY_CSV}
        assert _demo_marked_rows(session) == {}
        # Demo data cannot come back beside real data.
        with pytest.raises(DemoModeError, match="seeding demo data is refused"):
            seed_demo(database, now=NOW)


def test_seeding_demo_data_beside_a_real_login_is_refused(database: Database) -> None:
    with database.session() as session:
        create_user(session, "anna", "correct horse battery")
    with pytest.raises(DemoModeError, match="holds real data"):
        seed_demo(database, now=NOW)
    with database.session() as session:
        assert not demo_data_present(session)
        assert session.scalar(select(func.count()).select_from(Instrument)) == 0


def test_live_trading_setting_alone_counts_as_real_data(database: Database) -> None:
    with database.session() as session:
        set_setting(session, KEY_LIVE_ENABLED, True)
        assert not database_is_empty(session)


def test_the_demo_mark_is_read_by_a_query_so_a_removal_is_seen_in_the_same_session(database: Database) -> None:
    seed_demo(database, now=NOW)
    with database.session() as session:
        mark = session.get(SettingValue, "demo.seeded_at")  # held: it stays in the session's identity map
        assert mark is not None
        assert has_demo_data is guard_has_demo_data  # one reading of the mark, for the login too
        assert has_demo_data(session)
        remove_demo_data(session, actor="tester")  # bulk deletes: the identity map still holds the mark
        assert not has_demo_data(session)
        assert demo_seed_state(session) is DemoSeedState.NONE
