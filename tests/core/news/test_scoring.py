from __future__ import annotations

import math

import pytest

from core.news.influence import influence_for, log_scale
from core.news.sentiment import CRYPTO_LEXICON, SentimentScorer


def single_word(valence: float) -> float:
    """VADER's compound score of a text holding one rated word: v / sqrt(v² + 15)."""
    return round(valence / math.sqrt(valence * valence + 15), 4)


@pytest.fixture(scope="module")
def scorer() -> SentimentScorer:
    return SentimentScorer()


@pytest.mark.parametrize("word", ["rekt", "hodl", "fud", "bullish", "bearish", "moon", "rug", "pump", "dump", "wagmi"])
def test_crypto_words_score_by_their_lexicon_valence(scorer: SentimentScorer, word: str) -> None:
    assert scorer.score(word) == single_word(CRYPTO_LEXICON[word])


def test_exact_values_of_crypto_words(scorer: SentimentScorer) -> None:
    assert scorer.score("rekt") == -0.6124
    assert scorer.score("bullish") == 0.5423


def test_negation_flips_a_crypto_word(scorer: SentimentScorer) -> None:
    assert scorer.score("bullish") > 0
    assert scorer.score("not bullish") < 0


def test_empty_text_scores_zero_and_html_is_removed(scorer: SentimentScorer) -> None:
    assert scorer.score("") == 0.0
    assert scorer.score_item("<b>bullish</b>", None) == scorer.score("bullish")
    assert scorer.score_item("Bitcoin", "<p>rekt</p>") == scorer.score("Bitcoin. rekt")


def test_extra_lexicon_words() -> None:
    assert SentimentScorer({"Frobnicate": 2.0}).score("frobnicate") == single_word(2.0)


def test_log_scale_exact() -> None:
    assert log_scale(0, 100) == 0.0
    assert log_scale(None, 100) == 0.0
    assert log_scale(100, 100) == 1.0
    assert log_scale(10_000, 100) == 1.0
    assert log_scale(9, 99) == pytest.approx(math.log(10) / math.log(100))


def test_influence_per_platform_exact() -> None:
    reddit = influence_for("reddit", {"score": 10_000, "comments": 2_000})
    assert reddit == 1.0
    assert influence_for("reddit", {"score": 99, "comments": 0}) == round(0.7 * math.log(100) / math.log(10_001), 4)
    x_value = influence_for("x", {"followers": 999, "likes": 10, "retweets": 5, "replies": 4, "quotes": 0})
    expected = 0.6 * math.log(1000) / math.log(1_000_001) + 0.4 * math.log(25) / math.log(10_001)
    assert x_value == round(expected, 4)
    assert influence_for("rss", None, "Reuters") == 0.8
    assert influence_for("newsapi", None, "Some Blog") == 0.5
    assert influence_for("x", {"followers": "garbage", "likes": float("nan")}) == 0.0


def test_fast_compound_gives_the_same_scores_as_stock_vader() -> None:
    import random

    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    from core.news.sentiment import _CompoundAnalyzer

    stock, fast = SentimentIntensityAnalyzer(), _CompoundAnalyzer()
    words = (
        "not",
        "never",
        "so",
        "this",
        "without",
        "doubt",
        "isn't",
        "very",
        "VERY",
        "kind",
        "of",
        "but",
        "BUT",
        "least",
        "at",
        "good",
        "bad",
        "GREAT",
        "terrible",
        "love",
        "hate",
        "the",
        "bomb",
        "cut",
        "mustard",
        "no",
        "NO",
        "nor",
        "or",
        "sort",
        "yeah",
        "right",
        "ok",
        "😀",
        "💘",
        "amazing!!!",
        "why?",
        "??",
        ":)",
        ":D",
        "hardly",
        "extremely",
        "bitcoin",
        "BULLISH",
        "kinda",
        "bad ass",
        "the shit",
    )
    generator = random.Random(3)
    texts = [" ".join(generator.choices(words, k=generator.randint(0, 16))) for _ in range(6000)]
    texts += [
        "The movie was not so good, but the ending was GREAT!!!",
        "He is kind of the bomb",
        "Without doubt good",
        "",
        "   ",
        "Catch utf-8 emoji such as 💘 and 💋 and 😁",
    ]
    for text in texts:
        assert fast.compound(text) == stock.polarity_scores(text)["compound"], text


def test_scores_equal_stock_vader_with_the_crypto_lexicon_on_the_benchmark_items() -> None:
    """The scorer's score of every item of the benchmark's corpus is stock VADER's (same lexicon)."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    from bench.news_processing import make_items
    from core.news.dedupe import clean_text
    from core.news.sentiment import MAX_SCORED_CHARACTERS

    stock = SentimentIntensityAnalyzer()
    stock.lexicon.update(CRYPTO_LEXICON)
    scorer = SentimentScorer()
    nonzero = 0
    for item in make_items(6_000, seed=7):
        title, summary = clean_text(item.title), clean_text(item.summary)
        text = (f"{title}. {summary}" if summary else title)[:MAX_SCORED_CHARACTERS]
        expected = round(float(stock.polarity_scores(text)["compound"]), 4)
        assert scorer.score_item(title, summary or None, cleaned=True) == expected, text
        nonzero += expected != 0
    assert nonzero > 3_000  # the corpus is mostly rated text, not only neutral words
