"""Logging configuration shared by the CLI, the workers and the dashboard."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

_SECRET_PATTERNS = [
    re.compile(r"(?i)(api[_-]?key|apikey|token|secret|password|x_cg_demo_api_key|x_cg_pro_api_key)=([^&\s]+)"),
    re.compile(r"(?i)(authorization:\s*(?:bearer\s+)?)(\S+)"),
    re.compile(r"(postgres(?:ql)?(?:\+\w+)?://[^:/\s]+:)([^@\s]+)(@)"),
]


def redact(text: str) -> str:
    """Mask anything in ``text`` that looks like a key, token or password."""
    text = _SECRET_PATTERNS[0].sub(lambda m: f"{m.group(1)}=***", text)
    text = _SECRET_PATTERNS[1].sub(lambda m: f"{m.group(1)}***", text)
    return _SECRET_PATTERNS[2].sub(lambda m: f"{m.group(1)}***{m.group(3)}", text)


# Libraries whose INFO output is noise for a user; shown from WARNING up.
NOISY_LIBRARY_LOGGERS = ("urllib3", "httpx", "httpcore", "ccxt", "yfinance", "peewee", "alembic")


class RedactingFormatter(logging.Formatter):
    """A formatter that masks secrets that slipped into a log message."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


# Attributes every LogRecord has; anything else on a record came from ``extra=`` and is a field.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
_process_context: dict[str, str] = {}


def set_log_context(**values: str) -> None:
    """Name this process in every JSON log line (e.g. ``worker="market"``)."""
    _process_context.update(values)


def _current_trace_ids() -> tuple[str | None, str | None]:
    trace = sys.modules.get("opentelemetry.trace")  # only when tracing is loaded: logging stays light
    if trace is None:
        return None, None
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None, None
    return f"{context.trace_id:032x}", f"{context.span_id:016x}"


def _jsonable(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, bool | int | float) or value is None:
        return value
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    return redact(str(value))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, worker, trace id, message and fields, secrets masked."""

    def format(self, record: logging.LogRecord) -> str:
        trace_id, span_id = _current_trace_ids()
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "worker": _process_context.get("worker"),
            "trace_id": trace_id,
            "span_id": span_id,
            "message": redact(record.getMessage()),
        }
        fields = {key: _jsonable(value) for key, value in vars(record).items() if key not in _RECORD_ATTRIBUTES}
        if fields:
            entry["fields"] = fields
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


def _log_format() -> str:
    """Return ``text`` or ``json`` from ``KONSENS_LOG_FORMAT`` (validated by the settings), default text."""
    from core.observability.settings import ObservabilitySettings

    return ObservabilitySettings().log_format.value


def configure_logging(level: str = "INFO", log_format: str | None = None) -> None:
    """Send log records to stderr, secrets masked: text with timestamps, or JSON lines.

    ``log_format`` defaults to ``KONSENS_LOG_FORMAT`` (``text`` unless set to ``json``).
    """
    handler = logging.StreamHandler()
    if (log_format or _log_format()) == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in NOISY_LIBRARY_LOGGERS:
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
