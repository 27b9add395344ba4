"""E-mail over SMTP: plain, STARTTLS or implicit TLS, with an optional login.

The Message-ID is derived from the alert's idempotency key, so a mail system (or a reviewer's client) sees a
retried alert as the same message. The password comes from the environment (``password_env``).
``timeout_s`` bounds the whole attempt, greeting to QUIT, not each read (:mod:`livewatch.alerts.deadline`).
"""

from __future__ import annotations

import hashlib
import logging
import smtplib
import socket
import ssl
from email.message import EmailMessage
from typing import Annotated, Any, ClassVar, Self

from pydantic import Field, model_validator

from livewatch.alerts.base import AlertDeliveryError, Channel, Delivery
from livewatch.deadline import Deadline
from livewatch.fields import SingleLine
from livewatch.settings import AlertTarget, EnvName

log = logging.getLogger(__name__)


def message_for(delivery: Delivery, sender: str, recipients: list[str]) -> EmailMessage:
    payload = delivery.payload
    event = payload.get("event") or {}
    message = EmailMessage()
    where = f"{event.get('id')}: " if event else ""
    count = payload.get("count", 1)
    times = f" (×{count})" if count and count > 1 else ""
    message["Subject"] = f"[livewatch {payload['severity']}] {where}{payload['title']}{times}"
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    digest = hashlib.sha256(delivery.key.encode("utf-8")).hexdigest()[:32]
    message["Message-ID"] = f"<{digest}@livewatch>"
    message["X-Livewatch-Idempotency-Key"] = delivery.key
    lines = [
        f"{payload['summary']}",
        "",
        f"Severity:  {payload['severity']}",
        f"Category:  {payload['category']}",
    ]
    if event:
        lines.append(f"Event:     {event.get('id')} — {event.get('title') or ''}")
    if payload.get("rule"):
        lines.append(f"Rule:      {payload['rule']}")
    lines.append(f"At:        {payload['at']}" + (f" (+{payload['offset_s']:.0f} s on air)"
                                                  if payload.get("offset_s") is not None else ""))
    if count and count > 1:
        lines.append(f"Fired:     {count} times, {payload['first_at']} to {payload['last_at']}")
    if payload.get("evidence"):
        lines += ["", "Evidence:", f"  {payload['evidence']}"]
    if payload.get("report"):
        lines += ["", f"Report: {payload['report']}"]
    lines += ["", f"Alert key: {delivery.key}"]
    message.set_content("\n".join(lines) + "\n")
    return message


class EmailTarget(AlertTarget):
    """An ``[[alerts]]`` target of type email."""

    to: list[SingleLine] = Field(default_factory=list, description="E-mail recipients.")
    sender: SingleLine = Field("livewatch@localhost", description="E-mail From address.")
    smtp_host: SingleLine = Field("localhost", description="SMTP server.")
    smtp_port: Annotated[int, Field(ge=1, le=65535)] | None = Field(
        None, description="SMTP port; default 465 with tls, 587 with starttls, else 25."
    )
    starttls: bool = Field(False, description="Upgrade the SMTP connection with STARTTLS.")
    tls: bool = Field(False, description="Connect with implicit TLS (SMTPS).")
    username: SingleLine | None = Field(None, description="SMTP login; the password comes from password_env.")
    password_env: EnvName = Field(
        "LIVEWATCH_SMTP_PASSWORD", description="Environment variable of the SMTP password.")

    @model_validator(mode="after")
    def _addresses(self) -> Self:
        if not self.to:
            raise ValueError("an email target needs `to: [reviewer@example.org]`")
        bad = [address for address in [*self.to, self.sender] if "@" not in address]
        if bad:
            raise ValueError(f"not an e-mail address: {', '.join(bad)}")
        if self.tls and self.starttls:
            raise ValueError("choose tls (implicit TLS) or starttls, not both")
        return self


class EmailChannel(Channel[EmailTarget]):
    target_model: ClassVar[type[AlertTarget]] = EmailTarget
    type: ClassVar[str] = "email"

    def send(self, delivery: Delivery) -> None:
        target = self.target
        port = target.smtp_port or (465 if target.tls else 587 if target.starttls else 25)
        message = message_for(delivery, target.sender, list(target.to))
        with Deadline(target.timeout_s) as deadline:
            try:
                refused = self._send(message, port, deadline)
            except (smtplib.SMTPException, OSError) as err:
                if deadline.expired:  # whatever broke, it broke because the deadline cut the connection
                    raise AlertDeliveryError(f"{target.smtp_host}:{port} did not finish within timeout_s = "
                                             f"{target.timeout_s:g} s") from None
                raise _delivery_error(err, f"{target.smtp_host}:{port}") from None
        if refused:
            # Some recipients took it: a retry would send them a second copy, so it counts as delivered.
            log.warning("alert %s: refused by some recipients: %s", delivery.key, _codes(refused))

    def _send(self, message: EmailMessage, port: int, deadline: Deadline) -> dict[str, Any]:
        target = self.target
        context = ssl.create_default_context()
        client: smtplib.SMTP
        if target.tls:
            client = _WatchedSMTPS(deadline, target.smtp_host, port, timeout=target.timeout_s, context=context)
        else:
            client = _WatchedSMTP(deadline, target.smtp_host, port, timeout=target.timeout_s)
        with client:
            if target.starttls:
                client.starttls(context=context)
            if target.username:
                password = self.environ.get(target.password_env)
                if password is None:
                    raise AlertDeliveryError(f"environment variable {target.password_env} is not set "
                                             f"(SMTP login {target.username})")
                client.login(target.username, password)
            refused: dict[str, Any] = client.send_message(message)
            return refused


def _delivery_error(err: smtplib.SMTPException | OSError, server: str) -> AlertDeliveryError:
    if isinstance(err, AlertDeliveryError):
        return err
    if isinstance(err, smtplib.SMTPRecipientsRefused):
        return AlertDeliveryError(f"every recipient was refused: {_codes(err.recipients)}", permanent=True)
    if isinstance(err, smtplib.SMTPAuthenticationError):
        return AlertDeliveryError(f"SMTP login refused ({err.smtp_code})", permanent=True)
    if isinstance(err, smtplib.SMTPResponseException):
        return AlertDeliveryError(f"SMTP {err.smtp_code}: {_text(err.smtp_error)}",
                                  permanent=500 <= err.smtp_code < 600)
    return AlertDeliveryError(f"cannot send through {server}: {err}")


def _watch_socket(deadline: Deadline, host: str, port: int, timeout: float, source_address: Any) -> socket.socket:
    # What smtplib.SMTP._get_socket does, plus the watch (typeshed does not declare _get_socket).
    return deadline.watch(socket.create_connection((host, port), timeout, source_address))


class _WatchedSMTP(smtplib.SMTP):
    """The connection's socket is put under the attempt's deadline as soon as it connects."""

    def __init__(self, deadline: Deadline, *args: Any, **kwargs: Any) -> None:
        self._deadline = deadline
        super().__init__(*args, **kwargs)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        return _watch_socket(self._deadline, host, port, timeout, self.source_address)


class _WatchedSMTPS(smtplib.SMTP_SSL):
    def __init__(self, deadline: Deadline, *args: Any, **kwargs: Any) -> None:
        self._deadline = deadline
        super().__init__(*args, **kwargs)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        # Watched before the TLS handshake, so a server that drips the handshake is cut off too.
        raw = _watch_socket(self._deadline, host, port, timeout, self.source_address)
        return self.context.wrap_socket(raw, server_hostname=host)


def _codes(recipients: dict[str, Any]) -> str:
    return ", ".join(f"{address} ({code[0] if isinstance(code, tuple) else code})"
                     for address, code in recipients.items())


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value
