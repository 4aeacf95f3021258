"""One collection pass over every configured source: each on its own schedule, each failure contained.

For each source whose ``next_due_at`` has come: fetch (outside any transaction), then process
and store the items and update the source's state in one transaction. A source that fails is
recorded in ``news_source_states`` (status, error, when to try again) and the pass goes on with
the next source. Sources and their credentials are rebuilt from the database every pass, so a
change on the Settings page applies without restarting the worker.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db.engine import Database
from core.logging_setup import redact
from core.market.models import Instrument
from core.news.calendar import store_calendar_events
from core.news.config import (
    SECRET_NAMES,
    NewsConfig,
    load_news_config,
)
from core.news.errors import SourceAuthError, SourceRateLimited
from core.news.http import HttpClient
from core.news.models import NewsSourceState, SourceHealth
from core.news.pipeline import NewsProcessor
from core.news.queries import instrument_queries
from core.news.retention import apply_retention
from core.news.sentiment import SentimentScorer
from core.news.settings import NewsSettings
from core.news.sources.alphavantage import AlphaVantageNewsSource, next_utc_midnight
from core.news.sources.base import CalendarSource, FetchContext, FetchResult, InstrumentQuery, NewsSource
from core.news.sources.fred import FredCalendarSource
from core.news.sources.newsapi import NewsApiSource
from core.news.sources.reddit import RedditSource
from core.news.sources.rss import RssSource
from core.news.sources.x import XSource
from core.news.tagging import Tagger, build_taggable
from core.retry import RateLimiter, backoff_seconds
from core.security.secrets import SecretStore, SecretStoreError
from core.system.shutdown import shutdown_requested
from core.timeutil import utc_now

logger = logging.getLogger(__name__)

RETENTION_STATE = "maintenance:retention"
FAILURE_BACKOFF_SECONDS = 60.0
OVERLAP = timedelta(hours=1)

# Client-side spacing per provider (or per feed host), kept for the life of the process.
_RATE_LIMITERS: dict[str, RateLimiter] = {}
_MIN_INTERVALS = {"newsapi": 1.0, "alphavantage": 1.5, "fred": 0.6}


def rate_limiter_for(key: str, min_interval_seconds: float) -> RateLimiter:
    """Return the process-wide rate limiter of ``key`` (created on first use)."""
    limiter = _RATE_LIMITERS.get(key)
    if limiter is None or limiter.min_interval_seconds != min_interval_seconds:
        limiter = _RATE_LIMITERS[key] = RateLimiter(min_interval_seconds, service=key.split(":", 1)[0])
    return limiter


@dataclass
class BuiltSources:
    news: list[NewsSource] = field(default_factory=list)
    calendars: list[CalendarSource] = field(default_factory=list)
    clients: list[HttpClient] = field(default_factory=list)

    def close(self) -> None:
        for client in self.clients:
            client.close()


def build_tagger(session: Session, config: NewsConfig) -> Tagger:
    """Return a tagger over every instrument, with default and configured aliases."""
    rows = session.execute(select(Instrument.id, Instrument.symbol, Instrument.base, Instrument.name)).all()
    return Tagger(build_taggable([(row[0], row[1], row[2], row[3]) for row in rows], config.aliases))


def build_sources(
    session: Session, settings: NewsSettings, config: NewsConfig, secrets: SecretStore | None
) -> BuiltSources:
    """Build every enabled source: RSS from the feed list, the others when their credentials are stored."""
    built = BuiltSources()

    def client(name: str, limiter_key: str, min_interval: float) -> HttpClient:
        http = HttpClient(
            name,
            timeout_seconds=settings.http_timeout_seconds,
            attempts=settings.http_attempts,
            backoff_seconds=settings.http_backoff_seconds,
            rate_limiter=rate_limiter_for(limiter_key, min_interval),
            user_agent=settings.user_agent,
        )
        built.clients.append(http)
        return http

    for feed in config.feeds:
        if feed.enabled:
            host = urlsplit(feed.url).hostname or feed.name
            http = client(feed.source, f"rss:{host}", settings.rss_host_spacing_seconds)
            built.news.append(RssSource(feed, http, interval_seconds=settings.rss_interval_seconds))

    def secret(key: str) -> str | None:
        if secrets is None:
            return None
        try:
            return secrets.get(session, SECRET_NAMES[key])
        except SecretStoreError as error:
            logger.error("News: %s", error)
            return None

    if key := secret("newsapi_key"):
        built.news.append(
            NewsApiSource(
                key,
                client("newsapi", "newsapi", _MIN_INTERVALS["newsapi"]),
                base_url=settings.newsapi_base_url,
                interval_seconds=settings.newsapi_interval_seconds,
            )
        )
    if key := secret("alphavantage_key"):
        built.news.append(
            AlphaVantageNewsSource(
                key,
                client("alphavantage", "alphavantage", _MIN_INTERVALS["alphavantage"]),
                base_url=settings.alphavantage_base_url,
                interval_seconds=settings.alphavantage_interval_seconds,
                daily_call_budget=settings.alphavantage_daily_budget,
            )
        )
    client_id, client_secret = secret("reddit_client_id"), secret("reddit_client_secret")
    if client_id and client_secret:
        built.news.append(
            RedditSource(
                client_id,
                client_secret,
                user_agent=settings.user_agent,
                oauth_url=settings.reddit_oauth_url,
                reddit_url=settings.reddit_url,
                interval_seconds=settings.reddit_interval_seconds,
                timeout_seconds=settings.http_timeout_seconds,
                rate_limiter=rate_limiter_for("reddit", 0.6),
            )
        )
    if token := secret("x_bearer_token"):
        built.news.append(
            XSource(
                token,
                base_url=settings.x_base_url,
                interval_seconds=settings.x_interval_seconds,
                timeout_seconds=settings.http_timeout_seconds,
                attempts=settings.http_attempts,
                backoff_seconds=settings.http_backoff_seconds,
                rate_limiter=rate_limiter_for("x", 1.0),
            )
        )
    if key := secret("fred_key"):
        built.calendars.append(
            FredCalendarSource(
                key,
                client("fred", "fred", _MIN_INTERVALS["fred"]),
                base_url=settings.fred_base_url,
                interval_seconds=settings.calendar_interval_seconds,
            )
        )
    return built


def _state(session: Session, source: str, platform: str) -> NewsSourceState:
    state = session.get(NewsSourceState, source)
    if state is None:
        state = NewsSourceState(
            source=source,
            platform=platform,
            status=SourceHealth.OK,
            consecutive_failures=0,
            items_last_fetch=0,
            items_stored_total=0,
            budget_used=0,
        )
        session.add(state)
        session.flush()
    return state


def failure_backoff_seconds(consecutive_failures: int, interval_seconds: float, max_seconds: float) -> float:
    """Wait before trying a failing source again: 60 s doubled per failure in a row, capped.

    The cap is ``max_seconds`` or the source's own interval if that is longer, so a feed that
    cannot be reached is tried less and less often (1, 2, 4 ... minutes, then once an hour by
    default) instead of every interval, and is never dropped. The count lives in the source's
    state row, so the backoff survives worker restarts; a success resets it.
    """
    return backoff_seconds(
        consecutive_failures, base_seconds=FAILURE_BACKOFF_SECONDS, max_seconds=max(interval_seconds, max_seconds)
    )


def _is_due(state: NewsSourceState | None, now: datetime) -> bool:
    return state is None or state.next_due_at is None or state.next_due_at <= now


def _not_due(state: NewsSourceState | None) -> dict[str, Any]:
    next_due_at = state.next_due_at if state is not None else None
    return {"status": "not_due", "next_due_at": next_due_at.isoformat() if next_due_at else None}


class NewsCollector:
    """Runs collection passes (the news worker's ``run_pass``)."""

    def __init__(
        self,
        database: Database,
        settings: NewsSettings | None = None,
        *,
        secret_store_factory: Callable[[], SecretStore | None] | None = None,
        clock: Callable[[], datetime] = utc_now,
        scorer: SentimentScorer | None = None,
    ):
        self.database = database
        self.settings = settings or NewsSettings()
        self._secret_store_factory = secret_store_factory or _default_secret_store
        self._clock = clock
        self._scorer = scorer

    def run_pass(
        self,
        *,
        sources: Sequence[NewsSource] | None = None,
        calendars: Sequence[CalendarSource] | None = None,
    ) -> dict[str, Any]:
        """Run every due source once; return a summary for the heartbeat. Never raises for a source.

        A pass with nothing due costs one short read: the sources are built (their HTTP clients
        open a connection pool only on their first request), their states read in one query, and
        the tagger, the scorer and the processor are made only when a news source is due.
        """
        now = self._clock()
        outcomes: dict[str, dict[str, Any]] = {}
        with self.database.session() as session:
            config = load_news_config(session)
            built = (
                BuiltSources(news=list(sources), calendars=list(calendars or []))
                if sources is not None
                else build_sources(session, self.settings, config, self._secret_store_factory())
            )
            if calendars is not None:
                built.calendars = list(calendars)
            self._mark_unconfigured(session, {s.name for s in built.news} | {c.name for c in built.calendars})
            states = {state.source: state for state in session.scalars(select(NewsSourceState))}
            due_names: set[str] = set()
            for name in [source.name for source in built.news] + [calendar.name for calendar in built.calendars]:
                if _is_due(states.get(name), now):
                    due_names.add(name)
                else:
                    outcomes[name] = _not_due(states.get(name))
            queries = instrument_queries(session, config) if due_names else []
            news_due = any(source.name in due_names for source in built.news)
            tagger = build_tagger(session, config) if news_due else None
        processor = None
        if tagger is not None:
            scorer = self._scorer = self._scorer or SentimentScorer()
            processor = NewsProcessor(
                tagger,
                scorer,
                near_duplicate_threshold=self.settings.near_duplicate_threshold,
                near_duplicate_window=timedelta(hours=self.settings.near_duplicate_window_hours),
                future_tolerance=timedelta(seconds=self.settings.future_tolerance_seconds),
                now=now,
            )
        try:
            for source in built.news:
                if shutdown_requested():
                    break
                if source.name in due_names:
                    outcomes[source.name] = self._run_source(source, processor, queries, now)
            for calendar in built.calendars:
                if shutdown_requested():
                    break
                if calendar.name in due_names:
                    outcomes[calendar.name] = self._run_source(calendar, None, queries, now)
        finally:
            built.close()
        retention = self._run_retention(config, now)
        failing = sorted(name for name, outcome in outcomes.items() if outcome["status"] not in ("ok", "not_due"))
        return {
            "sources": outcomes,
            "stored": sum(int(outcome.get("stored", 0)) for outcome in outcomes.values()),
            "failing": failing,
            "retention": retention,
        }

    def _mark_unconfigured(self, session: Session, configured: set[str]) -> None:
        for state in session.scalars(select(NewsSourceState)):
            unconfigured = state.source not in configured and state.source != RETENTION_STATE
            if unconfigured and state.status is not SourceHealth.DISABLED:
                state.status = SourceHealth.DISABLED
                state.next_due_at = None

    def _run_source(
        self,
        source: NewsSource | CalendarSource,
        processor: NewsProcessor | None,
        queries: list[InstrumentQuery],
        now: datetime,
    ) -> dict[str, Any]:
        with self.database.session() as session:
            state = _state(session, source.name, source.platform)
            if not _is_due(state, now):
                return _not_due(state)
            budget = source.daily_call_budget
            today = now.date().isoformat()
            used = state.budget_used if state.budget_day == today else 0
            if budget is not None and used >= budget:
                state.status = SourceHealth.RATE_LIMITED
                state.next_due_at = next_utc_midnight(now)
                state.last_error = f"daily budget of {budget} calls spent"
                return {"status": "rate_limited", "error": state.last_error}
            since = state.last_success_at - OVERLAP if state.last_success_at else None
            context = FetchContext(
                now=now,
                since=since or now - timedelta(hours=self.settings.lookback_hours),
                instruments=queries,
                etag=state.etag,
                last_modified=state.last_modified,
                cursor=state.cursor,
            )
        try:
            if processor is None:
                events = source.fetch_events(context)  # type: ignore[union-attr]
                result = FetchResult(items=[], calls=1)
                with self.database.session() as session:
                    stored = store_calendar_events(session, events)
                    self._record_success(session, source, result, now, stored, len(events))
                return {"status": "ok", "stored": stored}
            result = source.fetch(context)  # type: ignore[union-attr]
            with self.database.session() as session:
                report = processor.process(session, result.items)
                self._record_success(session, source, result, now, report.stored, len(result.items))
            logger.info("News source %s: %s", source.name, report.as_dict())
            return {"status": "ok", **report.as_dict()}
        except Exception as error:  # a failing source is recorded and never stops the others
            return self._record_failure(source, error, now)

    def _record_success(
        self,
        session: Session,
        source: NewsSource | CalendarSource,
        result: FetchResult,
        now: datetime,
        stored: int,
        fetched: int,
    ) -> None:
        state = _state(session, source.name, source.platform)
        today = now.date().isoformat()
        if state.budget_day != today:
            state.budget_day, state.budget_used = today, 0
        state.budget_used += result.calls
        state.status = SourceHealth.OK
        state.etag = (result.etag or None) and result.etag[:300]
        state.last_modified = (result.last_modified or None) and result.last_modified[:100]
        state.cursor = (result.cursor or None) and result.cursor[:200]
        state.last_attempt_at = now
        state.last_success_at = now
        state.next_due_at = now + timedelta(seconds=source.interval_seconds)
        state.consecutive_failures = 0
        state.last_error = None
        state.items_last_fetch = fetched
        state.items_stored_total = (state.items_stored_total or 0) + stored

    def _record_failure(self, source: NewsSource | CalendarSource, error: Exception, now: datetime) -> dict[str, Any]:
        message = redact(f"{type(error).__name__}: {error}")[:2000]
        logger.error("News source %s failed: %s", source.name, message)

        def record(session: Session) -> dict[str, Any]:
            state = _state(session, source.name, source.platform)
            state.last_attempt_at = now
            state.last_error = message
            state.last_error_at = now
            state.consecutive_failures = (state.consecutive_failures or 0) + 1
            if isinstance(error, SourceRateLimited):
                state.status = SourceHealth.RATE_LIMITED
                retry_at = error.retry_at or now + timedelta(seconds=source.interval_seconds)
                state.next_due_at = max(retry_at, now + timedelta(seconds=FAILURE_BACKOFF_SECONDS))
                if source.daily_call_budget is not None and retry_at >= next_utc_midnight(now):
                    state.budget_day, state.budget_used = now.date().isoformat(), source.daily_call_budget
            elif isinstance(error, SourceAuthError):
                state.status = SourceHealth.AUTH_FAILED
                state.next_due_at = now + timedelta(seconds=source.interval_seconds)
            else:
                state.status = SourceHealth.FAILING
                state.next_due_at = now + timedelta(
                    seconds=failure_backoff_seconds(
                        state.consecutive_failures,
                        source.interval_seconds,
                        self.settings.failure_backoff_max_seconds,
                    )
                )
            return {"status": state.status.value, "error": message}

        try:
            return self.database.run(record)
        except Exception as database_error:  # the failure record itself failed: report, keep going
            logger.error("News source %s: state not recorded: %s", source.name, database_error)
            return {"status": SourceHealth.FAILING.value, "error": message}

    def _run_retention(self, config: NewsConfig, now: datetime) -> dict[str, int] | None:
        try:
            with self.database.session() as session:
                state = _state(session, RETENTION_STATE, "maintenance")
                if not _is_due(state, now):
                    return None
                deleted = apply_retention(session, config.retention_days, now=now)
                state.status = SourceHealth.OK
                state.last_attempt_at = state.last_success_at = now
                state.next_due_at = now + timedelta(seconds=self.settings.retention_interval_seconds)
                state.last_error = None
                return deleted
        except Exception as error:
            message = f"{type(error).__name__}: {error}"
            logger.error("News retention failed: %s", message)
            self.database.run(lambda session: _retention_failed(session, now, message))
            return None


def _retention_failed(session: Session, now: datetime, message: str) -> None:
    state = _state(session, RETENTION_STATE, "maintenance")
    state.status = SourceHealth.FAILING
    state.last_attempt_at = state.last_error_at = now
    state.last_error = message[:2000]
    state.next_due_at = now + timedelta(seconds=FAILURE_BACKOFF_SECONDS)


def _default_secret_store() -> SecretStore | None:
    try:
        return SecretStore()
    except Exception as error:  # no key file can be created: run with RSS only
        logger.warning("News: secret store unavailable (%s); sources that need keys are off", error)
        return None
