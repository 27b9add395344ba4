"""The monitor's alert service: raises alerts (from checks and the schedule watch) into the outbox and runs
one delivery thread per target, so that a slow or unreachable receiver never holds up the others."""

from __future__ import annotations

import logging
import random
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from sqlalchemy import Engine

from livewatch.alerts.base import Alert, AlertDeliveryError, Channel, Delivery
from livewatch.alerts.outbox import Outbox, OutboxRow
from livewatch.alerts.registry import ChannelRegistry
from livewatch.alerts.routing import routes_for
from livewatch.alerts.watch import read_facts, schedule_alerts
from livewatch.capture.context import utc_now
from livewatch.registration.models import Event, EventAlerts
from livewatch.rules.engine import Finding
from livewatch.settings import AlertTarget, Settings

log = logging.getLogger(__name__)
#: How often the schedule watch looks at the events (seconds); a no-show is noticed within this.
WATCH_INTERVAL = 2.0
#: How many recently raised alert keys a service remembers without asking the outbox.
SEEN_KEYS = 10_000


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
    def __init__(self, settings: Settings, engine: Engine, *, events: Callable[[], Mapping[str, Event]] | None = None,
                 registry: ChannelRegistry | None = None, environ: Mapping[str, str] | None = None,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self.settings, self.clock = settings, clock
        self.outbox = Outbox(engine)
        self.engine = engine
        self.events = events
        registry = registry or ChannelRegistry()
        self.targets: dict[str, AlertTarget] = {target.name: target for target in settings.alerts}
        self.channels: dict[str, Channel] = {name: registry.channel_for(target, environ)
                                             for name, target in self.targets.items()}
        self._wake = {name: threading.Event() for name in self.targets}
        self._stop = threading.Event()
        # Keys raised lately in this process: a repeat costs no database round trip. Bounded, because a
        # monitor runs for months; a key that fell out is found in the outbox instead.
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._seen_lock = threading.Lock()
        self._threads = [threading.Thread(target=self._deliver_loop, args=(name,), name=f"alerts-{name}",
                                          daemon=True) for name in self.targets]
        if events is not None and settings.alerting.schedule_alerts:
            self._threads.append(threading.Thread(target=self._watch_loop, name="alerts-watch", daemon=True))

    # -- life cycle -------------------------------------------------------------------------------------

    def start(self) -> None:
        recovered = self.outbox.recover()
        if recovered:
            log.info("%d alert deliveries interrupted by a stop will be sent again", recovered)
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for wake in self._wake.values():
            wake.set()
        for thread in self._threads:
            if thread.is_alive():
                thread.join()

    def busy(self) -> bool:
        """Alerts raised but not yet tried once (a one-shot monitor waits for their first try)."""
        return bool(self.targets) and self.outbox.first_try_due(self.clock(), list(self.targets))

    # -- raising ----------------------------------------------------------------------------------------

    def raise_alert(self, alert: Alert, event_alerts: EventAlerts | None = None) -> None:
        if self._recall(alert.key):
            return
        if self.outbox.known(alert.key):  # raised before a restart: a read, not a write transaction
            self._remember(alert.key)
            return
        routes = routes_for(alert, list(self.targets.values()), self.settings.alerting, event_alerts)
        outcome = self.outbox.add(alert, routes, self.clock())
        self._remember(alert.key)
        if outcome:
            log.info("alert %s (%s %s): %s", alert.key, alert.severity, alert.category,
                     ", ".join(f"{target} {what}" for target, what in outcome.items()))
            for target in outcome:
                self._wake[target].set()

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
        if self.events is None:
            return
        now = self.clock()
        for event in list(self.events().values()):
            capture = event.capture
            if not (event.start - timedelta(minutes=capture.pre_roll_minutes) <= now
                    <= event.end + timedelta(minutes=capture.overrun_cap_minutes + 5)):
                continue
            try:
                run, gaps = read_facts(self.engine, event)
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
            try:
                for row in self.outbox.due(name, self.clock()):
                    if self._stop.is_set():
                        return
                    self.deliver(row)
                next_due = self.outbox.next_due(name)
            except Exception:  # the database busy or gone for a moment: try again shortly
                log.exception("alert delivery to %s failed unexpectedly", name)
                next_due = None
            wait = 5.0 if next_due is None else (next_due - self.clock()).total_seconds()
            wake.wait(min(max(wait, 0.0), 5.0))
            wake.clear()

    def deliver(self, row: OutboxRow) -> bool:
        """One attempt at one row; records the outcome. True when delivered."""
        claimed = self.outbox.claim(row.id)
        if claimed is None:
            return False
        target = self.targets[claimed.target]
        try:
            self.channels[claimed.target].send(Delivery(claimed.key, claimed.target, claimed.payload,
                                                        claimed.attempts))
        except Exception as err:
            self._failed_attempt(claimed, target, err)
            return False
        self.outbox.sent(claimed.id, self.clock())
        log.info("alert %s delivered to %s (attempt %d)", claimed.key, claimed.target, claimed.attempts)
        return True

    def _failed_attempt(self, row: OutboxRow, target: AlertTarget, err: Exception) -> None:
        now = self.clock()
        if not isinstance(err, AlertDeliveryError):
            log.exception("alert %s to %s: unexpected error", row.key, row.target, exc_info=err)
            err = AlertDeliveryError(f"{type(err).__name__}: {err}")
        age = (now - row.created_at).total_seconds()
        if err.permanent or age >= target.give_up_after_s:
            why = "refused" if err.permanent else f"given up after {row.attempts} attempts"
            self.outbox.failed(row.id, f"{err} ({why})")
            log.error("alert %s to %s failed for good: %s (%s)", row.key, row.target, err, why)
            return
        delay = min(target.retry_max_s, target.retry_base_s * 2 ** (row.attempts - 1))
        delay = max(delay * random.uniform(0.8, 1.2), err.retry_after or 0.0)  # noqa: S311 (jitter, not crypto)
        self.outbox.retry(row.id, str(err), now + timedelta(seconds=delay))
        log.warning("alert %s to %s: attempt %d failed (%s); next try in %.0f s", row.key, row.target,
                    row.attempts, err, delay)


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
