from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from pytest_httpserver import HTTPServer

from core.news.errors import SourceAuthError, SourceBadResponse, SourceRateLimited, SourceUnavailable
from core.news.models import NewsKind
from core.news.sources.reddit import RedditSource
from core.news.sources.x import XSource, build_query
from core.retry import RateLimiter
from tests.core.news.conftest import NOW, fetch_context

TOKEN = {"access_token": "token-abc", "token_type": "bearer", "expires_in": 86400, "scope": "*"}


def submission(identifier: str, title: str, created: datetime, **extra: object) -> dict[str, object]:
    data = {
        "id": identifier,
        "name": f"t3_{identifier}",
        "title": title,
        "selftext": "Body text",
        "author": "satoshi",
        "created_utc": created.timestamp(),
        "permalink": f"/r/Bitcoin/comments/{identifier}/slug/",
        "url": f"https://www.reddit.com/r/Bitcoin/comments/{identifier}/slug/",
        "score": 420,
        "num_comments": 69,
        "upvote_ratio": 0.93,
        "is_self": True,
        "subreddit": "Bitcoin",
        "over_18": False,
    }
    data.update(extra)
    return {"kind": "t3", "data": data}


def listing(*children: dict[str, object]) -> dict[str, object]:
    return {
        "kind": "Listing",
        "data": {"after": None, "dist": len(children), "children": list(children), "before": None},
    }


def reddit(httpserver: HTTPServer) -> RedditSource:
    base = httpserver.url_for("").rstrip("/")
    return RedditSource(
        "client",
        "secret",
        user_agent="konsens-test/1.0 by tester",
        oauth_url=base,
        reddit_url=base,
        rate_limiter=RateLimiter(0),
        limit_per_subreddit=25,
    )


def reddit_context() -> object:
    from core.news.sources.base import InstrumentQuery

    return fetch_context(instruments=[InstrumentQuery("BTC/EUR", "BTC", ("Bitcoin",), ("Bitcoin",), True)])


def test_reddit_new_posts_until_since(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/v1/access_token", method="POST").respond_with_json(TOKEN)
    old = datetime(2026, 3, 1, tzinfo=UTC)
    httpserver.expect_request("/r/Bitcoin/new", method="GET").respond_with_json(
        listing(submission("abc", "HODL strong", datetime(2026, 3, 10, 11, tzinfo=UTC)), submission("old", "old", old))
    )
    result = reddit(httpserver).fetch(reddit_context())  # type: ignore[arg-type]
    (item,) = result.items
    assert (item.source, item.source_id, item.kind) == ("reddit", "abc", NewsKind.POST)
    assert item.url == "https://www.reddit.com/r/Bitcoin/comments/abc/slug/"
    assert item.published_at == datetime(2026, 3, 10, 11, tzinfo=UTC)
    assert item.metrics == {"score": 420, "comments": 69, "upvote_ratio": 0.93, "subreddit": "Bitcoin", "link": None}
    assert item.hint_symbols == ("BTC/EUR",) and item.author == "satoshi"
    token_request = httpserver.log[0][0]
    assert token_request.headers["Authorization"].startswith("Basic ")
    assert httpserver.log[1][0].headers["Authorization"] == "bearer token-abc"


def test_reddit_empty_listing(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/v1/access_token").respond_with_json(TOKEN)
    httpserver.expect_request("/r/Bitcoin/new").respond_with_json(listing())
    assert reddit(httpserver).fetch(reddit_context()).items == []  # type: ignore[arg-type]


def test_reddit_token_refused(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/v1/access_token").respond_with_json({"error": "invalid_grant"}, status=401)
    with pytest.raises(SourceAuthError):
        reddit(httpserver).fetch(reddit_context())  # type: ignore[arg-type]


def test_reddit_429_with_reset_header(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/v1/access_token").respond_with_json(TOKEN)
    httpserver.expect_request("/r/Bitcoin/new").respond_with_data(
        "Too Many Requests",
        status=429,
        headers={"x-ratelimit-reset": "120", "x-ratelimit-remaining": "0", "x-ratelimit-used": "100"},
    )
    with pytest.raises(SourceRateLimited) as caught:
        reddit(httpserver).fetch(reddit_context())  # type: ignore[arg-type]
    assert caught.value.retry_at is not None


def test_reddit_garbage(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/v1/access_token").respond_with_json(TOKEN)
    httpserver.expect_request("/r/Bitcoin/new").respond_with_data("<html>oops</html>", content_type="application/json")
    with pytest.raises(SourceBadResponse):
        reddit(httpserver).fetch(reddit_context())  # type: ignore[arg-type]


@pytest.mark.slow
def test_reddit_server_error_after_prawcore_retries(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/v1/access_token").respond_with_json(TOKEN)
    httpserver.expect_request("/r/Bitcoin/new").respond_with_data("boom", status=500)
    with pytest.raises(SourceUnavailable):
        reddit(httpserver).fetch(reddit_context())  # type: ignore[arg-type]


# --- X -------------------------------------------------------------------------------------------

X_OK = {
    "data": [
        {
            "id": "1766000000000000001",
            "text": "$BTC to the moon",
            "author_id": "42",
            "created_at": "2026-03-10T11:30:00.000Z",
            "lang": "en",
            "edit_history_tweet_ids": ["1766000000000000001"],
            "public_metrics": {
                "retweet_count": 5,
                "reply_count": 4,
                "like_count": 10,
                "quote_count": 1,
                "bookmark_count": 0,
                "impression_count": 900,
            },
        },
    ],
    "includes": {
        "users": [
            {
                "id": "42",
                "name": "Trader Joe",
                "username": "traderjoe",
                "public_metrics": {
                    "followers_count": 999,
                    "following_count": 10,
                    "tweet_count": 5,
                    "listed_count": 0,
                    "like_count": 3,
                },
            }
        ]
    },
    "meta": {"newest_id": "1766000000000000001", "oldest_id": "1766000000000000001", "result_count": 1},
}


def x_source(httpserver: HTTPServer) -> XSource:
    return XSource(
        "BEARER",
        base_url=httpserver.url_for("").rstrip("/"),
        attempts=2,
        backoff_seconds=0,
        rate_limiter=RateLimiter(0),
        sleep=lambda _s: None,
    )


def test_x_search_recent(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/2/tweets/search/recent", headers={"Authorization": "Bearer BEARER"}).respond_with_json(
        X_OK
    )
    result = x_source(httpserver).fetch(fetch_context())
    (item,) = result.items
    assert result.cursor == "1766000000000000001"
    assert (item.source, item.kind, item.title) == ("x", NewsKind.POST, "$BTC to the moon")
    assert item.url == "https://x.com/traderjoe/status/1766000000000000001" and item.author == "@traderjoe"
    assert item.published_at == datetime(2026, 3, 10, 11, 30, tzinfo=UTC)
    assert item.metrics == {"followers": 999, "likes": 10, "retweets": 5, "replies": 4, "quotes": 1}
    arguments = httpserver.log[0][0].args
    assert arguments["query"] == build_query(fetch_context())
    assert arguments["start_time"] == "2026-03-08T12:00:00Z"
    assert arguments["expansions"] == "author_id"


def test_x_uses_since_id_when_it_has_a_cursor(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/2/tweets/search/recent").respond_with_json({"meta": {"result_count": 0}})
    result = x_source(httpserver).fetch(fetch_context(cursor="1765"))
    assert result.items == [] and result.cursor == "1765"
    assert httpserver.log[0][0].args["since_id"] == "1765"


def test_x_query_format() -> None:
    assert build_query(fetch_context()) == "($BTC OR Bitcoin OR $AAPL OR Apple) -is:retweet"


@pytest.mark.parametrize(
    ("status", "body", "headers", "error", "requests"),
    [
        (
            401,
            {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"},
            {},
            SourceAuthError,
            1,
        ),
        (
            429,
            {"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank", "status": 429},
            {"x-rate-limit-reset": str(int(NOW.timestamp()) + 600), "x-rate-limit-remaining": "0"},
            SourceRateLimited,
            1,
        ),
        (503, {"title": "Service Unavailable"}, {}, SourceUnavailable, 2),
    ],
)
def test_x_errors(
    httpserver: HTTPServer, status: int, body: dict[str, object], headers: dict[str, str], error: type, requests: int
) -> None:
    httpserver.expect_request("/2/tweets/search/recent").respond_with_json(body, status=status, headers=headers)
    with pytest.raises(error) as caught:
        x_source(httpserver).fetch(fetch_context())
    assert len(httpserver.log) == requests
    if status == 429:
        assert isinstance(caught.value, SourceRateLimited)
        assert caught.value.retry_at == datetime.fromtimestamp(int(NOW.timestamp()) + 600, tz=UTC)


def test_x_garbage(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/2/tweets/search/recent").respond_with_data("not json at all")
    with pytest.raises(SourceBadResponse):
        x_source(httpserver).fetch(fetch_context())


def test_x_garbage_shape(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/2/tweets/search/recent").respond_with_data(json.dumps({"data": "nonsense"}))
    with pytest.raises(SourceBadResponse):
        x_source(httpserver).fetch(fetch_context())
