"""What the demo shows while the monitor works: one console line for each thing that happened.

The watcher reads the monitor's database (and the report folder) a couple of times a second, from the
demo's own thread, instead of hooking into the monitor: the demo then shows exactly what `livewatch status`
and a reviewer would see, and the monitor runs unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from rich.markup import escape

from livewatch.session import Session

#: Findings of one rule closer than this are shown once (a re-check may move a hit by a word or two).
SAME_S = 3.0
SEVERITY_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan", "info": "dim"}


def clock(moment: datetime | None = None) -> str:
    """Local wall-clock time of day, for the start of each progress line."""
    return (moment or datetime.now(UTC)).astimezone().strftime("%H:%M:%S")


def offset(moment: datetime, zero: datetime) -> str:
    """``+m:ss`` from the start of the broadcast."""
    seconds = max(0, round((moment - zero).total_seconds()))
    return f"+{seconds // 60}:{seconds % 60:02d}"


class ProgressWatcher:
    """Says each new state of the event's run, recorded segment, transcript line, finding and report."""

    def __init__(self, session: Session, event_id: str, zero: datetime, say: Callable[[str], None]) -> None:
        self.session, self.data, self.event_id, self.zero, self.say = session, session.data, event_id, zero, say
        self.status: str | None = None
        self.segments = 0
        self.last_transcript = 0
        self.findings: set[str] = set()
        self.shown: list[tuple[str, datetime]] = []
        self.report_written: float | None = None

    def poll(self) -> None:
        run = self.session.runs.latest_run(self.event_id)
        if run is None:
            return
        if run.status != self.status:
            self._status(run.status, run.stop_reason)
        for seg in self.session.runs.audio_segments_of_run(run.id, skip=self.segments):
            self.segments += 1
            note = "" if seg.status == "ok" else f" ({seg.status})"
            self._line(f"segment {self.segments} recorded: {offset(seg.start_at, self.zero)} to "
                       f"{offset(seg.end_at, self.zero)}{note}")
        for row_id, span in self.session.transcripts.spans_after(run.id, self.last_transcript):
            self.last_transcript = row_id
            self._line(f"transcribed {offset(span.start_at, self.zero)}: [italic]{escape(span.text.strip())}"
                       "[/italic]")
        for found in self.session.findings.headlines(self.event_id):
            if found.id in self.findings:
                continue
            self.findings.add(found.id)
            # A later check may place the same hit a little differently (more context, another id);
            # it is the same finding to the viewer.
            if any(rule == found.rule and abs((found.start_at - at).total_seconds()) < SAME_S
                   for rule, at in self.shown):
                continue
            self.shown.append((found.rule, found.start_at))
            style = SEVERITY_STYLE.get(found.severity, "")
            where = f" at {offset(found.start_at, self.zero)}" if found.category != "technical" else ""
            matched = f" “{escape(found.matched)}”" if found.matched else ""
            self._line(f"finding: [{style}]{found.severity}[/{style}] {escape(found.rule)}{matched}{where}")
        self._report()

    def finish(self) -> None:
        """The monitor is done: one last look, and the final numbers."""
        self.poll()
        gaps = self.session.runs.count_gaps(event_id=self.event_id)
        self._line(f"capture, transcription and final check done: {self.segments} segment(s), {gaps} gap(s)")

    def _status(self, status: str, reason: str | None) -> None:
        self.status = status
        if status == "waiting":
            self._line("capture started: waiting for the stream to go live")
        elif status == "recording":
            self._line("recording the live stream (from the first segment it still lists)")
        elif status == "reconnecting":
            self._line("the stream dropped; reconnecting")
        else:
            self._line(f"capture ended: {escape(status)}" + (f" ({escape(reason)})" if reason else ""))

    def _report(self) -> None:
        report = self.data.report_dir(self.event_id) / "report.html"
        try:
            written = report.stat().st_mtime
        except OSError:
            return
        if self.report_written is None:
            self._line(f"report written: {escape(str(report))} (rewritten after every check)")
        self.report_written = written

    def _line(self, text: str) -> None:
        self.say(f"[dim]{clock()}[/dim] {text}")
