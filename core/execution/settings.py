"""Trading settings: typed defaults (env ``KONSENS_TRADING_*`` / ``[trading]`` in config.toml),
overridden at run time by values saved on the Settings page (``trading.*`` keys in the settings table).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from core.config import KonsensSettingsBase
from core.system.settings_store import get_setting, settings_with_prefix

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

PAPER_VENUE = "paper"
ONE_TRADING = "onetrading"
BITPANDA = "bitpanda"

# Run-time keys in the settings table.
KEY_LIVE_ENABLED = "trading.live_enabled"
KEY_PREFIX = "trading."
SECRET_ONETRADING_KEY = "onetrading.api_key"
SECRET_BITPANDA_KEY = "bitpanda.api_key"


class TradingSettings(KonsensSettingsBase):
    """Defaults for paper and live trading and the executor."""

    toml_table: ClassVar[str | None] = "trading"
    model_config = SettingsConfigDict(env_prefix="KONSENS_TRADING_")

    paper_account: str = "paper"
    live_account: str = ONE_TRADING
    live_venue: str = ONE_TRADING
    paper_fee_venue: str = Field(default=ONE_TRADING, description="Whose fee schedule the paper broker charges.")
    paper_slippage: Decimal = Field(default=Decimal("0.0005"), ge=0, description="Fraction, 0.0005 = 5 bp.")
    paper_price_max_age_seconds: float = Field(
        default=120.0,
        ge=0,
        description=(
            "A paper market order fills at the next price observation after it; if none has arrived yet, "
            "at the latest price when that is at most this old (0 = always wait for the next price)."
        ),
    )
    fee_onetrading_maker: Decimal = Decimal("0.0015")
    fee_onetrading_taker: Decimal = Decimal("0.0025")
    fee_bitpanda: Decimal = Decimal("0.0149")
    executor_poll_seconds: float = Field(
        default=0.05,
        gt=0,
        description=(
            "SQLite: the longest pause between two checks of the database's change counter (the executor "
            "waits on LISTEN/NOTIFY on PostgreSQL); also the pause between two worker passes."
        ),
    )
    executor_safety_poll_seconds: float = Field(
        default=10.0,
        gt=0,
        description="Look for new orders, resting orders and exits this often even if no change was signalled.",
    )
    executor_watch_seconds: float = Field(
        default=1.0, gt=0, description="At most this often resting orders and exits are checked after new prices."
    )
    executor_pass_seconds: float = Field(
        default=30.0, gt=0, description="Length of one worker pass (heartbeat period)."
    )
    lease_seconds: float = Field(default=60.0, gt=0, description="How long a claim on a live order holds.")
    live_timeout_seconds: float = Field(default=10.0, gt=0)
    onetrading_base_url: str | None = Field(default=None, description="Override of the One Trading API root.")
    live_stream: bool = Field(
        default=True,
        description=(
            "Follow the live account's orders, fills and balances on One Trading's WebSocket (ccxt.pro); "
            "REST reconciliation runs at start and after every reconnect either way."
        ),
    )
    onetrading_ws_url: str | None = Field(default=None, description="Override of the One Trading WebSocket URL.")
    live_poll_seconds: float = Field(
        default=30.0,
        gt=0,
        description=(
            "Resting live orders are asked about over REST this often while the account stream is up "
            "(every watch cycle while it is down)."
        ),
    )
    bitpanda_base_url: str = "https://api.bitpanda.com/v1"
    bitpanda_requests_per_minute: float = Field(
        default=60.0, ge=0, description="Spacing of Bitpanda API requests by the sync worker (0 = no limit)."
    )
    sync_interval_seconds: float = 300.0


@dataclass(frozen=True)
class FeeSchedule:
    maker: Decimal
    taker: Decimal


@dataclass(frozen=True)
class TradingConfig:
    """The effective trading configuration: typed settings with the Settings-page overrides applied."""

    settings: TradingSettings
    live_enabled: bool
    paper_slippage: Decimal
    paper_price_max_age_seconds: float
    paper_fee_venue: str
    fees: dict[str, FeeSchedule]

    def fee_schedule(self, venue: str) -> FeeSchedule:
        return self.fees.get(venue, self.fees[ONE_TRADING])

    @property
    def paper_fees(self) -> FeeSchedule:
        return self.fee_schedule(self.paper_fee_venue)


def _decimal(value: Any, default: Decimal) -> Decimal:
    try:
        number = Decimal(str(value))
    except Exception:
        return default
    return number if number.is_finite() and number >= 0 else default


def load_trading_config(session: Session, settings: TradingSettings | None = None) -> TradingConfig:
    """Return the effective trading configuration."""
    settings = settings or TradingSettings()
    stored = settings_with_prefix(session, KEY_PREFIX)
    fees = {
        ONE_TRADING: FeeSchedule(
            _decimal(stored.get("trading.fee.onetrading.maker"), settings.fee_onetrading_maker),
            _decimal(stored.get("trading.fee.onetrading.taker"), settings.fee_onetrading_taker),
        ),
        BITPANDA: FeeSchedule(
            _decimal(stored.get("trading.fee.bitpanda"), settings.fee_bitpanda),
            _decimal(stored.get("trading.fee.bitpanda"), settings.fee_bitpanda),
        ),
    }
    max_age = stored.get("trading.paper_price_max_age_seconds")
    return TradingConfig(
        settings=settings,
        live_enabled=bool(get_setting(session, KEY_LIVE_ENABLED, False)),
        paper_slippage=_decimal(stored.get("trading.paper_slippage"), settings.paper_slippage),
        paper_price_max_age_seconds=float(max_age) if max_age is not None else settings.paper_price_max_age_seconds,
        paper_fee_venue=str(stored.get("trading.paper_fee_venue") or settings.paper_fee_venue),
        fees=fees,
    )
