"""Reddit via praw (read-only, application-only OAuth): the newest submissions of chosen subreddits.

Subreddits come per instrument from the configuration; a subreddit dedicated to one instrument
(r/Bitcoin) tags its posts with that instrument, a general one (r/CryptoCurrency) relies on
the text. praw paces requests by Reddit's ``x-ratelimit-*`` headers and retries 5xx itself; we
add a client-side spacing and map its exceptions to the collector's error classes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import praw
import prawcore
import requests

from core.news.errors import SourceAuthError, SourceBadResponse, SourceError, SourceRateLimited, SourceUnavailable
from core.news.models import NewsKind
from core.news.sources.base import FetchContext, FetchResult, RawNewsItem
from core.retry import RateLimiter, retry_at_from_headers

logger = logging.getLogger(__name__)

GENERAL_SUBREDDITS = frozenset({"cryptocurrency", "cryptomarkets", "stocks", "investing", "wallstreetbets"})


@contextmanager
def reddit_errors(name: str) -> Iterator[None]:
    """Translate praw/prawcore exceptions into :mod:`core.news.errors`."""
    try:
        yield
    except prawcore.exceptions.TooManyRequests as error:
        raise SourceRateLimited(
            f"{name}: HTTP 429 (rate limited)", retry_at_from_headers(error.response.headers)
        ) from error
    except (prawcore.exceptions.OAuthException, prawcore.exceptions.InvalidToken) as error:
        raise SourceAuthError(f"{name}: credentials refused ({error})") from error
    except prawcore.exceptions.BadJSON as error:
        raise SourceBadResponse(f"{name}: answer is not JSON") from error
    except prawcore.exceptions.ServerError as error:
        raise SourceUnavailable(f"{name}: {error}") from error
    except prawcore.exceptions.ResponseException as error:
        status = error.response.status_code
        if status in (401, 403):
            raise SourceAuthError(f"{name}: HTTP {status} (credentials refused)") from error
        raise SourceError(f"{name}: HTTP {status}") from error
    except prawcore.exceptions.RequestException as error:
        raise SourceUnavailable(f"{name}: request failed ({type(error.original_exception).__name__})") from error
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise SourceBadResponse(f"{name}: unexpected answer ({type(error).__name__}: {error})") from error


class RedditSource:
    """Newest submissions of the configured subreddits."""

    name = "reddit"
    platform = "reddit"
    daily_call_budget: int | None = None

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        *,
        user_agent: str,
        oauth_url: str = "https://oauth.reddit.com",
        reddit_url: str = "https://www.reddit.com",
        interval_seconds: float = 600.0,
        timeout_seconds: float = 15.0,
        limit_per_subreddit: int = 50,
        rate_limiter: RateLimiter | None = None,
        session_factory: Callable[[], requests.Session] = requests.Session,
    ):
        self.interval_seconds = interval_seconds
        self.limit_per_subreddit = limit_per_subreddit
        self.rate_limiter = rate_limiter or RateLimiter(0.6, service="reddit")  # ~100 requests a minute
        self._reddit = praw.Reddit(
            client_id=client_id,
            client_secret=client_secret,
            user_agent=user_agent,
            oauth_url=oauth_url,
            reddit_url=reddit_url,
            check_for_updates=False,
            timeout=int(max(1, timeout_seconds)),
            requestor_kwargs={"session": session_factory()},
        )
        self._reddit.read_only = True

    def fetch(self, context: FetchContext) -> FetchResult:
        """Read ``/r/NAME/new`` of every configured subreddit back to ``context.since``."""
        subscribers: dict[str, list[str]] = {}
        for instrument in context.instruments:
            for subreddit in instrument.subreddits:
                subscribers.setdefault(subreddit, []).append(instrument.symbol)
        items: list[RawNewsItem] = []
        calls = 0
        for subreddit, symbols in subscribers.items():
            hints = tuple(symbols) if len(symbols) == 1 and subreddit.lower() not in GENERAL_SUBREDDITS else ()
            self.rate_limiter.acquire()
            calls += 1
            with reddit_errors(self.name):
                for submission in self._reddit.subreddit(subreddit).new(limit=self.limit_per_subreddit):
                    item = self._item(submission, subreddit, hints)
                    if item.published_at is not None and item.published_at < context.since:
                        break
                    items.append(item)
        return FetchResult(items=items, calls=calls)

    def _item(self, submission: Any, subreddit: str, hints: tuple[str, ...]) -> RawNewsItem:
        created = getattr(submission, "created_utc", None)
        published_at = datetime.fromtimestamp(float(created), tz=UTC) if created is not None else None
        permalink = getattr(submission, "permalink", None)
        author = getattr(submission, "author", None)
        is_self = bool(getattr(submission, "is_self", True))
        return RawNewsItem(
            source=self.name,
            source_id=str(submission.id),
            kind=NewsKind.POST,
            title=getattr(submission, "title", None),
            summary=getattr(submission, "selftext", None) or None,
            url=f"https://www.reddit.com{permalink}" if permalink else None,
            published_at=published_at,
            author=getattr(author, "name", None) if author is not None else None,
            publisher=f"r/{subreddit}",
            metrics={
                "score": int(getattr(submission, "score", 0) or 0),
                "comments": int(getattr(submission, "num_comments", 0) or 0),
                "upvote_ratio": getattr(submission, "upvote_ratio", None),
                "subreddit": subreddit,
                "link": None if is_self else getattr(submission, "url", None),
            },
            hint_symbols=hints,
        )
