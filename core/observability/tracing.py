"""OpenTelemetry tracing: off and free unless an OTLP endpoint is configured.

With ``KONSENS_OTEL_EXPORTER_OTLP_ENDPOINT`` (or the standard ``OTEL_EXPORTER_OTLP_ENDPOINT``,
or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` as the full URL) set, :func:`configure_tracing`
installs a tracer provider that exports spans by OTLP/HTTP (protobuf) in batches. Without it,
nothing of OpenTelemetry is imported and every helper here is a no-op.

An intent crosses processes through the database, and so does its trace: the page or CLI that
writes an order or an analysis request stores the W3C ``traceparent`` of its span in
``trace_contexts`` (:func:`remember_trace`), and the worker that claims the intent starts its
spans as children of it (:func:`continued_span`), so one trace shows the order from the click
through the claim, the risk checks, the broker call and the fill.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

if TYPE_CHECKING:  # the ORM is imported where a session is used (fast CLI start-up)
    from sqlalchemy.orm import Session

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

_provider: Any = None  # the SDK TracerProvider once configured; None means tracing is off


def otlp_traces_endpoint() -> str | None:
    """Return the OTLP/HTTP traces URL from the settings or the standard variables, or None."""
    from core.observability.settings import ObservabilitySettings

    explicit = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    base = ObservabilitySettings().otel_exporter_otlp_endpoint or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if base:
        base = base.strip().rstrip("/")
        return base if base.endswith("/v1/traces") else f"{base}/v1/traces"
    return explicit.strip() if explicit else None


def tracing_enabled() -> bool:
    return _provider is not None


def configure_tracing(process: str, *, endpoint: str | None = None) -> bool:
    """Export this process's spans when an endpoint is configured; return whether tracing is on."""
    global _provider
    if _provider is not None:
        return True
    url = endpoint or otlp_traces_endpoint()
    if not url:
        return False
    if not url.startswith(("http://", "https://")):
        logger.warning("tracing: the OTLP endpoint must be an http(s) URL, not %r; tracing stays off", url)
        return False
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from core.observability.settings import ObservabilitySettings

    service = ObservabilitySettings().otel_service_name
    provider = TracerProvider(
        resource=Resource.create({"service.name": service, "service.instance.id": process, "konsens.process": process})
    )
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=url, timeout=5)))
    trace.set_tracer_provider(provider)
    _provider = provider
    logger.info("tracing: exporting spans of %s to %s", process, url)
    return True


def flush_tracing(timeout_seconds: float = 5.0) -> None:
    """Send the spans still buffered (at the end of a CLI command, before a worker exits)."""
    if _provider is not None:
        _provider.force_flush(int(timeout_seconds * 1000))


def shutdown_tracing() -> None:
    """Flush and stop the exporter; tracing is off afterwards (tests)."""
    global _provider
    if _provider is not None:
        _provider.shutdown()
        _provider = None


def _tracer() -> Any:
    from opentelemetry import trace

    return _provider.get_tracer("konsens") if _provider is not None else trace.get_tracer("konsens")


def _clean(attributes: dict[str, Any]) -> dict[str, Any]:
    return {
        f"konsens.{key}": value if isinstance(value, bool | int | float | str) else str(value)
        for key, value in attributes.items()
        if value is not None
    }


@contextmanager
def span(name: str, **attributes: Any) -> Iterator[Any]:
    """Run the block in a span (a child of the current one); a no-op while tracing is off."""
    if _provider is None:
        yield None
        return
    with _tracer().start_as_current_span(name, attributes=_clean(attributes)) as current:
        yield current


def current_traceparent() -> str | None:
    """Return the W3C ``traceparent`` of the current span, or None."""
    if _provider is None:
        return None
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier)
    return carrier.get("traceparent")


def remember_trace(session: Session, subject: str) -> None:
    """Store the current trace context for ``subject`` (e.g. ``order:<client order id>``)."""
    traceparent = current_traceparent()
    if traceparent is None:
        return
    from core.observability.models import TraceContext

    row = session.get(TraceContext, subject)
    if row is None:
        session.add(TraceContext(subject=subject, traceparent=traceparent))
    else:
        row.traceparent = traceparent


def stored_traceparent(session: Session, subject: str) -> str | None:
    """Return the ``traceparent`` stored for ``subject``, or None."""
    from core.observability.models import TraceContext

    row = session.get(TraceContext, subject)
    return row.traceparent if row is not None else None


@contextmanager
def continued_span(session: Session | None, subject: str, name: str, **attributes: Any) -> Iterator[Any]:
    """Run the block in a span continuing the trace stored for ``subject`` (a new trace if none)."""
    if _provider is None:
        yield None
        return
    traceparent = stored_traceparent(session, subject) if session is not None else None
    with _span_under(traceparent, name, attributes) as current:
        yield current


@contextmanager
def _span_under(traceparent: str | None, name: str, attributes: dict[str, Any]) -> Iterator[Any]:
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    parent = TraceContextTextMapPropagator().extract({"traceparent": traceparent}) if traceparent else None
    with _tracer().start_as_current_span(name, context=parent, attributes=_clean(attributes)) as current:
        yield current


def traced(
    name: str, *, attributes_of: Callable[..., dict[str, Any]] | None = None
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a function to run in a span named ``name`` (no-op while tracing is off).

    ``attributes_of(*args, **kwargs)`` names the span's attributes from the call's arguments.
    """

    def decorate(function: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(function)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            if _provider is None:
                return function(*args, **kwargs)
            with span(name, **(attributes_of(*args, **kwargs) if attributes_of else {})):
                return function(*args, **kwargs)

        return wrapper

    return decorate


def continues(name: str, subject_of: Callable[..., str]) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a worker step taking a ``Database`` first: its span continues the trace stored for
    ``subject_of(*args, **kwargs)`` (e.g. ``analysis_request:<id>``). No-op while tracing is off."""

    def decorate(function: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(function)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            if _provider is None:
                return function(*args, **kwargs)
            subject = subject_of(*args, **kwargs)
            database = args[0]
            with database.session() as session:  # type: ignore[attr-defined]
                traceparent = stored_traceparent(session, subject)
            with _span_under(traceparent, name, {"subject": subject}):
                return function(*args, **kwargs)

        return wrapper

    return decorate


def carry_context(function: Callable[P, R]) -> Callable[P, R]:
    """Return ``function`` bound to the current trace context, for running it in a thread pool."""
    if _provider is None:
        return function
    import contextvars

    context = contextvars.copy_context()

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        return context.run(function, *args, **kwargs)

    return wrapper


def order_step(name: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate an executor step taking ``(self, session, order, ...)`` or ``(self, order_id)``.

    Inside an open span (e.g. the risk checks within the claim) the step's span nests in it;
    otherwise it continues the order's stored trace. Off and free while tracing is off.
    """

    def decorate(function: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(function)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            if _provider is None:
                return function(*args, **kwargs)
            from opentelemetry import trace

            client_order_id, traceparent = _order_trace(args)
            if trace.get_current_span().get_span_context().is_valid:
                traceparent = None  # nest in the open span
            with _span_under(traceparent, name, {"client_order_id": client_order_id}):
                return function(*args, **kwargs)

        return wrapper

    return decorate


def _order_trace(args: tuple[Any, ...]) -> tuple[str | None, str | None]:
    """Return the client order id and its stored traceparent from an executor method's arguments."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from core.execution.models import Order

    session = next((arg for arg in args if isinstance(arg, Session)), None)
    order = next((arg for arg in args if isinstance(arg, Order)), None)
    if order is not None:
        subject = f"order:{order.client_order_id}"
        return order.client_order_id, stored_traceparent(session, subject) if session is not None else None
    database = getattr(args[0], "database", None) if args else None
    order_id = next((arg for arg in args[1:] if isinstance(arg, int) and not isinstance(arg, bool)), None)
    if database is None or order_id is None:
        return None, None
    with database.session() as own_session:
        client_order_id = own_session.scalar(select(Order.client_order_id).where(Order.id == order_id))
        if client_order_id is None:
            return None, None
        return str(client_order_id), stored_traceparent(own_session, f"order:{client_order_id}")
