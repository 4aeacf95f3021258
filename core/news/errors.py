"""Errors of news sources; each class states how the collector handles it."""

from __future__ import annotations

from datetime import datetime

from core.errors import KonsensError, PermanentError, TransientError


class SourceError(KonsensError):
    """A source failed this time; the collector records it and tries again at the next interval."""


class SourceAuthError(SourceError, PermanentError):
    """The credentials were refused (401/403): a human must fix the key."""


class SourceUnavailable(SourceError, TransientError):
    """Timeouts, lost connections or 5xx answers that persisted through the retries."""


class SourceBadResponse(SourceError, PermanentError):
    """The answer could not be understood (garbage, wrong shape)."""


class SourceRateLimited(SourceError, TransientError):
    """The provider asked us to slow down (429, a throttle answer, a spent daily budget)."""

    def __init__(self, message: str, retry_at: datetime | None = None):
        super().__init__(message)
        self.retry_at = retry_at
