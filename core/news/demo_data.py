"""Demo news: a deterministic month of articles and posts per demo instrument, plus calendar events.

Headlines follow the synthetic market: on a day the demo price rose, most headlines are upbeat,
on a falling day gloomy (with a share of contrarian and neutral ones). Items run through the
real pipeline (tagging, VADER + crypto lexicon, influence, dedupe, hourly aggregates), flagged
``is_demo``. Ids derive from the hour and position, so seeding again stores nothing twice and
seeding later only adds the new hours.
"""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from core.demo.state import DemoContext
from core.news.calendar import store_calendar_events
from core.news.collector import build_tagger
from core.news.config import load_news_config
from core.news.models import CalendarImportance, NewsKind
from core.news.pipeline import NewsProcessor
from core.news.sources.base import RawCalendarEvent, RawNewsItem

ORDER = 20
DEMO_NEWS_DAYS = 30

_NAMES = {
    "BTC/EUR": ("Bitcoin", "BTC"),
    "ETH/EUR": ("Ethereum", "ETH"),
    "SOL/EUR": ("Solana", "SOL"),
    "AAPL": ("Apple", "AAPL"),
}
_PUBLISHERS = ("CoinDesk", "Reuters", "Decrypt", "The Block", "Bloomberg", "MarketWatch", "Crypto Daily", "FinanceFeed")
_SUBREDDITS = {"BTC/EUR": "Bitcoin", "ETH/EUR": "ethereum", "SOL/EUR": "solana", "AAPL": "stocks"}

_BULLISH_HEADLINES = (
    "{name} rallies {pct}% as buyers return to the market",
    "{name} surges past key resistance, analysts turn bullish",
    "Inflows into {name} funds hit a monthly record",
    "{name} gains {pct}% on strong demand from institutions",
    "Traders pile into {ticker} as momentum builds",
    "{name} breakout: analysts see room for further gains",
)
_BEARISH_HEADLINES = (
    "{name} slides {pct}% as sellers take control",
    "{name} tumbles amid fears of tighter regulation",
    "Liquidations mount as {ticker} plunges below support",
    "{name} drops {pct}%, investors brace for more losses",
    "Outflows from {name} products raise concern among traders",
    "{name} slump deepens as risk appetite fades",
)
_NEUTRAL_HEADLINES = (
    "{name} trades sideways ahead of key economic data",
    "What to watch for {name} this week",
    "{name} holds steady as volumes stay thin",
    "Explainer: how {ticker} reacts to interest rate decisions",
)
_BULLISH_POSTS = (
    "{cashtag} looking strong today, HODL and enjoy the ride",
    "Just added more {cashtag}. This breakout is real, bullish!",
    "{name} to the moon? Chart looks great",
    "Told you so. {cashtag} up {pct}% and still climbing",
    "Accumulating {name} on every small dip, wagmi",
)
_BEARISH_POSTS = (
    "{cashtag} dumping again, got rekt on my long",
    "Not feeling good about {name} right now, bearish until support holds",
    "{name} down {pct}%... this is painful",
    "Sold my {cashtag}. Too much FUD and the trend is broken",
    "Another red day for {name}. Bagholders everywhere",
)
_NEUTRAL_POSTS = (
    "Anyone have a view on {cashtag} into the weekend?",
    "Daily discussion: where is {name} heading next?",
    "Question: how do you size a {cashtag} position?",
)


def _rng(*parts: object) -> random.Random:
    seed = hashlib.sha256("|".join(str(part) for part in parts).encode()).digest()
    return random.Random(int.from_bytes(seed[:8], "big"))


def _daily_returns(context: DemoContext, symbol: str) -> dict[date, float]:
    frame = context.candles.get(symbol)
    if frame is None or frame.empty:
        return {}
    closes = frame.set_index("ts")["close"].resample("1D").last().dropna()
    returns = closes.pct_change().dropna()
    return {timestamp.date(): float(value) for timestamp, value in returns.items()}


def _without_tiny_moves(pool: tuple[str, ...], daily_return: float) -> tuple[str, ...]:
    """Leave out templates quoting the day's move when it is too small to quote."""
    if abs(daily_return) >= 0.005:
        return pool
    return tuple(template for template in pool if "{pct}" not in template) or pool


def _tone(rng: random.Random, daily_return: float) -> str:
    lean = max(-0.8, min(0.8, daily_return * 40))  # ±2 % a day → a strong lean
    roll = rng.random()
    if roll < 0.2:
        return "neutral"
    return "bullish" if rng.uniform(-1, 1) < lean + 0.05 else "bearish"


def demo_news_items(context: DemoContext) -> list[RawNewsItem]:
    """Return the demo articles and posts for the last :data:`DEMO_NEWS_DAYS` days before ``context.now``."""
    items: list[RawNewsItem] = []
    start_day = (context.now - timedelta(days=DEMO_NEWS_DAYS)).date()
    for symbol in context.instruments:
        if symbol not in _NAMES:
            continue
        name, ticker = _NAMES[symbol]
        returns = _daily_returns(context, symbol)
        for offset in range(DEMO_NEWS_DAYS + 1):
            day = start_day + timedelta(days=offset)
            daily_return = returns.get(day, 0.0)
            rng = _rng("news", symbol, day.isoformat())
            article_count = rng.randint(2, 5) + (2 if abs(daily_return) > 0.03 else 0)
            post_count = rng.randint(4, 9) + (4 if abs(daily_return) > 0.03 else 0)
            fill = {
                "name": name,
                "ticker": ticker,
                "cashtag": f"${ticker}",
                "pct": f"{abs(daily_return) * 100:.1f}",
            }
            for position in range(article_count + post_count):
                published = datetime.combine(day, time(0), tzinfo=UTC) + timedelta(minutes=rng.randrange(24 * 60))
                if published > context.now:
                    continue
                tone = _tone(rng, daily_return)
                is_article = position < article_count
                key = f"{symbol.replace('/', '-')}-{published:%Y%m%d%H%M}-{position}"
                if is_article:
                    pool = {"bullish": _BULLISH_HEADLINES, "bearish": _BEARISH_HEADLINES}.get(tone, _NEUTRAL_HEADLINES)
                    title = rng.choice(_without_tiny_moves(pool, daily_return)).format(**fill)
                    publisher = rng.choice(_PUBLISHERS)
                    items.append(
                        RawNewsItem(
                            source="rss:demo-wire",
                            source_id=f"demo-article-{key}",
                            kind=NewsKind.ARTICLE,
                            title=title,
                            summary=f"{title}. Synthetic demo article about {name}, generated offline.",
                            url=f"https://demo.konsens.invalid/news/{key}",
                            published_at=published,
                            author="Demo desk",
                            publisher=publisher,
                            is_demo=True,
                        )
                    )
                    continue
                post_pool = {"bullish": _BULLISH_POSTS, "bearish": _BEARISH_POSTS}.get(tone, _NEUTRAL_POSTS)
                text = rng.choice(_without_tiny_moves(post_pool, daily_return)).format(**fill)
                if rng.random() < 0.5:
                    subreddit = _SUBREDDITS[symbol]
                    items.append(
                        RawNewsItem(
                            source="reddit:demo",
                            source_id=f"demo-reddit-{key}",
                            kind=NewsKind.POST,
                            title=text,
                            summary=None,
                            url=f"https://demo.konsens.invalid/r/{subreddit}/{key}",
                            published_at=published,
                            author=f"demo_user_{rng.randint(1, 400)}",
                            publisher=f"r/{subreddit}",
                            metrics={"score": int(rng.paretovariate(1.2) * 5), "comments": rng.randint(0, 300)},
                            is_demo=True,
                        )
                    )
                else:
                    items.append(
                        RawNewsItem(
                            source="x:demo",
                            source_id=f"demo-x-{key}",
                            kind=NewsKind.POST,
                            title=text,
                            summary=None,
                            url=f"https://demo.konsens.invalid/x/{key}",
                            published_at=published,
                            author=f"@demo_trader_{rng.randint(1, 400)}",
                            publisher="X",
                            metrics={
                                "followers": int(rng.paretovariate(0.9) * 150),
                                "likes": rng.randint(0, 800),
                                "retweets": rng.randint(0, 120),
                                "replies": rng.randint(0, 60),
                                "quotes": rng.randint(0, 20),
                            },
                            is_demo=True,
                        )
                    )
    return items


def _at(day: date, hour: int, minute: int, zone: str) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=ZoneInfo(zone)).astimezone(UTC)


def demo_calendar_events(now: datetime, *, days_back: int = 30, days_ahead: int = 21) -> list[RawCalendarEvent]:
    """Return a plausible schedule of market-moving releases around ``now`` (deterministic by date)."""
    events: list[RawCalendarEvent] = []
    first = (now - timedelta(days=days_back)).date()
    last = (now + timedelta(days=days_ahead)).date()
    day = first
    while day <= last:
        weekday = day.weekday()
        rules: list[tuple[str, str, CalendarImportance, datetime, str, str]] = []
        if weekday == 3:
            rules.append(
                (
                    "claims",
                    "US initial jobless claims",
                    CalendarImportance.MEDIUM,
                    _at(day, 8, 30, "America/New_York"),
                    "US",
                    "labour",
                )
            )
        if weekday == 4 and day.day <= 7:
            rules.append(
                (
                    "nfp",
                    "US employment situation (non-farm payrolls)",
                    CalendarImportance.HIGH,
                    _at(day, 8, 30, "America/New_York"),
                    "US",
                    "labour",
                )
            )
        if day.day == 12 or (weekday == 0 and day.day in (13, 14)):
            rules.append(
                (
                    "cpi",
                    "US consumer price index",
                    CalendarImportance.HIGH,
                    _at(day, 8, 30, "America/New_York"),
                    "US",
                    "inflation",
                )
            )
        if day.day == 16 and weekday < 5:
            rules.append(
                (
                    "retail",
                    "US retail sales",
                    CalendarImportance.MEDIUM,
                    _at(day, 8, 30, "America/New_York"),
                    "US",
                    "consumption",
                )
            )
        if weekday == 2 and 15 <= day.day <= 21:
            rules.append(
                (
                    "fomc",
                    "FOMC rate decision and statement",
                    CalendarImportance.HIGH,
                    _at(day, 14, 0, "America/New_York"),
                    "US",
                    "central bank",
                )
            )
        if weekday == 3 and 8 <= day.day <= 14:
            rules.append(
                (
                    "ecb",
                    "ECB monetary policy decision",
                    CalendarImportance.HIGH,
                    _at(day, 14, 15, "Europe/Berlin"),
                    "EA",
                    "central bank",
                )
            )
        if (
            weekday < 5
            and day.day in (1, 2, 3)
            and not any(e.external_id.startswith("hicp:") and e.event_time.month == day.month for e in events)
        ):
            rules.append(
                (
                    "hicp",
                    "Euro area flash HICP inflation",
                    CalendarImportance.MEDIUM,
                    _at(day, 11, 0, "Europe/Vienna"),
                    "EA",
                    "inflation",
                )
            )
        if weekday == 3 and day.day >= 24:
            rules.append(
                ("gdp", "US GDP estimate", CalendarImportance.HIGH, _at(day, 8, 30, "America/New_York"), "US", "growth")
            )
        for code, title, importance, when, country, category in rules:
            events.append(
                RawCalendarEvent(
                    source="demo",
                    external_id=f"{code}:{day.isoformat()}",
                    event_time=when,
                    title=title,
                    country=country,
                    importance=importance,
                    category=category,
                    is_demo=True,
                )
            )
        day += timedelta(days=1)
    return events


def seed_demo_data(session: Session, context: DemoContext) -> None:
    """Seed demo news, posts, hourly aggregates and calendar events (idempotent)."""
    config = load_news_config(session)
    processor = NewsProcessor(build_tagger(session, config), now=context.now + timedelta(minutes=1))
    processor.process(session, demo_news_items(context))
    store_calendar_events(session, demo_calendar_events(context.now))
