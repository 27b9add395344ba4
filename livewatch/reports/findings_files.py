"""Exports beside each report: ``findings.json`` (a stable contract, ``docs/findings-json.md``),
``findings.csv``, and the transcript as ``transcript.srt``/``.vtt``.

All times are ISO 8601 with the event's own UTC offset, so a reviewer in the event's city reads them as
they were on the clock there.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from livewatch import __version__
from livewatch.pipeline.event_checks import EventCheck
from livewatch.pipeline.findings import Finding
from livewatch.reports.findings_document import (
    EventInfo,
    FindingEntry,
    FindingsDocument,
    GapEntry,
    OnAir,
    PackEntry,
    Provenance,
    SilenceEntry,
    Technical,
    TranscriberEntry,
    findings_json,
    json_fields,
)
from livewatch.reports.frames import keep_frames, kept_files
from livewatch.state.event_records import EventRecords

if TYPE_CHECKING:
    from livewatch.reports.render import ReportSession
    from livewatch.rules.audio_facts import AudioFacts

CSV_COLUMNS = ("id", "rule", "pack", "category", "severity", "status", "start", "end", "offset_s", "matched",
               "evidence", "legal_basis", "asr_confidence", "low_confidence", "count", "channel")

_At = Callable[[datetime], datetime]


def findings_document(records: EventRecords, check: EventCheck, model_store: Path | None = None, *,
                      frames: Mapping[str, str] | None = None) -> FindingsDocument:
    """The findings document of one checked event (``model_store``: where to find the sha256 of the
    Whisper weights that made the transcript; ``frames``: finding id → its evidence frame kept in the report's
    folder, from :func:`~livewatch.reports.frames.keep_frames`)."""
    kept = frames or {}
    stored = records.for_document(check.event_id, check.run_id)
    event, run, gaps = stored.event, stored.run, stored.gaps
    zone = ZoneInfo(event.timezone)

    def at(moment: datetime) -> datetime:
        return moment.astimezone(zone)

    return FindingsDocument(
        event=EventInfo(id=event.id, title=event.title, kind=event.kind, timezone=event.timezone,
                        registered_start=at(event.registered_start), registered_end=at(event.registered_end)),
        verdict=check.verdict,
        run_status=None if run is None else run.status,
        on_air=OnAir(start=at(run.on_air_at) if run and run.on_air_at else None,
                     end=at(run.off_air_at) if run and run.off_air_at else None),
        gaps=tuple(GapEntry(start=at(g.start_at), end=None if g.end_at is None else at(g.end_at), cause=g.cause)
                   for g in gaps),
        findings=tuple(_finding(f, at, kept.get(f.id)) for f in check.findings),
        technical=_technical(check.audio, at),
        provenance=Provenance(
            packs=tuple(PackEntry(pack=p.ref, sha256=p.sha256) for p in check.packs),
            transcriber=tuple(TranscriberEntry(backend=backend, model=model,
                                               sha256=_model_sha256(model_store, backend, model))
                              for backend, model in stored.transcribers),
            livewatch_version=__version__,
            registration_file=event.source_file,
            registration_sha256=event.source_sha256,
            generated_at=at(datetime.now(UTC)),
        ),
    )


def _model_sha256(store: Path | None, backend: str, model: str) -> str | None:
    """The weights' sha256 from the model store's manifest (None for a model the store does not hold)."""
    if store is None:
        return None
    from transcribers.store import ModelStore

    stored = ModelStore(store).get(model)
    if stored is None:
        return None
    files = stored.manifest.get("files", {})
    value = files.get("openai.pt" if backend == "openai-whisper" else "ct2/model.bin")
    return str(value) if value else None


def _finding(f: Finding, at: _At, frame: str | None) -> FindingEntry:
    return FindingEntry(
        id=f.id, rule=f.rule, pack=f.pack, category=f.category, severity=f.severity, status=f.status,
        start=at(f.start_at), end=at(f.end_at), offset_s=f.offset_s, evidence=f.evidence, highlight=f.highlight,
        matched=f.matched, normalized=f.normalized, legal_basis=f.legal_basis, asr_confidence=f.asr_confidence,
        low_confidence=f.low_confidence, rule_severity=f.rule_severity, count=f.count, stream=f.stream,
        title=f.title, details=f.details, channel=f.channel, frame=frame if f.channel == "screen" else None,
        box=f.box if f.channel == "screen" else None)


def _technical(audio: AudioFacts | None, at: _At) -> Technical | None:
    """The audio measurements of the final check (None until the audio has been measured)."""
    if audio is None:
        return None
    loudness = audio.loudness
    return Technical(
        measured_s=round(audio.measured_seconds, 1),
        integrated_lufs=None if loudness is None else loudness.integrated_lufs,
        loudness_range_lu=None if loudness is None else loudness.loudness_range_lu,
        true_peak_dbtp=None if loudness is None else loudness.true_peak_dbtp,
        silences=tuple(SilenceEntry(start=at(s.start_at), end=at(s.end_at), seconds=round(s.seconds, 1))
                       for s in audio.silences))


#: Written first in ``findings.csv``: without it a spreadsheet program opening the file reads it in the
#: system's legacy code page (GBK, Windows-1252) and shows the Chinese evidence as mojibake.
CSV_BOM = "\ufeff"


def findings_csv(findings: Iterable[FindingEntry]) -> str:
    """``findings.csv``: the findings of the document, one row each, in :data:`CSV_COLUMNS`."""
    # CRLF line ends (RFC 4180) make the writer quote every field holding a CR or an LF: with bare LF line
    # ends a lone CR went out unquoted, and a spreadsheet started a new row there.
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\r\n")
    writer.writeheader()
    for finding in findings:
        writer.writerow({key: _cell(value) for key, value in json_fields(finding).items()})
    return out.getvalue()


#: A number, optionally with a unit (``-21.7``, ``+3``, ``1e-5``, ``-21.7 LUFS``, ``-3 %``): a spreadsheet
#: reads it as a number, or at worst as a name it does not know; nothing it can run.
_NUMBER = re.compile(r"[+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][+-]?\d+)?(?: ?(?:[A-Za-z]{1,8}|%|°[CF]?))?")


def _cell(value: object) -> object:
    """Evidence is what people said: text a spreadsheet would evaluate (it starts with = + - @, a tab or a
    CR) is written with a leading apostrophe. Plain numbers, with or without a unit, stay as they are."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r") and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def write_exports(session: ReportSession, check: EventCheck, *,
                  document: FindingsDocument | None = None) -> list[Path]:
    """Write the exports into ``reports/<event-id>/``, each file replaced whole (readers never see half,
    and no link planted there is written through); ``document``: the findings document when the caller
    has already built it."""
    data = session.data
    folder = data.make_folder(data.report_dir(check.event_id))
    if document is None:
        frames = kept_files(keep_frames(data, check.event_id, check.findings, folder))
        document = findings_document(session.records, check, session.settings.model_store, frames=frames)
    written = [data.write_whole(folder / "findings.json", findings_json(document)),
               data.write_whole(folder / "findings.csv", CSV_BOM + findings_csv(document.findings))]
    for name in ("transcript.srt", "transcript.vtt"):
        if data.copy_file(data.transcripts_dir(check.event_id) / name, folder / name):
            written.append(folder / name)
    return written
