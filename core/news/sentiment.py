"""Sentiment of an item: VADER's lexicon model, extended with the vocabulary of crypto markets.

VADER rates words from -4 to +4 and combines them (with negation, boosters, "but", capitals and
exclamation marks) into a compound score in [-1, 1]; one word of valence ``v`` alone scores
``v / sqrt(v² + 15)``. The crypto words below are added to its lexicon (lower case; VADER
lower-cases tokens before lookup).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vaderSentiment.vaderSentiment import (
    BOOSTER_DICT,
    N_SCALAR,
    NEGATE,
    SPECIAL_CASES,
    SentimentIntensityAnalyzer,
    SentiText,
)

from core.news.dedupe import clean_text

CRYPTO_LEXICON: dict[str, float] = {
    # bullish slang and market words
    "moon": 2.5,
    "mooning": 2.8,
    "moonshot": 2.3,
    "hodl": 1.5,
    "hodling": 1.5,
    "bullish": 2.5,
    "bull": 1.5,
    "pump": 1.5,
    "pumping": 1.6,
    "rally": 2.0,
    "rallies": 2.0,
    "rallied": 2.0,
    "surge": 2.0,
    "surges": 2.0,
    "surged": 2.0,
    "soar": 2.2,
    "soars": 2.2,
    "soared": 2.2,
    "breakout": 1.8,
    "ath": 2.0,
    "wagmi": 2.0,
    "btfd": 1.2,
    "adoption": 1.5,
    "inflows": 1.3,
    "outperform": 1.8,
    "upgrade": 1.2,
    "approval": 1.8,
    "approved": 1.8,
    "gains": 1.6,
    "record": 1.0,
    "lambo": 1.8,
    "accumulate": 1.0,
    "accumulating": 1.0,
    "climb": 1.2,
    "climbs": 1.3,
    "climbing": 1.3,
    "climbed": 1.3,
    "rebound": 1.5,
    "rebounds": 1.5,
    # bearish slang and market words
    "rekt": -3.0,
    "fud": -2.0,
    "bearish": -2.5,
    "bear": -1.5,
    "dump": -2.0,
    "dumping": -2.1,
    "dumped": -2.0,
    "rug": -3.0,
    "rugged": -3.0,
    "rugpull": -3.5,
    "scam": -3.0,
    "ponzi": -3.2,
    "hack": -2.5,
    "hacked": -2.8,
    "exploit": -2.5,
    "exploited": -2.6,
    "liquidated": -2.5,
    "liquidation": -2.0,
    "liquidations": -2.0,
    "delist": -2.3,
    "delisted": -2.5,
    "delisting": -2.3,
    "crash": -2.8,
    "crashes": -2.8,
    "crashed": -2.8,
    "plunge": -2.5,
    "plunges": -2.5,
    "plunged": -2.5,
    "tumble": -2.2,
    "tumbles": -2.2,
    "slump": -2.0,
    "selloff": -2.0,
    "outflows": -1.3,
    "capitulation": -2.5,
    "bagholder": -2.0,
    "bagholders": -2.0,
    "ngmi": -2.0,
    "shill": -1.5,
    "shilling": -1.5,
    "lawsuit": -1.8,
    "insolvent": -3.0,
    "bankrupt": -3.0,
    "bankruptcy": -3.0,
    "downgrade": -1.5,
    "losses": -1.8,
    "fomo": -0.5,
    "slides": -1.5,
    "slid": -1.5,
    "drops": -1.5,
    "dropped": -1.5,
    "whale": 0.0,
    "halving": 0.5,
}

MAX_SCORED_CHARACTERS = 600


_NEGATIONS = frozenset(NEGATE)


def _negated(word_lower: str) -> bool:
    """VADER's ``negated([word])``: a negation word, or a word holding "n't"."""
    return word_lower in _NEGATIONS or "n't" in word_lower


class _AsciiFastAnalyzer(SentimentIntensityAnalyzer):
    """VADER with the same results, faster.

    - The emoji pass is skipped for pure-ASCII text (which holds no emoji): VADER rebuilds the
      text one character at a time, and for ASCII text that returns it unchanged.
    - ``_negation_check`` and ``_special_idioms_check`` lower-case only the few words they look
      at instead of the whole text on every rated word, and test negations against a set.
    The test suite compares scores with the stock analyzer on many texts.
    """

    @staticmethod
    def _negation_check(valence: float, words_and_emoticons: list[str], start_i: int, i: int) -> float:
        if start_i == 0 and _negated(words_and_emoticons[i - 1].lower()):
            valence = valence * N_SCALAR
        if start_i == 1:
            before2, before1 = words_and_emoticons[i - 2].lower(), words_and_emoticons[i - 1].lower()
            if before2 == "never" and (before1 == "so" or before1 == "this"):
                valence = valence * 1.25
            elif before2 == "without" and before1 == "doubt":
                pass
            elif _negated(before2):
                valence = valence * N_SCALAR
        if start_i == 2:
            before3 = words_and_emoticons[i - 3].lower()
            before2, before1 = words_and_emoticons[i - 2].lower(), words_and_emoticons[i - 1].lower()
            if (before3 == "never" and (before2 == "so" or before2 == "this")) or (
                before1 == "so" or before1 == "this"
            ):
                valence = valence * 1.25
            elif before3 == "without" and (before2 == "doubt" or before1 == "doubt"):
                pass
            elif _negated(before3):
                valence = valence * N_SCALAR
        return valence

    @staticmethod
    def _special_idioms_check(valence: float, words_and_emoticons: list[str], i: int) -> float:
        count = len(words_and_emoticons)
        word = words_and_emoticons[i].lower()
        before1 = words_and_emoticons[i - 1].lower()
        before2 = words_and_emoticons[i - 2].lower()
        before3 = words_and_emoticons[i - 3].lower()
        threetwoone = f"{before3} {before2} {before1}"
        threetwo = f"{before3} {before2}"
        twoone = f"{before2} {before1}"
        for sequence in (f"{before1} {word}", f"{before2} {before1} {word}", twoone, threetwoone, threetwo):
            if sequence in SPECIAL_CASES:
                valence = SPECIAL_CASES[sequence]
                break
        if count - 1 > i:
            after1 = words_and_emoticons[i + 1].lower()
            if f"{word} {after1}" in SPECIAL_CASES:
                valence = SPECIAL_CASES[f"{word} {after1}"]
            if count - 1 > i + 1:
                zeroonetwo = f"{word} {after1} {words_and_emoticons[i + 2].lower()}"
                if zeroonetwo in SPECIAL_CASES:
                    valence = SPECIAL_CASES[zeroonetwo]
        for n_gram in (threetwoone, threetwo, twoone):
            if n_gram in BOOSTER_DICT:
                valence = valence + BOOSTER_DICT[n_gram]
        return valence

    def polarity_scores(self, text: str) -> dict[str, Any]:
        if not text.isascii():
            return super().polarity_scores(text)  # type: ignore[no-any-return, unused-ignore]
        text = text.strip()
        sentitext = SentiText(text)
        sentiments: list[float] = []
        words_and_emoticons = sentitext.words_and_emoticons
        lexicon = self.lexicon
        for position, item in enumerate(words_and_emoticons):
            lowered = item.lower()
            if lowered not in lexicon and lowered not in BOOSTER_DICT and lowered != "kind":
                sentiments.append(0)  # what sentiment_valence appends for a word outside the lexicon
                continue
            if lowered in BOOSTER_DICT:
                sentiments.append(0)
                continue
            if (
                position < len(words_and_emoticons) - 1
                and lowered == "kind"
                and words_and_emoticons[position + 1].lower() == "of"
            ):
                sentiments.append(0)
                continue
            sentiments = self.sentiment_valence(0, sentitext, item, position, sentiments)
        sentiments = self._but_check(words_and_emoticons, sentiments)
        return self.score_valence(sentiments, text)  # type: ignore[no-any-return, unused-ignore]


class SentimentScorer:
    """Score texts with VADER plus :data:`CRYPTO_LEXICON` (and optional extra words)."""

    def __init__(self, extra_lexicon: Mapping[str, float] | None = None):
        self._analyzer = _AsciiFastAnalyzer()
        self._analyzer.lexicon.update(CRYPTO_LEXICON)
        if extra_lexicon:
            self._analyzer.lexicon.update({word.lower(): float(value) for word, value in extra_lexicon.items()})

    def score(self, text: str) -> float:
        """Return the compound sentiment of ``text`` in [-1, 1], rounded to 4 places (0 for no text)."""
        if not text or not text.strip():
            return 0.0
        return round(float(self._analyzer.polarity_scores(text)["compound"]), 4)

    def score_item(self, title: str, summary: str | None, *, cleaned: bool = False) -> float:
        """Score a headline with the start of its summary (HTML removed unless ``cleaned``)."""
        if not cleaned:
            title, summary = clean_text(title), clean_text(summary)
        text = f"{title}. {summary}" if summary else title
        return self.score(text[:MAX_SCORED_CHARACTERS])
