"""The monitor's alert service: raises alerts (from checks and the schedule watch) into the outbox and runs
one delivery thread per target, so that a slow or unreachable receiver never holds up the others.

When the outbox cannot be written (the data directory's file system is full, the database is broken) an
alert is not lost: it is kept in memory and delivered from there by the same threads, with the same retries
and ``give_up_after_s``, for as long as this process runs. Such an alert is not durable: a stop before it is
delivered loses it (the log has it, at error level).
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from livewatch.alerts.base import Alert, AlertDeliveryError, Channel, Delivery
from livewatch.alerts.outbox import AlertOutbox, OutboxRow
from livewatch.alerts.registry import ChannelRegistry
from livewatch.alerts.routing import Route, routes_for
from livewatch.alerts.watch import ScheduleWatch, read_facts, schedule_alerts
from livewatch.capture.context import utc_now
from livewatch.registration.models import Event, EventAlerts
from livewatch.rules.engine import Finding
from livewatch.settings import AlertTarget, Settings

log = logging.getLogger(__name__)
#: How often the schedule watch looks at the events (seconds); a no-show is noticed within this.
WATCH_INTERVAL = 2.0
#: How many recently raised alert keys a service remembers without asking the outbox.
SEEN_KEYS = 10_000
#: Alerts a target keeps in memory while the outbox cannot be written; the oldest go first past this.
MEMORY_ALERTS = 1_000
#: Seconds :meth:`AlertService.stop` waits for a delivery in flight (its channel's deadline may be longer).
STOP_WAIT_S = 2.0


@dataclass(frozen=True)
class HeldAlert:
    """An alert the outbox could not take, waiting in memory for its next try."""

    alert: Alert
    created_at: datetime
    due_at: datetime
    attempts: int = 0


def finding_alert(finding: Finding, event: Event | None, report: str | None = None) -> Alert:
    minutes, seconds = divmod(int(max(finding.offset_s, 0)), 60)
    return Alert(
        key=f"finding|{finding.id}", kind="finding", severity=finding.severity, category=finding.category,
        title=finding.title or finding.rule, at=finding.start_at, event_id=finding.event_id,
        summary=f"“{finding.matched}” at {minutes:02d}:{seconds:02d} on air ({finding.rule}, {finding.pack})",
        event_title=event.title if event is not None else None, rule=finding.rule, matched=finding.matched,
        evidence=finding.evidence, offset_s=round(finding.offset_s, 1), finding_id=finding.id, report=report,
        details={"pack": finding.pack, "stream": finding.stream, "asr_confidence": finding.asr_confidence,
                 "low_confidence": finding.low_confidence, "legal_basis": finding.legal_basis},
    )


class AlertService:
    """Delivers what is raised into ``outbox`` (a session's ``alerts``) to the configured targets; with a
    ``watch`` (the monitor's), also raises the schedule and capture alerts of the events it names."""

    def __init__(self, settings: Settings, outbox: AlertOutbox, *, watch: ScheduleWatch | None = None,
                 registry: ChannelRegistry | None = None, environ: Mapping[str, str] | None = None,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self.settings, self.clock = settings, clock
        self.outbox = outbox
        self.watch = watch
        registry = registry or ChannelRegistry()
        self.targets: dict[str, AlertTarget] = {target.name: target for target in settings.alerts}
        self.channels: dict[str, Channel[Any]] = {name: registry.channel_for(target, environ)
                                             for name, target in self.targets.items()}
        self._wake = {name: threading.Event() for name in self.targets}
        self._stop = threading.Event()
        # Keys raised lately in this process: a repeat costs no database round trip. Bounded, because a
        # monitor runs for months; a key that fell out is found in the outbox instead.
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._seen_lock = threading.Lock()
        self._held: dict[str, deque[HeldAlert]] = {name: deque() for name in self.targets}
        self._held_lock = threading.Lock()
        # The outbox row each delivery thread has claimed and not yet settled (stop() puts these back).
        self._in_flight: dict[str, int] = {}
        self._threads = [threading.Thread(target=self._deliver_loop, args=(name,), name=f"alerts-{name}",
                                          daemon=True) for name in self.targets]
        if watch is not None and settings.alerting.schedule_alerts:
            self._threads.append(threading.Thread(target=self._watch_loop, name="alerts-watch", daemon=True))

    # -- life cycle -------------------------------------------------------------------------------------

    def start(self) -> None:
        recovered = self.outbox.recover()
        if recovered:
            log.info("%d alert deliveries interrupted by a stop will be sent again", recovered)
        for thread in self._threads:
            thread.start()

    def stop(self, wait_s: float = STOP_WAIT_S) -> None:
        """Stop the threads, waiting at most ``wait_s`` in all: a delivery to a receiver that drips its
        answer is abandoned, not waited for, and its row goes back to ``pending`` to be sent after the next
        start (same idempotency key, so a receiver that got it after all can drop the copy)."""
        self._stop.set()
        for wake in self._wake.values():
            wake.set()
        deadline = time.monotonic() + wait_s
        for thread in self._threads:
            if thread.is_alive():
                thread.join(max(0.0, deadline - time.monotonic()))
        for name, row_id in list(self._in_flight.items()):
            log.warning("alert delivery to %s still in flight at the stop; it goes out again after a restart", name)
            try:
                self.outbox.release(row_id)
            except (SQLAlchemyError, OSError):
                log.exception("cannot put alert row %s back to pending; the next start does", row_id)
        with self._held_lock:
            lost = sum(len(held) for held in self._held.values())
        if lost:
            log.error("%d alert(s) that could not be written to the outbox were not delivered before the stop",
                      lost)

    def busy(self) -> bool:
        """Alerts raised but not yet tried once (a one-shot monitor waits for their first try)."""
        return bool(self.targets) and self.outbox.first_try_due(self.clock(), list(self.targets))

    # -- raising ----------------------------------------------------------------------------------------

    def raise_alert(self, alert: Alert, event_alerts: EventAlerts | None = None) -> None:
        if self._recall(alert.key):
            return
        routes = routes_for(alert, list(self.targets.values()), self.settings.alerting, event_alerts)
        try:
            if self.outbox.known(alert.key):  # raised before a restart: a read, not a write transaction
                self._remember(alert.key)
                return
            outcome = self.outbox.add(alert, routes, self.clock())
        except (SQLAlchemyError, OSError) as err:
            self._hold(alert, routes, err)
            return
        self._remember(alert.key)
        if outcome:
            log.info("alert %s (%s %s): %s", alert.key, alert.severity, alert.category,
                     ", ".join(f"{target} {what}" for target, what in outcome.items()))
            for target in outcome:
                self._wake[target].set()

    def _hold(self, alert: Alert, routes: list[Route], err: Exception) -> None:
        """The outbox cannot take ``alert``: deliver it from memory (see the module's docstring)."""
        log.error("cannot write alert %s to the outbox (%s); delivering it from memory, not durably: %s %s %s",
                  alert.key, err, alert.severity, alert.event_id or "-", alert.summary)
        now = self.clock()
        self._remember(alert.key)
        with self._held_lock:
            for route in routes:
                held = self._held[route.target]
                if len(held) >= MEMORY_ALERTS:
                    dropped = held.popleft()
                    log.error("alert %s dropped from memory: too many alerts waiting for %s", dropped.alert.key,
                              route.target)
                held.append(HeldAlert(alert, now, now))
        for route in routes:
            self._wake[route.target].set()

    def _recall(self, key: str) -> bool:
        with self._seen_lock:
            if key in self._seen:
                self._seen.move_to_end(key)
                return True
            return False

    def _remember(self, key: str) -> None:
        with self._seen_lock:
            self._seen[key] = None
            if len(self._seen) > SEEN_KEYS:
                self._seen.popitem(last=False)

    def on_findings(self, findings: list[Finding], event: Event | None, report: str | None = None) -> None:
        """New open findings of one check become alerts (findings seen before are known by key)."""
        for finding in findings:
            if finding.status == "open":
                self.raise_alert(finding_alert(finding, event, report), event.alerts if event else None)

    def watch_once(self) -> None:
        if self.watch is None:
            return
        now = self.clock()
        for event in list(self.watch.events().values()):
            capture = event.capture
            if not (event.start - timedelta(minutes=capture.pre_roll_minutes) <= now
                    <= event.end + timedelta(minutes=capture.overrun_cap_minutes + 5)):
                continue
            try:
                run, gaps = read_facts(self.watch.records, event)
                gap_s = event.alerts.gap_alert_s or self.settings.alerting.gap_alert_s
                for alert in schedule_alerts(event, run, gaps, now, gap_s):
                    self.raise_alert(alert, event.alerts)
            except Exception:  # one event's trouble never stops the watch of the others
                log.exception("%s: schedule watch failed", event.id)

    def _watch_loop(self) -> None:
        while not self._stop.wait(WATCH_INTERVAL):
            self.watch_once()

    # -- delivering -------------------------------------------------------------------------------------

    def _deliver_loop(self, name: str) -> None:
        wake = self._wake[name]
        while not self._stop.is_set():
            next_due = self._deliver_held(name)
            try:
                for row in self.outbox.due(name, self.clock()):
                    if self._stop.is_set():
                        return
                    self.deliver(row)
                due = self.outbox.next_due(name)
                next_due = due if next_due is None or (due is not None and due < next_due) else next_due
            except Exception:  # the database busy or gone for a moment: try again shortly
                log.exception("alert delivery to %s failed unexpectedly", name)
            wait = 5.0 if next_due is None else (next_due - self.clock()).total_seconds()
            wake.wait(min(max(wait, 0.0), 5.0))
            wake.clear()

    def deliver(self, row: OutboxRow) -> bool:
        """One attempt at one row; records the outcome. True when delivered. The row never stays
        ``sending``: whatever goes wrong after the claim, it is settled or put back to ``pending``."""
        target = self.targets[row.target]
        if self._expired(row.created_at, target):  # e.g. found after a long stop: undelivered too long
            self.outbox.failed(row.id, f"given up: undelivered {target.give_up_after_s:g} s after it was raised")
            log.error("alert %s to %s given up unsent (give_up_after_s = %g)", row.key, row.target,
                      target.give_up_after_s)
            return False
        claimed = self.outbox.claim(row.id)
        if claimed is None:
            return False
        self._in_flight[claimed.target] = claimed.id
        settled = False
        try:
            try:
                self.channels[claimed.target].send(Delivery(claimed.key, claimed.target, claimed.payload,
                                                            claimed.attempts))
            except Exception as err:
                error, due = self._next_try(claimed.key, claimed.target, claimed.created_at, claimed.attempts, err)
                if due is None:
                    self.outbox.failed(claimed.id, error)
                else:
                    self.outbox.retry(claimed.id, error, due)
                settled = True
                return False
            self.outbox.sent(claimed.id, self.clock())
            settled = True
            log.info("alert %s delivered to %s (attempt %d)", claimed.key, claimed.target, claimed.attempts)
            return True
        finally:
            if self._in_flight.get(claimed.target) == claimed.id:
                del self._in_flight[claimed.target]
            if not settled:  # recording the outcome failed; a row left `sending` would wait for a restart
                self.outbox.release(claimed.id)

    def _deliver_held(self, name: str) -> datetime | None:
        """Try the alerts held in memory for target ``name`` that are due; returns when the next one is."""
        now = self.clock()
        with self._held_lock:
            held = self._held[name]
            due = [item for item in held if item.due_at <= now]
            for item in due:
                held.remove(item)
        for item in due:
            alert = item.alert
            attempt = item.attempts + 1
            try:
                self.channels[name].send(Delivery(alert.key, name, alert.payload(), attempt))
                log.info("alert %s delivered to %s from memory (attempt %d)", alert.key, name, attempt)
                continue
            except Exception as err:
                _, next_at = self._next_try(alert.key, name, item.created_at, attempt, err)
            if next_at is not None and not self._stop.is_set():
                with self._held_lock:
                    self._held[name].append(HeldAlert(alert, item.created_at, next_at, attempt))
        with self._held_lock:
            return min((item.due_at for item in self._held[name]), default=None)

    def _expired(self, created_at: datetime, target: AlertTarget) -> bool:
        return (self.clock() - created_at).total_seconds() >= target.give_up_after_s

    def _next_try(self, key: str, name: str, created_at: datetime, attempts: int,
                  err: Exception) -> tuple[str, datetime | None]:
        """After a failed attempt: the error to record, and when to try again (None: failed for good).
        The receiver's Retry-After is honoured up to ``retry_max_s`` and never past ``give_up_after_s``:
        a receiver cannot push an alert years ahead, nor keep it pending, nor (through the cooldown) fold
        every later alert into one that never goes out."""
        target = self.targets[name]
        now = self.clock()
        if not isinstance(err, AlertDeliveryError):
            log.exception("alert %s to %s: unexpected error", key, name, exc_info=err)
            err = AlertDeliveryError(f"{type(err).__name__}: {err}")
        give_up_at = created_at + timedelta(seconds=target.give_up_after_s)
        if err.permanent or now >= give_up_at:
            why = "refused" if err.permanent else f"given up after {attempts} attempts"
            log.error("alert %s to %s failed for good: %s (%s)", key, name, err, why)
            return f"{err} ({why})", None
        backoff = target.retry_base_s * 2 ** min(max(attempts - 1, 0), 60) * random.uniform(0.8, 1.2)  # noqa: S311
        asked = err.retry_after if err.retry_after is not None and math.isfinite(err.retry_after) else 0.0
        delay = min(max(backoff, asked), target.retry_max_s)
        due = min(now + timedelta(seconds=delay), give_up_at)
        log.warning("alert %s to %s: attempt %d failed (%s); next try in %.0f s", key, name, attempts, err,
                    (due - now).total_seconds())
        return str(err), due


def send_test(settings: Settings, *, registry: ChannelRegistry | None = None,
              environ: Mapping[str, str] | None = None, only: str | None = None,
              clock: Callable[[], datetime] = utc_now) -> dict[str, str | None]:
    """Send one test alert straight to each target (no outbox, one try); target → None or the error."""
    registry = registry or ChannelRegistry()
    now = clock()
    alert = Alert(key=f"test|{now.isoformat()}", kind="test", severity="info", category="test",
                  title="livewatch test alert", summary="a test alert from `livewatch alerts test`", at=now)
    results: dict[str, str | None] = {}
    for target in settings.alerts:
        if only is not None and target.name != only:
            continue
        try:
            registry.channel_for(target, environ).send(Delivery(alert.key, target.name, alert.payload(), 1))
            results[target.name] = None
        except Exception as err:
            results[target.name] = str(err)
    return results
