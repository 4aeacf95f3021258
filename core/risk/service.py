"""What the Risk page, the order ticket and the worker read: metrics, limit use, sizing suggestions."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pandas as pd
import pandas_ta as ta
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.execution.enums import OrderSide
from core.market.models import Instrument
from core.market.query import daily_closes, load_candles, resample_candles, tracked_instruments
from core.risk.exposure import AccountExposure, account_exposure, equity_curve
from core.risk.guard import (
    account_risk,
    cooldown_until,
    orders_in_window,
    stop_outs_since,
    stoploss_lock_until,
)
from core.risk.metrics import PERIODS_PER_YEAR_PORTFOLIO, drawdown_series, periods_per_year_for, series_metrics
from core.risk.models import RiskExitEvent, RiskOrderCheck, TradingState
from core.risk.settings import (
    InvalidRiskLimits,
    RiskLimits,
    SizingSettings,
    limits_problem,
    load_limits,
    load_sizing_settings,
)
from core.risk.sizing import (
    PositionSize,
    SizingError,
    SizingMethod,
    TradeStatistics,
    fixed_fraction_size,
    fixed_risk_size,
    kelly_size,
    trade_statistics,
    volatility_size,
)
from core.risk.state import StateView, effective_state
from core.timeutil import utc_now

logger = logging.getLogger(__name__)

PORTFOLIO_LABEL = "Portfolio"
METRIC_HISTORY_DAYS = 400


# --- returns and metrics -----------------------------------------------------------------------


def portfolio_returns(session: Session, account: str) -> pd.Series:
    """Return the daily simple returns of an account's equity snapshots (float, UTC index)."""
    curve = equity_curve(session, account)
    if len(curve) < 2:
        return pd.Series(dtype=float)
    equity = pd.Series([float(value) for _, value in curve], index=pd.DatetimeIndex([ts for ts, _ in curve]))
    daily = equity.resample("1D").last().dropna()
    returns = daily.pct_change().iloc[1:]
    return returns[returns.notna()]


def instrument_returns(session: Session, instrument_id: int, *, days: int = METRIC_HISTORY_DAYS) -> pd.Series:
    """Return daily close-to-close returns of an instrument from its collected candles."""
    start = utc_now() - timedelta(days=days)
    closes = load_candles(session, instrument_id, "1d", start=start)["close"]
    if closes.empty:
        closes = daily_closes(session, instrument_id, "1h", start=start)  # the last hourly close of each day
        if closes.empty:
            return pd.Series(dtype=float)
    returns = closes.pct_change().iloc[1:]
    return returns.dropna()


@dataclass(frozen=True)
class MetricsRow:
    """The metrics of one return series (the portfolio or an instrument)."""

    label: str
    periods_per_year: int
    observations: int
    values: dict[str, float]


def risk_metrics(session: Session, account: str) -> list[MetricsRow]:
    """Return the metrics of the account's portfolio (365 periods) and of every tracked instrument."""
    rows: list[MetricsRow] = []
    portfolio = portfolio_returns(session, account)
    if len(portfolio) >= 2:
        rows.append(
            MetricsRow(
                PORTFOLIO_LABEL,
                PERIODS_PER_YEAR_PORTFOLIO,
                len(portfolio),
                series_metrics(portfolio, PERIODS_PER_YEAR_PORTFOLIO),
            )
        )
    for instrument in tracked_instruments(session):
        returns = instrument_returns(session, instrument.id)
        if len(returns) < 2:
            continue
        periods = periods_per_year_for(instrument.asset_class.value)
        rows.append(MetricsRow(instrument.symbol, periods, len(returns), series_metrics(returns, periods)))
    return rows


def portfolio_drawdowns(session: Session, account: str) -> pd.Series:
    """Return the drawdown of the account's equity after each day (≤ 0)."""
    return drawdown_series(portfolio_returns(session, account))


# --- limits and their use ----------------------------------------------------------------------


class LimitStatus:
    OK = "ok"
    WARNING = "warning"  # 80 % used or more
    BREACHED = "breached"


@dataclass(frozen=True)
class LimitUsage:
    """One limit, how much of it is used now, and its status."""

    rule: str
    label: str
    limit: str
    current: str
    used: float | None  # fraction of the limit used (1.0 = at the limit)
    status: str
    note: str = ""


def _status(used: float | None) -> str:
    if used is None:
        return LimitStatus.OK
    if used >= 1.0:
        return LimitStatus.BREACHED
    return LimitStatus.WARNING if used >= 0.8 else LimitStatus.OK


def limit_usage(
    session: Session, account: str, *, now: datetime | None = None, exposure: AccountExposure | None = None
) -> list[LimitUsage]:
    """Return every circuit-breaker limit with its current use for ``account``.

    ``exposure`` is the account's exposure if the caller has it already (``risk_snapshot``: it is
    read once per page run, not once more here). Returns nothing while the saved limits do not
    validate (``RiskSnapshot.limits_problem`` says why).
    """
    now = now or utc_now()
    try:
        limits = load_limits(session)
    except InvalidRiskLimits:
        return []
    if exposure is None:
        exposure = account_exposure(session, account)
    risk = account_risk(session, account, now, exposure)
    equity = exposure.equity_eur
    usages: list[LimitUsage] = []

    def add(rule: str, label: str, limit: str, current: str, used: float | None, note: str = "") -> None:
        usages.append(LimitUsage(rule, label, limit, current, used, _status(used), note))

    add(
        "daily_loss",
        "Daily loss limit",
        f"{limits.daily_loss_limit_pct:.1%} of equity",
        f"{risk.daily_loss_pct:.2%}",
        float(risk.daily_loss_pct / limits.daily_loss_limit_pct),
        "breach: REDUCING until the next day",
    )
    add(
        "max_drawdown",
        "Max drawdown from peak",
        f"{limits.max_drawdown_pct:.1%}",
        f"{risk.drawdown_pct:.2%} (peak € {risk.peak_equity_eur or 0:,.0f})",
        float(risk.drawdown_pct / limits.max_drawdown_pct),
        "breach: HALTED until reset",
    )
    largest_today = session.scalar(
        select(func.max(RiskOrderCheck.notional_eur)).where(
            RiskOrderCheck.account == account, RiskOrderCheck.ts >= now - timedelta(days=1)
        )
    )
    largest = Decimal(str(largest_today)) if largest_today is not None else Decimal(0)
    add(
        "max_order_notional",
        "Max notional per order",
        f"€ {limits.max_order_notional_eur:,.0f}",
        f"largest in 24 h € {largest:,.0f}",
        float(largest / limits.max_order_notional_eur),
    )
    biggest = max(exposure.positions, key=lambda position: position.exposure_eur, default=None)
    if equity > 0:
        instrument_fraction = (biggest.exposure_eur / equity) if biggest else Decimal(0)
        add(
            "max_instrument_exposure",
            "Max exposure per instrument",
            f"{limits.max_instrument_exposure_pct:.0%} of equity",
            f"{instrument_fraction:.1%} ({biggest.symbol})" if biggest else "no positions",
            float(instrument_fraction / limits.max_instrument_exposure_pct),
        )
        total_fraction = exposure.gross_exposure_eur / equity
        add(
            "max_total_exposure",
            "Max total exposure",
            f"{limits.max_total_exposure_pct:.0%} of equity",
            f"{total_fraction:.1%} (€ {exposure.gross_exposure_eur:,.0f})",
            float(total_fraction / limits.max_total_exposure_pct),
        )
    else:
        add("max_instrument_exposure", "Max exposure per instrument", "–", "no equity known", None)
        add("max_total_exposure", "Max total exposure", "–", "no equity known", None)
    recent = orders_in_window(session, account, now - timedelta(seconds=limits.order_rate_window_seconds))
    add(
        "order_rate",
        "Order rate",
        f"{limits.max_orders_per_window} per {limits.order_rate_window_seconds} s",
        f"{recent} in the window",
        recent / limits.max_orders_per_window,
    )
    stop_outs = stop_outs_since(session, account, now - timedelta(minutes=limits.stoploss_guard_lookback_minutes))
    locked = stoploss_lock_until(session, account, limits, now)
    add(
        "stoploss_guard",
        "Stop-loss guard",
        f"{limits.stoploss_guard_count} stop-outs / {limits.stoploss_guard_lookback_minutes // 60} h",
        f"{len(stop_outs)} stop-outs" + (f", locked until {locked:%d.%m. %H:%M} UTC" if locked else ""),
        1.0 if locked else len(stop_outs) / limits.stoploss_guard_count,
        f"lock {limits.stoploss_guard_lock_minutes // 60} h",
    )
    cooling = cooling_instruments(session, account, limits, now)
    add(
        "cooldown",
        "Cooldown after exit",
        f"{limits.cooldown_minutes} min",
        ", ".join(cooling) if cooling else "none cooling down",
        None,
    )
    return usages


def cooling_instruments(session: Session, account: str, limits: RiskLimits, now: datetime) -> list[str]:
    """Return the symbols that are in their cooldown after an exit."""
    since = now - timedelta(minutes=limits.cooldown_minutes)
    instrument_ids = set(
        session.scalars(
            select(RiskExitEvent.instrument_id).where(RiskExitEvent.account == account, RiskExitEvent.ts >= since)
        )
    )
    symbols = []
    for instrument_id in sorted(instrument_ids):
        until = cooldown_until(session, account, instrument_id, limits)
        instrument = session.get(Instrument, instrument_id)
        if until is not None and until > now and instrument is not None:
            symbols.append(instrument.symbol)
    return symbols


@dataclass(frozen=True)
class ExposureRow:
    symbol: str
    asset_class: str
    value_eur: Decimal
    fraction_of_equity: float


def exposure_by_asset(exposure: AccountExposure) -> list[ExposureRow]:
    """Return each position's value and share of equity, largest first."""
    equity = exposure.equity_eur
    rows = [
        ExposureRow(
            position.symbol,
            position.asset_class,
            position.value_eur,
            float(position.exposure_eur / equity) if equity > 0 else 0.0,
        )
        for position in exposure.positions
    ]
    return sorted(rows, key=lambda row: row.value_eur, reverse=True)


@dataclass(frozen=True)
class RiskSnapshot:
    """Everything the Risk page shows about one account's state."""

    account: str
    state: StateView
    exposure: AccountExposure
    limits: list[LimitUsage]
    limits_problem: str | None = None  # why the saved limits do not validate (trading is then HALTED)

    @property
    def is_restricted(self) -> bool:
        return self.state.state is not TradingState.ACTIVE


def risk_snapshot(session: Session, account: str, *, now: datetime | None = None) -> RiskSnapshot:
    """Return state, exposure and limit use of ``account`` (the exposure is read once and used for both)."""
    exposure = account_exposure(session, account)
    return RiskSnapshot(
        account=account,
        state=effective_state(session, account),
        exposure=exposure,
        limits=limit_usage(session, account, now=now, exposure=exposure),
        limits_problem=limits_problem(session),
    )


# --- position sizing for the order ticket -------------------------------------------------------


def tracked_trade_statistics(session: Session, account: str) -> TradeStatistics:
    """Return win rate and win/loss ratio of the account's closed trades (from the exit events)."""
    pnls = list(
        session.scalars(
            select(RiskExitEvent.realised_pnl_eur).where(RiskExitEvent.account == account).order_by(RiskExitEvent.ts)
        )
    )
    return trade_statistics(pnls)


def latest_atr(session: Session, instrument_id: int, period: int = 14) -> Decimal | None:
    """Return the latest daily ATR of an instrument (Wilder, ``period`` days), or None."""
    start = utc_now() - timedelta(days=period * 4 + 10)
    daily = load_candles(session, instrument_id, "1d", start=start)
    if len(daily) <= period:
        hourly = load_candles(session, instrument_id, "1h", start=start)
        daily = resample_candles(hourly, "1d") if not hourly.empty else daily
    if len(daily) <= period:
        return None
    atr = ta.atr(daily["high"], daily["low"], daily["close"], length=period)
    if atr is None or atr.dropna().empty:
        return None
    return Decimal(str(round(float(atr.dropna().iloc[-1]), 10)))


@dataclass(frozen=True)
class SizingSuggestion:
    method: SizingMethod
    size: PositionSize | None
    error: str | None = None


@dataclass(frozen=True)
class SizingOverview:
    """Every sizing method's quantity and money at risk for one planned entry."""

    equity_eur: Decimal
    entry: Decimal
    stop: Decimal | None
    atr: Decimal | None
    statistics: TradeStatistics
    settings: SizingSettings
    max_notional_eur: Decimal
    suggestions: list[SizingSuggestion]


def sizing_overview(
    session: Session,
    *,
    account: str,
    instrument_id: int,
    entry: Decimal,
    stop: Decimal | None,
    side: OrderSide = OrderSide.BUY,
) -> SizingOverview:
    """Return each sizing method's suggestion for an entry at ``entry`` with an optional ``stop``.

    The notional is capped at the smaller of the equity and the maximum order notional.
    """
    settings = load_sizing_settings(session)
    equity = account_exposure(session, account).equity_eur
    instrument = session.get(Instrument, instrument_id)
    step = Decimal(1) if instrument is not None and instrument.asset_class.value in {"stock", "etf"} else None
    atr = latest_atr(session, instrument_id, settings.atr_period)
    statistics = tracked_trade_statistics(session, account)
    try:
        limits = load_limits(session)
    except InvalidRiskLimits as error:  # trading is halted: no size to suggest
        refusal = [SizingSuggestion(method, None, str(error)) for method in SizingMethod]
        return SizingOverview(equity, entry, stop, atr, statistics, settings, Decimal(0), refusal)
    cap = min(limits.max_order_notional_eur, equity) if equity > 0 else limits.max_order_notional_eur
    common: dict[str, Any] = {"side": side, "max_notional": cap}
    if step is not None:
        common["quantity_step"] = step
    suggestions: list[SizingSuggestion] = []

    def attempt(method: SizingMethod, build: object) -> None:
        try:
            suggestions.append(SizingSuggestion(method, build()))  # type: ignore[operator]
        except SizingError as error:
            suggestions.append(SizingSuggestion(method, None, str(error)))

    if equity <= 0:
        message = f"no positive equity is known for account {account!r}"
        return SizingOverview(
            equity,
            entry,
            stop,
            atr,
            statistics,
            settings,
            cap,
            [SizingSuggestion(method, None, message) for method in SizingMethod],
        )
    attempt(
        SizingMethod.FIXED_FRACTION,
        lambda: fixed_fraction_size(equity, entry, settings.fixed_fraction, stop=stop, **common),
    )
    if stop is None:
        suggestions.append(SizingSuggestion(SizingMethod.FIXED_RISK, None, "enter a stop price"))
    else:
        attempt(
            SizingMethod.FIXED_RISK,
            lambda: fixed_risk_size(equity, entry, stop, settings.risk_per_trade, **common),
        )
    if atr is None:
        suggestions.append(SizingSuggestion(SizingMethod.VOLATILITY, None, "no ATR: too little daily price history"))
    else:
        attempt(
            SizingMethod.VOLATILITY,
            lambda: volatility_size(
                equity, entry, atr, settings.risk_per_trade, atr_multiple=settings.atr_multiple, **common
            ),
        )
    attempt(
        SizingMethod.KELLY,
        lambda: kelly_size(
            equity,
            entry,
            statistics,
            fraction_of_kelly=settings.kelly_multiplier,
            max_fraction=settings.kelly_cap,
            min_trades=settings.kelly_min_trades,
            stop=stop,
            **common,
        ),
    )
    return SizingOverview(equity, entry, stop, atr, statistics, settings, cap, suggestions)


def returns_for(session: Session, account: str, label: str) -> tuple[pd.Series, int]:
    """Return the daily returns and periods per year of the portfolio (``Portfolio``) or an instrument."""
    if label == PORTFOLIO_LABEL:
        return portfolio_returns(session, account), PERIODS_PER_YEAR_PORTFOLIO
    instrument = session.scalar(select(Instrument).where(Instrument.symbol == label))
    if instrument is None:
        return pd.Series(dtype=float), PERIODS_PER_YEAR_PORTFOLIO
    return instrument_returns(session, instrument.id), periods_per_year_for(instrument.asset_class.value)
