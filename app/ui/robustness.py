"""The Backtest page's Robustness tab: build a robustness report of a strategy and read stored ones.

The form queues a ``lab.robustness`` job (``core.lab.job_kinds``) that the jobs worker builds, so
closing the tab or a rerun loses nothing; the Jobs panel shows its progress in place. The form offers
up to ``PAGE_MAX_TRIALS`` trials per search (``konsens backtest-robustness`` takes any budget). Every
report is stored (``lab_results``) and listed here, newest first.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from app.ui.context import read
from core.backtest.results import format_metric
from core.backtest.service import DataChoice
from core.backtest.strategies import STRATEGIES, strategy_class
from core.lab.models import LabKind
from core.lab.store import StoredLabResult, list_lab_results
from core.timeutil import VIENNA

PAGE_MAX_TRIALS = 1000
METRIC_KINDS = {
    "total_return": "pct",
    "cagr": "pct",
    "sharpe": "ratio",
    "max_drawdown": "pct",
    "annual_volatility": "pct",
    "trades": "count",
    "fees_paid": "money",
}
LABELS = {
    "total_return": "Total return",
    "cagr": "CAGR",
    "sharpe": "Sharpe",
    "max_drawdown": "Max drawdown",
    "annual_volatility": "Volatility",
    "trades": "Trades",
    "fees_paid": "Fees paid",
}


def cost_table(figures: dict[str, Any]) -> pd.DataFrame:
    """The fee and slippage sensitivity: one row per cost multiple."""
    rows = []
    for row in figures.get("rows", []):
        rows.append(
            {
                "Costs": f"{row['multiple']:g}×",
                "Fee (bp)": f"{row['fee_bps']:g}",
                "Slippage (bp)": f"{row['slippage_bps']:g}",
                **{
                    LABELS[name]: format_metric(row.get(name), METRIC_KINDS[name])
                    for name in ("total_return", "sharpe", "max_drawdown", "trades", "fees_paid")
                },
            }
        )
    return pd.DataFrame(rows)


def benchmark_table(figures: dict[str, Any]) -> pd.DataFrame:
    """Strategy against buy-and-hold, one row per metric."""
    return pd.DataFrame(
        [
            {"Metric": LABELS.get(name, name),
             "Strategy": format_metric(values.get("strategy"), METRIC_KINDS.get(name, "ratio")),
             "Buy & hold": format_metric(values.get("buy_and_hold"), METRIC_KINDS.get(name, "ratio"))}
            for name, values in figures.get("metrics", {}).items()
        ]
    )  # fmt: skip


def fold_table(figures: dict[str, Any]) -> pd.DataFrame:
    """Each walk-forward fold: windows, chosen parameters, in- and out-of-sample results."""
    objective = "sharpe" if figures.get("objective") is None else figures["objective"]
    rows = []
    for fold in figures.get("folds", []):
        rows.append(
            {
                "Fold": fold["number"] + 1,
                "Training": f"{fold['train_period'][0][:10]} – {fold['train_period'][1][:10]}",
                "Test": f"{fold['test_period'][0][:10]} – {fold['test_period'][1][:10]}",
                "Parameters": ", ".join(f"{name}={value}" for name, value in fold["parameters"].items()),
                f"IS {objective}": format_metric(fold["in_sample"].get(objective), "ratio"),
                f"OOS {objective}": format_metric(fold["out_of_sample"].get(objective), "ratio"),
                "OOS return": format_metric(fold["out_of_sample"].get("total_return"), "pct"),
            }
        )
    return pd.DataFrame(rows)


def oos_equity_figure(figures: dict[str, Any]) -> go.Figure:
    """The stitched out-of-sample equity of the walk-forward (Vienna time)."""
    curve = figures.get("oos_equity") or {"ts": [], "equity": []}
    times = pd.DatetimeIndex(pd.to_datetime(curve["ts"], utc=True)).tz_convert(VIENNA).tz_localize(None)
    figure = go.Figure(
        go.Scatter(x=times, y=curve["equity"], name="Out-of-sample equity", line={"color": "#1f77b4", "width": 1.6})
    )
    figure.update_layout(
        height=260,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        title="Walk-forward: the test windows chained",
        yaxis_title="Equity",
    )
    return figure


def section_marker(section: dict[str, Any]) -> str:
    """A Material icon for a section: a warning, not run, or passed."""
    if section["warning"]:
        return ":material/warning:"
    if section["verdict"].startswith("Not run"):
        return ":material/help:"
    return ":material/check_circle:"


def render_report(report: dict[str, Any], key: str) -> None:
    """Show one stored robustness report: the overall verdict, then every section."""
    header = (
        f"**{report['strategy']}** {report['parameters']} on {report['data']} {report['timeframe']}, "
        f"{report['start'][:10]} – {report['end'][:10]} ({report['candles']:,} candles)"
    )
    st.markdown(header)
    warnings = [section for section in report["sections"] if section["warning"]]
    (st.warning if warnings else st.success)(report["verdict"])
    for section in report["sections"]:
        figures = section.get("figures") or {}
        marker = section_marker(section)
        st.markdown(f"#### {marker} {section['title']}")
        st.write(section["verdict"])
        if section["key"] == "costs" and figures.get("rows"):
            st.dataframe(cost_table(figures), hide_index=True, width="stretch")
        elif section["key"] == "benchmark" and figures.get("metrics"):
            st.dataframe(benchmark_table(figures), hide_index=True, width="stretch")
        elif section["key"] == "walk_forward" and figures.get("folds"):
            st.dataframe(fold_table(figures), hide_index=True, width="stretch")
            st.plotly_chart(oos_equity_figure(figures), width="stretch", key=f"{key}_oos")
        elif section["key"] == "overfitting":
            columns = st.columns(3)
            dsr = figures.get("deflated_sharpe") or {}
            pbo = figures.get("pbo") or {}
            columns[0].metric(
                "Deflated Sharpe ratio",
                format_metric(dsr.get("dsr"), "share"),
                help="Probability that the best Sharpe beats the best of the trials by luck.",
            )
            columns[1].metric(
                "Probability of overfitting",
                format_metric(pbo.get("pbo"), "share"),
                help="CSCV: share of splits where the in-sample best fell to the worse half.",
            )
            columns[2].metric("Trials", f"{figures.get('trials', 0)}")
        elif section["key"] == "lookahead" and figures.get("details"):
            st.code("\n".join(figures["details"]))


def _stored_reports() -> list[StoredLabResult]:
    return read(lambda session: list_lab_results(session, kind=LabKind.ROBUSTNESS, limit=30))


def render_robustness_tab(choices: list[DataChoice]) -> None:
    """The tab: a form that queues a report for the jobs worker, the jobs, and the stored reports."""
    from app.ui.jobs import jobs_panel
    from core.backtest.strategy import StrategyError
    from core.lab.service import LabRequest, LabRequestError, live_protections

    names = [name for name in STRATEGIES if strategy_class(name).has_fast_path()]
    with st.form("robustness_form"):
        top = st.columns(3)
        strategy_name = top[0].selectbox(
            "Strategy", names, format_func=lambda name: STRATEGIES[name].title, key="robustness_strategy"
        )
        choice = top[1].selectbox("Instrument", choices, format_func=lambda item: item.symbol, key="robustness_symbol")
        options: list[str] = list(choice.timeframes) if choice is not None else ["1h"]
        timeframe = str(top[2].selectbox("Timeframe", options, key="robustness_timeframe") or "1h")
        costs = st.columns(5)
        fee_bps = costs[0].number_input("Fee (bp)", 0.0, 500.0, 10.0, step=1.0)
        slippage_bps = costs[1].number_input("Slippage (bp)", 0.0, 500.0, 5.0, step=1.0)
        trials = costs[2].number_input("Trials per search", 5, PAGE_MAX_TRIALS, 40, step=5, key="robustness_trials")
        folds = costs[3].number_input("Walk-forward folds", 2, 20, 4, step=1, key="robustness_folds")
        protections = costs[4].checkbox("Risk protections", help="Trade with the live guard's saved limits.")
        submitted = st.form_submit_button("Build the robustness report", type="primary")
    st.caption(
        "Uses the strategy's default parameters; the report is built by the jobs worker (closing the tab loses "
        "nothing) and listed below when it is ready. Bigger budgets: `konsens backtest-robustness STRATEGY --data "
        "SYMBOL --trials N` (or the lab.robustness job)."
    )
    if submitted and choice is not None:
        from app.ui.jobs import submit as submit_job

        try:
            request = LabRequest(
                strategy=strategy_name,
                data=choice.symbol,
                timeframe=timeframe,
                trials=int(trials),
                folds=int(folds),
                config={"fee_bps": float(fee_bps), "slippage_bps": float(slippage_bps)},
                protections=live_protections() if protections else None,
            )
        except (StrategyError, LabRequestError, ValueError) as error:
            st.error(str(error))
        else:
            submit_job("lab.robustness", request.to_params(), label=f"{strategy_name} on {choice.symbol} {timeframe}")
    jobs_panel(["lab.robustness"], key="robustness_jobs", title="Robustness jobs")
    stored = _stored_reports()
    if not stored:
        st.info("No robustness report yet: build one above.")
        return
    labels = {
        item.id: f"{item.id}: {item.strategy} {item.data_label} {item.timeframe} ({item.created_at:%Y-%m-%d %H:%M})"
        for item in stored
    }
    ids = list(labels)
    wanted = st.session_state.get("robustness_shown")
    index = ids.index(wanted) if wanted in ids else 0
    shown_id = st.selectbox("Stored reports", ids, index=index, format_func=labels.__getitem__, key="robustness_open")
    shown = next(item for item in stored if item.id == shown_id)
    render_report(shown.result, f"robustness_{shown_id}")
