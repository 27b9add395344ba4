"""What the demo shows while the monitor works: one console line for each thing that happened.

The watcher reads the monitor's database (and the report folder) a couple of times a second, from the
demo's own thread, instead of hooking into the monitor: the demo then shows exactly what `livewatch status`
and a reviewer would see, and the monitor runs unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from rich.markup import escape
from sqlalchemy import Engine, func, select

from livewatch.state import DataDir, tables

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

    def __init__(self, engine: Engine, data: DataDir, event_id: str, zero: datetime,
                 say: Callable[[str], None]) -> None:
        self.engine, self.data, self.event_id, self.zero, self.say = engine, data, event_id, zero, say
        self.status: str | None = None
        self.segments = 0
        self.last_transcript = 0
        self.findings: set[str] = set()
        self.shown: list[tuple[str, datetime]] = []
        self.report_written: float | None = None

    def poll(self) -> None:
        with self.engine.connect() as conn:
            run = conn.execute(select(tables.runs).where(tables.runs.c.event_id == self.event_id)
                               .order_by(tables.runs.c.id.desc()).limit(1)).first()
            if run is None:
                return
            if run.status != self.status:
                self._status(run.status, run.stop_reason)
            segs = tables.segments
            audio = list(conn.execute(select(segs.c.seq, segs.c.start_at, segs.c.end_at, segs.c.status)
                                      .where(segs.c.run_id == run.id, segs.c.kind == "audio")
                                      .order_by(segs.c.seq).offset(self.segments)))
            for seg in audio:
                self.segments += 1
                note = "" if seg.status == "ok" else f" ({seg.status})"
                self._line(f"segment {self.segments} recorded: {offset(seg.start_at, self.zero)} to "
                           f"{offset(seg.end_at, self.zero)}{note}")
            said = tables.transcripts
            for row in conn.execute(select(said.c.id, said.c.start_at, said.c.text)
                                    .where(said.c.run_id == run.id, said.c.id > self.last_transcript)
                                    .order_by(said.c.id)):
                self.last_transcript = row.id
                self._line(f"transcribed {offset(row.start_at, self.zero)}: [italic]{escape(row.text.strip())}"
                           "[/italic]")
            found = tables.findings
            for row in conn.execute(select(found).where(found.c.event_id == self.event_id)
                                    .order_by(found.c.start_at)):
                if row.id in self.findings:
                    continue
                self.findings.add(row.id)
                # A later check may place the same hit a little differently (more context, another id);
                # it is the same finding to the viewer.
                if any(rule == row.rule and abs((row.start_at - at).total_seconds()) < SAME_S
                       for rule, at in self.shown):
                    continue
                self.shown.append((row.rule, row.start_at))
                style = SEVERITY_STYLE.get(row.severity, "")
                where = f" at {offset(row.start_at, self.zero)}" if row.category != "technical" else ""
                matched = f" “{escape(row.matched)}”" if row.matched else ""
                self._line(f"finding: [{style}]{row.severity}[/{style}] {escape(row.rule)}{matched}{where}")
        self._report()

    def finish(self) -> None:
        """The monitor is done: one last look, and the final numbers."""
        self.poll()
        with self.engine.connect() as conn:
            gaps = conn.execute(select(func.count()).select_from(tables.gaps).join(
                tables.runs, tables.runs.c.id == tables.gaps.c.run_id).where(
                tables.runs.c.event_id == self.event_id)).scalar_one()
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
