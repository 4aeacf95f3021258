"""The backtest page on the demo database: stored demo runs render; a run and a sweep from the page are stored."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from app.ui.downsample import SCREEN_BUCKETS
from core.backtest.models import BacktestKind
from core.backtest.store import list_runs
from core.db.engine import Database
from core.jobs.models import JobStatus
from core.jobs.runner import run_job
from core.jobs.service import claim_next_job, list_jobs
from tests.pages.conftest import chart_payloads, plotly_specs

PAGE = Path(__file__).resolve().parents[2] / "pages" / "backtest.py"
SECTIONS = ["Run", "Sweep", "Past runs", "Robustness", "Your strategies"]


def _page(section: str | None = None) -> AppTest:
    """The page as the demo user, opened on ``section`` (the URL's ``?section=``; default Run)."""
    at = AppTest.from_file(str(PAGE), default_timeout=120)
    at.session_state["authentication_status"] = True
    at.session_state["username"] = "demo"
    if section is not None:
        at.query_params["section"] = section
    return at


def _button(at: AppTest, label: str):
    return next(button for button in at.button if button.label == label)


def test_page_shows_the_latest_demo_run_with_metrics_and_the_demo_sweep(demo_database: Database) -> None:
    at = _page().run()
    assert not at.exception
    assert [tab.label for tab in at.tabs if tab.label in SECTIONS] == SECTIONS  # at.tabs has the run's detail tabs too
    subheaders = [header.value for header in at.subheader]
    assert any(text.startswith("Run ") and "sma-cross (fast=10, slow=50)" in text for text in subheaders)
    assert not any(text.startswith("Sweep ") for text in subheaders)  # only the open section runs
    metrics_frame = at.dataframe[0].value
    assert list(metrics_frame.columns) == ["Metric", "Strategy", "Buy & hold"]
    assert {"Sharpe", "Sortino", "Max drawdown", "CAGR", "VaR 95 % (1 day)"} <= set(metrics_frame["Metric"])
    assert [metric.label for metric in at.metric][:4] == ["Total return", "Sharpe", "Max drawdown", "Trades"]
    with demo_database.session() as session:
        demo_run = next(run for run in list_runs(session) if run.kind is BacktestKind.SINGLE)
    assert at.metric[3].value == str(demo_run.trades)
    at.session_state["section"] = "Sweep"  # what a click on the Sweep tab does
    at.run()
    assert not at.exception
    subheaders = [header.value for header in at.subheader]
    assert any(text.startswith("Sweep ") and "fast, slow" in text for text in subheaders)
    assert not any(text.startswith("Run ") for text in subheaders)
    assert [tab.label for tab in at.tabs] == SECTIONS


def test_the_run_shows_its_trade_list_and_one_click_away_the_trades_on_the_price(demo_database: Database) -> None:
    at = _page().run()
    assert not at.exception
    assert [tab.label for tab in at.tabs][1:3] == ["Trade list", "Price chart with trades"]  # inside Run
    trades = next(frame.value for frame in at.dataframe if "Entry (Vienna)" in frame.value.columns)
    assert len(trades) == int(at.metric[3].value)
    assert chart_payloads(at) == []  # the price chart runs only when its tab is open
    equity = plotly_specs(at)[0]
    assert all(len(trace["x"]) <= 2 * SCREEN_BUCKETS + 2 for trace in equity["data"])
    at.session_state["run_view_detail"] = "Price chart with trades"
    at.run()
    assert not at.exception
    (payload,) = chart_payloads(at)
    assert {marker["kind"] for marker in payload["markers"]} == {"entry", "exit"}
    assert not any("Entry (Vienna)" in frame.value.columns for frame in at.dataframe)


def test_each_section_opens_from_the_url_and_shows_its_own_content(demo_database: Database) -> None:
    at = _page("Past runs").run()
    assert not at.exception
    assert any(frame.value.columns[0] == "Run" for frame in at.dataframe)  # the list of stored runs
    assert at.multiselect[0].label == "Compare equity curves"
    assert at.selectbox(key="history_open") is not None
    assert not any(button.label == "Run backtest" for button in at.button)
    swept = _page("Sweep").run()
    assert not swept.exception
    assert any(button.label == "Run sweep" for button in swept.button)
    assert not any(button.label == "Run backtest" for button in swept.button)


def test_running_a_backtest_from_the_page_stores_and_shows_it(demo_database: Database) -> None:
    at = _page().run()
    at.number_input(key="run_sma-cross_fast").set_value(5)
    at.number_input(key="run_sma-cross_slow").set_value(20)
    at.selectbox(key="run_symbol").set_value("ETH/EUR")
    at.selectbox(key="run_timeframe").set_value("1d")
    _button(at, "Run backtest").click()
    at.run()
    assert not at.exception and not at.error
    with demo_database.session() as session:
        newest = list_runs(session)[0]
    assert newest.strategy == "sma-cross" and newest.parameters == {"fast": 5, "slow": 20}
    assert newest.data_label == "ETH/EUR" and newest.timeframe == "1d"
    assert any(f"Run {newest.id}: sma-cross (fast=5, slow=20)" == header.value for header in at.subheader)


def test_invalid_parameters_show_an_error_and_store_nothing(demo_database: Database) -> None:
    at = _page().run()
    with demo_database.session() as session:
        before = len(list_runs(session))
    at.number_input(key="run_sma-cross_fast").set_value(40)
    at.number_input(key="run_sma-cross_slow").set_value(20)
    _button(at, "Run backtest").click()
    at.run()
    assert [error.value for error in at.error] == ["sma-cross needs fast < slow"]
    with demo_database.session() as session:
        assert len(list_runs(session)) == before


def test_a_sweep_from_the_page_is_a_job_whose_result_is_stored_with_its_heatmap(demo_database: Database) -> None:
    at = _page("Sweep").run()
    at.text_input(key="sweep_sma-cross_range_0").set_value("5,10")
    at.text_input(key="sweep_sma-cross_range_1").set_value("20,40,60")
    at.selectbox(key="sweep_timeframe").set_value("1d")
    _button(at, "Run sweep").click()
    at.run()
    assert not at.exception and not at.error
    with demo_database.session() as session:
        queued = list_jobs(session)
    assert [(job.kind, job.status, job.created_by) for job in queued] == [("backtest-sweep", JobStatus.QUEUED, "demo")]
    assert queued[0].params["grid"] == {"fast": [5, 10], "slow": [20, 40, 60]}
    assert any(button.label == "Cancel" for button in at.button)  # the Jobs panel shows it, with Cancel
    claimed = demo_database.run(lambda session: claim_next_job(session, "test:1"))
    assert claimed is not None
    assert run_job(demo_database, claimed[1]) is JobStatus.SUCCEEDED  # what the jobs worker does
    at.run()
    assert not at.exception and not at.error
    assert any(expander.label.startswith("Result · done in") for expander in at.expander)
    with demo_database.session() as session:
        newest = list_runs(session)[0]
    assert newest.kind is BacktestKind.SWEEP and newest.parameters["grid"] == {"fast": [5, 10], "slow": [20, 40, 60]}
    assert any(header.value.startswith(f"Sweep {newest.id}: sma-cross over fast, slow") for header in at.subheader)


def test_a_sweep_that_cannot_run_is_refused_on_the_page_and_nothing_is_queued(demo_database: Database) -> None:
    at = _page("Sweep").run()
    at.text_input(key="sweep_sma-cross_range_0").set_value("2:61:1")
    at.text_input(key="sweep_sma-cross_range_1").set_value("100:299:1")
    _button(at, "Run sweep").click()
    at.run()
    assert [error.value for error in at.error] == ["Parameter sweep: 12000 combinations is too many (at most 2500)"]
    with demo_database.session() as session:
        assert list_jobs(session) == []
