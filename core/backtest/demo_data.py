"""Demo backtests: one SMA crossover run and one parameter sweep on the demo BTC/EUR candles.

Idempotent: the previous demo runs are deleted and seeded again, so the page's list of past runs
has content on a fresh demo database.
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from core.backtest.engine import BacktestConfig
from core.backtest.models import BacktestRun, BacktestTrade
from core.backtest.results import run_backtest
from core.backtest.service import load_bars
from core.backtest.store import save_result, save_sweep
from core.backtest.strategies import build_strategy
from core.backtest.sweep import run_sweep
from core.demo.state import DemoContext

ORDER = 200
DEMO_SYMBOL = "BTC/EUR"


def seed_demo_data(session: Session, context: DemoContext) -> None:
    """Replace the demo backtests with a fresh run and sweep over the seeded candles."""
    if DEMO_SYMBOL not in context.instruments:
        return
    demo_ids = list(session.scalars(select(BacktestRun.id).where(BacktestRun.is_demo.is_(True))))
    if demo_ids:
        session.execute(delete(BacktestTrade).where(BacktestTrade.run_id.in_(demo_ids)))
        session.execute(delete(BacktestRun).where(BacktestRun.id.in_(demo_ids)))
    config = BacktestConfig(initial_cash=10_000.0, fee_bps=15.0, slippage_bps=5.0)
    bars = load_bars(session, DEMO_SYMBOL, "4h")
    sweep = run_sweep("sma-cross", {"fast": [5, 10, 15, 20], "slow": [30, 50, 70, 90]}, bars, config)
    save_sweep(session, sweep, is_demo=True)
    result = run_backtest(build_strategy("sma-cross", {"fast": 10, "slow": 50}), bars, config)
    save_result(session, result, is_demo=True)
