"""OTLP/HTTP export to a loopback receiver decoding opentelemetry-proto: one trace per order and per request."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from sqlalchemy import select

from core.ai.requests import request_analysis
from core.db.engine import Database
from core.execution.enums import OrderSide
from core.execution.executor import Executor
from core.execution.orders import OrderRequest
from core.execution.service import place_order
from core.observability import tracing
from core.observability.models import TraceContext
from core.timeutil import utc_now
from tests.core.execution.conftest import add_quote


@dataclass
class ReceivedSpan:
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    attributes: dict[str, str]
    service: str


@dataclass
class Receiver:
    """An OTLP/HTTP traces endpoint on loopback that decodes each protobuf export request."""

    url: str
    spans: list[ReceivedSpan] = field(default_factory=list)
    content_types: list[str] = field(default_factory=list)

    def named(self, name: str) -> list[ReceivedSpan]:
        return [span for span in self.spans if span.name == name]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            found.content_types.append(self.headers["Content-Type"])
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
            for resource_spans in request.resource_spans:
                resource = {kv.key: kv.value.string_value for kv in resource_spans.resource.attributes}
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        found.spans.append(
                            ReceivedSpan(
                                name=span.name,
                                trace_id=span.trace_id.hex(),
                                span_id=span.span_id.hex(),
                                parent_span_id=span.parent_span_id.hex(),
                                attributes={kv.key: kv.value.string_value for kv in span.attributes},
                                service=resource.get("service.name", ""),
                            )
                        )
            payload = ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    found.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield found
    tracing.shutdown_tracing()
    server.shutdown()
    server.server_close()


def test_tracing_is_off_and_stores_nothing_without_an_endpoint(database: Database, market: dict[str, int]) -> None:
    assert tracing.configure_tracing("test") is False
    with database.session() as session:
        place_order(session, OrderRequest(symbol="BTC/EUR", side=OrderSide.BUY, quantity=Decimal("0.1")), actor="t")
    with database.session() as session:
        assert session.scalars(select(TraceContext)).all() == []
    assert tracing.current_traceparent() is None


def test_the_standard_variable_names_the_endpoint_and_the_konsens_one_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")
    assert tracing.otlp_traces_endpoint() == "http://collector:4318/v1/traces"
    monkeypatch.setenv("KONSENS_OTEL_EXPORTER_OTLP_ENDPOINT", "http://jaeger:4318")
    assert tracing.otlp_traces_endpoint() == "http://jaeger:4318/v1/traces"


def test_an_order_is_one_trace_from_the_intent_through_claim_risk_checks_broker_and_fill(
    database: Database, market: dict[str, int], make_executor: Callable[..., Executor], receiver: Receiver
) -> None:
    assert tracing.configure_tracing("test", endpoint=f"{receiver.url}/v1/traces")
    with database.session() as session:
        order = place_order(
            session, OrderRequest(symbol="BTC/EUR", side=OrderSide.BUY, quantity=Decimal("0.1")), actor="cli"
        )
        client_order_id = order.client_order_id
    with database.session() as session:
        stored = session.get(TraceContext, f"order:{client_order_id}")
        assert stored is not None and stored.traceparent.startswith("00-")
        add_quote(session, market["BTC/EUR"], "50000", utc_now() + timedelta(milliseconds=5))
    make_executor().run_pass(until_idle=True)  # the worker side: no span is open here
    tracing.flush_tracing()

    assert receiver.content_types and all(kind == "application/x-protobuf" for kind in receiver.content_types)
    [intent] = receiver.named("order.place")
    [claim] = receiver.named("executor.claim")
    [checks] = receiver.named("executor.risk_checks")
    fills = receiver.named("executor.record_fills")
    assert intent.attributes["konsens.symbol"] == "BTC/EUR"
    assert claim.trace_id == intent.trace_id and claim.parent_span_id == intent.span_id
    assert claim.attributes["konsens.client_order_id"] == client_order_id
    assert checks.trace_id == intent.trace_id and checks.parent_span_id == claim.span_id
    assert fills and all(span.parent_span_id == claim.span_id for span in fills)
    assert stored.traceparent.split("-")[1] == intent.trace_id
    assert intent.service == "konsens"


def test_an_analysis_request_is_continued_by_the_analyst_worker(
    database: Database, market: dict[str, int], receiver: Receiver
) -> None:
    from core.ai.config import load_ai_config
    from workers.analyst import process_requests

    assert tracing.configure_tracing("test", endpoint=f"{receiver.url}/v1/traces")
    with database.session() as session:
        request = request_analysis(session, market["BTC/EUR"], requested_by="page")
        request_id = request.id
    with database.session() as session:
        config = load_ai_config(session)
    assert process_requests(database, config) == [request_id]  # it fails for want of candles: still traced
    tracing.flush_tracing()

    [requested] = receiver.named("analysis.request")
    [carried_out] = receiver.named("analyst.request")
    assert carried_out.trace_id == requested.trace_id and carried_out.parent_span_id == requested.span_id
    assert carried_out.attributes["konsens.subject"] == f"analysis_request:{request_id}"


def test_a_span_opened_in_a_thread_pool_stays_in_the_callers_trace(receiver: Receiver) -> None:
    from concurrent.futures import ThreadPoolExecutor

    assert tracing.configure_tracing("test", endpoint=f"{receiver.url}/v1/traces")

    @tracing.traced("llm.analyse", attributes_of=lambda provider: {"provider": provider})
    def ask(provider: str) -> str:
        return provider

    with tracing.span("consensus"), ThreadPoolExecutor(max_workers=2) as pool:
        assert list(pool.map(tracing.carry_context(ask), ["ollama", "deepseek"])) == ["ollama", "deepseek"]
    tracing.flush_tracing()

    [parent] = receiver.named("consensus")
    children = receiver.named("llm.analyse")
    assert sorted(span.attributes["konsens.provider"] for span in children) == ["deepseek", "ollama"]
    assert all(span.parent_span_id == parent.span_id and span.trace_id == parent.trace_id for span in children)
