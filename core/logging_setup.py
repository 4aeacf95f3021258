"""Logging configuration shared by the CLI, the workers and the dashboard."""

from __future__ import annotations

import logging
import re

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


def configure_logging(level: str = "INFO") -> None:
    """Send log records to stderr with timestamps, secrets masked."""
    handler = logging.StreamHandler()
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in NOISY_LIBRARY_LOGGERS:
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
