"""Writing ``reports/<event-id>/report.html`` and ``reports/index.html`` (Jinja2 from ``templates/``).

Each page is written whole to a temporary file and renamed, so a reviewer's browser never reads half a
page, even while an event is live and its report is rewritten after every check.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

from livewatch import __version__
from livewatch.i18n import N_, CategoryTitles, page_language
from livewatch.pipeline.event_checks import EventCheck
from livewatch.pipeline.run_status import FINAL
from livewatch.reports.build import build_report
from livewatch.reports.clips import extract_clips
from livewatch.reports.findings_document import FindingsDocument, read_verdict
from livewatch.reports.findings_files import findings_document, write_exports
from livewatch.reports.frames import FrameEvidence, keep_frames, kept_files
from livewatch.reports.glance import finding_counts
from livewatch.reports.reviews import audit_trail
from livewatch.reports.template_context import FindingCounts, IndexContext, IndexRow, ReportContext
from livewatch.rules.packs import RulePack
from livewatch.settings import Settings
from livewatch.state import DataDir
from livewatch.state.event_records import EventRecord, EventRecords
from livewatch.state.files import is_plain_file
from livewatch.state.findings import FindingLog
from livewatch.state.media import MediaBlobs
from livewatch.templating import make_environment, render


class ReportSession(Protocol):
    """What the report stage uses of a :class:`~livewatch.session.Session`: the settings (the model store,
    for the weights' hashes), the data directory (where the pages go), the facts it reads, the findings'
    counts for the index and the captured audio for the clips."""

    @property
    def settings(self) -> Settings: ...
    @property
    def data(self) -> DataDir: ...
    @property
    def records(self) -> EventRecords: ...
    @property
    def findings(self) -> FindingLog: ...
    @property
    def media(self) -> MediaBlobs: ...


def publish(session: ReportSession, check: EventCheck, *, clips: bool = True) -> Path:
    """After a check: the exports, the report and the index, from one findings document (and the screen
    findings' frames, kept once for both)."""
    return publish_context(session, check, clips=clips)[0]


def publish_context(session: ReportSession, check: EventCheck, *,
                    clips: bool = True) -> tuple[Path, ReportContext]:
    """:func:`publish`, also giving the report's context (the review server shows the same)."""
    data = session.data
    frames = keep_frames(data, check.event_id, check.findings, data.make_folder(data.report_dir(check.event_id)))
    document = findings_document(session.records, check, session.settings.model_store, frames=kept_files(frames))
    write_exports(session, check, document=document)
    context = report_context(session, check, clips=clips, document=document, frames=frames)
    page = data.write_whole(data.report_dir(check.event_id) / "report.html", render_report(session.settings, context))
    write_index(session)
    return page, context


def write_report(session: ReportSession, check: EventCheck, *, clips: bool = True,
                 document: FindingsDocument | None = None,
                 frames: dict[str, FrameEvidence] | None = None) -> Path:
    context = report_context(session, check, clips=clips, document=document, frames=frames)
    folder = session.data.report_dir(check.event_id)
    return session.data.write_whole(folder / "report.html", render_report(session.settings, context))


def render_report(settings: Settings, context: ReportContext) -> str:
    """report.html in the language ``ui_language`` gives this event (its registered language by default)."""
    return render(make_environment(language=page_language(settings.ui_language, context.language)),
                  "report.html", context)


def report_context(session: ReportSession, check: EventCheck, *, clips: bool = True,
                   document: FindingsDocument | None = None,
                   frames: dict[str, FrameEvidence] | None = None) -> ReportContext:
    """What report.html shows of a check (the review server renders the same, with its actions added)."""
    data, records = session.data, session.records
    folder = data.make_folder(data.report_dir(check.event_id))
    if frames is None:
        frames = keep_frames(data, check.event_id, check.findings, folder)
    document = document or findings_document(records, check, session.settings.model_store,
                                             frames=kept_files(frames))
    made = extract_clips(records, check.run_id, check.findings, session.media, folder) if clips else {}
    return build_report(records, document, check.event, clips=made, frames=frames,
                        audit=audit_trail(data, check.event_id), categories=category_titles(check.packs))


def category_titles(packs: Iterable[RulePack]) -> dict[str, CategoryTitles]:
    """Category id → how the checked packs title it (the first pack that has the category, as selected)."""
    titles: dict[str, CategoryTitles] = {}
    for pack in packs:
        for category_id, category in pack.categories.items():
            by_language = {str(language): title for language, title in category.titles.items()}
            titles.setdefault(category_id, CategoryTitles(category.title, by_language))
    return titles


def _status(run_status: str | None, registered_start: datetime, now: datetime) -> str:
    if run_status is None:
        return "upcoming" if registered_start > now else "done"
    if run_status in ("failed", "incomplete"):
        return "failed"
    return "done" if run_status in FINAL else "live"


def write_index(session: ReportSession) -> Path:
    context = index_context(session)
    return session.data.write_whole(session.data.reports / "index.html",
                                    render(make_environment(language=page_language(session.settings.ui_language)),
                                           "index.html", context))


def index_context(session: ReportSession) -> IndexContext:
    now = datetime.now(UTC)
    data, findings = session.data, session.findings
    # Counted from each finding's severity and status, as the report counts them (dismissed ones apart).
    rows = [_index_row(data, event, run, finding_counts((h.severity, h.status) for h in findings.headlines(event.id)),
                       now)
            for event, run in session.records.events()]
    return IndexContext(N_("livewatch — all events"), rows, now.isoformat(timespec="seconds"), __version__)


def _index_row(data: DataDir, event: EventRecord, run: str | None, counts: FindingCounts, now: datetime) -> IndexRow:
    zone = ZoneInfo(event.timezone)
    start, end = event.registered_start.astimezone(zone), event.registered_end.astimezone(zone)
    report = data.report_dir(event.id) / "report.html"
    verdict = ""
    findings_json = data.report_dir(event.id) / "findings.json"
    if is_plain_file(findings_json):
        try:
            verdict = read_verdict(findings_json.read_bytes())
        except (OSError, ValueError):
            verdict = "unreadable findings.json"  # one damaged event must not take the index down

    return IndexRow(event.id, event.title, _status(run, event.registered_start, now), verdict,
                    counts, start.isoformat(),
                    f"{start:%Y-%m-%d %H:%M}–{end:%H:%M} {event.timezone}",
                    f"{event.id}/report.html" if is_plain_file(report) else "")
