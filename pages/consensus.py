"""AI consensus: the latest decision per instrument, every analyst's vote, history and track records."""

from __future__ import annotations

from typing import Any, cast

import plotly.graph_objects as go
import streamlit as st

from app.ui.context import database, page_setup, read
from app.ui.format import cost, eur, pct, vienna_time
from app.ui.stale import stale_badge
from core.ai.config import load_ai_config
from core.ai.history import history_report, list_history_runs
from core.ai.queries import (
    ConsensusView,
    consensus_history,
    latest_consensus,
    latest_consensus_id,
    leaderboard,
    price_history,
    request_view,
)
from core.ai.records import load_record
from core.ai.requests import open_request, request_analysis
from core.market.freshness import price_freshness
from core.market.precision import display_precisions
from core.market.query import tracked_instruments
from core.system.status import worker_is_running

SIGNAL_COLOURS = {"buy": "#1a9850", "sell": "#d73027", "hold": "#7f7f7f"}
SIGNAL_ICONS = {"buy": ":material/trending_up:", "sell": ":material/trending_down:", "hold": ":material/pause:"}
REQUEST_KEY = "consensus_request_id"
VIEW_KEY = "consensus_view"
RECORDS_KEY = "consensus_records"
PENDING_REFRESH_SECONDS = 2
IDLE_REFRESH_SECONDS = 30

username = page_setup("AI consensus", ":material/groups:")

instruments = read(lambda session: [(item.id, item.symbol) for item in tracked_instruments(session)])
if not instruments:
    st.info("No tracked instruments yet. Add instruments in Settings or run `konsens demo`.")
    st.stop()
symbols = {symbol: instrument_id for instrument_id, symbol in instruments}
top = st.columns([2, 1, 3])
symbol = top[0].selectbox("Instrument", list(symbols), key="consensus_symbol")
instrument_id = symbols[symbol]
precision = read(display_precisions)[symbol]

config = read(load_ai_config)
with top[2]:
    enabled = [provider.name for provider in config.enabled_providers]
    st.caption("Analysts: " + ", ".join(enabled))
    with st.expander("Which analysts are enabled, and why"):
        for provider in config.providers:
            mark = ":material/check_circle:" if provider.enabled else ":material/block:"
            st.markdown(f"{mark} **{provider.name}** — {provider.reason}")

if top[1].button("Analyse now", icon=":material/play_arrow:", type="primary", width="stretch"):
    with database().session() as session:
        request = request_analysis(session, instrument_id, requested_by=username)
        st.session_state[REQUEST_KEY] = request.id
    st.toast(f"Analysis of {symbol} requested.")

pending = read(lambda session: open_request(session, instrument_id)) is not None


def record_panel(opinion_id: int) -> None:
    """Show an opinion's decision record: model, parameters, figures, cost, snapshot, prompt and answer."""
    records: dict[int, dict[str, Any]] = st.session_state.setdefault(RECORDS_KEY, {})
    if opinion_id not in records:  # a stored record never changes: read it once per session
        records[opinion_id] = read(lambda session: load_record(session, opinion_id).as_json())
    record = records[opinion_id]
    st.markdown(
        f"**#{record['id']}** · `{record['provider']}` · model `{record['model']}` · answered by "
        f"`{record['model_version'] or '-'}` · Konsens {record['konsens_version'] or '-'}"
    )
    st.caption(
        f"{record['prompt_tokens'] or 0}+{record['completion_tokens'] or 0} tokens · "
        f"{cost(record['cost_eur'] or 0)} · {record['latency_ms'] or 0:.0f} ms · {record['attempts']} call(s)"
        + (" · contaminated period" if record["contaminated"] else "")
    )
    if record["claims"]:
        st.dataframe(
            [
                {
                    "Figure": claim["name"],
                    "Claimed": str(claim["claimed"]),
                    "Snapshot": claim["true_value"],
                    "Verdict": "ok" if claim["ok"] else claim["reason"],
                }
                for claim in record["claims"]
            ],
            hide_index=True,
            width="stretch",
        )
    st.markdown("Request parameters")
    st.json(record["request_params"] or {}, expanded=False)
    st.markdown(f"Prompt (sha256 `{(record['prompt_hash'] or '-')[:16]}…`)")
    st.code(record["prompt"] or "", language=None, wrap_lines=True)
    st.markdown("Raw answer")
    st.code(record["answer"] or "", language="json", wrap_lines=True)
    st.markdown("Context snapshot")
    st.json(record["snapshot"] or {}, expanded=False)
    st.caption(f"Reproduce it: `konsens analyze --replay {record['id']}`")


def _request_box(request_id: int) -> None:
    """The state of an "Analyse now" request, saying truthfully whether an analyst worker runs."""
    view, analyst_running = read(
        lambda session: (request_view(session, request_id), worker_is_running(session, "analyst"))
    )
    if view is None:
        return
    if view.status == "pending" and analyst_running:
        st.info(
            f"Analysis request #{view.id} queued — the analyst worker picks it up (requested "
            f"{vienna_time(view.requested_at, '%H:%M:%S')}).",
            icon=":material/hourglass_top:",
        )
    elif view.status == "running":
        st.info(
            f"Analysis request #{view.id} running: {view.progress or 'analysts asked'} (requested "
            f"{vienna_time(view.requested_at, '%H:%M:%S')}).",
            icon=":material/hourglass_top:",
        )
    elif view.status == "pending":
        st.warning(
            f"Analysis request #{view.id} queued, but no analyst worker is running: start `konsens up` "
            "(or `konsens worker analyst`) and it is picked up.",
            icon=":material/warning:",
        )
    elif view.status == "failed":
        st.error(f"Analysis request #{view.id} failed: {view.error}")
    elif st.session_state.get(f"shown_{view.id}") is None:
        st.session_state[f"shown_{view.id}"] = True
        st.toast(f"New consensus for {symbol} is in.", icon=":material/groups:")


def _consensus_view(consensus_id: int) -> ConsensusView | None:
    """The consensus with its opinions, read again only when a newer one was stored."""
    cached = st.session_state.get(VIEW_KEY)
    if cached is not None and cached[0] == consensus_id:
        return cast(ConsensusView, cached[1])
    view = read(lambda session: latest_consensus(session, instrument_id))
    st.session_state[VIEW_KEY] = (consensus_id, view)
    return view


def live_consensus() -> None:
    """Request state and the latest consensus; re-runs alone (2 s while a request is open, else 30 s).

    Each run reads only the open request, the heartbeats and the newest consensus id; the consensus
    with its votes is read again when that id changes.
    """
    open_id = read(lambda session: item.id if (item := open_request(session, instrument_id)) else None)
    request_id = open_id if open_id is not None else st.session_state.get(REQUEST_KEY)
    if request_id is not None:
        _request_box(int(request_id))
    consensus_id = read(lambda session: latest_consensus_id(session, instrument_id))
    current = _consensus_view(consensus_id) if consensus_id is not None else None
    if current is None:
        st.info(f"No consensus for {symbol} yet. Press **Analyse now** or start `konsens worker analyst`.")
        return
    st.subheader(f"Latest consensus — {vienna_time(current.decided_at)}" + (" (demo)" if current.is_demo else ""))
    left, middle, right = st.columns([1, 1, 1])
    decision_label = current.decision.upper()
    left.metric(
        "Decision", decision_label, f"leaning {current.leaning}" if current.flagged else None, delta_color="off"
    )
    left.metric("Score", f"{current.score:+.2f}", help="Weighted direction of the votes, from -1 (sell) to +1 (buy).")
    middle.plotly_chart(
        go.Figure(
            go.Indicator(
                mode="gauge+number",
                value=round(current.agreement * 100, 1),
                number={"suffix": " %"},
                title={"text": "Agreement"},
                gauge={
                    "axis": {"range": [0, 100]},
                    "bar": {"color": SIGNAL_COLOURS.get(current.leaning, "#555")},
                    "threshold": {
                        "line": {"color": "black", "width": 3},
                        "value": config.parameters.agreement_threshold * 100,
                    },
                },
            ),
            layout=go.Layout(height=220, margin={"l": 40, "r": 40, "t": 40, "b": 10}),
        ),
        width="stretch",
        key="agreement_gauge",
    )
    with right:
        valid = sum(1 for opinion in current.opinions if opinion.ok)
        st.metric("Valid opinions", f"{valid} of {len(current.opinions)}")
        if current.price is not None:
            st.metric("Price at decision", precision.price(current.price, symbol=True))
            decided = read(lambda session: price_freshness(session, instrument_id, as_of=current.as_of))
            stale_badge(decided, what="Price at decision")
        st.metric("Cost of this consensus", cost(current.cost_eur), help="Provider calls; cached answers cost 0.")
    if current.flagged:
        st.warning(f"Flagged, so the decision is hold: {current.flag_reason}.", icon=":material/flag:")
    if current.dissenters:
        st.caption("Dissenters: " + ", ".join(current.dissenters))

    st.subheader("Votes")
    per_row = 4
    for start in range(0, len(current.opinions), per_row):
        columns = st.columns(per_row)
        for column, opinion in zip(columns, current.opinions[start : start + per_row], strict=False):
            with column.container(border=True):
                st.markdown(f"**{opinion.analyst}**  \n`{opinion.model}`")
                if opinion.ok and opinion.signal:
                    colour = SIGNAL_COLOURS[opinion.signal]
                    st.markdown(
                        f"{SIGNAL_ICONS[opinion.signal]} <span style='color:{colour};font-weight:700'>"
                        f"{opinion.signal.upper()}</span>" + (" · dissent" if opinion.dissent else ""),
                        unsafe_allow_html=True,
                    )
                    st.progress(float(opinion.confidence or 0), text=f"confidence {opinion.confidence or 0:.0%}")
                    st.write(opinion.rationale or "")
                    details = [f"{opinion.horizon_hours} h horizon", f"{opinion.latency_ms or 0:.0f} ms"]
                    if opinion.cached:
                        details.append("cached")
                    if opinion.prompt_tokens:
                        details.append(f"{opinion.prompt_tokens}+{opinion.completion_tokens or 0} tokens")
                    if opinion.cost_eur is not None:
                        details.append(cost(opinion.cost_eur))
                    if opinion.claims_checked:
                        details.append(f"{opinion.claims_checked} figures checked")
                    st.caption(" · ".join(details))
                    if opinion.claims_false:
                        st.warning(
                            f"Weight 0: {opinion.claims_false} false figure(s) — {opinion.discounted_reason or ''}",
                            icon=":material/report:",
                        )
                else:
                    st.error(f"Failed: {opinion.error}", icon=":material/error:")
                with st.popover("Decision record", icon=":material/receipt_long:", width="stretch"):
                    record_panel(opinion.id)


st.fragment(run_every=PENDING_REFRESH_SECONDS if pending else IDLE_REFRESH_SECONDS)(live_consensus)()

st.subheader("History")
days = (
    st.segmented_control(
        "Range", [30, 60, 90], default=60, format_func=lambda value: f"{value} days", key="consensus_days"
    )
    or 60
)
history = read(lambda session: consensus_history(session, instrument_id, days=int(days)))
prices = read(lambda session: price_history(session, instrument_id, days=int(days)))
if prices.empty and history.empty:
    st.caption("No prices or decisions in this range.")
else:
    figure = go.Figure()
    if not prices.empty:
        figure.add_trace(go.Scatter(x=prices.index, y=prices["close"], name="close", line={"color": "#4c78a8"}))
    markers = {"buy": "triangle-up", "sell": "triangle-down", "hold": "circle"}
    for decision, marker in markers.items():
        subset = history[history["decision"] == decision] if not history.empty else history
        if subset.empty:
            continue
        figure.add_trace(
            go.Scatter(
                x=subset["decided_at"],
                y=subset["price"],
                mode="markers",
                name=decision,
                marker={
                    "symbol": [marker + ("-open" if flagged else "") for flagged in subset["flagged"]],
                    "size": 11 if decision != "hold" else 7,
                    "color": SIGNAL_COLOURS[decision],
                },
                customdata=subset[["score", "agreement"]].to_numpy(),
                hovertemplate="%{x}<br>" + decision + " · score %{customdata[0]:+.2f} · agreement "
                "%{customdata[1]:.0%}<extra></extra>",
            )
        )
    figure.update_layout(height=380, margin={"l": 10, "r": 10, "t": 10, "b": 10}, legend={"orientation": "h"})
    st.plotly_chart(figure, width="stretch", key="history_chart")
    st.caption("Open markers: flagged decisions (disagreement or too few opinions), which fall back to hold.")

st.subheader("Leaderboard")
board = read(leaderboard)
if not board:
    st.caption("No opinion has been scored yet: opinions are scored once their horizon has passed.")
else:
    st.dataframe(
        [
            {
                "Analyst": row.analyst,
                "Scored": row.scored,
                "Hit rate": row.hit_rate,
                "Brier": row.brier,
                "Reliability": row.reliability,
                "Weight": row.weight,
                "Mean return when followed": row.mean_return_when_followed,
                "Hallucination rate": row.hallucination_rate,
                "€ today": cost(row.cost_today_eur),
                "€ per day (30 d)": cost(row.cost_per_day_eur),
            }
            for row in board
        ],
        column_config={
            "Hallucination rate": st.column_config.ProgressColumn(
                format="percent",
                min_value=0.0,
                max_value=1.0,
                help="Share of checked answers that quoted a figure not in (or not matching) the snapshot; "
                "it lowers the analyst's weight.",
            ),
            "Hit rate": st.column_config.ProgressColumn(format="percent", min_value=0.0, max_value=1.0),
            "Brier": st.column_config.NumberColumn(format="%.3f", help="Mean (confidence − hit)²; lower is better."),
            "Reliability": st.column_config.NumberColumn(format="%.2f×"),
            "Weight": st.column_config.NumberColumn(format="%.2f×"),
            "Mean return when followed": st.column_config.NumberColumn(format="percent"),
        },
        hide_index=True,
        width="stretch",
    )
    calibration = go.Figure()
    calibration.add_trace(
        go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfectly calibrated", line={"dash": "dot", "color": "#999"})
    )
    for row in board:
        points = [bucket for bucket in row.calibration if bucket.get("count")]
        calibration.add_trace(
            go.Scatter(
                x=[bucket["mean_confidence"] for bucket in points],
                y=[bucket["hit_rate"] for bucket in points],
                mode="lines+markers",
                name=row.analyst,
                text=[f"{bucket['count']} opinions" for bucket in points],
            )
        )
    calibration.update_layout(
        height=360,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        title="Calibration: stated confidence vs hit rate",
        xaxis={"title": "confidence", "range": [0, 1]},
        yaxis={"title": "hit rate", "range": [0, 1]},
    )
    st.plotly_chart(calibration, width="stretch", key="calibration_chart")

st.subheader("AI history runs")
runs = read(lambda session: [history_report(session, run.id) for run in list_history_runs(session, limit=10)])
if not runs:
    st.caption(
        "None yet. An AI history run asks the analysts about past decision times, point in time, under a cost cap: "
        "`konsens ai-history BTC/EUR --since 2025-01-01 --every-hours 24 --dry-run` prints the estimate first."
    )
for run in runs:
    with st.container(border=True):
        st.markdown(
            f"**Run #{run['run_id']}** {run['symbol']} · {run['status']} · {run['points_done']}/"
            f"{run['points_planned']} decision times · {cost(run['cost_eur'])} of cap {eur(run['cost_cap_eur'])}"
        )
        if run["contaminated"]:
            st.warning(
                "Contaminated: the model may know these prices — "
                + "; ".join(
                    f"{item['model']} (cutoff {item['training_cutoff'] or 'unknown'}, "
                    f"{item['points_before_cutoff']} of {item['points']} times before it)"
                    for item in run["contamination"]
                    if item["contaminated"]
                ),
                icon=":material/warning:",
            )
        if run["stop_reason"]:
            st.caption(f"Stopped: {run['stop_reason']}")
        clean, dirty = st.columns(2)
        for column, key, label in ((clean, "clean", "Clean periods"), (dirty, "contaminated_periods", "Contaminated")):
            part = run[key]
            column.metric(
                label,
                f"{part['decisions']} decisions",
                f"{pct(part['return_following'])} following" if part["buy_or_sell"] else None,
            )
            column.caption(
                f"{part['buy_or_sell']} buy/sell, hit rate "
                + (f"{part['hit_rate']:.0%}" if part["hit_rate"] is not None else "-")
            )
