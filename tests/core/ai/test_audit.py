"""Auditable AI: decision records and replays, checked figures, EUR cost caps, point in time, contamination."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from core.ai.builtin import TechnicalAnalyst
from core.ai.claims import check_claims, normalise_name
from core.ai.config import AIConfig, CallLimits, ConsensusParameters, CostLimits, load_ai_config
from core.ai.context import ContextSnapshot, build_snapshot
from core.ai.costs import SpendingGuard
from core.ai.engine import ConsensusEngine, OpinionCache, analyse_instrument
from core.ai.history import HistoryPlan, history_report, plan_history_run, run_history
from core.ai.llm import OpenAICompatibleAnalyst
from core.ai.models import AIHistoryRun, AnalystOpinion, AnalystTrackRecord, ConsensusRecord, HistoryRunStatus
from core.ai.queries import leaderboard
from core.ai.records import load_record, rebuild_prompt
from core.ai.replay import replay_opinion
from core.ai.track_record import refresh_track_records
from core.db.engine import Database
from core.db.upsert import bulk_upsert
from core.market.models import Candle, Instrument
from core.news.models import NewsItem, NewsItemInstrument, NewsKind
from core.risk.models import AlertKind, RiskAlert
from tests.core.ai.conftest import seed_market
from tests.core.ai.fake_llm import FakeLLMServer, Reply, openai_completion

END = datetime(2025, 6, 1, tzinfo=UTC)
PARAMETERS = ConsensusParameters(quorum=1, agreement_threshold=0.0, decision_threshold=0.15)


def answer(signal: str, figures: list[dict[str, object]], confidence: float = 0.7) -> str:
    return json.dumps(
        {
            "signal": signal,
            "confidence": confidence,
            "horizon_hours": 24,
            "rationale": "RSI and the support level say so.",
            "figures": figures,
        }
    )


def true_figures(snapshot: ContextSnapshot) -> list[dict[str, object]]:
    support = next(level.price for level in snapshot.levels if level.kind == "support")
    return [
        {"name": "rsi_14", "value": snapshot.indicators["rsi_14"]},
        {"name": "last_close", "value": snapshot.last_close},
        {"name": "support", "value": support},
    ]


def wrong_figures(snapshot: ContextSnapshot) -> list[dict[str, object]]:
    rsi = snapshot.indicators["rsi_14"]
    assert rsi is not None
    return [
        {"name": "rsi_14", "value": round(rsi + 15, 1)},  # a wrong RSI
        {"name": "support", "value": round(snapshot.last_close * 0.5, 2)},  # a support level that does not exist
        {"name": "last_close", "value": snapshot.last_close},
    ]


def llm(name: str, server: FakeLLMServer, limits: CallLimits, **kwargs: Any) -> OpenAICompatibleAnalyst:
    return OpenAICompatibleAnalyst(
        name, f"model-{name}", limits, base_url=server.url, api_key="k", provider=f"openai_compatible:{name}", **kwargs
    )


# --- figures -------------------------------------------------------------------------------------


def test_true_figures_pass_and_spellings_are_normalised(snapshot: ContextSnapshot) -> None:
    check = check_claims(snapshot, true_figures(snapshot))
    assert check.checked == 3 and not check.has_false_claims
    assert normalise_name("RSI") == "rsi_14" and normalise_name("SMA20") == "sma_20"
    assert normalise_name("Support 2") == "support" and normalise_name("price") == "last_close"
    assert snapshot.change_24h is not None
    percent = check_claims(snapshot, [{"name": "change_24h", "value": snapshot.change_24h * 100}])
    assert not percent.has_false_claims  # the same change given in percent


def test_a_wrong_rsi_and_a_made_up_support_are_false_claims_with_the_true_value(snapshot: ContextSnapshot) -> None:
    check = check_claims(snapshot, [*wrong_figures(snapshot), {"name": "fear_greed_index", "value": 71}])
    false = {claim.name: claim for claim in check.false_claims}
    assert set(false) == {"rsi_14", "support", "fear_greed_index"}
    assert false["rsi_14"].true_value == snapshot.indicators["rsi_14"]
    assert false["support"].true_value in [level.price for level in snapshot.levels if level.kind == "support"]
    assert false["fear_greed_index"].reason == "not in the snapshot" and false["fear_greed_index"].true_value is None
    assert check.checked == 4


def test_a_hallucinating_analyst_gets_weight_zero_an_honest_one_does_not(
    snapshot: ContextSnapshot, fast_limits: CallLimits
) -> None:
    with (
        FakeLLMServer([Reply(body=openai_completion(answer("sell", wrong_figures(snapshot), 0.9)))]) as liar,
        FakeLLMServer([Reply(body=openai_completion(answer("buy", true_figures(snapshot))))]) as honest,
    ):
        run = ConsensusEngine([llm("liar", liar, fast_limits), llm("honest", honest, fast_limits)], PARAMETERS).run(
            snapshot
        )
    liar_result, honest_result = run.results
    assert liar_result.ok and liar_result.has_false_claims
    assert not honest_result.has_false_claims and honest_result.claims is not None
    assert honest_result.claims.checked == 3
    assert run.outcome.weights["liar"] == 0.0 and run.outcome.weights["honest"] > 0
    assert run.outcome.decision.value == "buy" and run.outcome.valid_opinions == 1
    assert "rsi_14" in run.discounted["liar"]


def test_false_claims_are_stored_shown_in_json_and_counted_as_hallucination_rate(
    database: Database, fast_limits: CallLimits
) -> None:
    with database.session() as session:
        instrument_id = seed_market(session, end=END).id
        instrument = session.get(Instrument, instrument_id)
        assert instrument is not None
        snap = build_snapshot(session, instrument, until=END)
    with (
        FakeLLMServer([Reply(body=openai_completion(answer("sell", wrong_figures(snap))))]) as liar,
        FakeLLMServer([Reply(body=openai_completion(answer("buy", true_figures(snap))))]) as honest,
    ):
        summary = analyse_instrument(
            database,
            instrument_id,
            analysts=[llm("liar", liar, fast_limits), llm("honest", honest, fast_limits)],
            cache=OpinionCache(),
            now=END,
        )
    payload = {opinion["analyst"]: opinion for opinion in summary.as_json()["opinions"]}
    assert payload["liar"]["claims_checked"] == 3 and payload["liar"]["claims_false"] == 2
    assert {claim["name"] for claim in payload["liar"]["false_claims"]} == {"rsi_14", "support"}
    assert payload["liar"]["weight"] == 0.0 and payload["honest"]["claims_false"] == 0
    with database.session() as session:
        record = session.get(ConsensusRecord, summary.consensus_id)
        assert record is not None and "liar" in record.discounted
        refresh_track_records(session, now=END)
        records = {row.analyst: row for row in session.scalars(select(AnalystTrackRecord))}
        assert records["liar"].hallucination_rate == 1.0
        assert records["honest"].hallucination_rate == 0.0
        board = {row.analyst: row for row in leaderboard(session)}
        assert board["liar"].hallucination_rate == 1.0 and board["liar"].weight == 0.0


# --- decision records and replays ----------------------------------------------------------------


def test_a_record_holds_snapshot_parameters_and_version_and_a_replay_rebuilds_the_same_prompt(
    database: Database, fast_limits: CallLimits
) -> None:
    with database.session() as session:
        instrument_id = seed_market(session, end=END).id
    body = openai_completion(answer("hold", []), model="model-x-2025-05")
    with FakeLLMServer([Reply(body=body)]) as server:
        summary = analyse_instrument(
            database, instrument_id, analysts=[llm("x", server, fast_limits)], cache=OpinionCache(), now=END
        )
        sent = server.requests[0].body
    with database.session() as session:
        opinion_id = session.scalars(
            select(AnalystOpinion.id).where(AnalystOpinion.consensus_id == summary.consensus_id)
        ).one()
        record = load_record(session, opinion_id)
        payload = record.as_json()
        assert payload["model_version"] == "model-x-2025-05 (fp_loopback)"
        assert payload["request_params"]["max_tokens"] == sent["max_tokens"]
        assert payload["request_params"]["response_format"] == {"type": "json_object"}
        assert payload["konsens_version"] and payload["cost_eur"] is not None
        assert payload["snapshot"]["as_of"] == END.isoformat().replace("+00:00", "Z")
        assert payload["snapshot"]["recent_bars"] and payload["snapshot"]["indicators"]["rsi_14"] is not None
        rebuilt = rebuild_prompt(record)
        assert rebuilt.identical and rebuilt.prompt == record.opinion.prompt
    new_body = openai_completion(answer("buy", []))
    with FakeLLMServer([Reply(body=new_body)]) as server:
        outcome = replay_opinion(database, opinion_id, analyst=llm("x", server, fast_limits))
        resent = server.requests[0].body
    assert outcome.rebuilt.identical
    assert resent["messages"] == sent["messages"]  # the same prompt, byte for byte
    assert outcome.new_result is not None and outcome.new_result.opinion is not None
    assert outcome.new_result.opinion.signal.value == "buy"
    with database.session() as session:
        replayed = session.get(AnalystOpinion, outcome.new_opinion_id)
        assert replayed is not None and replayed.replay_of_id == opinion_id and replayed.consensus_id is None
        refresh_track_records(session, now=END)
        record_x = session.get(AnalystTrackRecord, "x")
        assert record_x is not None and record_x.opinions_checked == 1  # the replay is not counted


def test_replay_without_the_provider_configured_only_checks_the_prompt(database: Database) -> None:
    with database.session() as session:
        instrument_id = seed_market(session, end=END).id
    summary = analyse_instrument(database, instrument_id, analysts=[TechnicalAnalyst()], cache=OpinionCache(), now=END)
    with database.session() as session:
        opinion_id = session.scalars(
            select(AnalystOpinion.id).where(AnalystOpinion.consensus_id == summary.consensus_id)
        ).one()
    outcome = replay_opinion(database, opinion_id, config=load_ai_config())
    assert outcome.new_result is None and "not configured as an enabled LLM analyst" in (outcome.not_asked_reason or "")


# --- cost caps -----------------------------------------------------------------------------------


def test_a_cost_cap_skips_the_analyst_with_its_reason_before_any_call(
    snapshot: ContextSnapshot, fast_limits: CallLimits
) -> None:
    limits = CostLimits(daily_cap_eur=Decimal("0.01"), monthly_cap_eur=Decimal(50))
    guard = SpendingGuard(limits, spent_today={"openai_compatible:x": Decimal("0.0099")})
    with FakeLLMServer([Reply(body=openai_completion())]) as server:
        analyst = llm(
            "x",
            server,
            fast_limits,
            spending=guard,
            input_cost_per_million_tokens=Decimal("2.5"),
            output_cost_per_million_tokens=Decimal("10"),
        )
        result = analyst.analyse(snapshot)
        assert server.requests == []
    assert not result.ok and result.skipped_for_cost
    assert result.error is not None and result.error.startswith("cost cap reached: € 0.01 of € 0.01 spent today")
    assert "openai_compatible:x" in guard.refusals


def test_spending_is_recorded_and_the_monthly_cap_holds(snapshot: ContextSnapshot, fast_limits: CallLimits) -> None:
    limits = CostLimits(eur_per_usd=Decimal("0.9"), daily_cap_eur=Decimal(5), monthly_cap_eur=Decimal(5))
    guard = SpendingGuard(limits, spent_month={"openai_compatible:x": Decimal("4.99")})
    with FakeLLMServer([Reply(body=openai_completion())]) as server:
        analyst = llm(
            "x",
            server,
            fast_limits,
            spending=guard,
            eur_per_usd=Decimal("0.9"),
            input_cost_per_million_tokens=Decimal("2.5"),
            output_cost_per_million_tokens=Decimal("10"),
        )
        assert "spent this month" in (analyst.analyse(snapshot).error or "")
        guard.spent_month.clear()
        result = analyst.analyse(snapshot)
    assert result.ok
    expected = (Decimal(812) * Decimal("2.5") + Decimal(64) * Decimal("10")) / 1_000_000 * Decimal("0.9")
    assert result.cost_eur == expected.quantize(Decimal("0.000001"))
    assert guard.spent_today["openai_compatible:x"] == expected


# --- point in time, history runs, contamination ---------------------------------------------------


def _plant_future(database: Database, instrument_id: int, decision_time: datetime) -> None:
    """A headline published after the decision time and a candle that closes after it."""
    with database.session() as session:
        item = NewsItem(
            source="demo",
            source_id="future",
            kind=NewsKind.ARTICLE,
            title="FUTURE: Bitcoin doubles",
            url="https://example.invalid/f",
            canonical_url="https://example.invalid/f",
            published_at=decision_time + timedelta(minutes=10),
            sentiment=0.9,
            influence=1.0,
        )
        session.add(item)
        session.flush()
        session.add(NewsItemInstrument(news_item_id=item.id, instrument_id=instrument_id, matched="Bitcoin"))
        past = NewsItem(
            source="demo",
            source_id="past",
            kind=NewsKind.ARTICLE,
            title="Bitcoin steady",
            url="https://example.invalid/p",
            canonical_url="https://example.invalid/p",
            published_at=decision_time - timedelta(hours=2),
            sentiment=0.1,
            influence=1.0,
        )
        session.add(past)
        session.flush()
        session.add(NewsItemInstrument(news_item_id=past.id, instrument_id=instrument_id, matched="Bitcoin"))


def test_a_snapshot_holds_only_closed_candles_and_news_published_by_the_decision_time(database: Database) -> None:
    with database.session() as session:
        instrument_id = seed_market(session, end=END).id
    decision = datetime(2025, 5, 28, 10, 30, tzinfo=UTC)
    _plant_future(database, instrument_id, decision)
    with database.session() as session:
        instrument = session.get(Instrument, instrument_id)
        assert instrument is not None
        snap = build_snapshot(session, instrument, until=decision, include_position=False)
    # the 10:00 candle closes at 11:00, after the decision: the newest closed one opened at 09:00
    assert snap.as_of == datetime(2025, 5, 28, 10, tzinfo=UTC)
    assert snap.recent_bars[-1].ts == datetime(2025, 5, 28, 9, tzinfo=UTC)
    assert all(bar.ts + timedelta(hours=1) <= decision for bar in snap.recent_bars)
    titles = [headline.title for headline in snap.headlines]
    assert titles == ["Bitcoin steady"] and "FUTURE" not in json.dumps(snap.model_dump(mode="json"))


def _config_with(server: FakeLLMServer, *, model: str, cutoff: date | None, cap: Decimal = Decimal(10)) -> AIConfig:
    base = load_ai_config()
    from core.ai.config import ProviderConfig, ProviderKind

    provider = ProviderConfig(
        "x",
        ProviderKind.OPENAI_COMPATIBLE,
        True,
        "loopback",
        model=model,
        endpoint=server.url,
        api_key="k",
        input_cost_per_million_tokens=Decimal(100),
        output_cost_per_million_tokens=Decimal(100),
    )
    cutoffs = {model: cutoff} if cutoff else {}
    return replace(
        base,
        providers=(provider,),
        parameters=PARAMETERS,
        training_cutoffs=cutoffs,
        limits=CallLimits(timeout_seconds=2, max_attempts=1, retry_base_seconds=0, content_retries=0),
        costs=CostLimits(daily_cap_eur=Decimal(100), monthly_cap_eur=Decimal(100), history_run_cap_eur=cap),
    )


def _plan(
    database: Database, instrument_id: int, config: AIConfig, since: datetime, until: datetime = END
) -> HistoryPlan:
    """Plan a daily history run of the instrument from ``since`` to ``until``, as of ``END``."""
    with database.session() as session:
        instrument = session.get(Instrument, instrument_id)
        assert instrument is not None
        return plan_history_run(session, instrument, since=since, until=until, every_hours=24, config=config, now=END)


def test_history_run_estimates_then_stops_at_its_cost_cap_mid_run_and_alerts_once(database: Database) -> None:
    with database.session() as session:
        instrument_id = seed_market(session, end=END).id
    with FakeLLMServer([Reply(body=openai_completion(answer("hold", [])))]) as server:
        # each call: 812 + 64 tokens at 100 USD per million = 0.0876 USD = 0.0753 EUR; worst case more
        config = _config_with(server, model="model-x", cutoff=date(2020, 1, 1), cap=Decimal("0.5"))
        plan = _plan(database, instrument_id, config, datetime(2025, 5, 20, tzinfo=UTC))
        assert len(plan.points) == 13 and plan.estimated_calls == 13  # 20 May .. 1 June, daily
        assert plan.describe().startswith("about 13 calls, about € ")
        result = run_history(database, plan, config=config, now=END)
        calls = len(server.requests)
    assert result.status is HistoryRunStatus.STOPPED
    assert 0 < calls < 13 and result.points_done == calls + 1  # the point whose call was refused is stored too
    assert result.cost_eur <= Decimal("0.5")
    assert result.stop_reason is not None and "spent in this run" in result.stop_reason
    with database.session() as session:
        run = session.get(AIHistoryRun, result.run_id)
        assert run is not None and run.status is HistoryRunStatus.STOPPED
        alerts = list(session.scalars(select(RiskAlert).where(RiskAlert.kind == AlertKind.AI_COST_CAP)))
        assert len(alerts) == 1
        live = session.scalars(select(ConsensusRecord).where(ConsensusRecord.origin == "live")).all()
        assert live == []  # a history run writes no live decision


def test_history_run_before_the_models_training_cutoff_is_contaminated_and_reported_apart(database: Database) -> None:
    with database.session() as session:
        instrument_id = seed_market(session, end=END).id
    with FakeLLMServer([Reply(body=openai_completion(answer("buy", [])))]) as server:
        config = _config_with(server, model="model-x", cutoff=date(2025, 5, 25))
        plan = _plan(database, instrument_id, config, datetime(2025, 5, 20, tzinfo=UTC))
        (contamination,) = plan.contamination
        assert contamination.contaminated and contamination.points_before_cutoff == 6  # 20..25 May
        assert "contaminated: the model may know these prices" in contamination.describe()
        result = run_history(database, plan, config=config, now=END)
    with database.session() as session:
        report = history_report(session, result.run_id)
        flags = session.scalars(select(AnalystOpinion.contaminated).order_by(AnalystOpinion.as_of)).all()
    assert report["contaminated"] is True
    assert report["contaminated_periods"]["decisions"] == 6 and report["clean"]["decisions"] == 7
    assert flags == [True] * 6 + [False] * 7
    unknown = _config_with(server, model="never-heard-of", cutoff=None)
    plan = _plan(database, instrument_id, unknown, datetime(2025, 5, 30, tzinfo=UTC))
    assert plan.contamination[0].cutoff is None and plan.contamination[0].points_before_cutoff == len(plan.points)


def test_history_snapshots_never_see_a_planted_future_candle(database: Database) -> None:
    with database.session() as session:
        instrument_id = seed_market(session, end=END).id
        decision = datetime(2025, 5, 28, 0, 30, tzinfo=UTC)
        opened = datetime(2025, 5, 28, tzinfo=UTC)  # opened before the decision, closes after it
        candle = session.scalars(select(Candle).where(Candle.instrument_id == instrument_id, Candle.ts == opened)).one()
        spike = {
            "instrument_id": instrument_id,
            "source": "demo",
            "timeframe": "1h",
            "ts": opened,
            "open": candle.open,
            "high": Decimal(10**7),
            "low": candle.low,
            "close": Decimal(10**7),
            "volume": candle.volume,
        }
        bulk_upsert(
            session,
            Candle.__table__,  # type: ignore[arg-type]
            [spike],
            conflict_columns=["instrument_id", "source", "timeframe", "ts"],
            update_columns=["high", "close"],
        )
    with FakeLLMServer([Reply(body=openai_completion(answer("hold", [])))]) as server:
        config = _config_with(server, model="model-x", cutoff=date(2020, 1, 1))
        plan = _plan(database, instrument_id, config, decision, until=decision)
        run_history(database, plan, config=config, now=END)
        prompt = json.dumps(server.requests[0].body)
    assert "10000000" not in prompt  # the spike candle closes half an hour after the decision


def test_an_ai_consensus_backtest_reports_trades_on_contaminated_decisions_apart(database: Database) -> None:
    from core.backtest.consensus import consensus_contamination
    from core.backtest.engine import Trade
    from core.execution.enums import OrderSide

    with database.session() as session:
        instrument_id = seed_market(session, end=END).id
    with FakeLLMServer([Reply(body=openai_completion(answer("buy", [])))]) as server:
        config = _config_with(server, model="model-x", cutoff=date(2025, 5, 25))
        plan = _plan(database, instrument_id, config, datetime(2025, 5, 20, tzinfo=UTC))
        run_history(database, plan, config=config, now=END)

    def trade(day: int) -> Trade:
        entry = datetime(2025, 5, day, 2, tzinfo=UTC)
        return Trade(
            side=OrderSide.BUY,
            entry_index=0,
            entry_time=entry,
            entry_price=100.0,
            quantity=1.0,
            entry_fee=0.0,
            exit_index=1,
            exit_time=entry + timedelta(hours=5),
            exit_price=110.0,
        )

    with database.session() as session:
        trades = [trade(21), trade(23), trade(28)]
        report = consensus_contamination(session, instrument_id, [(item.entry_time, item.pnl()) for item in trades])
    assert report["contaminated"] and report["contaminated_decisions"] == 6
    assert report["contaminated_periods"]["trades"] == 2 and report["clean"]["trades"] == 1
    assert report["contaminated_periods"]["pnl"] == pytest.approx(20.0)


def test_fundamentals_macro_and_pattern_figures_can_be_quoted(snapshot: ContextSnapshot) -> None:
    from core.ai.context import FundamentalsInfo, MacroInfo

    rich = snapshot.model_copy(
        update={
            "fundamentals": FundamentalsInfo(
                source="coingecko",
                as_of=END,
                metrics={"market_cap_rank": 1, "market_cap_eur": 1.6e12, "categories": ["Layer 1"]},
            ),
            "macro": [
                MacroInfo(
                    series_id="ECBDFR",
                    title="ECB deposit rate",
                    unit="%",
                    value=2.0,
                    observation_date=END,
                    published_at=END,
                )
            ],
        }
    )
    check = check_claims(rich, [{"name": "market_cap_rank", "value": 1}, {"name": "ECBDFR", "value": 2.0},
                                {"name": "market_cap_eur", "value": 1.61e12}])  # fmt: skip
    assert not check.has_false_claims
    assert check_claims(rich, [{"name": "market_cap_eur", "value": 2e12}]).has_false_claims
