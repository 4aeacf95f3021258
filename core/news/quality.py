"""Data-quality checks of raw items; refused items go to the ``quarantine`` table with a reason."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.news.dedupe import clean_text
from core.news.sources.base import RawNewsItem
from core.system.models import QuarantinedRecord

QUARANTINE_KIND = "news_item"
_WHITESPACE = re.compile(r"\s")


def quality_problem(
    item: RawNewsItem, now: datetime, future_tolerance: timedelta, *, cleaned_title: str | None = None
) -> str | None:
    """Return why ``item`` cannot be stored (no text, no URL, no date, future date), or None."""
    if not (cleaned_title if cleaned_title is not None else clean_text(item.title)):
        return "no text: the item has no title or text"
    if not item.url or not item.url.strip():
        return "no URL"
    if not _is_http_url(item.url.strip()):
        return f"invalid URL {item.url[:120]!r}"
    if item.published_at is None:
        return "no publication date"
    if item.published_at.tzinfo is None:
        return "publication date without a time zone"
    if item.published_at > now + future_tolerance:
        return f"dated in the future: {item.published_at.isoformat()} is after {now.isoformat()}"
    return None


def _is_http_url(url: str) -> bool:
    scheme, separator, rest = url.partition("://")
    if not separator or scheme.lower() not in ("http", "https"):
        return False
    host = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    return bool(host) and _WHITESPACE.search(host) is None


def quarantine_key(item: RawNewsItem) -> str:
    """Return a stable key of a refused item: its source id, else its URL, else a hash of its content."""
    if item.source_id:
        return item.source_id[:200]
    if item.url:
        return item.url.strip()[:200]
    digest = hashlib.sha1(json.dumps(quarantine_payload(item), sort_keys=True).encode()).hexdigest()
    return f"sha1:{digest}"


def quarantine_payload(item: RawNewsItem) -> dict[str, Any]:
    """Return the item as JSON-safe data, for inspection on the System page."""
    data = asdict(item)
    data["kind"] = item.kind.value
    data["published_at"] = item.published_at.isoformat() if item.published_at else None
    data["hint_symbols"] = list(item.hint_symbols)
    return json.loads(json.dumps(data, default=str))


def quarantine_items(session: Session, refused: Sequence[tuple[RawNewsItem, str]]) -> int:
    """Store refused items with their reasons; an item already quarantined is not stored again."""
    if not refused:
        return 0
    by_source: dict[str, list[tuple[RawNewsItem, str, str]]] = {}
    for item, reason in refused:
        by_source.setdefault(item.source, []).append((item, reason, quarantine_key(item)))
    stored = 0
    for source, entries in by_source.items():
        keys = list({key for _, _, key in entries})
        existing: set[str] = set()
        for start in range(0, len(keys), 500):
            existing.update(
                key
                for key in session.scalars(
                    select(QuarantinedRecord.record_key).where(
                        QuarantinedRecord.kind == QUARANTINE_KIND,
                        QuarantinedRecord.source == source,
                        QuarantinedRecord.record_key.in_(keys[start : start + 500]),
                    )
                )
                if key is not None
            )
        for item, reason, key in entries:
            if key in existing:
                continue
            existing.add(key)
            session.add(
                QuarantinedRecord(
                    kind=QUARANTINE_KIND,
                    source=source[:60],
                    reason=reason,
                    record_key=key,
                    payload=quarantine_payload(item),
                )
            )
            stored += 1
    session.flush()
    return stored
