"""Deduplication: canonical URLs, title fingerprints, and near-duplicate titles across sources.

- :func:`canonical_url` normalises a link so the same article reached through different
  tracking links compares equal (scheme and ``www.`` dropped, tracking parameters removed, query
  sorted, fragment and trailing slash removed).
- :func:`title_tokens` reduces a headline to its content words (lower case, accents and
  punctuation removed, stop words and a trailing `` - Publisher`` removed, plural ``s`` cut);
  :func:`title_fingerprint` hashes the sorted set of those words, so re-ordered or re-punctuated
  headlines share a fingerprint.
- :class:`NearDuplicateIndex` finds headlines whose word sets have a Jaccard similarity of at
  least a threshold within a time window, using prefix filtering (exact, not sampled): two sets
  with Jaccard ≥ t must share one of the first ``|x| - ceil(t·|x|) + 1`` words of each set in a
  fixed global order.
"""

from __future__ import annotations

import hashlib
import html
import math
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

CANONICAL_URL_MAX = 500

TRACKING_PARAMETERS = frozenset(
    {
        "fbclid", "gclid", "dclid", "msclkid", "yclid", "igshid", "mc_cid", "mc_eid", "_ga", "_gl",
        "ref", "ref_src", "ref_url", "referrer", "cmpid", "ncid", "ocid", "sr_share", "smid", "smtyp",
        "guccounter", "guce_referrer", "guce_referrer_sig", "spm", "soc_src", "soc_trk", "trk", "cid",
        "taid", "mbid", "rss", "feed", "feedtype", "__twitter_impression", "amp", "output",
    }
)  # fmt: skip
TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hsa_", "oly_", "vero_", "at_")
SHARE_PARAMETERS_BY_HOST = {"twitter.com": {"s", "t"}, "x.com": {"s", "t"}, "youtube.com": {"feature", "si"}}

STOP_WORDS = frozenset(
    """a an and are as at be by for from has have in into is it its of on or over says say that the this
    to up was were will with after amid new just could may might than then there their they about
    """.split()
)
_NON_WORD = re.compile(r"[^0-9a-z$]+")
_PUBLISHER_SUFFIX = re.compile(r"\s+[-–—|]\s+[^-–—|]{2,60}$")
_HTML_TAG = re.compile(r"<[^>]+>")
_SPACES = re.compile(r"\s+")


def clean_text(value: str | None) -> str:
    """Return ``value`` without HTML tags and entities, whitespace collapsed ('' for None)."""
    if not value:
        return ""
    text = html.unescape(_HTML_TAG.sub(" ", value))
    return _SPACES.sub(" ", text).strip()


def canonical_url(url: str) -> str:
    """Return the canonical form of ``url`` (see the module docstring)."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower().rstrip(".")
    if host.startswith("www."):
        host = host[4:]
    if host.startswith("m.") and host.count(".") >= 2:
        host = host[2:]
    port = parts.port
    netloc = host if port in (None, 80, 443) else f"{host}:{port}"
    share_parameters = SHARE_PARAMETERS_BY_HOST.get(host, set())
    query = [
        (key, value)
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
        if key.lower() not in TRACKING_PARAMETERS
        and not key.lower().startswith(TRACKING_PREFIXES)
        and key.lower() not in share_parameters
    ]
    path = re.sub(r"/{2,}", "/", parts.path or "/")
    if path.endswith("/amp"):
        path = path[: -len("/amp")] or "/"
    if len(path) > 1:
        path = path.rstrip("/")
    canonical = urlunsplit(("https", netloc, path, urlencode(sorted(query)), ""))
    if canonical.endswith("/") and path == "/" and not query:
        canonical = canonical[:-1]
    if len(canonical) > CANONICAL_URL_MAX:
        digest = hashlib.sha1(canonical.encode()).hexdigest()
        canonical = canonical[: CANONICAL_URL_MAX - 41] + "#" + digest
    return canonical


def title_tokens(title: str) -> frozenset[str]:
    """Return the content words of a headline (see the module docstring)."""
    text = clean_text(title)
    stripped = _PUBLISHER_SUFFIX.sub("", text)
    if len(stripped.split()) >= 3:
        text = stripped
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    tokens = set()
    for word in _NON_WORD.split(text):
        word = word.strip("$")
        if not word or word in STOP_WORDS:
            continue
        if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        tokens.add(word)
    return frozenset(tokens)


def title_fingerprint(tokens: frozenset[str]) -> str | None:
    """Return the SHA-1 hex digest of the sorted content words, or None without words."""
    if not tokens:
        return None
    return hashlib.sha1(" ".join(sorted(tokens)).encode()).hexdigest()


def jaccard(left: frozenset[str], right: frozenset[str]) -> float:
    """Return the Jaccard similarity of two word sets (0 for two empty sets)."""
    if not left and not right:
        return 0.0
    return len(left & right) / len(left | right)


def _token_order(token: str) -> int:
    return int.from_bytes(hashlib.blake2b(token.encode(), digest_size=8).digest(), "big")


@dataclass(frozen=True)
class _Entry:
    tokens: frozenset[str]
    published_at: datetime
    key: str


class NearDuplicateIndex:
    """Headlines seen so far, queried for near-duplicates (Jaccard ≥ ``threshold`` within ``window``)."""

    def __init__(self, threshold: float = 0.8, window: timedelta = timedelta(hours=48)):
        if not 0 < threshold <= 1:
            raise ValueError("threshold must be in (0, 1]")
        self.threshold = threshold
        self.window = window
        self._entries: list[_Entry] = []
        self._postings: dict[str, list[int]] = defaultdict(list)
        self._order_cache: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def _prefix(self, tokens: frozenset[str]) -> list[str]:
        cache = self._order_cache
        ordered = sorted(tokens, key=lambda token: cache.get(token) or cache.setdefault(token, _token_order(token)))
        length = len(ordered) - math.ceil(self.threshold * len(ordered) - 1e-9) + 1
        return ordered[: max(1, length)]

    def find(self, tokens: frozenset[str], published_at: datetime) -> str | None:
        """Return the key of an indexed near-duplicate of ``tokens``, or None."""
        if not tokens:
            return None
        seen: set[int] = set()
        for token in self._prefix(tokens):
            for position in self._postings.get(token, ()):
                if position in seen:
                    continue
                seen.add(position)
                entry = self._entries[position]
                if abs(entry.published_at - published_at) > self.window:
                    continue
                if jaccard(tokens, entry.tokens) >= self.threshold:
                    return entry.key
        return None

    def add(self, tokens: frozenset[str], published_at: datetime, key: str) -> None:
        """Index a headline under ``key``."""
        if not tokens:
            return
        position = len(self._entries)
        self._entries.append(_Entry(tokens, published_at, key))
        for token in self._prefix(tokens):
            self._postings[token].append(position)
