"""The Risk page on the demo database: state, metrics, limits, exposure, alerts; kill switch and acknowledge."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from core.audit import AuditAction, AuditEntry
from core.db.engine import Database
from core.demo.state import DEMO_ACCOUNT
from core.risk.guard import account_risk
from core.risk.models import GLOBAL_SCOPE, RiskAlert, TradingState
from core.risk.settings import save_limits
from core.risk.state import scope_state
from core.timeutil import utc_now

PAGE = Path(__file__).resolve().parents[2] / "pages" / "risk.py"


def _page(section: str | None = None) -> AppTest:
    """The page as the demo user, opened on ``section`` (the URL's ``?section=``; default Metrics)."""
    at = AppTest.from_file(str(PAGE), default_timeout=90)
    at.session_state["authentication_status"] = True
    at.session_state["username"] = "demo"
    if section is not None:
        at.query_params["section"] = section
    return at.run()


def _markdown(at: AppTest) -> str:
    return "\n".join(element.value for element in at.markdown)


def _drawdown_near_its_limit(database: Database) -> None:
    """Set the drawdown limit so that today's demo drawdown uses 90 % of it.

    The demo market is a walk from a fixed epoch while the demo trades sit at fixed distances
    from the seed, so the demo drawdown drifts from day to day (22-26 % in a week): a test of
    "near limit" must set the limit, not count on the day's walk.
    """
    with database.session() as session:
        drawdown = account_risk(session, DEMO_ACCOUNT, utc_now()).drawdown_pct
        assert drawdown > 0
        save_limits(
            session, {"max_drawdown_pct": (drawdown / Decimal("0.9")).quantize(Decimal("0.0001"))}, actor="test"
        )


def test_risk_page_shows_state_metrics_limits_and_alerts(demo_database: Database) -> None:
    _drawdown_near_its_limit(demo_database)
    at = _page()
    assert not at.exception
    assert [tab.label for tab in at.tabs] == ["Metrics", "Exposure and limits", "Alerts"]
    assert "Trading state" in _markdown(at) and "ACTIVE" in _markdown(at)
    metrics = {metric.label: metric.value for metric in at.metric}
    for label in ("VaR 95 %", "CVaR 99 %", "Volatility (ann.)", "Sharpe", "Sortino", "Max drawdown", "Calmar"):
        assert label in metrics
    assert metrics["VaR 95 %"].startswith("-") and metrics["VaR 95 %"].endswith("%")
    assert metrics["Equity"].startswith("€ ")
    assert metrics["Limits"] == "1 near" and metrics["Open alerts"] == "3"  # always shown, whatever the section
    series_table = at.dataframe[0].value
    assert list(series_table["Series"]) == ["Portfolio", "AAPL", "BTC/EUR", "ETH/EUR", "SOL/EUR"]
    assert len(at.get("plotly_chart")) == 2  # drawdown, distribution: only the open section runs
    assert not any(subheader.value.startswith("Alerts") for subheader in at.subheader)

    at.session_state["section"] = "Exposure and limits"  # what a click on the tab does
    at.run()
    assert not at.exception
    frames = [frame.value for frame in at.dataframe]
    exposure = next(frame for frame in frames if "Asset" in frame.columns)
    assert list(exposure["Asset"]) == ["BTC/EUR", "ETH/EUR", "AAPL", "SOL/EUR"]
    limits = next(frame for frame in frames if "Limit" in frame.columns)
    assert "Daily loss limit" in list(limits["Limit"]) and "Stop-loss guard" in list(limits["Limit"])
    assert set(limits["Status"]) <= {"ok", "near limit", "BREACHED"}
    assert limits.set_index("Limit").loc["Max drawdown from peak", "Status"] == "near limit"
    assert len(at.get("plotly_chart")) == 1  # exposure
    assert "VaR 95 %" not in {metric.label for metric in at.metric}

    at.session_state["section"] = "Alerts"
    at.run()
    assert not at.exception
    assert any(subheader.value.startswith("Alerts (3 open)") for subheader in at.subheader)
    assert "ETH/EUR up +6.2%" in _markdown(at)


def test_acknowledge_an_alert_from_the_page(demo_database: Database) -> None:
    at = _page("Alerts")
    buttons = [button for button in at.button if button.label == "Acknowledge"]
    assert len(buttons) == 3
    buttons[0].click().run()
    assert not at.exception
    assert any(subheader.value.startswith("Alerts (2 open)") for subheader in at.subheader)
    assert {metric.label: metric.value for metric in at.metric}["Open alerts"] == "2"
    with demo_database.session() as session:
        acknowledged = session.scalars(select(RiskAlert).where(RiskAlert.acknowledged_by == "demo")).all()
        assert any(alert.dedupe_key == "demo:large_move:eth" for alert in acknowledged)


def test_kill_switch_from_the_page_halts_and_is_audited(demo_database: Database) -> None:
    at = _page()
    at.button(key="kill_confirm").click().run()
    assert not at.exception
    assert "HALTED" in _markdown(at)
    with demo_database.session() as session:
        assert scope_state(session, GLOBAL_SCOPE).state is TradingState.HALTED
        audit = session.scalars(select(AuditEntry).where(AuditEntry.action == AuditAction.CIRCUIT_BREAKER)).all()
        assert audit[-1].actor == "demo" and audit[-1].details["to"] == "halted"
    release = [button for button in at.button if button.label == "Release kill switch"]
    release[0].click().run()
    with demo_database.session() as session:
        assert scope_state(session, GLOBAL_SCOPE).state is TradingState.ACTIVE
