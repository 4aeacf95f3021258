from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.news.dedupe import NearDuplicateIndex, canonical_url, jaccard, title_fingerprint, title_tokens

T0 = datetime(2026, 3, 10, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "http://www.CoinDesk.com/markets/2026/03/10/btc-rallies/?utm_source=rss&utm_medium=feed",
            "https://coindesk.com/markets/2026/03/10/btc-rallies",
        ),
        ("https://example.com/a?b=2&a=1&fbclid=XYZ#comments", "https://example.com/a?a=1&b=2"),
        ("https://example.com:443/story/amp", "https://example.com/story"),
        ("https://example.com:8080/x", "https://example.com:8080/x"),
        ("https://x.com/user/status/123?s=20&t=abc", "https://x.com/user/status/123"),
        ("https://m.example.com//news//item/", "https://example.com/news/item"),
        ("https://example.com/", "https://example.com"),
    ],
)
def test_canonical_url_strips_tracking_and_normalises(url: str, expected: str) -> None:
    assert canonical_url(url) == expected


def test_canonical_url_of_very_long_link_stays_unique_within_column_size() -> None:
    first = canonical_url("https://example.com/" + "a" * 600 + "1")
    second = canonical_url("https://example.com/" + "a" * 600 + "2")
    assert len(first) == 500
    assert first != second


def test_title_tokens_drop_stop_words_publisher_suffix_and_plurals() -> None:
    assert title_tokens("Bitcoin Surges to Record as ETFs Draw Inflows - Reuters") == frozenset(
        {"bitcoin", "surge", "record", "etf", "draw", "inflow"}
    )
    assert title_tokens("<b>Ethereum</b> &amp; $SOL rally!") == frozenset({"ethereum", "sol", "rally"})


def test_fingerprint_ignores_order_case_and_punctuation() -> None:
    first = title_fingerprint(title_tokens("Bitcoin hits record high, ETF inflows surge"))
    second = title_fingerprint(title_tokens("ETF inflows surge: bitcoin HITS record high"))
    assert first == second
    assert first is not None and len(first) == 40
    assert title_fingerprint(frozenset()) is None


def test_jaccard_exact_values() -> None:
    assert jaccard(frozenset("abc"), frozenset("abd")) == pytest.approx(0.5)
    assert jaccard(frozenset(), frozenset()) == 0.0


def test_near_duplicate_index_finds_similar_headlines_within_window_only() -> None:
    index = NearDuplicateIndex(threshold=0.8, window=timedelta(hours=48))
    index.add(title_tokens("SEC approves spot bitcoin ETF applications from major issuers"), T0, "first")
    assert (
        index.find(title_tokens("SEC approves spot bitcoin ETF applications from major issuers - Reuters"), T0)
        == "first"
    )
    assert index.find(title_tokens("Spot bitcoin ETF applications: SEC approves major issuers"), T0) == "first"
    assert index.find(title_tokens("Ethereum upgrade goes live on mainnet"), T0) is None
    late = T0 + timedelta(hours=49)
    assert index.find(title_tokens("SEC approves spot bitcoin ETF applications from major issuers"), late) is None


def test_near_duplicate_threshold_boundary_is_inclusive() -> None:
    base = frozenset({"a", "b", "c", "d", "e"})
    index = NearDuplicateIndex(threshold=0.8, window=timedelta(hours=1))
    index.add(base, T0, "base")
    four_of_five_plus_none = frozenset({"a", "b", "c", "d"})  # Jaccard 4/5 = 0.8
    three_shared = frozenset({"a", "b", "c", "x"})  # Jaccard 3/6 = 0.5
    assert index.find(four_of_five_plus_none, T0) == "base"
    assert index.find(three_shared, T0) is None


def test_prefix_filter_matches_brute_force_on_many_sets() -> None:
    import random

    generator = random.Random(7)
    vocabulary = [f"w{n}" for n in range(40)]
    sets = [frozenset(generator.sample(vocabulary, generator.randint(3, 9))) for _ in range(300)]
    index = NearDuplicateIndex(threshold=0.6, window=timedelta(days=1))
    for position, tokens in enumerate(sets):
        found = index.find(tokens, T0)
        expected = [str(p) for p in range(position) if jaccard(tokens, sets[p]) >= 0.6]
        assert (found is not None) == bool(expected)
        if found is not None:
            assert found in expected
        index.add(tokens, T0, str(position))
