"""Deliver alerts to a webhook (JSON POST) and to Telegram (Bot API ``sendMessage``).

Both channels are optional. The Telegram bot token is a stored secret (``telegram_bot_token``);
it sits in the request path, so it is never logged: errors are reported in our own words with
the token masked. An alert below the delivery severity, or with no channel configured, is
marked SKIPPED; a failed delivery is retried on later passes up to ``MAX_ATTEMPTS``. Any error
of a channel (also one httpx does not class as an ``HTTPError``, such as a token with a line
break making the URL invalid) fails that alert, never the pass: an error escaping the pass would
roll back its bookkeeping and resend what was already delivered on every pass.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import TransientError
from core.logging_setup import redact
from core.risk.models import AlertSeverity, DeliveryStatus, RiskAlert
from core.risk.settings import AlertSettings, load_alert_settings
from core.security.secrets import SecretStore
from core.timeutil import to_vienna, utc_now

logger = logging.getLogger(__name__)
_BOT_TOKEN_IN_PATH = re.compile(r"/bot[^/\s]+/")


class _MaskBotTokens(logging.Filter):
    """Mask ``/bot<token>/`` in records of the HTTP client, which logs every request URL."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if "/bot" in text:
            record.msg = _BOT_TOKEN_IN_PATH.sub("/bot***/", text)
            record.args = None
        return True


for _name in ("httpx", "httpcore"):
    logging.getLogger(_name).addFilter(_MaskBotTokens())

TELEGRAM_TOKEN_SECRET = "telegram_bot_token"
MAX_ATTEMPTS = 5
_SEVERITY_ORDER = {AlertSeverity.INFO: 0, AlertSeverity.WARNING: 1, AlertSeverity.CRITICAL: 2}


class DeliveryError(TransientError):
    """A channel refused or could not take the alert; the message holds no secret."""


@dataclass(frozen=True)
class DeliveryReport:
    sent: int = 0
    failed: int = 0
    skipped: int = 0


def alert_payload(alert: RiskAlert) -> dict[str, Any]:
    """Return the JSON body posted to the webhook."""
    return {
        "id": alert.id,
        "created_at": alert.created_at.isoformat(),
        "kind": alert.kind.value,
        "severity": alert.severity.value,
        "subject": alert.subject,
        "message": alert.message,
        "details": alert.details or {},
        "source": "konsens",
    }


def alert_text(alert: RiskAlert) -> str:
    """Return the plain-text form sent to Telegram."""
    marker = {"info": "ℹ️", "warning": "⚠️", "critical": "🛑"}[alert.severity.value]
    when = to_vienna(alert.created_at).strftime("%Y-%m-%d %H:%M")
    return f"{marker} Konsens {alert.severity.value.upper()} · {alert.kind.value}\n{alert.message}\n{when} Vienna"


def send_webhook(client: httpx.Client, url: str, payload: dict[str, Any]) -> None:
    """POST the alert as JSON; any non-2xx answer is a failure."""
    try:
        response = client.post(url, json=payload)
    except (httpx.HTTPError, httpx.InvalidURL) as error:
        raise DeliveryError(f"webhook unreachable: {type(error).__name__}") from None
    if not response.is_success:
        raise DeliveryError(f"webhook answered HTTP {response.status_code}")


def send_telegram(client: httpx.Client, api_base: str, token: str, chat_id: str, text: str) -> None:
    """Call the Bot API ``sendMessage``; raise ``DeliveryError`` (token masked) on any failure."""
    url = f"{api_base}/bot{token}/sendMessage"
    try:
        response = client.post(url, json={"chat_id": chat_id, "text": text, "disable_web_page_preview": True})
    except (httpx.HTTPError, httpx.InvalidURL) as error:
        # Only the error's type: its text may quote the URL, and the URL holds the token.
        raise DeliveryError(f"Telegram unreachable: {type(error).__name__}") from None
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.is_success and isinstance(body, dict) and body.get("ok") is True:
        return
    description = body.get("description") if isinstance(body, dict) else None
    retry_after = (body.get("parameters") or {}).get("retry_after") if isinstance(body, dict) else None
    message = f"Telegram answered HTTP {response.status_code}"
    if description:
        message += f": {str(description).replace(token, '***')}"
    if retry_after:
        message += f" (retry after {retry_after} s)"
    raise DeliveryError(redact(message))


def _due(alert: RiskAlert, settings: AlertSettings) -> bool:
    minimum = AlertSeverity(settings.delivery_min_severity)
    return _SEVERITY_ORDER[alert.severity] >= _SEVERITY_ORDER[minimum]


def deliver_pending_alerts(
    session: Session,
    *,
    settings: AlertSettings | None = None,
    client: httpx.Client | None = None,
    secrets: SecretStore | None = None,
) -> DeliveryReport:
    """Deliver every PENDING (and retryable FAILED) alert to the configured channels."""
    settings = settings or load_alert_settings(session)
    token: str | None = None
    if settings.telegram_chat_id:
        token = (secrets or SecretStore()).get(session, TELEGRAM_TOKEN_SECRET)
    channels = bool(settings.webhook_url) or bool(token and settings.telegram_chat_id)
    alerts = list(
        session.scalars(
            select(RiskAlert)
            .where(
                (RiskAlert.delivery_status == DeliveryStatus.PENDING)
                | ((RiskAlert.delivery_status == DeliveryStatus.FAILED) & (RiskAlert.delivery_attempts < MAX_ATTEMPTS))
            )
            .order_by(RiskAlert.id)
        )
    )
    sent = failed = skipped = 0
    # The HTTP client (its TLS context loads the CA bundle) is made only when an alert is sent:
    # the risk worker calls this every pass, and at rest there is nothing to deliver.
    own_client = False
    http = client
    try:
        for alert in alerts:
            if not channels or not _due(alert, settings):
                alert.delivery_status = DeliveryStatus.SKIPPED
                skipped += 1
                continue
            if http is None:
                http = httpx.Client(timeout=settings.delivery_timeout_seconds)
                own_client = True
            errors: list[str] = []
            if settings.webhook_url:
                try:
                    send_webhook(http, settings.webhook_url, alert_payload(alert))
                except DeliveryError as error:
                    errors.append(str(error))
                except Exception as error:  # a failed alert, never a failed pass (see below)
                    errors.append(f"webhook failed: {type(error).__name__}")
            if token and settings.telegram_chat_id:
                try:
                    send_telegram(http, settings.telegram_api_base, token, settings.telegram_chat_id, alert_text(alert))
                except DeliveryError as error:
                    errors.append(str(error))
                except Exception as error:  # only the type: the text may quote the URL with the token
                    errors.append(f"Telegram failed: {type(error).__name__}")
            alert.delivery_attempts += 1
            if errors:
                alert.delivery_status = DeliveryStatus.FAILED
                alert.delivery_error = "; ".join(errors)
                failed += 1
                logger.warning("Alert %s not delivered: %s", alert.id, alert.delivery_error)
            else:
                alert.delivery_status = DeliveryStatus.SENT
                alert.delivered_at = utc_now()
                alert.delivery_error = None
                sent += 1
    finally:
        if own_client and http is not None:
            http.close()
    return DeliveryReport(sent=sent, failed=failed, skipped=skipped)
