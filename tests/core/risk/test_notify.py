"""Alert delivery on loopback: webhook JSON, Telegram Bot API sendMessage, errors, token never logged."""

from __future__ import annotations

import json
import logging

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from core.db.engine import Database
from core.risk.alerts import raise_alert
from core.risk.models import AlertKind, AlertSeverity, DeliveryStatus, RiskAlert
from core.risk.notify import TELEGRAM_TOKEN_SECRET, deliver_pending_alerts
from core.risk.settings import save_alert_settings
from core.security.secrets import SecretStore

TOKEN = "123456789:AAH-test-token-ZYX"
CHAT = "-100777"


def assert_token_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    """Our side (client, httpx, httpcore) never logs the token; the loopback server's own log is not ours."""
    ours = [record.getMessage() for record in caplog.records if not record.name.startswith("werkzeug")]
    assert ours, "expected log records to check"
    assert not any(TOKEN in message for message in ours)
    assert any("/bot***/" in message for message in ours)


def _alert(session, key: str, severity: AlertSeverity = AlertSeverity.CRITICAL) -> None:
    raise_alert(
        session,
        kind=AlertKind.BREACH,
        severity=severity,
        subject="trading_state:paper",
        message="Trading HALTED for account paper (max_drawdown): drawdown 31 %",
        dedupe_key=key,
    )


def _configure(session, httpserver: HTTPServer, *, webhook: bool = True, telegram: bool = True) -> None:
    changes = {}
    if webhook:
        changes["webhook_url"] = httpserver.url_for("/hook")
    if telegram:
        changes["telegram_chat_id"] = CHAT
        changes["telegram_api_base"] = httpserver.url_for("").rstrip("/")
        SecretStore().set(session, TELEGRAM_TOKEN_SECRET, TOKEN)
    save_alert_settings(session, changes, actor="tester")


def test_alerts_go_to_the_webhook_and_telegram(
    sqlite_database: Database, httpserver: HTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    received: dict[str, dict] = {}

    def webhook(request: Request) -> Response:
        received["webhook"] = request.get_json()
        return Response("", status=204)

    def telegram(request: Request) -> Response:
        received["telegram"] = request.get_json()
        body = {"ok": True, "result": {"message_id": 17, "chat": {"id": int(CHAT)}, "text": "…"}}
        return Response(json.dumps(body), content_type="application/json")

    httpserver.expect_request("/hook", method="POST").respond_with_handler(webhook)
    httpserver.expect_request(f"/bot{TOKEN}/sendMessage", method="POST").respond_with_handler(telegram)
    with sqlite_database.session() as session:
        _configure(session, httpserver)
        _alert(session, "a1")
        report = deliver_pending_alerts(session)
    assert (report.sent, report.failed) == (1, 0)
    assert received["webhook"]["kind"] == "breach" and received["webhook"]["severity"] == "critical"
    assert received["telegram"]["chat_id"] == CHAT
    assert "HALTED" in received["telegram"]["text"]
    with sqlite_database.session() as session:
        alert = session.query(RiskAlert).one()
        assert alert.delivery_status is DeliveryStatus.SENT and alert.delivered_at is not None
        # Delivered once: a second pass sends nothing.
        assert deliver_pending_alerts(session).sent == 0
    assert_token_not_logged(caplog)


def test_telegram_errors_are_recorded_without_the_token(
    sqlite_database: Database, httpserver: HTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    httpserver.expect_request(f"/bot{TOKEN}/sendMessage", method="POST").respond_with_json(
        {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}, status=400
    )
    with sqlite_database.session() as session:
        _configure(session, httpserver, webhook=False)
        _alert(session, "a2")
        report = deliver_pending_alerts(session)
        assert report.failed == 1
        alert = session.query(RiskAlert).one()
        assert alert.delivery_status is DeliveryStatus.FAILED
        assert alert.delivery_error == "Telegram answered HTTP 400: Bad Request: chat not found"
        assert alert.delivery_attempts == 1
    assert_token_not_logged(caplog)


def test_rate_limited_telegram_is_retried_later(sqlite_database: Database, httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request(f"/bot{TOKEN}/sendMessage", method="POST").respond_with_json(
        {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 3",
            "parameters": {"retry_after": 3},
        },
        status=429,
    )
    httpserver.expect_ordered_request(f"/bot{TOKEN}/sendMessage", method="POST").respond_with_json(
        {"ok": True, "result": {"message_id": 18}}
    )
    with sqlite_database.session() as session:
        _configure(session, httpserver, webhook=False)
        _alert(session, "a3")
        first = deliver_pending_alerts(session)
        assert first.failed == 1
        assert "retry after 3 s" in (session.query(RiskAlert).one().delivery_error or "")
        second = deliver_pending_alerts(session)
        assert second.sent == 1


def test_webhook_error_and_unreachable_host(sqlite_database: Database, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/hook", method="POST").respond_with_data("boom", status=502)
    with sqlite_database.session() as session:
        _configure(session, httpserver, telegram=False)
        _alert(session, "a4")
        assert deliver_pending_alerts(session).failed == 1
        assert session.query(RiskAlert).one().delivery_error == "webhook answered HTTP 502"
        save_alert_settings(session, {"webhook_url": "http://127.0.0.1:9/hook"}, actor="tester")
        deliver_pending_alerts(session)
        assert session.query(RiskAlert).one().delivery_error == "webhook unreachable: ConnectError"


def test_without_a_channel_or_below_the_severity_alerts_are_skipped(
    sqlite_database: Database, httpserver: HTTPServer
) -> None:
    with sqlite_database.session() as session:
        _alert(session, "a5")
        assert deliver_pending_alerts(session).skipped == 1
        _configure(session, httpserver, telegram=False)
        _alert(session, "a6", AlertSeverity.INFO)
        assert deliver_pending_alerts(session).skipped == 1
    assert len(httpserver.log) == 0


def test_a_malformed_token_fails_the_alert_not_the_pass(
    sqlite_database: Database, httpserver: HTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A token pasted with a line break makes httpx refuse the URL (InvalidURL, not an HTTPError).

    That must count as a failed delivery of the alert (bounded retries, error recorded), not escape
    the pass: the pass's transaction would roll back, the alert would stay PENDING and the webhook,
    which did get it, would be sent the same alert again on every pass without end.
    """
    caplog.set_level(logging.DEBUG)
    httpserver.expect_request("/hook", method="POST").respond_with_data("", status=204)
    with sqlite_database.session() as session:
        _configure(session, httpserver)
        SecretStore().set(session, TELEGRAM_TOKEN_SECRET, TOKEN + "\n")
        _alert(session, "a7")
    for _ in range(8):
        with sqlite_database.session() as session:
            deliver_pending_alerts(session)
    with sqlite_database.session() as session:
        alert = session.query(RiskAlert).one()
        assert alert.delivery_status is DeliveryStatus.FAILED
        assert alert.delivery_attempts == 5
        assert alert.delivery_error == "Telegram unreachable: InvalidURL"
    assert len(httpserver.log) == 5  # the webhook got each of the 5 bounded attempts, then nothing
    assert not any(TOKEN in record.getMessage() for record in caplog.records if not record.name.startswith("werkzeug"))


def test_nothing_to_deliver_makes_no_http_client(sqlite_database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """The risk worker delivers every pass: at rest (no pending alert) no client (and TLS context) is built."""
    import httpx

    from core.risk import notify

    made: list[object] = []

    class CountingClient(httpx.Client):
        def __init__(self, *args: object, **kwargs: object) -> None:
            made.append(self)
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(notify.httpx, "Client", CountingClient)
    with sqlite_database.session() as session:
        report = notify.deliver_pending_alerts(session)
    assert (report.sent, report.failed, report.skipped) == (0, 0, 0)
    assert made == []
