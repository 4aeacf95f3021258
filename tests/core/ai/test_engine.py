"""The consensus run: concurrent fan-out, deadline, cache, budget, storage."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from core.ai.builtin import SentimentAnalyst, TechnicalAnalyst
from core.ai.config import CallLimits, ConsensusParameters, load_ai_config
from core.ai.context import ContextSnapshot, NotEnoughData, build_snapshot
from core.ai.engine import ConsensusEngine, OpinionCache, analyse_instrument, calls_today, store_run
from core.ai.llm import CallBudget, OpenAICompatibleAnalyst
from core.ai.models import AnalystOpinion, ConsensusRecord, Signal
from core.ai.opinion import Analyst
from core.db.engine import Database
from core.market.models import AssetClass, Instrument
from core.news.models import NewsItem, NewsItemInstrument, NewsKind
from tests.core.ai.conftest import OPINION_FIELDS, SUMMARY_FIELDS, seed_market
from tests.core.ai.fake_llm import FakeLLMServer, Reply, openai_completion

PARAMETERS = ConsensusParameters(quorum=2, agreement_threshold=0.6, decision_threshold=0.15)


def llm(
    name: str, server: FakeLLMServer, limits: CallLimits, budget: CallBudget | None = None
) -> OpenAICompatibleAnalyst:
    return OpenAICompatibleAnalyst(
        name,
        f"model-{name}",
        limits,
        base_url=server.url,
        api_key="k",
        provider=f"openai_compatible:{name}",
        budget=budget,
    )


def test_analysts_run_concurrently(snapshot: ContextSnapshot, fast_limits: CallLimits) -> None:
    limits = CallLimits(timeout_seconds=3, max_attempts=1, retry_base_seconds=0, content_retries=0)
    with (
        FakeLLMServer([Reply(body=openai_completion(), delay=0.4)]) as first,
        FakeLLMServer([Reply(body=openai_completion(), delay=0.4)]) as second,
        FakeLLMServer([Reply(body=openai_completion(), delay=0.4)]) as third,
    ):
        analysts = [llm("a", first, limits), llm("b", second, limits), llm("c", third, limits)]
        ConsensusEngine(analysts, PARAMETERS).run(snapshot.model_copy(update={"symbol": "WARM"}))  # warm up
        started = time.perf_counter()
        run = ConsensusEngine(analysts, PARAMETERS).run(snapshot)
        elapsed = time.perf_counter() - started
    assert [result.ok for result in run.results] == [True, True, True]
    assert min(result.latency_ms for result in run.results) >= 400
    assert elapsed < 1.0  # one after the other would take at least 1.2 s
    assert run.outcome.decision is Signal.BUY


def test_a_slow_analyst_is_cut_off_at_the_deadline(snapshot: ContextSnapshot) -> None:
    limits = CallLimits(timeout_seconds=5, max_attempts=1, retry_base_seconds=0, content_retries=0)
    with FakeLLMServer([Reply(body=openai_completion(), delay=3.0)]) as slow:
        analysts: list[Analyst] = [TechnicalAnalyst(), SentimentAnalyst(), llm("slow", slow, limits)]
        started = time.perf_counter()
        run = ConsensusEngine(analysts, PARAMETERS, deadline_seconds=0.3).run(snapshot)
        elapsed = time.perf_counter() - started
    assert elapsed < 2.0  # well before the answer (3 s), with room for a loaded machine past the 0.3 s deadline
    slow_result = run.results[2]
    assert not slow_result.ok and slow_result.error == "no answer within 0.3 s"
    assert run.outcome.failures == {"slow": "no answer within 0.3 s"}
    assert run.outcome.valid_opinions == 2


def test_a_crashing_analyst_is_recorded_not_raised(snapshot: ContextSnapshot) -> None:
    class Broken:
        name, provider, model = "broken", "builtin", "v0"

        def analyse(self, snapshot: ContextSnapshot) -> object:
            raise RuntimeError("boom")

    run = ConsensusEngine([TechnicalAnalyst(), Broken()], PARAMETERS).run(snapshot)  # type: ignore[list-item]
    assert run.outcome.failures == {"broken": "crashed: RuntimeError: boom"}
    assert run.outcome.flagged  # 1 valid opinion, quorum 2


def test_unchanged_snapshot_is_answered_from_the_cache(snapshot: ContextSnapshot, fast_limits: CallLimits) -> None:
    with FakeLLMServer([Reply(body=openai_completion())]) as server:
        cache = OpinionCache()
        engine = ConsensusEngine([llm("a", server, fast_limits), TechnicalAnalyst()], PARAMETERS, cache=cache)
        first = engine.run(snapshot)
        second = engine.run(snapshot)
        assert len(server.requests) == 1  # the repeat cost no LLM call
    assert [result.cached for result in first.results] == [False, False]
    assert [result.cached for result in second.results] == [True, True]
    assert second.results[0].attempts == 0 and second.results[0].cost_usd == Decimal(0)
    assert second.outcome == first.outcome


def test_failures_are_not_cached(snapshot: ContextSnapshot, fast_limits: CallLimits) -> None:
    with FakeLLMServer(
        [Reply(status=401, body={"error": {"message": "bad key"}}), Reply(body=openai_completion())]
    ) as server:
        engine = ConsensusEngine([llm("a", server, fast_limits)], PARAMETERS, cache=OpinionCache())
        assert not engine.run(snapshot).results[0].ok
        assert engine.run(snapshot).results[0].ok
        assert len(server.requests) == 2


def _seed_with_news(database: Database) -> int:
    with database.session() as session:
        instrument = seed_market(session)
        item = NewsItem(
            source="demo",
            source_id="n1",
            kind=NewsKind.ARTICLE,
            title="Bitcoin rallies as investors cheer strong, excellent ETF inflows",
            summary="Great gains and optimism across crypto markets.",
            url="https://example.invalid/1",
            canonical_url="https://example.invalid/1",
            published_at=datetime(2025, 5, 31, 20, tzinfo=UTC),
            sentiment=None,
            influence=0.5,
        )
        session.add(item)
        session.flush()
        session.add(NewsItemInstrument(news_item_id=item.id, instrument_id=instrument.id, matched="Bitcoin"))
        return instrument.id


def test_analyse_instrument_stores_consensus_and_opinions(database: Database, fast_limits: CallLimits) -> None:
    instrument_id = _seed_with_news(database)
    cache = OpinionCache(database)
    with FakeLLMServer([Reply(body=openai_completion(reasoning="r"))]) as server:
        analysts: list[Analyst] = [
            TechnicalAnalyst(),
            SentimentAnalyst(lookback_hours=72),
            llm("x", server, fast_limits),
        ]
        summary = analyse_instrument(
            database, instrument_id, analysts=analysts, cache=cache, now=datetime(2025, 6, 1, 0, 30, tzinfo=UTC)
        )
    with database.session() as session:
        record = session.get(ConsensusRecord, summary.consensus_id)
        assert record is not None
        opinions = list(session.scalars(select(AnalystOpinion).where(AnalystOpinion.consensus_id == record.id)))
        assert record.decision is summary.run.outcome.decision
        assert record.as_of == datetime(2025, 6, 1, tzinfo=UTC)
        assert record.context_hash == summary.run.snapshot.context_hash
        assert record.valid_opinions == 3 and record.failed_opinions == 0
        assert {opinion.analyst for opinion in opinions} == {"technical", "sentiment", "x"}
        by_name = {opinion.analyst: opinion for opinion in opinions}
        assert by_name["x"].prompt and by_name["x"].reasoning == "r" and by_name["x"].prompt_tokens == 812
        assert by_name["x"].context_hash == record.context_hash
        # the news item had no stored sentiment: the sentiment analyst scored it with VADER itself
        assert by_name["sentiment"].signal is Signal.BUY
        assert "1 scored here with VADER" in (by_name["sentiment"].rationale or "")
        assert calls_today(session, datetime(2025, 6, 1, 12, tzinfo=UTC)) == {"builtin": 0, "openai_compatible:x": 1}
    payload = summary.as_json()
    assert set(payload) == SUMMARY_FIELDS
    assert set(payload["opinions"][0]) == OPINION_FIELDS


def test_cache_survives_the_process_through_the_database(sqlite_database: Database, fast_limits: CallLimits) -> None:
    instrument_id = _seed_with_news(sqlite_database)
    with FakeLLMServer([Reply(body=openai_completion())]) as server:
        analyse_instrument(
            sqlite_database,
            instrument_id,
            analysts=[llm("x", server, fast_limits)],
            cache=OpinionCache(sqlite_database),
        )
        again = analyse_instrument(
            sqlite_database,
            instrument_id,
            analysts=[llm("x", server, fast_limits)],
            cache=OpinionCache(sqlite_database),
        )  # a fresh cache: only the table knows
        assert len(server.requests) == 1
    assert again.run.results[0].cached


def test_daily_budget_counts_stored_calls(sqlite_database: Database, fast_limits: CallLimits) -> None:
    instrument_id = _seed_with_news(sqlite_database)
    now = datetime(2025, 6, 1, 10, tzinfo=UTC)
    with FakeLLMServer(
        [
            Reply(status=429, body={"error": {"message": "slow down"}}, headers={"Retry-After": "0"}),
            Reply(body=openai_completion()),
        ]
    ) as server:
        analyse_instrument(
            sqlite_database, instrument_id, analysts=[llm("x", server, fast_limits)], cache=OpinionCache(), now=now
        )
    with sqlite_database.session() as session:
        used = calls_today(session, now)
    assert used["openai_compatible:x"] == 2  # the 429 and the retry both count
    budget = CallBudget({"openai_compatible:x": 2}, used)
    with sqlite_database.session() as session:
        instrument = session.get(Instrument, instrument_id)
        assert instrument is not None
        instrument_snapshot = build_snapshot(session, instrument)
    with FakeLLMServer([Reply(body=openai_completion())]) as server:
        result = llm("x", server, fast_limits, budget).analyse(instrument_snapshot)
        assert server.requests == []
    assert result.error == "daily call budget used up (2 calls for openai_compatible:x)"


def test_instrument_without_candles_raises_not_enough_data(sqlite_database: Database) -> None:
    with sqlite_database.session() as session:
        instrument = Instrument(symbol="NEW/EUR", base="NEW", quote="EUR", asset_class=AssetClass.CRYPTO)
        session.add(instrument)
        session.flush()
        instrument_id = instrument.id
    with pytest.raises(NotEnoughData, match="no candles collected yet"):
        analyse_instrument(sqlite_database, instrument_id, config=load_ai_config())


def test_store_run_keeps_failures(sqlite_database: Database, snapshot: ContextSnapshot) -> None:
    with sqlite_database.session() as session:
        instrument = seed_market(session)
        snap = snapshot.model_copy(update={"instrument_id": instrument.id})
        run = ConsensusEngine([TechnicalAnalyst()], PARAMETERS).run(snap)
        record = store_run(session, run, decided_at=datetime(2025, 6, 1, 1, tzinfo=UTC) + timedelta(minutes=1))
        assert record.flagged and record.decision is Signal.HOLD
        assert record.flag_reason == "only 1 valid opinion(s); the quorum is 2"
