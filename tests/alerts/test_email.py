"""E-mail alerts through a real SMTP server on 127.0.0.1 (aiosmtpd): the message, a login, refusals."""

from __future__ import annotations

import email
import email.policy
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from livewatch.alerts.base import AlertDeliveryError, Delivery
from livewatch.alerts.channels.email import EmailChannel
from livewatch.alerts.outbox import Outbox
from livewatch.alerts.service import AlertService
from livewatch.settings import Settings
from livewatch.state import Database
from tests.alerts.conftest import alert


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], email.message.EmailMessage]] = []

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address.startswith("refused"):
            return "550 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((list(envelope.rcpt_tos), message))
        return "250 Message accepted"


def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"alerts", b"pa55")
    return AuthResult(success=ok)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, authenticator=authenticate,
                            auth_require_tls=False)
    controller.start()
    yield inbox, port
    controller.stop()


def target(port: int, **changes: Any) -> Any:
    data = {"name": "mail", "type": "email", "to": ["reviewer@example.org", "duty@example.org"],
            "sender": "livewatch@example.org", "smtp_host": "127.0.0.1", "smtp_port": port, "min_severity": "medium",
            "timeout_s": 5, **changes}
    return Settings.model_validate({"alerts": [data]}).alerts[0]


def test_alert_mail_through_the_outbox(tmp_path: Path, database: Database, smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    settings = Settings(data_dir=tmp_path / "data", alerts=[target(port)])
    service = AlertService(settings, Outbox(database.engine), environ={})
    service.start()
    try:
        service.raise_alert(alert())
        deadline = time.monotonic() + 10
        while not inbox.messages and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        service.stop()
    [(recipients, message)] = inbox.messages
    assert recipients == ["reviewer@example.org", "duty@example.org"]
    assert message["Subject"] == "[livewatch high] forum-2026: Guaranteed return"
    assert message["From"] == "livewatch@example.org"
    assert message["X-Livewatch-Idempotency-Key"] == "finding|a1"
    assert message["Message-ID"].endswith("@livewatch>")
    body = message.get_content()
    assert "这个产品稳赚不赔" in body
    assert "Category:  finance-promise" in body
    assert "finding|a1" in body
    assert Outbox(database.engine).rows()[0].status == "sent"


def test_login_with_the_password_from_the_environment(smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    channel = EmailChannel(target(port, username="alerts"), {"LIVEWATCH_SMTP_PASSWORD": "pa55"})
    channel.send(Delivery("k1", "mail", alert().payload(), 1))
    assert len(inbox.messages) == 1
    with pytest.raises(AlertDeliveryError, match="LIVEWATCH_SMTP_PASSWORD is not set"):
        EmailChannel(target(port, username="alerts"), {}).send(Delivery("k3", "mail", alert().payload(), 1))


def test_refusals_and_unreachable_servers(smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    with pytest.raises(AlertDeliveryError, match="every recipient was refused") as err:
        EmailChannel(target(port, to=["refused@example.org"]), {}).send(Delivery("k", "mail", alert().payload(), 1))
    assert err.value.permanent
    # one of two refused: the other got it, so a retry would duplicate; counts as delivered
    EmailChannel(target(port, to=["refused@example.org", "ok@example.org"]), {}).send(
        Delivery("k", "mail", alert().payload(), 1))
    assert inbox.messages[-1][0] == ["ok@example.org"]
    with pytest.raises(AlertDeliveryError, match="cannot send through") as err:
        EmailChannel(target(free_port()), {}).send(Delivery("k", "mail", alert().payload(), 1))
    assert not err.value.permanent
    with pytest.raises(AlertDeliveryError) as err:  # STARTTLS asked of a server that does not offer it
        EmailChannel(target(port, starttls=True), {}).send(Delivery("k", "mail", alert().payload(), 1))
    assert "STARTTLS" in str(err.value) or "starttls" in str(err.value).lower()
