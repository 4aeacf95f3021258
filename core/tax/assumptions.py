"""Every assumption the tax engine makes, as a typed setting with a default.

Defaults come from the code, then ``KONSENS_TAX_*`` environment variables / the ``[tax]`` table of
the config file, then overrides stored in the database (Settings page, key ``tax.assumptions``).
Each one is listed in every report with its value, so a tax adviser can see what was assumed.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from core.config import KonsensSettingsBase
from core.system.settings_store import get_setting, set_setting

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

SETTING_KEY = "tax.assumptions"


class AltNeuOrder(StrEnum):
    """Which units leave first where Alt- and Neuvermögen share a wallet."""

    EARLIEST_FIRST = "earliest_first"  # the earliest-acquired units (i.e. Altvermögen) first
    NEU_FIRST = "neu_first"  # the taxpayer's or the provider's choice: Neuvermögen first


class TransferFeeTreatment(StrEnum):
    """What a fee paid in crypto for a transfer between own wallets is."""

    CARRY_COST = "carry_cost"  # no realisation; the fee units' cost moves to the units that arrive
    DROP_COST = "drop_cost"  # no realisation; the fee units' cost is lost (not deductible)
    DISPOSAL = "disposal"  # a realisation of the fee units at market value


class UnmatchedDepositCost(StrEnum):
    """The acquisition cost of a deposit that matches no withdrawal of another own wallet."""

    MARKET_VALUE = "market_value"
    ZERO = "zero"


class TaxAssumptions(KonsensSettingsBase):
    """The engine's assumptions (all have defaults; each is listed in the report)."""

    toml_table: ClassVar[str | None] = "tax"
    model_config = SettingsConfigDict(env_prefix="KONSENS_TAX_", extra="ignore", frozen=True)

    fifo_2022: bool = Field(
        default=True,
        description="Realisations from 1 Mar to 31 Dec 2022 use FIFO (the tools' practice; no official "
        "statement); off: the moving average applies from 1 Mar 2022.",
    )
    alt_neu_order: AltNeuOrder = Field(
        default=AltNeuOrder.EARLIEST_FIRST,
        description="Where Alt- and Neuvermögen share a wallet, the earliest-acquired units are deemed sold "
        "first (an order chosen by the taxpayer or used by the withholding provider is binding).",
    )
    old_law_window_option: bool = Field(
        default=False,
        description="Opt for 27.5 % on Neuvermögen realisations from 1 Jan to 28 Feb 2022 (default: the old "
        "law, speculation income within a year, E 1 KZ 801).",
    )
    alt_swap_received_at_market_value: bool = Field(
        default=True,
        description="A coin received by swapping Altvermögen (or under the old law) is Neuvermögen with "
        "acquisition cost = its market value at the swap (check).",
    )
    transfer_fee_treatment: TransferFeeTreatment = Field(
        default=TransferFeeTreatment.CARRY_COST,
        description="A crypto fee on a transfer between own wallets: carry_cost = no realisation, the cost of "
        "the fee units moves with the transferred units; drop_cost = no realisation, cost lost; disposal = "
        "realisation at market value (check).",
    )
    crypto_fee_on_trade_in_cost: bool = Field(
        default=True,
        description="A fee paid in another crypto on a buy or swap leaves that coin's pool without "
        "realisation; its cost is added to the coin acquired.",
    )
    sale_fees_reduce_proceeds: bool = Field(
        default=False,
        description="Fiat fees of a sale reduce the proceeds (default off: costs of a sale are not deductible "
        "at the special rate, § 20 Abs 2 EStG; only acquisition fees are part of the cost).",
    )
    unmatched_deposit_cost: UnmatchedDepositCost = Field(
        default=UnmatchedDepositCost.MARKET_VALUE,
        description="Acquisition cost of a deposit that matches no withdrawal of another own wallet "
        "(always listed as a warning).",
    )
    transfer_match_window_hours: int = Field(
        default=48,
        ge=0,
        le=24 * 30,
        description="A deposit matches a withdrawal of the same coin up to this "
        "many hours later (1 hour earlier is tolerated for clock skew).",
    )
    transfer_match_tolerance: Decimal = Field(
        default=Decimal("0.05"),
        ge=0,
        le=1,
        description="A deposit may be smaller than the withdrawal by up to this fraction (the network fee).",
    )
    withholding_from: date = Field(
        default=date(2024, 1, 1),
        description="Domestic providers withhold KESt on crypto from this date (Bitpanda: mandatory since "
        "1 Jan 2024); their results before it count as 'no KESt' (KZ 172/174/176).",
    )
    domestic_wallets: list[str] = Field(
        default_factory=lambda: ["bitpanda"],
        description="Wallets at a domestic (KESt-withholding) provider unless the wallet settings say "
        "otherwise; every other wallet is foreign.",
    )
    include_paper_trades: bool = Field(
        default=False,
        description="Include simulated paper-trading fills (origin 'paper'); off: they are not taxable "
        "events and are left out (counted in a warning).",
    )

    def listed(self) -> list[dict[str, str]]:
        """Return the assumptions as report rows: key, value, description (settings and fixed rules)."""
        rows = []
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            if isinstance(value, list):
                shown = ", ".join(value) or "(none)"
            elif isinstance(value, StrEnum):
                shown = value.value
            else:
                shown = str(value).lower() if isinstance(value, bool) else str(value)
            rows.append({"key": name, "value": shown, "description": field.description or ""})
        rows.extend(FIXED_RULES)
        return rows


# Rules of the engine that have no alternative implemented; listed so nothing is silent.
FIXED_RULES: list[dict[str, str]] = [
    {
        "key": "negative_balance_cost",
        "value": "0",
        "description": "Units disposed of without a known acquisition get cost 0 (a warning lists each).",
    },
    {
        "key": "income_valuation",
        "value": "value at receipt",
        "description": "Lending interest and mining are valued at receipt (the optional first-day-of-month "
        "price for more than 3 inflows a month is not used).",
    },
    {
        "key": "swap_fee",
        "value": "ignored",
        "description": "Fees of a crypto-to-crypto swap are neither a realisation nor a cost: the whole cost "
        "of the coin given up (incl. fee units) carries over.",
    },
    {
        "key": "sale_fee_in_sold_coin",
        "value": "part of the disposal",
        "description": "Fee units of the coin sold leave with the sale; their cost is part of the cost.",
    },
    {
        "key": "gift_received_cost",
        "value": "0",
        "description": "A gift received has cost 0 unless corrected (the donor's cost carries over by law).",
    },
    {
        "key": "speculation_exemption",
        "value": "not applied",
        "description": "The 440 EUR exemption limit of § 31 Abs 3 EStG is not applied to E 1 KZ 801.",
    },
    {
        "key": "non_crypto_asset_classes",
        "value": "excluded",
        "description": "Stocks, ETFs, metals and other non-crypto rows are listed and excluded (warning).",
    },
    {
        "key": "losses_sign",
        "value": "positive amounts",
        "description": "Losses (KZ 175/176) are shown as positive amounts; check the sign the form expects.",
    },
]


def load_assumptions(session: Session | None = None, **overrides: Any) -> TaxAssumptions:
    """Return the effective assumptions: defaults, environment/config file, stored overrides, ``overrides``."""
    stored: dict[str, Any] = {}
    if session is not None:
        stored = dict(get_setting(session, SETTING_KEY, {}) or {})
    return TaxAssumptions(**{**stored, **overrides})


def save_assumption_overrides(session: Session, values: dict[str, Any]) -> TaxAssumptions:
    """Validate and store assumption overrides (by field name); return the effective assumptions."""
    current = dict(get_setting(session, SETTING_KEY, {}) or {})
    current.update(values)
    checked = TaxAssumptions(**current)  # raises a ValidationError on a bad value
    set_setting(session, SETTING_KEY, {key: _jsonable(value) for key, value in current.items()})
    return checked


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal | date):
        return str(value) if isinstance(value, Decimal) else value.isoformat()
    return value
