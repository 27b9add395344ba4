"""E-mail over SMTP: plain, STARTTLS or implicit TLS, with an optional login.

The Message-ID is derived from the alert's idempotency key, so a mail system (or a reviewer's client) sees a
retried alert as the same message. The password comes from the environment (``password_env``).
"""

from __future__ import annotations

import hashlib
import logging
import smtplib
import ssl
from email.message import EmailMessage
from typing import Any, ClassVar

from livewatch.alerts.base import AlertDeliveryError, Channel, Delivery

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


class EmailChannel(Channel):
    type: ClassVar[str] = "email"

    def send(self, delivery: Delivery) -> None:
        target = self.target
        port = target.smtp_port or (465 if target.tls else 587 if target.starttls else 25)
        message = message_for(delivery, target.sender, list(target.to))
        context = ssl.create_default_context()
        try:
            client: smtplib.SMTP
            if target.tls:
                client = smtplib.SMTP_SSL(target.smtp_host, port, timeout=target.timeout_s, context=context)
            else:
                client = smtplib.SMTP(target.smtp_host, port, timeout=target.timeout_s)
            with client:
                if target.starttls:
                    client.starttls(context=context)
                if target.username:
                    password = self.environ.get(target.password_env)
                    if password is None:
                        raise AlertDeliveryError(f"environment variable {target.password_env} is not set "
                                                 f"(SMTP login {target.username})")
                    client.login(target.username, password)
                refused = client.send_message(message)
        except smtplib.SMTPRecipientsRefused as err:
            raise AlertDeliveryError(f"every recipient was refused: {_codes(err.recipients)}",
                                     permanent=True) from None
        except smtplib.SMTPAuthenticationError as err:
            raise AlertDeliveryError(f"SMTP login refused ({err.smtp_code})", permanent=True) from None
        except smtplib.SMTPResponseException as err:
            raise AlertDeliveryError(f"SMTP {err.smtp_code}: {_text(err.smtp_error)}",
                                     permanent=500 <= err.smtp_code < 600) from None
        except (smtplib.SMTPException, OSError) as err:
            raise AlertDeliveryError(f"cannot send through {target.smtp_host}:{port}: {err}") from None
        if refused:
            # Some recipients took it: a retry would send them a second copy, so it counts as delivered.
            log.warning("alert %s: refused by some recipients: %s", delivery.key, _codes(refused))


def _codes(recipients: dict[str, Any]) -> str:
    return ", ".join(f"{address} ({code[0] if isinstance(code, tuple) else code})"
                     for address, code in recipients.items())


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value
