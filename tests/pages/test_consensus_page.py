"""The AI consensus page on the demo database."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from core.ai.models import AnalysisRequest, RequestStatus
from core.db.engine import Database

PAGE = Path(__file__).resolve().parents[2] / "pages" / "consensus.py"


def _page() -> AppTest:
    at = AppTest.from_file(str(PAGE), default_timeout=60)
    at.session_state["authentication_status"] = True
    at.session_state["username"] = "demo"
    return at


def test_consensus_page_shows_demo_consensus_votes_and_leaderboard(demo_database: Database) -> None:
    at = _page()
    at.run()
    assert not at.exception
    assert at.selectbox[0].value == "AAPL"
    subheaders = [element.value for element in at.subheader]
    assert any(text.startswith("Latest consensus") and "(demo)" in text for text in subheaders)
    assert {"Votes", "History", "Leaderboard"} <= set(subheaders)
    metrics = {metric.label: metric.value for metric in at.metric}
    assert metrics["Decision"] in {"BUY", "SELL", "HOLD"}
    assert metrics["Valid opinions"] == "4 of 4"
    markdown = " ".join(element.value for element in at.markdown)
    for analyst in ("technical", "sentiment", "demo-momentum", "demo-reversal"):
        assert f"**{analyst}**" in markdown
    board = at.dataframe[0].value
    assert set(board["Analyst"]) == {"technical", "sentiment", "demo-momentum", "demo-reversal"}
    assert (board["Scored"] > 50).all()
    assert "azure-openai" in " ".join(element.value for element in at.markdown)  # the enablement list
    # every vote links to its decision record; costs and the hallucination rate are shown
    assert metrics["Cost of this consensus"].startswith("€ ")
    captions = " ".join(element.value for element in at.caption)
    assert captions.count("konsens analyze --replay") == 4
    assert {"Hallucination rate", "€ today", "€ per day (30 d)"} <= set(board.columns)
    assert "AI history runs" in subheaders


def test_analyse_now_writes_a_request_and_shows_progress(demo_database: Database) -> None:
    at = _page()
    at.run()
    at.selectbox[0].select("BTC/EUR").run()
    at.button[0].click().run()
    assert not at.exception
    with demo_database.session() as session:
        requests = list(session.scalars(select(AnalysisRequest)))
    assert len(requests) == 1
    assert requests[0].status is RequestStatus.PENDING and requests[0].requested_by == "demo"
    assert any(
        "Analysis request #" in element.value and "no analyst worker is running" in element.value
        for element in at.warning
    )


def test_a_requested_analysis_shows_queued_then_the_new_consensus_in_place(demo_database: Database) -> None:
    from core.ai.config import load_ai_config
    from core.ai.queries import latest_consensus_id
    from core.system.heartbeats import record_heartbeat
    from core.system.models import WorkerStatus
    from workers.analyst import process_requests

    with demo_database.session() as session:  # as under `konsens up`: the analyst worker beats
        record_heartbeat(session, "analyst", WorkerStatus.IDLE, info={"interval_seconds": 60})
    at = _page()
    at.run()
    at.selectbox[0].select("BTC/EUR").run()
    at.button[0].click().run()
    assert any("queued — the analyst worker picks it up" in element.value for element in at.info)
    # the worker beats, so no warning about it (a flagged consensus may warn: the demo market moves with the day)
    assert not [element.value for element in at.warning if "worker" in element.value]
    request = demo_database.run(lambda session: session.get(AnalysisRequest, at.session_state["consensus_request_id"]))
    assert request is not None
    before = demo_database.run(lambda session: latest_consensus_id(session, request.instrument_id))
    done = process_requests(demo_database, demo_database.run(load_ai_config))  # the worker's own code
    assert len(done) == 1
    at.run()
    assert not at.exception
    assert "New consensus for BTC/EUR is in." in [toast.value for toast in at.toast]
    metrics = {metric.label: metric.value for metric in at.metric}
    assert metrics["Decision"] in {"BUY", "SELL", "HOLD"}
    after = demo_database.run(lambda session: latest_consensus_id(session, request.instrument_id))
    assert after is not None and after != before
    assert at.session_state["consensus_view"][0] == after  # the page shows the consensus the worker wrote


def test_settings_tab_lists_analysts_and_why(demo_database: Database) -> None:
    at = AppTest.from_file(str(PAGE.parent / "settings.py"), default_timeout=60)
    at.session_state["authentication_status"] = True
    at.session_state["username"] = "demo"
    at.run()
    assert not at.exception
    table = next(frame.value for frame in at.dataframe if "Analyst" in frame.value.columns)
    assert list(table["Analyst"]) == ["technical", "sentiment", "azure-openai", "deepseek", "ollama"]
    assert list(table["Enabled"]) == [True, True, False, False, False]
    assert table["Why"].iloc[3] == "not configured: missing KONSENS_DEEPSEEK_API_KEY"
