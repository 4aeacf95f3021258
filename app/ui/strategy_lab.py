"""The Backtest page's "Your strategies" tab: user strategy files, their parameters, signal sources."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import streamlit as st

from app.ui.context import database, read
from app.ui.format import vienna_time
from core.backtest.service import DataChoice
from core.backtest.signal_source import SignalSourceError, disable_source, enable_source, find_source, list_sources
from core.backtest.strategies import STRATEGIES
from core.backtest.strategy import Parameter, StrategyError
from core.backtest.user_strategies import StrategyCatalog, load_user_strategies, strategy_directory
from core.config import get_settings
from core.market.query import TIMEFRAME_SECONDS


def load_strategies() -> StrategyCatalog:
    """Load ``$KONSENS_HOME/strategies`` (unchanged files are not imported again) and register them."""
    return load_user_strategies(get_settings().home)


def parameter_rows(parameters: tuple[Parameter, ...]) -> pd.DataFrame:
    """One row per parameter: name, type, default, range, help."""
    return pd.DataFrame(
        [
            {
                "Parameter": parameter.name,
                "Type": parameter.kind.__name__,
                "Default": parameter.default,
                "Range": f"{parameter.minimum} … {parameter.maximum}",
                "Meaning": parameter.help,
            }
            for parameter in parameters
        ],
        columns=["Parameter", "Type", "Default", "Range", "Meaning"],
    )


def parse_parameters(text: str) -> dict[str, object]:
    """``"fast=10, slow=30"`` → ``{"fast": "10", "slow": "30"}`` (the strategy checks the values)."""
    parameters: dict[str, object] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, separator, value = item.partition("=")
        if not separator or not name.strip():
            raise StrategyError(f"parameters take name=value, got {item!r}")
        parameters[name.strip()] = value.strip()
    return parameters


def render_user_strategies(catalog: StrategyCatalog) -> None:
    """Each user strategy with its file and parameters; each refused file with its error."""
    directory = strategy_directory(get_settings().home)
    st.caption(
        f"Python files in `{directory}` are loaded as strategies (see the manual: Your own strategies). "
        "Edit a file and rerun the page to reload it."
    )
    for error in catalog.errors:
        st.error(f"Refused: {error}", icon=":material/error:")
    if not catalog.strategies and not catalog.errors:
        st.info("No strategy files yet. Copy `docs/examples/ema_trend.py` there to start.")
    for name, strategy in sorted(catalog.strategies.items()):
        cls = strategy.cls
        with st.container(border=True):
            st.markdown(f"**{cls.title}** · `{name}`")
            st.caption(f"{strategy.path}, line {strategy.line} · {cls.description or 'no description'}")
            exits = {key: value for key, value in cls().exit_fractions().items() if value is not None}
            notes = [
                "fast path" if cls.has_fast_path() else "event loop only",
                "pandas indicator hook" if cls.has_indicator_hook() else "declared indicators only",
                *(f"{key.replace('_', ' ')} {value:.1%}" for key, value in exits.items()),
            ]
            st.caption(" · ".join(notes))
            if cls.parameters:
                st.dataframe(parameter_rows(cls.parameters), hide_index=True, width="stretch")
            else:
                st.caption("No parameters.")


def render_signal_sources(choices: list[DataChoice], user: str) -> None:
    """The signal sources (strategies the analyst worker runs on each closed candle) and a form to add one."""
    st.markdown("#### Strategies as signal sources")
    st.caption(
        "The analyst worker runs an enabled strategy on each newly closed candle; its signals become paper "
        "orders that pass the same risk checks as every order. A strategy that fails is switched off with an "
        "alert. Live signals are enabled with `konsens strategy enable --live`."
    )
    sources = read(list_sources)
    if sources:
        table = pd.DataFrame(
            [
                {
                    "Id": item.id,
                    "On": item.enabled,
                    "Strategy": item.strategy,
                    "Parameters": ", ".join(f"{key}={value}" for key, value in item.parameters.items()),
                    "Instrument": item.symbol,
                    "Timeframe": item.timeframe,
                    "Mode": "live" if item.live else "paper",
                    "Fraction": float(item.position_fraction),
                    "Last candle": vienna_time(item.last_candle_at) if item.last_candle_at else "–",
                    "Last signal": item.last_signal or "–",
                    "Switched off because": item.disabled_reason or "",
                }
                for item in sources
            ]
        )
        st.dataframe(table, hide_index=True, width="stretch")
        enabled = [item for item in sources if item.enabled]
        if enabled:
            columns = st.columns([3, 1])
            chosen = columns[0].selectbox(
                "Switch off",
                [item.id for item in enabled],
                key="source_disable",
                format_func=lambda source_id: next(
                    f"{item.id}: {item.strategy} on {item.symbol} {item.timeframe}"
                    for item in enabled
                    if item.id == source_id
                ),
            )
            if columns[1].button("Switch off", key="source_disable_button"):
                database().run(
                    lambda session: disable_source(
                        session, find_source(session, int(chosen)), actor=user, reason="switched off on the page"
                    )
                )
                st.rerun()
    else:
        st.caption("No strategy is a signal source yet.")
    with st.form("source_enable_form"):
        form_columns = st.columns(4)
        names = sorted(name for name in STRATEGIES if name != "ai-consensus")
        name = form_columns[0].selectbox("Strategy", names, key="source_strategy")
        symbols = [choice.symbol for choice in choices]
        symbol = form_columns[1].selectbox("Instrument", symbols, key="source_symbol")
        timeframes = sorted({tf for choice in choices for tf in choice.timeframes}, key=TIMEFRAME_SECONDS.__getitem__)
        default = timeframes.index("1h") if "1h" in timeframes else 0
        timeframe = form_columns[2].selectbox("Timeframe", timeframes, index=default, key="source_timeframe")
        fraction = form_columns[3].number_input("Cash per entry", 0.01, 1.0, 0.25, step=0.05, key="source_fraction")
        text = st.text_input(
            "Parameters", "", placeholder="fast=10, slow=30 (empty: the defaults)", key="source_params"
        )
        submitted = st.form_submit_button("Enable as paper signal source")
    if submitted:
        try:
            parameters = parse_parameters(text)
            database().run(
                lambda session: (
                    enable_source(
                        session,
                        name,
                        symbol,
                        timeframe,
                        parameters=parameters,
                        position_fraction=Decimal(str(fraction)),
                        actor=user,
                    ).id
                )
            )
        except (SignalSourceError, StrategyError) as error:
            st.error(str(error))
        else:
            st.success(f"{name} on {symbol} {timeframe} is a paper signal source.")
            st.rerun()
