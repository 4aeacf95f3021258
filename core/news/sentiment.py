"""Sentiment of an item: VADER's lexicon model, extended with the vocabulary of crypto markets.

VADER rates words from -4 to +4 and combines them (with negation, boosters, "but", capitals and
exclamation marks) into a compound score in [-1, 1]; one word of valence ``v`` alone scores
``v / sqrt(v² + 15)``. The crypto words below are added to its lexicon (lower case; VADER
lower-cases tokens before lookup).
"""

from __future__ import annotations

from collections.abc import Mapping

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from core.news.dedupe import clean_text

CRYPTO_LEXICON: dict[str, float] = {
    # bullish slang and market words
    "moon": 2.5, "mooning": 2.8, "moonshot": 2.3, "hodl": 1.5, "hodling": 1.5, "bullish": 2.5, "bull": 1.5,
    "pump": 1.5, "pumping": 1.6, "rally": 2.0, "rallies": 2.0, "rallied": 2.0, "surge": 2.0, "surges": 2.0,
    "surged": 2.0, "soar": 2.2, "soars": 2.2, "soared": 2.2, "breakout": 1.8, "ath": 2.0, "wagmi": 2.0,
    "btfd": 1.2, "adoption": 1.5, "inflows": 1.3, "outperform": 1.8, "upgrade": 1.2, "approval": 1.8,
    "approved": 1.8, "gains": 1.6, "record": 1.0, "lambo": 1.8, "accumulate": 1.0, "accumulating": 1.0,
    # bearish slang and market words
    "rekt": -3.0, "fud": -2.0, "bearish": -2.5, "bear": -1.5, "dump": -2.0, "dumping": -2.1, "dumped": -2.0,
    "rug": -3.0, "rugged": -3.0, "rugpull": -3.5, "scam": -3.0, "ponzi": -3.2, "hack": -2.5, "hacked": -2.8,
    "exploit": -2.5, "exploited": -2.6, "liquidated": -2.5, "liquidation": -2.0, "liquidations": -2.0,
    "delist": -2.3, "delisted": -2.5, "delisting": -2.3, "crash": -2.8, "crashes": -2.8, "crashed": -2.8,
    "plunge": -2.5, "plunges": -2.5, "plunged": -2.5, "tumble": -2.2, "tumbles": -2.2, "slump": -2.0,
    "selloff": -2.0, "outflows": -1.3, "capitulation": -2.5, "bagholder": -2.0, "bagholders": -2.0,
    "ngmi": -2.0, "shill": -1.5, "shilling": -1.5, "lawsuit": -1.8, "insolvent": -3.0, "bankrupt": -3.0,
    "bankruptcy": -3.0, "downgrade": -1.5, "losses": -1.8, "fomo": -0.5, "whale": 0.0, "halving": 0.5,
}  # fmt: skip

MAX_SCORED_CHARACTERS = 600


class SentimentScorer:
    """Score texts with VADER plus :data:`CRYPTO_LEXICON` (and optional extra words)."""

    def __init__(self, extra_lexicon: Mapping[str, float] | None = None):
        self._analyzer = SentimentIntensityAnalyzer()
        self._analyzer.lexicon.update(CRYPTO_LEXICON)
        if extra_lexicon:
            self._analyzer.lexicon.update({word.lower(): float(value) for word, value in extra_lexicon.items()})

    def score(self, text: str) -> float:
        """Return the compound sentiment of ``text`` in [-1, 1], rounded to 4 places (0 for no text)."""
        if not text or not text.strip():
            return 0.0
        return round(float(self._analyzer.polarity_scores(text)["compound"]), 4)

    def score_item(self, title: str, summary: str | None) -> float:
        """Score a headline with the start of its summary (HTML removed)."""
        body = clean_text(summary)
        text = clean_text(title) if not body else f"{clean_text(title)}. {body}"
        return self.score(text[:MAX_SCORED_CHARACTERS])
