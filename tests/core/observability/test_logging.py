"""KONSENS_LOG_FORMAT=json: one JSON object per line with time, level, logger, worker, trace id, fields."""

from __future__ import annotations

import io
import json
import logging

import pytest

from core.logging_setup import JsonFormatter, configure_logging, set_log_context
from core.observability import tracing


def _capture(format_name: str | None, monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    stream = io.StringIO()
    if format_name is not None:
        monkeypatch.setenv("KONSENS_LOG_FORMAT", format_name)
    configure_logging("INFO")
    logging.getLogger().handlers[0].setStream(stream)  # type: ignore[attr-defined]
    return stream


def test_json_lines_carry_the_fields_and_mask_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = _capture("json", monkeypatch)
    set_log_context(worker="executor")
    logger = logging.getLogger("core.execution.executor")
    logger.info("sent with api_key=abc123 to %s", "onetrading", extra={"order": "c0ffee", "attempt": 2})
    logger.warning("Authorization: Bearer sekrit-token failed", extra={"url": "https://x/?token=tok42"})
    try:
        raise ValueError("password=hunter2")
    except ValueError:
        logger.exception("boom")

    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 3
    first = lines[0]
    assert set(first) >= {"time", "level", "logger", "worker", "trace_id", "message"}
    assert first["level"] == "INFO" and first["logger"] == "core.execution.executor" and first["worker"] == "executor"
    assert first["message"] == "sent with api_key=*** to onetrading"
    assert first["fields"] == {"order": "c0ffee", "attempt": 2}
    assert first["time"].endswith("+00:00") and first["trace_id"] is None
    assert "sekrit" not in stream.getvalue() and "tok42" not in stream.getvalue() and "hunter2" not in stream.getvalue()
    assert lines[2]["exception"].startswith("Traceback")


def test_text_stays_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = _capture(None, monkeypatch)
    logging.getLogger("konsens.test").info("hello token=abc")
    line = stream.getvalue().strip()
    assert line.endswith("INFO konsens.test: hello token=***")
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


def test_an_unknown_log_format_is_refused_with_the_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KONSENS_LOG_FORMAT", "xml")
    with pytest.raises(ValueError, match=r"text.*json|json.*text"):
        configure_logging("INFO")


def test_json_lines_name_the_trace_of_the_current_span() -> None:
    assert tracing.configure_tracing("test", endpoint="http://127.0.0.1:9/v1/traces")
    try:
        with tracing.span("work") as span:
            record = logging.LogRecord("x", logging.INFO, __file__, 1, "inside", None, None)
            entry = json.loads(JsonFormatter().format(record))
            assert entry["trace_id"] == f"{span.get_span_context().trace_id:032x}"
            assert entry["span_id"] == f"{span.get_span_context().span_id:016x}"
    finally:
        tracing.shutdown_tracing()
