"""AI consensus: the latest decision per instrument, every analyst's vote, history and track records."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from app.ui.context import database, page_setup, read
from app.ui.format import vienna_time
from core.ai.config import load_ai_config
from core.ai.queries import (
    ConsensusView,
    consensus_history,
    latest_consensus,
    leaderboard,
    price_history,
    request_view,
)
from core.ai.requests import open_request, request_analysis
from core.market.query import tracked_instruments

SIGNAL_COLOURS = {"buy": "#1a9850", "sell": "#d73027", "hold": "#7f7f7f"}
SIGNAL_ICONS = {"buy": ":material/trending_up:", "sell": ":material/trending_down:", "hold": ":material/pause:"}
REQUEST_KEY = "consensus_request_id"

username = page_setup("AI consensus", ":material/groups:")

instruments = read(lambda session: [(item.id, item.symbol) for item in tracked_instruments(session)])
if not instruments:
    st.info("No tracked instruments yet. Add instruments in Settings or run `konsens demo`.")
    st.stop()
symbols = {symbol: instrument_id for instrument_id, symbol in instruments}
top = st.columns([2, 1, 3])
symbol = top[0].selectbox("Instrument", list(symbols), key="consensus_symbol")
instrument_id = symbols[symbol]

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
    st.toast(f"Analysis of {symbol} requested: the analyst worker picks it up.")

waiting = read(lambda session: open_request(session, instrument_id))
request_id = waiting.id if waiting is not None else st.session_state.get(REQUEST_KEY)


@st.fragment(run_every=2)
def request_progress(request_id: int) -> None:
    """Show the state of the open request; reload the page when its result lands."""
    view = read(lambda session: request_view(session, request_id))
    if view is None:
        return
    if view.status in ("pending", "running"):
        st.info(
            f"Analysis request #{view.id} ({view.status}): {view.progress or 'waiting'} — requested "
            f"{vienna_time(view.requested_at, '%H:%M:%S')}. Needs a running worker: `konsens worker analyst`.",
            icon=":material/hourglass_top:",
        )
    elif view.status == "failed":
        st.error(f"Analysis request #{view.id} failed: {view.error}")
    elif st.session_state.get(f"shown_{view.id}") is None:
        st.session_state[f"shown_{view.id}"] = True
        st.rerun()  # the new consensus is stored: redraw the whole page with it


if request_id is not None:
    request_progress(int(request_id))

current: ConsensusView | None = read(lambda session: latest_consensus(session, instrument_id))
if current is None:
    st.info(f"No consensus for {symbol} yet. Press **Analyse now** or start `konsens worker analyst`.")
else:
    st.subheader(f"Latest consensus — {vienna_time(current.decided_at)}" + (" (demo)" if current.is_demo else ""))
    left, middle, right = st.columns([1, 1, 1])
    decision_label = current.decision.upper()
    left.metric("Decision", decision_label, f"leaning {current.leaning}" if current.flagged else None,
                delta_color="off")  # fmt: skip
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
            st.metric("Price at decision", f"{current.price:,.2f}")
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
                    if opinion.cost_usd:
                        details.append(f"${opinion.cost_usd:.4f}")
                    st.caption(" · ".join(details))
                else:
                    st.error(f"Failed: {opinion.error}", icon=":material/error:")

st.subheader("History")
days = st.segmented_control("Range", [30, 60, 90], default=60, format_func=lambda value: f"{value} days",
                            key="consensus_days") or 60  # fmt: skip
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
            }
            for row in board
        ],
        column_config={
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
