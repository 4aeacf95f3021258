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
  fixed global order. Posting lists are split into time buckets of one window, so a query
  only scans the buckets that can hold an item within the window.
"""

from __future__ import annotations

import hashlib
import html
import math
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit

CANONICAL_URL_MAX = 500

TRACKING_PARAMETERS = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "msclkid",
        "yclid",
        "igshid",
        "mc_cid",
        "mc_eid",
        "_ga",
        "_gl",
        "ref",
        "ref_src",
        "ref_url",
        "referrer",
        "cmpid",
        "ncid",
        "ocid",
        "sr_share",
        "smid",
        "smtyp",
        "guccounter",
        "guce_referrer",
        "guce_referrer_sig",
        "spm",
        "soc_src",
        "soc_trk",
        "trk",
        "cid",
        "taid",
        "mbid",
        "rss",
        "feed",
        "feedtype",
        "__twitter_impression",
        "amp",
        "output",
    }
)
TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hsa_", "oly_", "vero_", "at_")
SHARE_PARAMETERS_BY_HOST = {"twitter.com": {"s", "t"}, "x.com": {"s", "t"}, "youtube.com": {"feature", "si"}}

STOP_WORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "for",
        "from",
        "has",
        "have",
        "in",
        "into",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "over",
        "says",
        "say",
        "that",
        "the",
        "this",
        "to",
        "up",
        "was",
        "were",
        "will",
        "with",
        "after",
        "amid",
        "new",
        "just",
        "could",
        "may",
        "might",
        "than",
        "then",
        "there",
        "their",
        "they",
        "about",
    ]
)
_NON_WORD = re.compile(r"[^0-9a-z$]+")
_PUBLISHER_SUFFIX = re.compile(r"\s+[-–—|]\s+[^-–—|]{2,60}$")
_HTML_TAG = re.compile(r"<[^>]+>")
_SPACES = re.compile(r"\s+")


def clean_text(value: str | None) -> str:
    """Return ``value`` without HTML tags and entities, whitespace collapsed ('' for None)."""
    if not value:
        return ""
    text = value
    if "<" in text:
        text = _HTML_TAG.sub(" ", text)
    if "&" in text:
        text = html.unescape(text)
    return " ".join(text.split())


def canonical_url(url: str) -> str:
    """Return the canonical form of ``url`` (see the module docstring)."""
    parts = urlsplit(url.strip())
    netloc = parts.netloc
    if "@" in netloc or ":" in netloc or "[" in netloc or "%" in netloc:
        host, port = (parts.hostname or "").rstrip("."), parts.port
    else:  # a plain host name: what ``hostname`` and ``port`` return, without parsing it twice
        host, port = netloc.lower().rstrip("."), None
    if host.startswith("www."):
        host = host[4:]
    if host.startswith("m.") and host.count(".") >= 2:
        host = host[2:]
    netloc = host if port in (None, 80, 443) else f"{host}:{port}"
    share_parameters = SHARE_PARAMETERS_BY_HOST.get(host, set())
    query = (
        [
            (key, value)
            for key, value in parse_qsl(parts.query, keep_blank_values=True)
            if key.lower() not in TRACKING_PARAMETERS
            and not key.lower().startswith(TRACKING_PREFIXES)
            and key.lower() not in share_parameters
        ]
        if parts.query
        else []
    )
    path = parts.path or "/"
    if "//" in path:
        path = re.sub(r"/{2,}", "/", path)
    if path.endswith("/amp"):
        path = path[: -len("/amp")] or "/"
    if len(path) > 1:
        path = path.rstrip("/")
    if path == "/":
        path = ""
    canonical = f"https://{netloc}{path}" + (f"?{urlencode(sorted(query))}" if query else "")
    if len(canonical) > CANONICAL_URL_MAX:
        digest = hashlib.sha1(canonical.encode()).hexdigest()
        canonical = canonical[: CANONICAL_URL_MAX - 41] + "#" + digest
    return canonical


def title_tokens(title: str) -> frozenset[str]:
    """Return the content words of a headline (see the module docstring)."""
    text = clean_text(title)
    if " - " in text or " | " in text or " – " in text or " — " in text:
        stripped = _PUBLISHER_SUFFIX.sub("", text)
        if len(stripped.split()) >= 3:
            text = stripped
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    text = text.lower()
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


@dataclass(frozen=True, slots=True)
class _Entry:
    tokens: frozenset[str]
    timestamp: float
    key: str


class NearDuplicateIndex:
    """Headlines seen so far, queried for near-duplicates (Jaccard ≥ ``threshold`` within ``window``).

    ``token_frequencies`` (how many headlines of the corpus hold each word) orders the words
    rarest first, as in PPJoin, so the prefixes hold rare words with short posting lists; the
    order is fixed for the life of the index (required for correctness). Without it, words are
    ordered by a hash (still exact, only slower on repetitive vocabularies).
    """

    def __init__(
        self,
        threshold: float = 0.8,
        window: timedelta = timedelta(hours=48),
        token_frequencies: dict[str, int] | None = None,
    ):
        if not 0 < threshold <= 1:
            raise ValueError("threshold must be in (0, 1]")
        self.threshold = threshold
        self.window = window
        self._entries: list[_Entry] = []
        self._postings: dict[tuple[str, int], list[int]] = defaultdict(list)
        self._frequencies = token_frequencies
        self._order_cache: dict[str, tuple[int, int]] = {}
        self._last_prefix: tuple[frozenset[str], list[str]] | None = None

    @classmethod
    def for_corpus(
        cls, token_sets: Iterable[frozenset[str]], threshold: float = 0.8, window: timedelta = timedelta(hours=48)
    ) -> NearDuplicateIndex:
        """Return an empty index whose word order is tuned to ``token_sets`` (all headlines it will see)."""
        frequencies: dict[str, int] = defaultdict(int)
        for tokens in token_sets:
            for token in tokens:
                frequencies[token] += 1
        return cls(threshold, window, dict(frequencies))

    def __len__(self) -> int:
        return len(self._entries)

    def observe(self, token_sets: Iterable[frozenset[str]]) -> None:
        """Count words of headlines about to be indexed or queried, to order new words rarest first.

        A word's place in the order is fixed the first time the index uses it, so counting more
        headlines later never changes what was indexed (the prefix filter stays exact).
        """
        if self._frequencies is None:
            self._frequencies = {}
        frequencies = self._frequencies
        for tokens in token_sets:
            for token in tokens:
                frequencies[token] = frequencies.get(token, 0) + 1

    def _order(self, token: str) -> tuple[int, int]:
        key = self._order_cache.get(token)
        if key is None:
            frequency = self._frequencies.get(token, 0) if self._frequencies is not None else 0
            key = self._order_cache[token] = (frequency, _token_order(token))
        return key

    def _prefix(self, tokens: frozenset[str]) -> list[str]:
        last = self._last_prefix
        if last is not None and last[0] is tokens:  # ``find`` then ``add`` of the same headline
            return last[1]
        ordered = sorted(tokens, key=self._order)
        length = len(ordered) - math.ceil(self.threshold * len(ordered) - 1e-9) + 1
        prefix = ordered[: max(1, length)]
        self._last_prefix = (tokens, prefix)
        return prefix

    def find(self, tokens: frozenset[str], published_at: datetime) -> str | None:
        """Return the key of an indexed near-duplicate of ``tokens``, or None."""
        if not tokens:
            return None
        timestamp = published_at.timestamp()
        window = self.window.total_seconds()
        size = len(tokens)
        smallest, largest = self.threshold * size, size / self.threshold
        entries = self._entries
        bucket = int(timestamp // window) if window > 0 else 0
        seen: set[int] = set()
        keys = [(token, near) for token in self._prefix(tokens) for near in (bucket - 1, bucket, bucket + 1)]
        for key in keys:
            for position in self._postings.get(key, ()):
                if position in seen:
                    continue
                seen.add(position)
                entry = entries[position]
                if abs(entry.timestamp - timestamp) > window:
                    continue
                other = len(entry.tokens)
                if other < smallest - 1e-9 or other > largest + 1e-9:  # Jaccard ≤ min/max of the sizes
                    continue
                shared = len(tokens & entry.tokens)
                if shared >= self.threshold * (size + other - shared) - 1e-9:
                    return entry.key
        return None

    def add(self, tokens: frozenset[str], published_at: datetime, key: str) -> None:
        """Index a headline under ``key``."""
        if not tokens:
            return
        position = len(self._entries)
        timestamp = published_at.timestamp()
        window = self.window.total_seconds()
        bucket = int(timestamp // window) if window > 0 else 0
        self._entries.append(_Entry(tokens, timestamp, key))
        for token in self._prefix(tokens):
            self._postings[(token, bucket)].append(position)
