"""The trading tests' market (BTC/EUR and ETH/EUR quoted, 10 000 EUR paper cash) and executor, for holding actions."""

from tests.core.execution.conftest import make_executor, market, trading_settings

__all__ = ["make_executor", "market", "trading_settings"]
