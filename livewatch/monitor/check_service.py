"""The monitor's check service: re-checks an event against its rule packs as its transcript grows, and
once more, with the audio measured, when its capture and transcription are over. New open findings go to
the alert service first; then the event's report and exports (``reports/<event-id>/``) and the index are
written anew.

Checks run in their own thread so that a slow check never holds up capture or Whisper; an event marked
several times before its turn is checked once.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from livewatch.alerts import AlertService
from livewatch.checking import EventCheck, check_event
from livewatch.reports.render import publish
from livewatch.rules.packs import PackLibrary
from livewatch.session import Session

log = logging.getLogger(__name__)


class CheckService:
    def __init__(self, session: Session, *, interval: float = 5.0, alerts: AlertService | None = None) -> None:
        self.session, self.interval, self.alerts = session, interval, alerts
        self.library = PackLibrary(session.settings.rule_packs_dir)  # read once: a broken pack fails at start
        self._pending: dict[str, bool] = {}  # event id → final check wanted
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._working = False
        self._thread = threading.Thread(target=self._loop, name="checks", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, wait_s: float | None = None) -> None:
        """Stop the checks, waiting at most ``wait_s`` (a check in progress is run again after a restart)."""
        self._stop.set()
        self._wake.set()
        self._thread.join(wait_s)

    def mark(self, event_id: str, *, final: bool = False) -> None:
        """Check ``event_id`` now; ``final`` once its run and transcript are complete (adds the audio).
        Marks that arrive while a check runs are taken together by the next one."""
        with self._lock:
            self._pending[event_id] = self._pending.get(event_id, False) or final
        self._wake.set()

    def busy(self) -> bool:
        with self._lock:
            return bool(self._pending) or self._working

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            with self._lock:
                pending, self._pending = self._pending, {}
                self._working = bool(pending)
            for event_id, final in pending.items():
                try:
                    self.check_now(event_id, final=final)
                except Exception:  # one event's failure never stops the others' checks
                    log.exception("%s: check failed", event_id)
            with self._lock:
                self._working = False

    def check_now(self, event_id: str, *, final: bool) -> tuple[EventCheck, Path]:
        """Check one event in the calling thread: its findings (alerted, when this service alerts) and its
        report; ``final`` adds the audio checks. Returns the check and the report's path."""
        return check_and_publish(self.session, self.library, event_id, final=final, alerts=self.alerts)


def check_and_publish(session: Session, library: PackLibrary, event_id: str, *, final: bool,
                      alerts: AlertService | None) -> tuple[EventCheck, Path]:
    """One check of one event: its findings, raised as alerts (with ``alerts``) before its report and
    exports are written. The monitor's check thread and a distributed worker's check task both run this."""
    result = check_event(session, event_id, library=library, audio=final)
    if alerts is not None:  # before the report: an alert must not wait for rendering
        report = session.data.report_dir(event_id) / "report.html"
        alerts.on_findings(result.findings, result.event, str(report))
    published = publish(session, result)
    log.info("%s: %d finding(s), verdict %s%s", event_id, len(result.findings), result.verdict,
             " (final)" if final else "")
    return result, published
