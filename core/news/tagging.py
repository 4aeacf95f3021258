"""Tag items with the instruments they mention: tickers, cashtags, names and aliases.

Matching rules (chosen to avoid false hits on ordinary words):
- cashtags (``$BTC``, ``$aapl``): case-insensitive;
- bare tickers (``BTC``, ``AAPL``): upper case only, at least three letters, and not a common
  upper-case word (``CEO``, ``ETF``...), so the Spanish word "sol" never tags Solana;
- names and aliases (``Bitcoin``, ``Apple``, ``ether``): case-insensitive whole words.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

UPPERCASE_WORDS = frozenset(
    [
        "CEO",
        "CFO",
        "CTO",
        "ETF",
        "ETFS",
        "SEC",
        "USD",
        "EUR",
        "GBP",
        "JPY",
        "CHF",
        "THE",
        "AND",
        "FOR",
        "ARE",
        "NEW",
        "NOW",
        "ALL",
        "ONE",
        "TWO",
        "API",
        "ATH",
        "IPO",
        "GDP",
        "CPI",
        "FED",
        "ECB",
        "IMF",
        "USA",
        "NYSE",
        "AI",
        "NFT",
        "DAO",
        "DEX",
        "CEX",
        "OTC",
        "LLC",
        "INC",
        "LTD",
        "PLC",
    ]
)
_NAME_SUFFIXES = re.compile(r"\s*(\(.*?\)|,?\s+(inc\.?|corp\.?|corporation|plc|ltd\.?|ag|se|n\.v\.|s\.a\.))\s*$", re.I)

# Names and aliases every installation knows; the Settings page adds more per symbol.
DEFAULT_ALIASES: dict[str, tuple[str, ...]] = {
    "BTC": ("bitcoin", "bitcoins", "btc"),
    "ETH": ("ethereum", "ether", "eth"),
    "SOL": ("solana",),
    "XRP": ("ripple",),
    "ADA": ("cardano",),
    "DOGE": ("dogecoin",),
    "BNB": ("binance coin",),
    "AAPL": ("apple",),
    "MSFT": ("microsoft",),
    "NVDA": ("nvidia",),
    "TSLA": ("tesla",),
}


@dataclass(frozen=True)
class TaggableInstrument:
    """The terms that identify one instrument in text."""

    instrument_id: int
    symbol: str
    ticker: str
    names: tuple[str, ...] = ()
    aliases: tuple[str, ...] = field(default_factory=tuple)


def clean_instrument_name(name: str | None) -> str | None:
    """Return a company or coin name without a parenthesis or a legal suffix (``Apple Inc.`` → ``Apple``)."""
    if not name:
        return None
    previous = None
    cleaned = name.strip()
    while previous != cleaned:
        previous = cleaned
        cleaned = _NAME_SUFFIXES.sub("", cleaned).strip()
    return cleaned or None


def ticker_of(symbol: str, base: str | None = None) -> str:
    """Return the ticker of an instrument: the base asset of a pair (``BTC/EUR`` → ``BTC``) or the symbol."""
    if base:
        return base.upper()
    return symbol.split("/", 1)[0].split("-", 1)[0].upper()


@dataclass(frozen=True)
class TagMatch:
    instrument_id: int
    matched: str


class Tagger:
    """Find the instruments mentioned in a text (one compiled pattern per matching rule)."""

    def __init__(self, instruments: Sequence[TaggableInstrument]):
        self.instruments = list(instruments)
        self._by_symbol = {instrument.symbol: instrument for instrument in instruments}
        self._by_ticker: dict[str, list[int]] = {}
        self._by_term: dict[str, list[int]] = {}
        for instrument in instruments:
            ticker = instrument.ticker.upper()
            self._by_ticker.setdefault(ticker, []).append(instrument.instrument_id)
            terms = {term.strip().lower() for term in (*instrument.names, *instrument.aliases) if term.strip()}
            for term in terms:
                self._by_term.setdefault(_normalise_spaces(term), []).append(instrument.instrument_id)
        bare = [t for t in self._by_ticker if len(t) >= 3 and t not in UPPERCASE_WORDS and t.isalnum()]
        # One pass over the text: three alternatives with their own case rules (scoped inline flags),
        # behind one shared look-behind (tested once per position instead of once per alternative).
        never = r"(?!x)x"
        tickers = _alternation(self._by_ticker) or never
        self._pattern = re.compile(
            r"(?<![\w$])(?:"
            r"\$(?P<cash>(?i:" + tickers + r"))\b"
            r"|(?P<ticker>" + (_alternation(bare) or never) + r")(?![\w])"
            r"|(?P<term>(?i:" + (_alternation(self._by_term, spaces=True) or never) + r"))(?![\w]))"
        )

    def tag(self, text: str, hint_symbols: Iterable[str] = ()) -> list[TagMatch]:
        """Return one match per instrument mentioned in ``text`` (first matching term kept).

        ``hint_symbols`` are instrument symbols the source itself attached (a subreddit, a ticker
        list); they are added with the match ``source:<symbol>``.
        """
        found: dict[int, str] = {}
        by_ticker, by_term = self._by_ticker, self._by_term
        for match in self._pattern.finditer(text):
            kind = match.lastgroup
            if kind == "cash":
                instrument_ids, matched = by_ticker.get(match["cash"].upper(), ()), match.group(0)
            elif kind == "ticker":
                matched = match["ticker"]
                instrument_ids = by_ticker.get(matched, ())
            else:
                matched = match["term"]
                lowered = matched.lower()
                instrument_ids = by_term.get(lowered) or by_term.get(_normalise_spaces(lowered)) or ()
            for instrument_id in instrument_ids:
                if instrument_id not in found:
                    found[instrument_id] = matched
        for symbol in hint_symbols:
            instrument = self._by_symbol.get(symbol)
            if instrument is not None:
                found.setdefault(instrument.instrument_id, f"source:{symbol}"[:80])
        return [TagMatch(instrument_id, matched[:80]) for instrument_id, matched in found.items()]


def build_taggable(
    rows: Iterable[tuple[int, str, str | None, str | None]],
    configured_aliases: Mapping[str, Sequence[str]] | None = None,
) -> list[TaggableInstrument]:
    """Build tagging terms from ``(id, symbol, base, name)`` rows plus default and configured aliases.

    ``configured_aliases`` maps an instrument symbol (``BTC/EUR``) or a ticker (``BTC``) to aliases.
    """
    configured = {key.upper(): tuple(values) for key, values in (configured_aliases or {}).items()}
    result = []
    for instrument_id, symbol, base, name in rows:
        ticker = ticker_of(symbol, base)
        names = tuple(n for n in (clean_instrument_name(name),) if n)
        aliases = (
            *DEFAULT_ALIASES.get(ticker, ()),
            *configured.get(ticker, ()),
            *configured.get(symbol.upper(), ()),
        )
        result.append(TaggableInstrument(instrument_id, symbol, ticker, names, tuple(dict.fromkeys(aliases))))
    return result


def _normalise_spaces(term: str) -> str:
    return " ".join(term.split())


def _alternation(terms: Iterable[str], *, spaces: bool = False) -> str:
    ordered = sorted(set(terms), key=lambda term: (-len(term), term))
    escaped = [re.escape(term) for term in ordered]
    if spaces:
        escaped = [term.replace(r"\ ", r"\s+") for term in escaped]
    return "|".join(escaped)
