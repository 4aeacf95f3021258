"""Backtest: strategy + parameters + data range + fees → equity, drawdown, trades, metrics vs buy-and-hold."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from app.ui.backtest_charts import comparison_figure, equity_figure, heatmap_figure, trades_payload
from app.ui.cache import versioned
from app.ui.components.lwchart import price_chart
from app.ui.context import database, page_setup, read
from app.ui.format import eur, price, quantity, vienna_time
from app.ui.jobs import jobs_panel, register_renderer
from app.ui.jobs import submit as submit_job
from app.ui.strategy_lab import load_strategies, render_signal_sources, render_user_strategies
from core.backtest.consensus import consensus_contamination
from core.backtest.engine import BacktestConfig, EngineKind
from core.backtest.models import BacktestKind
from core.backtest.results import METRIC_LABELS, format_metric
from core.backtest.series import PriceDataError
from core.backtest.service import DataChoice, data_choices, load_bars, run_stored_backtest
from core.backtest.store import StoredRun, delete_run, list_runs, load_run
from core.backtest.strategies import STRATEGIES, strategy_class
from core.backtest.strategy import Parameter, StrategyError
from core.backtest.sweep import overfitting_warning, parse_values
from core.jobs.service import JobInfo

RUN_KEY = "backtest_run_id"
SWEEP_KEY = "backtest_sweep_id"
SECTION_KEY = "section"  # the open tab, also the URL query parameter (?section=Sweep)
ENGINE_LABELS = {EngineKind.EVENT: "Event loop (fill model)", EngineKind.FAST: "Fast path (compiled)"}
SWEEP_JOB_KINDS = ["backtest-sweep"]  # the lab's search kinds join this list

user = page_setup("Backtest", ":material/history:")


def parameter_input(parameter: Parameter, key: str) -> int | float:
    if parameter.kind is int:
        return int(
            st.number_input(
                parameter.name,
                int(parameter.minimum),
                int(parameter.maximum),
                int(parameter.default),
                step=1,
                help=parameter.help,
                key=key,
            )
        )
    return float(
        st.number_input(
            parameter.name,
            float(parameter.minimum),
            float(parameter.maximum),
            float(parameter.default),
            step=0.1,
            help=parameter.help,
            key=key,
        )
    )


def choose_data(choices: list[DataChoice], prefix: str) -> tuple[DataChoice, str, datetime, datetime]:
    columns = st.columns(3)
    symbols = [choice.symbol for choice in choices]
    fullest = max(range(len(choices)), key=lambda position: choices[position].candles)
    symbol = columns[0].selectbox("Instrument", symbols, index=fullest, key=f"{prefix}_symbol")
    choice = choices[symbols.index(symbol)]
    timeframes = list(choice.timeframes)
    default = timeframes.index("4h") if "4h" in timeframes else 0
    timeframe = columns[1].selectbox("Timeframe", timeframes, index=default, key=f"{prefix}_timeframe")
    first, last = choice.first.date(), choice.last.date()
    picked = columns[2].date_input("Range", (first, last), min_value=first, max_value=last, key=f"{prefix}_range")
    start_day, end_day = picked if isinstance(picked, tuple) and len(picked) == 2 else (first, last)
    start = datetime.combine(start_day, time(), tzinfo=UTC)
    end = datetime.combine(end_day, time(), tzinfo=UTC) + timedelta(days=1)
    return choice, timeframe, start, end


# The Run and Past runs tabs often show the same run: within one script run, each run, its price
# frame and its figures are read and built once (a fresh dict per run of the script).
_runs: dict[int, StoredRun | None] = {}
_figures: dict[tuple[str, int], go.Figure | str] = {}
_payloads: dict[tuple[str, int], dict[str, Any] | str] = {}


def stored_run(run_id: int | None) -> StoredRun | None:
    if run_id is None:
        return None
    chosen = int(run_id)
    if chosen not in _runs:
        _runs[chosen] = read(lambda session: load_run(session, chosen))
    return _runs[chosen]


def run_equity_figure(stored: StoredRun) -> go.Figure:
    key = ("equity", stored.summary.id)
    if key not in _figures:
        _figures[key] = equity_figure(stored.equity, stored.config.get("initial_cash"))
    figure = _figures[key]
    assert isinstance(figure, go.Figure)
    return figure


def run_trades_figure(stored: StoredRun) -> dict[str, Any] | str:
    """The run's trades on its stored candles (TradingView chart data), or why the prices are unavailable."""
    summary = stored.summary
    key = ("trades", summary.id)
    if key not in _payloads:
        try:
            prices = read(
                lambda session: load_bars(
                    session,
                    summary.data_label,
                    summary.timeframe,
                    start=summary.start_at,
                    end=summary.end_at + timedelta(seconds=1),
                ).to_frame()
            )
        except PriceDataError as error:
            _payloads[key] = str(error)
        else:
            _payloads[key] = trades_payload(
                f"backtest|{summary.id}", prices, stored.trades, theme=st.context.theme.type or "dark"
            )
    return _payloads[key]


def shown_run_id(key: str, kind: BacktestKind) -> int | None:
    """The run chosen in this session, else the newest stored run of ``kind``."""
    chosen = st.session_state.get(key)
    if chosen is not None:
        return int(chosen)
    latest = next((run for run in read(list_runs) if run.kind is kind), None)
    return latest.id if latest else None


def metrics_table(stored: StoredRun) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "Metric": label,
                "Strategy": format_metric(stored.metrics.get(name), kind),
                "Buy & hold": format_metric(stored.baseline_metrics.get(name), kind),
            }
            for name, label, kind in METRIC_LABELS
        ]
    )


def render_run(stored: StoredRun, key: str) -> None:
    summary = stored.summary
    parameters = ", ".join(f"{name}={value}" for name, value in summary.parameters.items())
    st.subheader(f"Run {summary.id}: {summary.strategy} ({parameters})")
    st.caption(
        f"{summary.data_label} · {summary.timeframe} · {vienna_time(summary.start_at, '%Y-%m-%d')} → "
        f"{vienna_time(summary.end_at, '%Y-%m-%d')} · {summary.candles:,} candles · fee {summary.fee_bps:g} bp · "
        f"{summary.engine} engine · stored {vienna_time(summary.created_at)}"
    )
    metrics, baseline = stored.metrics, stored.baseline_metrics
    cards = st.columns(4)
    for column, (name, label, kind) in zip(
        cards,
        (
            ("total_return", "Total return", "pct"),
            ("sharpe", "Sharpe", "ratio"),
            ("max_drawdown", "Max drawdown", "pct"),
        ),
        strict=False,
    ):
        column.metric(
            label,
            format_metric(metrics.get(name), kind),
            format_metric(baseline.get(name), kind),
            delta_color="off",
            delta_arrow="off",
            delta_description="buy & hold",
        )
    cards[3].metric("Trades", summary.trades)
    chart_column, table_column = st.columns([2, 1])
    with chart_column:
        st.plotly_chart(run_equity_figure(stored), width="stretch", key=f"{key}_equity")
    with table_column:
        st.dataframe(metrics_table(stored), hide_index=True, width="stretch", height=600)
    if summary.strategy == "ai-consensus" and summary.instrument_id is not None:
        instrument_id = summary.instrument_id
        pairs = list(zip(stored.trades.get("entry_at", []), stored.trades.get("pnl", []), strict=False))
        taint = read(lambda session: consensus_contamination(session, instrument_id, pairs))
        if taint["contaminated"]:
            st.warning(
                f"Contaminated: the model may know these prices — {taint['contaminated_decisions']} of "
                f"{taint['decisions']} recorded decisions come from LLMs asked about times before their training "
                f"cutoff. Trades on them: {taint['contaminated_periods']['trades']} (P&L "
                f"{taint['contaminated_periods']['pnl']:+,.2f}); on clean decisions: {taint['clean']['trades']} "
                f"(P&L {taint['clean']['pnl']:+,.2f}).",
                icon=":material/warning:",
            )
    # The details are one click away: only the open one runs and is sent (the price chart is the
    # heaviest element of the page in a browser).
    list_tab, price_tab = st.tabs(["Trade list", "Price chart with trades"], key=f"{key}_detail", on_change="rerun")
    if list_tab.open:
        with list_tab:
            render_trade_list(stored)
    if price_tab.open:
        with price_tab:
            render_price_with_trades(stored, key)


def render_price_with_trades(stored: StoredRun, key: str) -> None:
    """The run's candles with its entries and exits (stored candles only; a CSV run has none)."""
    summary = stored.summary
    if summary.instrument_id is not None:
        payload = run_trades_figure(stored)
        if isinstance(payload, str):
            st.warning(f"Price chart unavailable: {payload}")
        else:
            st.caption(f"{summary.data_label} with the run's entries (▲) and exits (▼)")
            price_chart(payload, key=f"{key}_trades")
    else:
        st.caption("This run used a CSV file; its prices are not stored (the trade list shows every trade).")


def render_trade_list(stored: StoredRun) -> None:
    """Every trade of the run: side, entry, exit, quantity, exit reason, P&L."""
    if stored.trades.empty:
        st.info("No trades in this run.")
        return
    trades = stored.trades.copy()
    for price_column in ("entry_price", "exit_price"):
        trades[price_column] = trades[price_column].map(lambda value: price(value) if pd.notna(value) else "–")
    trades["quantity"] = trades["quantity"].map(quantity)
    trades["pnl"] = trades["pnl"].map(lambda value: eur(value, signed=True) if pd.notna(value) else "–")
    trades["entry_at"] = trades["entry_at"].map(vienna_time)
    trades["exit_at"] = trades["exit_at"].map(lambda value: vienna_time(value) if pd.notna(value) else "open")
    trades.columns = [
        "Side",
        "Entry (Vienna)",
        "Entry price",
        "Exit (Vienna)",
        "Exit price",
        "Quantity",
        "Exit reason",
        "P&L",
    ]
    st.dataframe(trades, hide_index=True, width="stretch", height=280)


def render_sweep(stored: StoredRun, key: str) -> None:
    sweep = stored.sweep or {}
    names: list[str] = sweep.get("names", [])
    rows = sweep.get("rows", [])
    summary = stored.summary
    st.subheader(f"Sweep {summary.id}: {summary.strategy} over {', '.join(names)}")
    st.caption(
        f"{summary.data_label} · {summary.timeframe} · {vienna_time(summary.start_at, '%Y-%m-%d')} → "
        f"{vienna_time(summary.end_at, '%Y-%m-%d')} · {len(rows)} combinations · fee {summary.fee_bps:g} bp"
    )
    table = pd.DataFrame([{**row["parameters"], **row["metrics"]} for row in rows])
    metric_names = [name for name, _label, _kind in METRIC_LABELS if name in table.columns]
    if table.empty or not metric_names:
        st.info("No valid combination in this sweep.")
        return
    metric = st.selectbox(
        "Metric",
        metric_names,
        index=metric_names.index("sharpe") if "sharpe" in metric_names else 0,
        key=f"{key}_metric",
    )
    if len(names) >= 2:
        x, y = names[0], names[1]
        heatmap = table.pivot_table(index=y, columns=x, values=metric, aggfunc="max").sort_index(ascending=False)
        st.plotly_chart(heatmap_figure(heatmap, x, y, metric), width="stretch", key=f"{key}_heatmap")
    ranked = table.sort_values(metric, ascending=False).head(15)
    kinds = {name: kind for name, _label, kind in METRIC_LABELS}
    for name in metric_names:
        ranked[name] = ranked[name].map(lambda value, kind=kinds[name]: format_metric(value, kind))
    st.dataframe(ranked, hide_index=True, width="stretch")
    baseline = stored.baseline_metrics.get(metric)
    if baseline is not None:
        st.caption(f"Buy & hold {metric}: {format_metric(baseline, kinds[metric])}")
    warning = overfitting_warning([row["metrics"].get(metric) for row in rows], metric, baseline)
    if warning is not None:
        st.warning(warning)
    if sweep.get("overfitting_verdict"):
        st.info(f"Best Sharpe among the combinations — {sweep['overfitting_verdict']}")


def render_sweep_job(job: JobInfo, key: str) -> None:
    """A finished sweep job: its best combination; the full sweep is the view below (or Past runs)."""
    result = job.result or {}
    best = result.get("best") or {}
    metric = result.get("metric", "sharpe")
    parameters = ", ".join(f"{name}={value}" for name, value in (best.get("parameters") or {}).items())
    value = (best.get("metrics") or {}).get(metric)
    st.markdown(
        f"{result.get('combinations', 0)} combinations"
        + (f" (resumed after {result['resumed_after']})" if result.get("resumed_after") else "")
        + (f" · best {metric} **{value:.3f}** at {parameters}" if value is not None else "")
    )
    if result.get("warning"):
        st.caption(result["warning"])
    run_id = result.get("run_id")
    if run_id is not None and st.button(f"Show sweep {run_id}", key=f"{key}_show"):
        st.session_state[SWEEP_KEY] = int(run_id)
        st.rerun()


register_renderer("backtest-sweep", render_sweep_job)

choices = versioned("backtest.data_choices", data_choices, tables=("candles", "instruments"))
if not choices:
    st.info("No stored candles yet: collect market data (or run `konsens demo`) to backtest here.")
    st.stop()

catalog = load_strategies()  # $KONSENS_HOME/strategies: listed in the strategy choices below


def run_section() -> None:
    """Run: a strategy on stored candles, and the run shown (the newest, or the one just run)."""
    names = list(STRATEGIES)
    strategy_name = st.selectbox("Strategy", names, format_func=lambda name: STRATEGIES[name].title, key="run_strategy")
    cls = strategy_class(strategy_name)
    st.caption(cls.description)
    with st.form("backtest_form"):
        parameter_columns = st.columns(max(len(cls.parameters), 1))
        parameters: dict[str, object] = {}
        for column, parameter in zip(parameter_columns, cls.parameters, strict=False):
            with column:
                parameters[parameter.name] = parameter_input(parameter, f"run_{strategy_name}_{parameter.name}")
        choice, timeframe, start, end = choose_data(choices, "run")
        cost_columns = st.columns(6)
        fee_bps = cost_columns[0].number_input("Fee (bp)", 0.0, 500.0, 10.0, step=1.0)
        slippage_bps = cost_columns[1].number_input("Slippage (bp)", 0.0, 500.0, 5.0, step=1.0)
        cash = cost_columns[2].number_input("Starting cash", 100.0, 1e9, 10_000.0, step=1000.0)
        stop_loss = cost_columns[3].number_input("Stop-loss %", 0.0, 99.0, 0.0, step=0.5, help="0 = none")
        take_profit = cost_columns[4].number_input("Take-profit %", 0.0, 99.0, 0.0, step=0.5, help="0 = none")
        trailing = cost_columns[5].number_input("Trailing stop %", 0.0, 99.0, 0.0, step=0.5, help="0 = none")
        engine = st.radio(
            "Engine",
            list(ENGINE_LABELS),
            format_func=ENGINE_LABELS.__getitem__,
            horizontal=True,
            disabled=not cls.has_fast_path(),
        )
        submitted = st.form_submit_button("Run backtest", type="primary")
    if submitted:
        try:
            config = BacktestConfig(
                initial_cash=float(cash),
                fee_bps=float(fee_bps),
                slippage_bps=float(slippage_bps),
                stop_loss=stop_loss / 100 or None,
                take_profit=take_profit / 100 or None,
                trailing_stop=trailing / 100 or None,
            )
            with st.spinner("Running the backtest…"):
                run_id, _result = run_stored_backtest(
                    database(),
                    strategy_name,
                    parameters,
                    choice.symbol,
                    timeframe,
                    config,
                    start=start,
                    end=end,
                    engine=engine,
                )
            st.session_state[RUN_KEY] = run_id
        except (StrategyError, PriceDataError, ValueError) as error:
            st.error(str(error))
    shown = stored_run(shown_run_id(RUN_KEY, BacktestKind.SINGLE))
    if shown is None:
        st.info("Choose a strategy and press **Run backtest**.")
    else:
        render_run(shown, "run_view")


def sweep_section() -> None:
    """Sweep: a grid of two parameters queued as a job, its progress and the sweep shown."""
    sweepable = [name for name in STRATEGIES if len(STRATEGIES[name].parameters) >= 2]
    sweep_strategy = st.selectbox(
        "Strategy", sweepable, format_func=lambda name: STRATEGIES[name].title, key="sweep_strategy"
    )
    sweep_cls = strategy_class(sweep_strategy)
    parameter_names = [parameter.name for parameter in sweep_cls.parameters]
    with st.form("sweep_form"):
        axis_columns = st.columns(2)
        ranges: dict[str, str] = {}
        for position, column in enumerate(axis_columns):
            with column:
                name = st.selectbox(
                    f"Parameter {position + 1}",
                    parameter_names,
                    index=position,
                    key=f"sweep_{sweep_strategy}_axis_{position}",
                )
                parameter = next(item for item in sweep_cls.parameters if item.name == name)
                low = parameter.default if parameter.kind is float else max(parameter.minimum, parameter.default // 2)
                high = parameter.default * 2
                step = max((high - low) / 4, 1 if parameter.kind is int else 0.1)
                if parameter.kind is int:
                    step = int(step)
                ranges[name] = st.text_input(
                    f"{name} range (start:stop:step or a,b,c)",
                    f"{low:g}:{high:g}:{step:g}",
                    key=f"sweep_{sweep_strategy}_range_{position}",
                )
        sweep_choice, sweep_timeframe, sweep_start, sweep_end = choose_data(choices, "sweep")
        sweep_fee = st.number_input("Fee (bp)", 0.0, 500.0, 10.0, step=1.0, key="sweep_fee")
        sweep_submitted = st.form_submit_button("Run sweep", type="primary")
    if sweep_submitted:
        try:
            if len(ranges) < 2:
                raise StrategyError("choose two different parameters to sweep")
            grid = {name: parse_values(name, text) for name, text in ranges.items()}
        except StrategyError as error:
            st.error(str(error))
        else:
            queued = submit_job(
                "backtest-sweep",
                {
                    "strategy": sweep_strategy,
                    "grid": grid,
                    "data": sweep_choice.symbol,
                    "timeframe": sweep_timeframe,
                    "start": sweep_start.isoformat(),
                    "end": sweep_end.isoformat(),
                    "fee_bps": float(sweep_fee),
                },
            )
            if queued is not None:
                st.session_state.pop(SWEEP_KEY, None)  # show the newest sweep: this one, once it is done
    jobs_panel(SWEEP_JOB_KINDS, key="sweep_jobs", title="Sweep jobs")
    stored_sweep = stored_run(shown_run_id(SWEEP_KEY, BacktestKind.SWEEP))
    if stored_sweep is None:
        st.info("Choose two parameters and their ranges, then press **Run sweep**.")
    else:
        render_sweep(stored_sweep, "sweep_view")


def history_section() -> None:
    """Past runs: every stored run, an equity comparison, open or delete one."""
    runs = read(list_runs)
    if not runs:
        st.info("No stored runs yet.")
    else:
        overview = pd.DataFrame(
            [
                {
                    "Run": run.id,
                    "Stored (Vienna)": vienna_time(run.created_at),
                    "Kind": run.kind.value,
                    "Strategy": run.strategy,
                    "Parameters": ", ".join(f"{key}={value}" for key, value in run.parameters.items())
                    if run.kind is BacktestKind.SINGLE
                    else ", ".join(run.parameters.get("grid", {})),
                    "Data": f"{run.data_label} {run.timeframe}",
                    "Trades": str(run.trades) if run.kind is BacktestKind.SINGLE else "–",
                    "Return": format_metric(run.total_return, "pct"),
                    "Buy & hold": format_metric(run.baseline_return, "pct"),
                    "Sharpe": format_metric(run.sharpe, "ratio"),
                    "Max DD": format_metric(run.max_drawdown, "pct"),
                }
                for run in runs
            ]
        )
        st.dataframe(overview, hide_index=True, width="stretch")
        singles = [run for run in runs if run.kind is BacktestKind.SINGLE]
        labels = {run.id: f"{run.id}: {run.strategy} {run.data_label} {run.timeframe}" for run in runs}
        compared = st.multiselect(
            "Compare equity curves",
            [run.id for run in singles],
            default=[run.id for run in singles[:2]],
            format_func=labels.__getitem__,
        )
        if compared:
            curves = {}
            for run_id in compared:
                stored = stored_run(run_id)
                if stored is not None:
                    curves[labels[run_id]] = stored.equity["equity"]
            st.plotly_chart(comparison_figure(curves), width="stretch", key="compare")
        opened_id = st.selectbox(
            "Open a run", [run.id for run in runs], format_func=labels.__getitem__, key="history_open"
        )
        opened = stored_run(opened_id)
        if opened is not None:
            if opened.summary.kind is BacktestKind.SWEEP:
                render_sweep(opened, f"history_{opened_id}")
            else:
                render_run(opened, f"history_{opened_id}")
            if st.button("Delete this run", key=f"delete_{opened_id}"):
                database().run(lambda session: delete_run(session, opened_id))
                st.session_state.pop(RUN_KEY, None)
                st.session_state.pop(SWEEP_KEY, None)
                st.rerun()


def robustness_section() -> None:
    """Robustness: queue a report as a job and read the stored ones (app/ui/robustness.py)."""
    from app.ui.robustness import render_robustness_tab

    render_robustness_tab(choices)


def lab_section() -> None:
    """Your strategies: user strategy files and signal sources (app/ui/strategy_lab.py)."""
    render_user_strategies(catalog)
    render_signal_sources(choices, user)


# Only the open section runs and is sent to the browser (Streamlit's stateful tabs): rendering all
# five at once made the page several seconds to idle in a browser at 1M candles (issue 21). The
# open section is kept in the URL (?section=Sweep), so a reload or a bookmark opens it again.
SECTIONS = {
    "Run": run_section,
    "Sweep": sweep_section,
    "Past runs": history_section,
    "Robustness": robustness_section,
    "Your strategies": lab_section,
}
for tab, render_section in zip(
    st.tabs(list(SECTIONS), key=SECTION_KEY, bind="query-params"), SECTIONS.values(), strict=True
):
    if tab.open:
        with tab:
            render_section()
