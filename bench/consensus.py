"""Benchmark the consensus fan-out and the cache.

Three loopback LLM servers speaking the OpenAI chat completions wire format answer after 0.3,
0.6 and 0.9 s. One consensus over them (plus the built-in analysts) must take at most 1.0 s wall
(concurrent, not the 1.8 s sum); a repeat on the unchanged snapshot must be served from the cache
in at most 20 ms. Also printed: the same through ``analyse_instrument`` on a SQLite file
(snapshot built from the database, results stored), cold and cached.

    PYTHONPATH=$PWD python bench/consensus.py

Ratios against baselines in the same run: the fan-out against the slowest analyst's delay (1.0 =
perfectly concurrent, the floor) and against the sum of the delays (sequential calls); the
cached repeat against the cold fan-out. CPU time of this process is printed with each.
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.timing import load_line  # noqa: E402
from core.ai.builtin import SentimentAnalyst, TechnicalAnalyst  # noqa: E402
from core.ai.config import CallLimits, ConsensusParameters  # noqa: E402
from core.ai.context import snapshot_from_frame  # noqa: E402
from core.ai.engine import ConsensusEngine, OpinionCache, analyse_instrument  # noqa: E402
from core.ai.llm import OpenAICompatibleAnalyst  # noqa: E402
from core.ai.opinion import Analyst  # noqa: E402
from core.db.engine import Database  # noqa: E402
from core.db.migrate import upgrade_database  # noqa: E402
from core.market.demo_source import demo_hourly_candles  # noqa: E402
from tests.core.ai.conftest import seed_market  # noqa: E402
from tests.core.ai.fake_llm import FakeLLMServer, Reply, openai_completion  # noqa: E402

DELAYS = (0.3, 0.6, 0.9)
FAN_OUT_LIMIT_SECONDS = 1.0
CACHED_LIMIT_SECONDS = 0.020


def make_analysts(servers: list[FakeLLMServer]) -> list[Analyst]:
    limits = CallLimits(timeout_seconds=5, max_attempts=1, retry_base_seconds=0, content_retries=0)
    llms: list[Analyst] = [
        OpenAICompatibleAnalyst(
            f"llm-{index + 1}",
            f"loopback-{delay}s",
            limits,
            base_url=server.url + "/v1",
            api_key="bench",
            provider=f"openai_compatible:llm-{index + 1}",
        )
        for index, (server, delay) in enumerate(zip(servers, DELAYS, strict=True))
    ]
    return [TechnicalAnalyst(), SentimentAnalyst(), *llms]


def main() -> int:
    end = datetime(2025, 6, 1, tzinfo=UTC)
    frame = demo_hourly_candles("BTC/EUR", end - timedelta(days=20), end).set_index("ts")
    snapshot = snapshot_from_frame(
        symbol="BTC/EUR", instrument_id=1, frame=frame, timeframe="1h", headlines=[], position=None
    )
    parameters = ConsensusParameters()
    servers = [FakeLLMServer([Reply(body=openai_completion(), delay=delay)]) for delay in DELAYS]
    for server in servers:
        server.__enter__()
    try:
        # warm up the client libraries (imports, connection pools) on a different snapshot
        warm = snapshot.model_copy(update={"symbol": "WARM"})
        ConsensusEngine(make_analysts(servers), parameters).run(warm)

        engine = ConsensusEngine(make_analysts(servers), parameters, cache=OpinionCache())
        started, cpu_started = time.perf_counter(), time.process_time()
        first = engine.run(snapshot)
        fan_out, fan_out_cpu = time.perf_counter() - started, time.process_time() - cpu_started
        started, cpu_started = time.perf_counter(), time.process_time()
        repeat = engine.run(snapshot)
        cached, cached_cpu = time.perf_counter() - started, time.process_time() - cpu_started
        assert all(result.ok for result in first.results), [result.error for result in first.results]
        assert all(result.cached for result in repeat.results)

        with tempfile.TemporaryDirectory() as folder:
            database = Database(f"sqlite:///{folder}/bench.db")
            upgrade_database(database)
            with database.session() as session:
                instrument_id = seed_market(session, end=end).id
                warm_id = seed_market(session, "ETH/EUR", end=end).id
            # first use in the process (imports, SQL compilation) on another instrument
            analyse_instrument(database, warm_id, analysts=make_analysts(servers), cache=OpinionCache(database))
            analysts = make_analysts(servers)
            started = time.perf_counter()
            analyse_instrument(database, instrument_id, analysts=analysts, cache=OpinionCache(database))
            stored_cold = time.perf_counter() - started
            started = time.perf_counter()
            again = analyse_instrument(database, instrument_id, analysts=analysts, cache=OpinionCache(database))
            assert all(result.cached for result in again.run.results)
            stored_cached = time.perf_counter() - started
            database.dispose()
    finally:
        for server in servers:
            server.__exit__(None, None, None)

    ok_fan_out = fan_out <= FAN_OUT_LIMIT_SECONDS
    ok_cached = cached <= CACHED_LIMIT_SECONDS
    print(f"analysts: technical, sentiment + 3 loopback LLMs answering after {', '.join(f'{d:g} s' for d in DELAYS)}")
    print(
        f"consensus, cold (fan-out):      {fan_out * 1000:7.1f} ms  (limit {FAN_OUT_LIMIT_SECONDS * 1000:.0f} ms, "
        f"sum of delays {sum(DELAYS) * 1000:.0f} ms)  {'OK' if ok_fan_out else 'TOO SLOW'}"
    )
    print(
        f"consensus, cached repeat:       {cached * 1000:7.1f} ms  (limit {CACHED_LIMIT_SECONDS * 1000:.0f} ms)  "
        f"{'OK' if ok_cached else 'TOO SLOW'}"
    )
    print(
        f"  fan-out: {fan_out / max(DELAYS):.2f}x the slowest analyst's delay (1.00 = fully concurrent), "
        f"{fan_out / sum(DELAYS):.2f}x the sequential sum; CPU {fan_out_cpu * 1000:.0f} ms (this process, "
        "servers included: they are threads)"
    )
    print(f"  cached repeat: {cached / fan_out:.4f}x the cold fan-out; CPU {cached_cpu * 1000:.1f} ms")
    print(f"analyse_instrument, cold:       {stored_cold * 1000:7.1f} ms  (snapshot from SQLite + fan-out + store)")
    print(f"analyse_instrument, cached:     {stored_cached * 1000:7.1f} ms  (cache read from the ai_opinions table)")
    print(load_line())
    return 0 if ok_fan_out and ok_cached else 1


if __name__ == "__main__":
    raise SystemExit(main())
