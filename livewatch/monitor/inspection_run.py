"""One inspection run by ``livewatch watch`` itself, when no monitor holds the data directory: a monitor in
one-shot mode for that one event (the other registrations stay as they are, armed for the next full
monitor), with a line of progress every few seconds.

The first interruption ends the capture on purpose: the run is finished with what it recorded, the rest of
its audio transcribed, the event checked and its report written, then the command ends. A second one stops
at once, like a monitor's shutdown (the run stays open; the next monitor, or ``livewatch report``, completes
it).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from livewatch.capture.context import utc_now
from livewatch.monitor.monitor import Monitor
from livewatch.pipeline.run_status import FINAL, FINISHED, INCOMPLETE
from livewatch.registration.models import Event
from livewatch.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InspectionOutcome:
    event_id: str
    run_status: str | None
    findings: int
    report: Path | None
    #: The run is over (finished or incomplete) and its report written after its final check.
    complete: bool
    #: Stopped by a second interruption before everything was saved.
    stopped: bool


class InspectionRun:
    def __init__(self, settings: Settings, schedules: Sequence[Path], event: Event, *,
                 progress: Callable[[str], None], reload_interval: float = 1.0,
                 progress_interval: float = 5.0) -> None:
        self.event = event
        self.progress, self.progress_interval = progress, progress_interval
        self.monitor = Monitor(settings, schedules, reload_interval=reload_interval,
                               horizon=timedelta(minutes=1), only={event.id})
        self._interruptions = 0
        self._finished = threading.Event()

    def start(self) -> None:
        self.monitor.start()

    def run(self) -> InspectionOutcome:
        """Until the run is recorded, transcribed, checked and reported, or stopped; then shut down."""
        reporter = threading.Thread(target=self._report_progress, name="watch-progress", daemon=True)
        reporter.start()
        try:
            self.monitor.run_until_idle()
        finally:
            self._finished.set()
            outcome = self._outcome()
            self.monitor.shutdown()
        return outcome

    def interrupt(self) -> str:
        """What Ctrl-C does (see the module's docstring); returns what to tell the user."""
        self._interruptions += 1
        event_id = self.event.id
        if self._interruptions == 1 and self.monitor.end_capture(event_id):
            return (f"{event_id}: stopping the recording; finishing the transcript and the report "
                    "(Ctrl-C again to stop at once)")
        if self._interruptions == 1 and event_id in self.monitor.done:
            return f"{event_id}: recording over; finishing the transcript and the report (Ctrl-C again to stop at once)"
        self.monitor.request_stop()
        return f"{event_id}: stopping now; `livewatch report {event_id}` writes the report of what was saved"

    def _report_progress(self) -> None:
        while not self._finished.wait(self.progress_interval):
            try:
                self.progress(self._progress_line())
            except Exception as err:  # progress is a courtesy; the run goes on without it
                log.debug("no progress line: %s", err)

    def _progress_line(self) -> str:
        session = self.monitor.session
        run = session.runs.latest_run(self.event.id)
        findings = session.findings.headlines(self.event.id)
        left = (self.event.end - utc_now()).total_seconds()
        if run is None:
            state = "waiting to start"
        else:
            state = run.status
            if run.on_air_at is not None:
                state += f", {((run.off_air_at or utc_now()) - run.on_air_at).total_seconds():.0f} s on air"
        window = f"{left:.0f} s of the window left" if left > 0 else "window over"
        return f"{self.event.id}: {state}; {window}; {len(findings)} finding(s)"

    def _outcome(self) -> InspectionOutcome:
        event_id = self.event.id
        session = self.monitor.session
        run = session.runs.latest_run(event_id)
        status = run.status if run is not None else None
        report = session.data.report_dir(event_id) / "report.html"
        complete = (status in (FINISHED, INCOMPLETE) and self.monitor.idle() and report.is_file())
        return InspectionOutcome(event_id, status, len(session.findings.headlines(event_id)),
                                 report if report.is_file() else None, complete,
                                 stopped=not self.monitor.idle() or status not in FINAL)
