from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pytest_httpserver import HTTPServer

from core.news.config import FeedConfig
from core.news.errors import SourceAuthError, SourceBadResponse, SourceRateLimited, SourceUnavailable
from core.news.http import HttpClient
from core.news.models import NewsKind
from core.news.sources.rss import RssSource
from tests.core.news.conftest import fetch_context

RSS = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>CoinDesk</title><link>https://www.coindesk.com</link>
<item><title>Bitcoin Climbs Above $70K</title><link>https://www.coindesk.com/markets/btc-70k/?utm_source=rss</link>
<guid isPermaLink="false">cd-123</guid><pubDate>Tue, 10 Mar 2026 09:30:00 +0000</pubDate>
<dc:creator xmlns:dc="http://purl.org/dc/elements/1.1/">Jane Doe</dc:creator>
<description>&lt;p&gt;Bitcoin rallied &lt;b&gt;5%&lt;/b&gt;.&lt;/p&gt;</description></item>
<item><title>No date here</title><link>https://www.coindesk.com/x</link></item>
</channel></rss>"""

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Markets</title>
<entry><title>Apple shares rise</title><link href="https://markets.example/apple"/><id>tag:markets,2026:1</id>
<updated>2026-03-10T08:00:00Z</updated><summary>Apple up.</summary></entry></feed>"""


def source(httpserver: HTTPServer, path: str = "/feed") -> RssSource:
    http = HttpClient("rss:test", timeout_seconds=2, attempts=2, backoff_seconds=0, sleep=lambda _s: None)
    return RssSource(FeedConfig("coindesk", httpserver.url_for(path)), http)


def test_rss_items_and_validators(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/feed").respond_with_data(
        RSS,
        content_type="application/rss+xml",
        headers={"ETag": '"v1"', "Last-Modified": "Tue, 10 Mar 2026 09:31:00 GMT"},
    )
    result = source(httpserver).fetch(fetch_context())
    assert result.etag == '"v1"' and result.last_modified == "Tue, 10 Mar 2026 09:31:00 GMT"
    first, second = result.items
    assert first.source == "rss:coindesk" and first.source_id == "cd-123" and first.kind is NewsKind.ARTICLE
    assert first.title == "Bitcoin Climbs Above $70K"
    assert first.published_at == datetime(2026, 3, 10, 9, 30, tzinfo=UTC)
    assert first.author == "Jane Doe" and first.publisher == "CoinDesk"
    assert "<b>5%</b>" in (first.summary or "")
    assert second.published_at is None  # quarantined later by the pipeline


def test_conditional_request_and_304(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/feed", headers={"If-None-Match": '"v1"'}).respond_with_data("", status=304)
    result = source(httpserver).fetch(fetch_context(etag='"v1"', last_modified="Tue, 10 Mar 2026 09:31:00 GMT"))
    assert result.not_modified and result.items == [] and result.etag == '"v1"'
    request = httpserver.log[0][0]
    assert request.headers["If-Modified-Since"] == "Tue, 10 Mar 2026 09:31:00 GMT"


def test_atom_feed(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/feed").respond_with_data(ATOM, content_type="application/atom+xml")
    (item,) = source(httpserver).fetch(fetch_context()).items
    assert item.url == "https://markets.example/apple" and item.source_id == "tag:markets,2026:1"


@pytest.mark.parametrize(
    ("status", "body", "headers", "error"),
    [
        (401, "unauthorized", {}, SourceAuthError),
        (429, "slow", {"Retry-After": "60"}, SourceRateLimited),
        (500, "boom", {}, SourceUnavailable),
        (200, "this is not xml {{{", {}, SourceBadResponse),
    ],
)
def test_error_answers(httpserver: HTTPServer, status: int, body: str, headers: dict[str, str], error: type) -> None:
    httpserver.expect_request("/feed").respond_with_data(body, status=status, headers=headers)
    with pytest.raises(error):
        source(httpserver).fetch(fetch_context())


def test_empty_answer_and_empty_feed(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/empty").respond_with_data("")
    httpserver.expect_request("/nothing").respond_with_data(
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'
    )
    assert source(httpserver, "/empty").fetch(fetch_context()).items == []
    assert source(httpserver, "/nothing").fetch(fetch_context()).items == []
