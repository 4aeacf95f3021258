"""Tracked instruments: list, add, change and remove them (used by the CLI and the Settings page)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import PermanentError
from core.market.models import AssetClass, Instrument
from core.market.settings import MarketSettings
from core.market.sources.registry import normalise_source_name


class InstrumentError(PermanentError, ValueError):
    """An instrument cannot be added, changed or found."""


EDITABLE_FIELDS = (
    "name",
    "exchange_symbol",
    "coingecko_id",
    "yahoo_symbol",
    "default_source",
    "tracked",
    "asset_class",
)


def infer_asset_class(symbol: str) -> AssetClass:
    """Guess the asset class from a symbol: a pair like ``BTC/EUR`` is crypto, a ticker like ``AAPL`` a stock."""
    return AssetClass.CRYPTO if "/" in symbol else AssetClass.STOCK


def split_symbol(symbol: str, default_quote: str = "EUR") -> tuple[str, str]:
    """Return ``(base, quote)`` of ``BTC/EUR``; a ticker without a quote gets ``default_quote``."""
    base, _, quote = symbol.upper().partition("/")
    if not base or (quote == "" and "/" in symbol):
        raise InstrumentError(
            f"cannot read the symbol {symbol!r}: use BASE/QUOTE (e.g. BTC/EUR) or a ticker (e.g. AAPL)"
        )
    return base, quote or default_quote


def list_instruments(session: Session, *, tracked_only: bool = False) -> list[Instrument]:
    """Return instruments by symbol (all, or only the tracked ones)."""
    query = select(Instrument).order_by(Instrument.symbol)
    if tracked_only:
        query = query.where(Instrument.tracked.is_(True))
    return list(session.scalars(query))


def get_instrument(session: Session, symbol: str) -> Instrument:
    """Return the instrument with ``symbol`` (case-insensitive) or raise ``InstrumentError``."""
    instrument = session.scalar(select(Instrument).where(Instrument.symbol == symbol.strip().upper()))
    if instrument is None:
        raise InstrumentError(f"unknown instrument {symbol!r} (see `konsens instruments list`)")
    return instrument


def add_instrument(
    session: Session,
    symbol: str,
    *,
    asset_class: AssetClass | str | None = None,
    quote: str | None = None,
    name: str | None = None,
    exchange_symbol: str | None = None,
    coingecko_id: str | None = None,
    yahoo_symbol: str | None = None,
    default_source: str | None = None,
    tracked: bool = True,
    settings: MarketSettings | None = None,
) -> Instrument:
    """Create a tracked instrument; the default source is ccxt (crypto) or yahoo (everything else)."""
    settings = settings or MarketSettings()
    symbol = symbol.strip().upper()
    if session.scalar(select(Instrument.id).where(Instrument.symbol == symbol)) is not None:
        raise InstrumentError(f"instrument {symbol} already exists")
    klass = AssetClass(asset_class) if asset_class is not None else infer_asset_class(symbol)
    base, pair_quote = split_symbol(symbol, quote or "EUR")
    if default_source is None:
        default_source = f"ccxt:{settings.market_default_exchange}" if klass is AssetClass.CRYPTO else "yahoo"
    instrument = Instrument(
        symbol=symbol,
        base=base,
        quote=(quote or pair_quote).upper(),
        asset_class=klass,
        name=name,
        exchange_symbol=exchange_symbol or (symbol if "/" in symbol else None),
        coingecko_id=coingecko_id,
        yahoo_symbol=yahoo_symbol or (None if "/" in symbol else symbol),
        default_source=normalise_source_name(default_source, settings),
        tracked=tracked,
        is_demo=False,
    )
    session.add(instrument)
    session.flush()
    return instrument


def update_instrument(session: Session, symbol: str, **changes: Any) -> Instrument:
    """Change editable fields of an instrument (``None`` values are left alone; "" clears a text field)."""
    instrument = get_instrument(session, symbol)
    for field, value in changes.items():
        if field not in EDITABLE_FIELDS:
            raise InstrumentError(f"{field} cannot be changed")
        if value is None:
            continue
        if field == "default_source":
            value = normalise_source_name(str(value))
        elif field == "asset_class":
            value = AssetClass(value)
        elif isinstance(value, str):
            value = value.strip() or None
        setattr(instrument, field, value)
    session.flush()
    return instrument


def remove_instrument(session: Session, symbol: str, *, delete: bool = False) -> str:
    """Stop tracking an instrument (its data stays), or with ``delete`` remove it and its candles and quotes."""
    instrument = get_instrument(session, symbol)
    if delete:
        session.delete(instrument)
        session.flush()
        return "deleted"
    instrument.tracked = False
    session.flush()
    return "untracked"


@dataclass(frozen=True)
class InstrumentRow:
    """An instrument as shown in lists (CLI table, Settings page)."""

    symbol: str
    asset_class: str
    default_source: str
    tracked: bool
    exchange_symbol: str | None
    coingecko_id: str | None
    yahoo_symbol: str | None
    name: str | None
    is_demo: bool


def instrument_rows(session: Session) -> list[InstrumentRow]:
    """Return every instrument as a plain row."""
    return [
        InstrumentRow(
            symbol=instrument.symbol,
            asset_class=AssetClass(instrument.asset_class).value,
            default_source=instrument.default_source,
            tracked=instrument.tracked,
            exchange_symbol=instrument.exchange_symbol,
            coingecko_id=instrument.coingecko_id,
            yahoo_symbol=instrument.yahoo_symbol,
            name=instrument.name,
            is_demo=instrument.is_demo,
        )
        for instrument in list_instruments(session)
    ]
