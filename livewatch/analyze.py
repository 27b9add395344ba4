"""``livewatch analyze``: an existing recording checked as if it had been captured live for a registered
event (organizers often hand in recordings). The recording is cut into the same 16 kHz WAV segments the
capture writes, placed on the wall clock from the event's registered start (or a given start), and then
goes through the very same path: the transcription worker, the checks, the exports and the report.
"""

from __future__ import annotations

import shutil
import subprocess
import wave
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, delete, select

from livewatch.errors import CaptureError, LivewatchError, StateError
from livewatch.monitor.jobs import armed_jobs
from livewatch.monitor.lock import running_monitor
from livewatch.monitor.transcription import TranscriptionService
from livewatch.pipeline import ClosedSegment, encode
from livewatch.queue import TRANSCRIBE, SqliteWorkQueue
from livewatch.registration import validate_registrations
from livewatch.registration.models import Event
from livewatch.reports.render import publish
from livewatch.rules.event_check import EventCheck, check_event
from livewatch.settings import Settings
from livewatch.state import Database, DataDir, tables
from livewatch.state.database import write
from livewatch.state.runs import ACTIVE, FINISHED, RunStore, SegmentRecord
from livewatch.transcription.exports import write_transcript_files

SEGMENT_S = 10.0
#: The containers a handed-in recording may be in (ffmpeg demuxer names). Playlists, concat scripts and
#: manifests are not among them: they make ffmpeg read other files as the recording.
RECORDING_FORMATS = ("mov", "matroska", "mpegts", "flv", "wav", "w64", "mp3", "aac", "ogg", "flac", "asf", "avi",
                     "mpeg", "caf", "amr", "ac3", "eac3", "aiff")


class AnalyzeError(LivewatchError):
    """A recording cannot be analysed for the event named."""


def split_audio_argv(media: Path, folder: Path, segment_s: float = SEGMENT_S) -> list[str]:
    """16 kHz mono WAV segments of ``segment_s`` seconds, as the capture writes them. The recording is a
    local file handed in by the party under watch: it may be a playlist or a concat script in disguise, so
    ffmpeg opens it as a recording container only, and never the network."""
    return ["ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-y", "-protocol_whitelist", "file",
            "-format_whitelist", ",".join(RECORDING_FORMATS), "-i", str(media), "-vn", "-ac", "1", "-ar", "16000",
            "-c:a", "pcm_s16le", "-f", "segment", "-segment_time", f"{segment_s:g}", "-reset_timestamps", "1",
            str(folder / "s0-%06d.wav")]


@dataclass(frozen=True)
class Analysis:
    check: EventCheck
    report: Path
    segments: int
    seconds: float


def _refuse_if_taken(data: DataDir, store: RunStore, event: Event) -> None:
    """Refuse before anything is written when the window is the monitor's: a capture records it now, or
    a running monitor has it armed (an analysed run would make the monitor skip the live broadcast)."""
    status = store.window_status(event.id, event.start, event.end)
    if status in ACTIVE:
        raise AnalyzeError(f"event {event.id} is being recorded by the monitor (its run for the registered "
                           f"window is {status!r}); analyze never writes into a live capture's run")
    if status is not None:
        raise AnalyzeError(f"event {event.id} already has a {status} run for its registered window")
    monitor = running_monitor(data.root)
    if monitor is not None:
        armed = armed_jobs(data).get(event.id)
        if armed is not None:
            raise AnalyzeError(
                f"the monitor ({monitor.describe()}) has event {event.id} armed for capture at "
                f"{armed:%Y-%m-%d %H:%M} UTC; an analysed run would make it skip the live broadcast "
                "(remove the registration from the monitor's schedules first)")


def _claim_window(engine: Engine, event: Event, media: Path) -> int:
    """A new run for the event's window, created final at once and only if the window has none: a monitor
    arming the event meanwhile then sees the window recorded and never captures into this run."""
    runs = tables.runs
    now = datetime.now(UTC)
    with write(engine) as conn:
        taken = conn.execute(select(runs.c.id, runs.c.status).where(
            runs.c.event_id == event.id, runs.c.registered_start == event.start,
            runs.c.registered_end == event.end).limit(1)).first()
        if taken is not None:
            raise AnalyzeError(f"event {event.id} got run {taken.id} ({taken.status}) for its registered window "
                               "while the recording was being read; nothing was analysed")
        key = conn.execute(runs.insert().values(
            event_id=event.id, status=FINISHED, registered_start=event.start, registered_end=event.end,
            started_at=now, updated_at=now, stop_reason=f"analyzing recording {media.name}")).inserted_primary_key
    assert key is not None
    return int(key[0])


def _discard_run(engine: Engine, run_id: int) -> None:
    """Remove an analysis that failed half-way, so that it can be run again once the cause is fixed."""
    with write(engine) as conn:
        conn.execute(delete(tables.work_queue).where(tables.work_queue.c.queue == TRANSCRIBE,
                                                     tables.work_queue.c.item_key.startswith(f"{run_id}:")))
        for table in (tables.findings, tables.transcripts, tables.transcription_progress, tables.gaps,
                      tables.segments, tables.connections):
            conn.execute(delete(table).where(table.c.run_id == run_id))
        conn.execute(delete(tables.runs).where(tables.runs.c.id == run_id))


#: Text formats that make ffmpeg open other inputs: a "recording" that is one of these is a redirection.
_REDIRECTING = (b"#EXTM3U", b"ffconcat", b"<?xml", b"<MPD")


def _refuse_redirections(media: Path) -> None:
    """A handed-in file that is a playlist, a concat script or a DASH manifest would make ffmpeg read other
    files (another event's recordings, say) as this recording. ffmpeg's format whitelist refuses them too;
    this says why in words before ffmpeg sees the file."""
    try:
        with media.open("rb") as handle:
            head = handle.read(512).removeprefix(b"\xef\xbb\xbf").lstrip()
    except OSError as err:
        raise AnalyzeError(f"cannot read {media}: {err.strerror or err}") from err
    if head.startswith(_REDIRECTING):
        raise AnalyzeError(f"{media} is a playlist, concat script or manifest, not a recording: analyze reads "
                           "recordings only, never what a file points at")


def _split(media: Path, folder: Path) -> list[Path]:
    try:
        result = subprocess.run(split_audio_argv(media, folder), capture_output=True, text=True, check=False)
    except OSError as err:
        raise CaptureError(f"cannot run ffmpeg to read {media}: {err.strerror or err}") from err
    pieces = sorted(folder.glob("s0-*.wav"))
    if result.returncode != 0 or not pieces:
        detail = "; ".join(line.strip() for line in result.stderr.strip()[-300:].splitlines() if line.strip())
        raise CaptureError(f"cannot read audio from {media}: {detail or 'no audio stream'} "
                           f"(recordings are read from these containers: {', '.join(RECORDING_FORMATS)})")
    return pieces


def analyze_recording(settings: Settings, media: Path, event_id: str, schedules: Path,
                      *, start: datetime | None = None) -> Analysis:
    loaded = validate_registrations([schedules], settings)
    registration = next((r for r in loaded.registrations if r.event.id == event_id), None)
    if registration is None:
        known = ", ".join(sorted(r.event.id for r in loaded.registrations)) or "none"
        raise AnalyzeError(f"no valid registration for event {event_id!r} in {schedules} (events there: {known})")
    event = registration.event
    _refuse_redirections(media)
    data = DataDir(settings.data_dir).ensure()
    with Database.open(data) as db:
        _refuse_if_taken(data, RunStore(db.engine), event)
        # Only this event is written: the monitor's other events stay as its own schedules say.
        db.sync_events([registration], remove_missing=False)
        folder = data.ensure_event(event_id) / "audio" / f"analyzed-{datetime.now(event.zone):%Y%m%dT%H%M%S}"
        try:
            folder.mkdir()
        except OSError as err:
            raise StateError(f"cannot create {folder}: {err.strerror or err}") from err
        run_id: int | None = None
        try:
            pieces = _split(media, folder)
            run_id = _claim_window(db.engine, event, media)
            analysis = _analyze(settings, db, data, event, run_id, pieces, start or event.start, media)
        except BaseException:
            # A refused or failed analysis leaves nothing behind: no folder, no run blocking the window.
            if run_id is not None:
                _discard_run(db.engine, run_id)
            shutil.rmtree(folder, ignore_errors=True)
            raise
    return analysis


def _analyze(settings: Settings, db: Database, data: DataDir, event: Event, run_id: int, pieces: list[Path],
             origin: datetime, media: Path) -> Analysis:
    store, queue = RunStore(db.engine), SqliteWorkQueue(db.engine)
    at = origin
    for seq, path in enumerate(pieces):
        with wave.open(str(path), "rb") as handle:
            seconds = handle.getnframes() / handle.getframerate()
        end = at + timedelta(seconds=seconds)
        segment_id = store.add_segment(SegmentRecord(run_id, 0, None, "audio", seq, path, at, end,
                                                     path.stat().st_size, "ok"))
        if segment_id is None:  # cannot happen in a run of our own; never drop a segment silently
            raise AnalyzeError(f"segment {seq} of {media} was already recorded in run {run_id}")
        store.note_on_air(run_id, at, end)
        closed = ClosedSegment(event.id, run_id, 0, seq, segment_id, path, at, end)
        queue.put(TRANSCRIBE, closed.queue_key, encode(closed))
        at = end
    if settings.transcriber.enabled:
        service = TranscriptionService(settings, db.engine, queue, data)
        while service.worker.process_one():
            pass
        service.worker.flush(event.id, run_id, 0)
        write_transcript_files(db.engine, run_id, data.transcripts_dir(event.id), data)
    store.finish_run(run_id, FINISHED, f"analyzed recording {media.name}")
    check = check_event(db.engine, settings, event.id, audio=True)
    report = publish(db.engine, data, check, model_store=settings.model_store)
    return Analysis(check, report, len(pieces), (at - origin).total_seconds())
