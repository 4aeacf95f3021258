"""Economic calendar from the FRED release calendar (``/fred/releases/dates``, free API key).

FRED lists release *dates* of hundreds of statistical releases. We keep the ones that move
markets (:data:`MARKET_MOVING_RELEASES`, matched by name), give them their importance and their
customary release time in New York (08:30 for most US data, 14:00 for FOMC statements); the
time is marked ``time_known=False`` where FRED's date is all we know.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from core.news.errors import SourceAuthError, SourceBadResponse, SourceError
from core.news.http import HttpClient
from core.news.models import CalendarImportance
from core.news.sources.base import FetchContext, RawCalendarEvent

logger = logging.getLogger(__name__)

NEW_YORK = ZoneInfo("America/New_York")
PAGE_LIMIT = 1000
MAX_PAGES = 5


@dataclass(frozen=True)
class ReleaseRule:
    keyword: str
    importance: CalendarImportance
    local_time: time | None
    category: str


MARKET_MOVING_RELEASES: tuple[ReleaseRule, ...] = (
    ReleaseRule("employment situation", CalendarImportance.HIGH, time(8, 30), "labour"),
    ReleaseRule("consumer price index", CalendarImportance.HIGH, time(8, 30), "inflation"),
    ReleaseRule("gross domestic product", CalendarImportance.HIGH, time(8, 30), "growth"),
    ReleaseRule("fomc", CalendarImportance.HIGH, time(14, 0), "central bank"),
    ReleaseRule("personal income and outlays", CalendarImportance.HIGH, time(8, 30), "inflation"),
    ReleaseRule("producer price index", CalendarImportance.MEDIUM, time(8, 30), "inflation"),
    ReleaseRule("retail", CalendarImportance.MEDIUM, time(8, 30), "consumption"),
    ReleaseRule("unemployment insurance weekly claims", CalendarImportance.MEDIUM, time(8, 30), "labour"),
    ReleaseRule("job openings and labor turnover", CalendarImportance.MEDIUM, time(10, 0), "labour"),
    ReleaseRule("employment cost index", CalendarImportance.MEDIUM, time(8, 30), "labour"),
    ReleaseRule("industrial production", CalendarImportance.MEDIUM, time(9, 15), "growth"),
    ReleaseRule("university of michigan", CalendarImportance.MEDIUM, time(10, 0), "sentiment"),
    ReleaseRule("new residential construction", CalendarImportance.LOW, time(8, 30), "housing"),
    ReleaseRule("durable goods", CalendarImportance.LOW, time(8, 30), "growth"),
)


def rule_for(release_name: str) -> ReleaseRule | None:
    """Return the rule of a market-moving release, or None for the others."""
    lowered = release_name.lower()
    for rule in MARKET_MOVING_RELEASES:
        if rule.keyword in lowered:
            return rule
    return None


def release_time(day: date, rule: ReleaseRule) -> tuple[datetime, bool]:
    """Return the UTC time of a release on ``day`` and whether that time is known."""
    if rule.local_time is None:
        return datetime.combine(day, time(12, 0), tzinfo=NEW_YORK).astimezone(ZoneInfo("UTC")), False
    return datetime.combine(day, rule.local_time, tzinfo=NEW_YORK).astimezone(ZoneInfo("UTC")), True


class FredCalendarSource:
    """Release dates of market-moving US statistics from the FRED API."""

    name = "fred"
    platform = "fred"
    daily_call_budget: int | None = None

    def __init__(
        self,
        api_key: str,
        http: HttpClient,
        *,
        base_url: str,
        interval_seconds: float = 43_200.0,
        days_back: int = 7,
        days_ahead: int = 45,
    ):
        self._api_key = api_key
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.interval_seconds = interval_seconds
        self.days_back = days_back
        self.days_ahead = days_ahead

    def fetch_events(self, context: FetchContext) -> list[RawCalendarEvent]:
        """Return the market-moving releases from ``days_back`` before to ``days_ahead`` after now."""
        today = context.now.date()
        params: dict[str, Any] = {
            "api_key": self._api_key,
            "file_type": "json",
            "realtime_start": (today - timedelta(days=self.days_back)).isoformat(),
            "realtime_end": (today + timedelta(days=self.days_ahead)).isoformat(),
            "include_release_dates_with_no_data": "true",
            "order_by": "release_date",
            "sort_order": "asc",
            "limit": PAGE_LIMIT,
            "offset": 0,
        }
        events: list[RawCalendarEvent] = []
        for _page in range(MAX_PAGES):
            try:
                payload = self.http.get_json(f"{self.base_url}/fred/releases/dates", params=params)
            except SourceError as error:
                if type(error) is SourceError and "api_key" in str(error):
                    raise SourceAuthError(str(error)) from error
                raise
            rows = self._rows(payload)
            events.extend(self._events(rows))
            count = payload.get("count")
            params["offset"] += PAGE_LIMIT
            if not isinstance(count, int) or params["offset"] >= count or not rows:
                break
        return events

    def _rows(self, payload: Any) -> list[dict[str, Any]]:
        if not isinstance(payload, dict):
            raise SourceBadResponse(f"{self.name}: expected a JSON object, got {type(payload).__name__}")
        if "error_message" in payload:
            message = str(payload["error_message"])
            if "api_key" in message:
                raise SourceAuthError(f"{self.name}: {message[:200]}")
            raise SourceError(f"{self.name}: {message[:200]}")
        rows = payload.get("release_dates")
        if not isinstance(rows, list):
            raise SourceBadResponse(f"{self.name}: answer has no 'release_dates' list")
        return [row for row in rows if isinstance(row, dict)]

    def _events(self, rows: list[dict[str, Any]]) -> list[RawCalendarEvent]:
        events = []
        for row in rows:
            name = str(row.get("release_name") or "").strip()
            rule = rule_for(name)
            if rule is None:
                continue
            try:
                day = date.fromisoformat(str(row.get("date")))
            except ValueError:
                logger.warning("%s: release %r has no valid date: %r", self.name, name, row.get("date"))
                continue
            when, known = release_time(day, rule)
            release_id = row.get("release_id")
            events.append(
                RawCalendarEvent(
                    source=self.name,
                    external_id=f"{release_id}:{day.isoformat()}",
                    event_time=when,
                    title=name[:300],
                    country="US",
                    importance=rule.importance,
                    time_known=known,
                    category=rule.category,
                    url=f"https://fred.stlouisfed.org/release?rid={release_id}" if release_id is not None else None,
                    details={"release_id": release_id},
                )
            )
        return events
