"""FRED series observations against a loopback server, storage by vintage, and as-of reads.

The answer's shape is FRED's ``fred/series/observations`` JSON as recorded in
lewiskk016/jsprojectreal ``data/employment.js`` (``realtime_start``, ``realtime_end``,
``observation_start``, ``units``, ``output_type``, ``file_type``, ``order_by``, ``sort_order``,
``count``, ``offset``, ``limit``, ``observations: [{realtime_start, realtime_end, date, value}]``)
and FRED's documentation (``"."`` marks a missing value; errors are ``{error_code, error_message}``).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from core.db.engine import Database
from core.macro.fred import FredObservationsClient
from core.macro.models import MacroObservation
from core.macro.series import SERIES_BY_ID
from core.macro.service import collect_macro, latest_macro
from core.news.errors import SourceAuthError, SourceBadResponse, SourceRateLimited, SourceUnavailable
from core.news.http import HttpClient
from core.news.models import CalendarEvent, CalendarImportance

UNRATE = SERIES_BY_ID["UNRATE"]
CPI = SERIES_BY_ID["US_CPI_YOY"]


def answer(rows: list[tuple[str, str, str]], units: str = "lin") -> dict[str, object]:
    return {
        "realtime_start": "2026-12-01",
        "realtime_end": "2026-12-01",
        "observation_start": "2023-12-01",
        "observation_end": "9999-12-31",
        "units": units,
        "output_type": 1,
        "file_type": "json",
        "order_by": "observation_date",
        "sort_order": "asc",
        "count": len(rows),
        "offset": 0,
        "limit": 100000,
        "observations": [
            {"realtime_start": vintage, "realtime_end": "9999-12-31", "date": day, "value": value}
            for day, value, vintage in rows
        ],
    }


def client(server: HTTPServer) -> FredObservationsClient:
    http = HttpClient("fred", timeout_seconds=2, attempts=2, backoff_seconds=0, sleep=lambda _s: None)
    return FredObservationsClient("FREDKEY", http, base_url=server.url_for("/"))


def test_observations_are_parsed_and_missing_values_skipped(httpserver: HTTPServer) -> None:
    httpserver.expect_request(
        "/fred/series/observations",
        query_string={"series_id": "CPIAUCSL", "api_key": "FREDKEY", "file_type": "json", "units": "pc1",
                      "sort_order": "asc", "limit": "100000", "observation_start": "2026-01-01"},
    ).respond_with_json(answer([("2026-09-01", "2.9", "2026-10-15"), ("2026-10-01", ".", "2026-11-13"),
                                ("2026-10-01", "3.1", "2026-11-13")], units="pc1"))  # fmt: skip
    rows = client(httpserver).observations(CPI, start=date(2026, 1, 1))
    assert [(row.observation_date, row.value, row.realtime_start) for row in rows] == [
        (date(2026, 9, 1), Decimal("2.9"), date(2026, 10, 15)),
        (date(2026, 10, 1), Decimal("3.1"), date(2026, 11, 13)),
    ]


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (
            400,
            {"error_code": 400, "error_message": "Bad Request.  The value for variable api_key is not registered."},
            SourceAuthError,
        ),
        (429, {"error_code": 429, "error_message": "Too Many Requests.  Exceeded Rate Limit"}, SourceRateLimited),
        (500, {"error_code": 500, "error_message": "Internal Server Error"}, SourceUnavailable),
        (200, {"count": 0}, SourceBadResponse),
        (
            200,
            {"observations": [{"date": "2026-10-01", "value": "n/a", "realtime_start": "2026-11-13"}]},
            SourceBadResponse,
        ),
    ],
)
def test_fred_errors_are_mapped(httpserver: HTTPServer, status: int, body: dict[str, object], error: type) -> None:
    httpserver.expect_request("/fred/series/observations").respond_with_json(body, status=status)
    with pytest.raises(error):
        client(httpserver).observations(UNRATE)


def test_collection_stores_each_vintage_once_and_reads_only_what_was_published(
    httpserver: HTTPServer, database: Database
) -> None:
    httpserver.expect_ordered_request("/fred/series/observations").respond_with_json(
        answer([("2026-09-01", "4.2", "2026-10-03"), ("2026-10-01", "4.4", "2026-11-06")])
    )
    httpserver.expect_ordered_request("/fred/series/observations").respond_with_json(
        # a month later: October revised to 4.3 (new vintage), November published
        answer([("2026-09-01", "4.2", "2026-10-03"), ("2026-10-01", "4.3", "2026-12-04"),
                ("2026-11-01", "4.5", "2026-12-04")])
    )  # fmt: skip
    first_fetch = datetime(2026, 11, 20, 9, tzinfo=UTC)
    report = collect_macro(database, client(httpserver), series=(UNRATE,), now=first_fetch)
    assert report.stored == {"UNRATE": 2} and not report.failed
    second = collect_macro(database, client(httpserver), series=(UNRATE,), now=datetime(2026, 12, 4, 15, tzinfo=UTC))
    assert second.stored == {"UNRATE": 2}  # the revision and November; September not again
    assert database.run(lambda s: s.query(MacroObservation).count()) == 4

    def event(session):
        session.add(
            CalendarEvent(
                source="fred",
                external_id="50:2027-01-08",
                title="Employment Situation",
                country="US",
                importance=CalendarImportance.HIGH,
                event_time=datetime(2027, 1, 8, 13, 30, tzinfo=UTC),
            )
        )

    database.run(event)
    before = database.run(lambda s: latest_macro(s, as_of=datetime(2026, 12, 3, tzinfo=UTC), series=(UNRATE,)))
    (value,) = before
    assert (value.value, value.observation_date.date()) == (Decimal("4.4"), date(2026, 10, 1))  # not the revision
    assert value.change == Decimal("0.2")
    assert value.published_at == datetime(2026, 11, 7, tzinfo=UTC)
    assert value.next_release is not None and value.next_release.title == "Employment Situation"
    after = database.run(lambda s: latest_macro(s, as_of=datetime(2026, 12, 5, tzinfo=UTC), series=(UNRATE,)))
    assert (after[0].value, after[0].previous) == (Decimal("4.5"), Decimal("4.3"))
    assert database.run(lambda s: latest_macro(s, as_of=datetime(2026, 10, 1, tzinfo=UTC), series=(UNRATE,))) == []


def test_a_failing_series_does_not_stop_the_others(httpserver: HTTPServer, database: Database) -> None:
    def handler(request: Request) -> Response:
        if request.args["series_id"] == "CPIAUCSL":
            body, status = {"error_code": 400, "error_message": "Bad Request.  The series does not exist."}, 400
        else:
            body, status = answer([("2026-10-01", "4.4", "2026-11-06")]), 200
        return Response(json.dumps(body), status=status, content_type="application/json")

    httpserver.expect_request("/fred/series/observations").respond_with_handler(handler)
    now = datetime(2026, 11, 20, tzinfo=UTC)
    report = collect_macro(database, client(httpserver), series=(CPI, UNRATE), now=now)
    assert "US_CPI_YOY" in report.failed and report.stored == {"UNRATE": 1}
    assert now - timedelta(days=30) < database.run(lambda s: latest_macro(s, as_of=now))[0].published_at <= now
