"""What the news sources search for: one query per tracked instrument (ticker, names, subreddits).

Apart from the collector, which imports every source adapter (praw, tweepy...), so that the
Settings page can show the queries without loading them.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.market.models import AssetClass, Instrument
from core.news.config import GENERIC_CRYPTO_SUBREDDITS, GENERIC_STOCK_SUBREDDITS, NewsConfig
from core.news.sources.base import InstrumentQuery
from core.news.tagging import clean_instrument_name, ticker_of


def instrument_queries(session: Session, config: NewsConfig) -> list[InstrumentQuery]:
    """Return what the sources search for: the tracked instruments with names and subreddits."""
    queries = []
    for instrument in session.scalars(select(Instrument).where(Instrument.tracked.is_(True)).order_by(Instrument.id)):
        ticker = ticker_of(instrument.symbol, instrument.base)
        is_crypto = instrument.asset_class == AssetClass.CRYPTO
        name = clean_instrument_name(instrument.name)
        subreddits = config.subreddits.get(instrument.symbol.upper()) or config.subreddits.get(ticker)
        if subreddits is None:
            subreddits = list(GENERIC_CRYPTO_SUBREDDITS if is_crypto else GENERIC_STOCK_SUBREDDITS)
        queries.append(
            InstrumentQuery(
                symbol=instrument.symbol,
                ticker=ticker,
                names=tuple(n for n in (name,) if n),
                subreddits=tuple(subreddits),
                is_crypto=is_crypto,
            )
        )
    return queries
