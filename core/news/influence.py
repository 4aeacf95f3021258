"""Influence of an item: its reach, normalised to [0, 1] per platform.

Counts are log-scaled against a reference count that scores 1: ``log_scale(n, ref) =
min(1, ln(1 + n) / ln(1 + ref))``.

- Reddit: ``0.7 · log_scale(score, 10 000) + 0.3 · log_scale(comments, 2 000)``.
- X: ``0.6 · log_scale(followers, 1 000 000) + 0.4 · log_scale(likes + 2·retweets + replies +
  quotes, 10 000)``.
- Articles (RSS, NewsAPI, Alpha Vantage): a publisher weight — 0.8 for major wires and markets
  outlets, 0.5 otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

MAJOR_PUBLISHERS = frozenset(
    {
        "reuters",
        "bloomberg",
        "financial times",
        "the wall street journal",
        "wall street journal",
        "cnbc",
        "associated press",
        "coindesk",
        "the block",
        "cointelegraph",
        "decrypt",
        "marketwatch",
        "barron's",
        "yahoo finance",
        "the economist",
        "forbes",
        "bbc news",
        "axios",
    }
)
ARTICLE_DEFAULT_INFLUENCE = 0.5
ARTICLE_MAJOR_INFLUENCE = 0.8


def log_scale(count: float | None, reference: float) -> float:
    """Return ``min(1, ln(1 + count) / ln(1 + reference))`` (0 for None or negative counts)."""
    if count is None or count <= 0 or not math.isfinite(count):
        return 0.0
    return min(1.0, math.log1p(count) / math.log1p(reference))


def _number(metrics: Mapping[str, Any], key: str) -> float:
    value = metrics.get(key)
    try:
        number = float(value) if value is not None else 0.0
    except (TypeError, ValueError):
        return 0.0
    return number if math.isfinite(number) else 0.0


def influence_for(platform: str, metrics: Mapping[str, Any] | None, publisher: str | None = None) -> float:
    """Return the influence of an item of ``platform`` with ``metrics``, in [0, 1], rounded to 4 places."""
    metrics = metrics or {}
    if platform == "reddit":
        value = 0.7 * log_scale(_number(metrics, "score"), 10_000) + 0.3 * log_scale(
            _number(metrics, "comments"), 2_000
        )
    elif platform == "x":
        engagement = (
            _number(metrics, "likes")
            + 2 * _number(metrics, "retweets")
            + _number(metrics, "replies")
            + _number(metrics, "quotes")
        )
        value = 0.6 * log_scale(_number(metrics, "followers"), 1_000_000) + 0.4 * log_scale(engagement, 10_000)
    else:
        name = (publisher or "").strip().lower()
        value = ARTICLE_MAJOR_INFLUENCE if name in MAJOR_PUBLISHERS else ARTICLE_DEFAULT_INFLUENCE
    return round(min(1.0, max(0.0, value)), 4)
