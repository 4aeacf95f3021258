"""The Backtest page's Robustness tab on the demo database: a report queued from the page is built by a job
(as the jobs worker runs it), stored and shown."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from core.db.engine import Database
from core.jobs.models import JobStatus
from core.jobs.runner import run_job
from core.jobs.service import claim_next_job, list_jobs
from core.lab.models import LabKind
from core.lab.store import list_lab_results

PAGE = Path(__file__).resolve().parents[2] / "pages" / "backtest.py"


def test_a_report_queued_in_the_tab_is_built_by_the_job_stored_and_shown(demo_database: Database) -> None:
    at = AppTest.from_file(str(PAGE), default_timeout=240)
    at.session_state["authentication_status"] = True
    at.session_state["username"] = "demo"
    at.query_params["section"] = "Robustness"  # the page runs only the open tab
    at.run()
    assert not at.exception
    assert any("No robustness report yet" in info.value for info in at.info)
    at.selectbox(key="robustness_symbol").set_value(
        next(option for option in at.selectbox(key="robustness_symbol").options if "BTC" in option)
    )
    at.selectbox(key="robustness_timeframe").set_value("4h")
    at.number_input(key="robustness_trials").set_value(10)
    at.number_input(key="robustness_folds").set_value(2)
    next(button for button in at.button if button.label == "Build the robustness report").click()
    at.run()
    assert not at.exception, at.exception
    with demo_database.session() as session:
        queued = list_jobs(session, kinds=["lab.robustness"])
        assert list_lab_results(session, kind=LabKind.ROBUSTNESS) == []  # nothing is computed in the page
    assert [(job.kind, job.status) for job in queued] == [("lab.robustness", JobStatus.QUEUED)]
    claimed = demo_database.run(lambda session: claim_next_job(session, "test:1"))
    assert claimed is not None
    assert run_job(demo_database, claimed[1]) is JobStatus.SUCCEEDED  # what the jobs worker does
    at.run()
    assert not at.exception, at.exception
    with demo_database.session() as session:
        stored = list_lab_results(session, kind=LabKind.ROBUSTNESS)
    assert len(stored) == 1 and stored[0].request["trials"] == 10
    shown = [markdown.value for markdown in at.markdown]
    assert any("Fees and slippage" in text for text in shown) and any("Against buy-and-hold" in text for text in shown)
    frames = [frame.value for frame in at.dataframe]
    assert any(list(frame.columns[:3]) == ["Costs", "Fee (bp)", "Slippage (bp)"] for frame in frames)
