"""Sentiment of an item: VADER's lexicon model, extended with the vocabulary of crypto markets.

VADER rates words from -4 to +4 and combines them (with negation, boosters, "but", capitals and
exclamation marks) into a compound score in [-1, 1]; one word of valence ``v`` alone scores
``v / sqrt(v² + 15)``. The crypto words below are added to its lexicon (lower case; VADER
lower-cases tokens before lookup).
"""

from __future__ import annotations

import string
from collections.abc import Mapping

from vaderSentiment.vaderSentiment import (
    BOOSTER_DICT,
    C_INCR,
    N_SCALAR,
    NEGATE,
    SPECIAL_CASES,
    SentimentIntensityAnalyzer,
    allcap_differential,
    normalize,
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
_PUNCTUATION = string.punctuation


def _negated(word_lower: str) -> bool:
    """VADER's ``negated([word])``: a negation word, or a word holding "n't"."""
    return word_lower in _NEGATIONS or "n't" in word_lower


def _negation_check_lowered(valence: float, lowered: list[str], start_i: int, i: int) -> float:
    """VADER's ``_negation_check`` over already lower-cased words."""
    if start_i == 0 and _negated(lowered[i - 1]):
        valence = valence * N_SCALAR
    if start_i == 1:
        before2, before1 = lowered[i - 2], lowered[i - 1]
        if before2 == "never" and (before1 == "so" or before1 == "this"):
            valence = valence * 1.25
        elif before2 == "without" and before1 == "doubt":
            pass
        elif _negated(before2):
            valence = valence * N_SCALAR
    if start_i == 2:
        before3, before2, before1 = lowered[i - 3], lowered[i - 2], lowered[i - 1]
        if (before3 == "never" and (before2 == "so" or before2 == "this")) or (before1 == "so" or before1 == "this"):
            valence = valence * 1.25
        elif before3 == "without" and (before2 == "doubt" or before1 == "doubt"):
            pass
        elif _negated(before3):
            valence = valence * N_SCALAR
    return valence


def _special_idioms_check_lowered(valence: float, lowered: list[str], i: int) -> float:
    """VADER's ``_special_idioms_check`` over already lower-cased words."""
    count = len(lowered)
    word, before1, before2, before3 = lowered[i], lowered[i - 1], lowered[i - 2], lowered[i - 3]
    threetwoone = f"{before3} {before2} {before1}"
    threetwo = f"{before3} {before2}"
    twoone = f"{before2} {before1}"
    for sequence in (f"{before1} {word}", f"{before2} {before1} {word}", twoone, threetwoone, threetwo):
        if sequence in SPECIAL_CASES:
            valence = SPECIAL_CASES[sequence]
            break
    if count - 1 > i:
        after1 = lowered[i + 1]
        if f"{word} {after1}" in SPECIAL_CASES:
            valence = SPECIAL_CASES[f"{word} {after1}"]
        if count - 1 > i + 1:
            zeroonetwo = f"{word} {after1} {lowered[i + 2]}"
            if zeroonetwo in SPECIAL_CASES:
                valence = SPECIAL_CASES[zeroonetwo]
    for n_gram in (threetwoone, threetwo, twoone):
        if n_gram in BOOSTER_DICT:
            valence = valence + BOOSTER_DICT[n_gram]
    return valence


class _CompoundAnalyzer(SentimentIntensityAnalyzer):
    """Stock VADER (``polarity_scores`` unchanged) plus :meth:`compound`, the same compound score, faster."""

    def compound(self, text: str) -> float:
        """VADER's compound score of ``text``: ``polarity_scores(text)["compound"]``, computed faster.

        The same steps as the stock analyzer, only for what the compound needs (no pos/neg/neu
        shares): the text is split and lower-cased once; only words of the lexicon (not boosters,
        not "kind" before "of") are rated, with the rules of ``sentiment_valence`` applied to the
        pre-lowered words; the capital-letters differential is computed only when a capitalised
        rated word or booster needs it. A text without a rated word scores 0. Identical results
        (tested against the stock analyzer, and against it on the benchmark's items).
        """
        if not text.isascii():
            text = self._without_emoji(text)
        words = [token if len(stripped := token.strip(_PUNCTUATION)) <= 2 else stripped for token in text.split()]
        lowered = [word.lower() for word in words]
        lexicon = self.lexicon
        count = len(lowered)
        rated = [
            position
            for position, word in enumerate(lowered)
            if word in lexicon
            and word not in BOOSTER_DICT
            and not (word == "kind" and position < count - 1 and lowered[position + 1] == "of")
        ]
        if not rated:
            return 0.0
        sentiments: list[float] = [0] * count
        cap_differential: bool | None = None
        for i in rated:
            word = lowered[i]
            valence = lexicon[word]
            if word == "no" and i != count - 1 and lowered[i + 1] in lexicon:
                valence = 0.0
            if (
                (i > 0 and lowered[i - 1] == "no")
                or (i > 1 and lowered[i - 2] == "no")
                or (i > 2 and lowered[i - 3] == "no" and lowered[i - 1] in ("or", "nor"))
            ):
                valence = lexicon[word] * N_SCALAR
            if words[i].isupper():
                if cap_differential is None:
                    cap_differential = allcap_differential(words)
                if cap_differential:
                    valence = valence + C_INCR if valence > 0 else valence - C_INCR
            for start_i in (0, 1, 2):
                if i > start_i and lowered[i - (start_i + 1)] not in lexicon:
                    before = lowered[i - (start_i + 1)]
                    if before in BOOSTER_DICT:  # scalar_inc_dec
                        scalar = BOOSTER_DICT[before]
                        if valence < 0:
                            scalar *= -1
                        if words[i - (start_i + 1)].isupper():
                            if cap_differential is None:
                                cap_differential = allcap_differential(words)
                            if cap_differential:
                                scalar = scalar + C_INCR if valence > 0 else scalar - C_INCR
                        if start_i == 1 and scalar != 0:
                            scalar = scalar * 0.95
                        if start_i == 2 and scalar != 0:
                            scalar = scalar * 0.9
                    else:
                        scalar = 0.0
                    valence = valence + scalar
                    valence = _negation_check_lowered(valence, lowered, start_i, i)
                    if start_i == 2:
                        valence = _special_idioms_check_lowered(valence, lowered, i)
            # _least_check
            if i > 1 and lowered[i - 1] not in lexicon and lowered[i - 1] == "least":
                if lowered[i - 2] != "at" and lowered[i - 2] != "very":
                    valence = valence * N_SCALAR
            elif i > 0 and lowered[i - 1] not in lexicon and lowered[i - 1] == "least":
                valence = valence * N_SCALAR
            sentiments[i] = valence
        if "but" in lowered:
            sentiments = self._but_check(lowered, sentiments)
        total = float(sum(sentiments))
        if total > 0:
            total += self._punctuation_emphasis(text)
        elif total < 0:
            total -= self._punctuation_emphasis(text)
        return round(normalize(total), 4)  # type: ignore[no-any-return, unused-ignore]

    def _without_emoji(self, text: str) -> str:
        """The text with emoji replaced by their descriptions, as ``polarity_scores`` does first."""
        emojis = self.emojis
        parts: list[str] = []
        previous_space = True
        for character in text:
            if character in emojis:
                if not previous_space:
                    parts.append(" ")
                parts.append(emojis[character])
                previous_space = False
            else:
                parts.append(character)
                previous_space = character == " "
        return "".join(parts)


class SentimentScorer:
    """Score texts with VADER plus :data:`CRYPTO_LEXICON` (and optional extra words)."""

    def __init__(self, extra_lexicon: Mapping[str, float] | None = None):
        self._analyzer = _CompoundAnalyzer()
        self._analyzer.lexicon.update(CRYPTO_LEXICON)
        if extra_lexicon:
            self._analyzer.lexicon.update({word.lower(): float(value) for word, value in extra_lexicon.items()})

    def score(self, text: str) -> float:
        """Return the compound sentiment of ``text`` in [-1, 1], rounded to 4 places (0 for no text)."""
        if not text or not text.strip():
            return 0.0
        return round(float(self._analyzer.compound(text)), 4)

    def score_item(self, title: str, summary: str | None, *, cleaned: bool = False) -> float:
        """Score a headline with the start of its summary (HTML removed unless ``cleaned``)."""
        if not cleaned:
            title, summary = clean_text(title), clean_text(summary)
        text = f"{title}. {summary}" if summary else title
        return self.score(text[:MAX_SCORED_CHARACTERS])
