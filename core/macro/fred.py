"""FRED ``/fred/series/observations`` client (the key is the news area's FRED key).

The answer is ``{"realtime_start", "realtime_end", ..., "count", "offset", "limit",
"observations": [{"realtime_start", "realtime_end", "date", "value"}]}`` with values as strings
and ``"."`` for a missing value (skipped). Errors come as ``{"error_code", "error_message"}``
with HTTP 400 (a bad key or series), 429 or 5xx; they map onto ``core.news.errors``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from core.macro.series import MacroSeries
from core.news.errors import SourceAuthError, SourceBadResponse, SourceError
from core.news.http import HttpClient

logger = logging.getLogger(__name__)

PAGE_LIMIT = 100_000


@dataclass(frozen=True)
class FredObservation:
    observation_date: date
    realtime_start: date
    value: Decimal


class FredObservationsClient:
    """Observations of FRED series."""

    def __init__(self, api_key: str, http: HttpClient, *, base_url: str = "https://api.stlouisfed.org"):
        self._api_key = api_key
        self.http = http
        self.base_url = base_url.rstrip("/")

    def observations(self, series: MacroSeries, *, start: date | None = None) -> list[FredObservation]:
        """Return the series' current observations from ``start`` on, oldest first."""
        params: dict[str, Any] = {
            "series_id": series.fred_id,
            "api_key": self._api_key,
            "file_type": "json",
            "units": series.units,
            "sort_order": "asc",
            "limit": PAGE_LIMIT,
        }
        if start is not None:
            params["observation_start"] = start.isoformat()
        try:
            payload = self.http.get_json(f"{self.base_url}/fred/series/observations", params=params)
        except SourceError as error:
            if type(error) is SourceError and "api_key" in str(error):
                raise SourceAuthError(str(error)) from error
            raise
        return _parse(payload, series.fred_id)


def _parse(payload: Any, fred_id: str) -> list[FredObservation]:
    if not isinstance(payload, dict):
        raise SourceBadResponse(f"fred: expected a JSON object for {fred_id}, got {type(payload).__name__}")
    if "error_message" in payload:
        message = str(payload["error_message"])[:200]
        if "api_key" in message:
            raise SourceAuthError(f"fred: {message}")
        raise SourceError(f"fred: {fred_id}: {message}")
    rows = payload.get("observations")
    if not isinstance(rows, list):
        raise SourceBadResponse(f"fred: answer for {fred_id} has no 'observations' list")
    found: list[FredObservation] = []
    for row in rows:
        if not isinstance(row, dict):
            raise SourceBadResponse(f"fred: an observation of {fred_id} is not an object")
        raw = row.get("value")
        if raw == ".":
            continue  # FRED's marker for a missing value
        try:
            value = Decimal(str(raw))
            observed = date.fromisoformat(str(row.get("date")))
            vintage = date.fromisoformat(str(row.get("realtime_start")))
        except (InvalidOperation, ValueError) as error:
            raise SourceBadResponse(f"fred: malformed observation of {fred_id}: {row!r:.120}") from error
        if not value.is_finite():
            raise SourceBadResponse(f"fred: non-finite value in {fred_id}: {raw!r}")
        found.append(FredObservation(observed, vintage, value))
    return found
