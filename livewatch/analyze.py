"""``livewatch analyze``: an existing recording checked as if it had been captured live for a registered
event (organizers often hand in recordings). The recording is cut into the same 16 kHz WAV segments the
capture writes, placed on the wall clock from the event's registered start (or a given start), and then
goes through the very same path: the transcription worker, the checks, the exports and the report.
"""

from __future__ import annotations

import subprocess
import wave
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from livewatch.errors import CaptureError, LivewatchError
from livewatch.monitor.transcription import TranscriptionService
from livewatch.queue import TRANSCRIBE, SqliteWorkQueue
from livewatch.registration import validate_registrations
from livewatch.reports.render import publish
from livewatch.rules.event_check import EventCheck, check_event
from livewatch.settings import Settings
from livewatch.state import Database, DataDir
from livewatch.state.runs import FINISHED, RunStore, SegmentRecord
from livewatch.transcription.exports import write_transcript_files

SEGMENT_S = 10.0


class AnalyzeError(LivewatchError):
    """A recording cannot be analysed for the event named."""


def split_audio_argv(media: Path, folder: Path, segment_s: float = SEGMENT_S) -> list[str]:
    """16 kHz mono WAV segments of ``segment_s`` seconds, as the capture writes them."""
    return ["ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-y", "-i", str(media), "-vn", "-ac", "1",
            "-ar", "16000", "-c:a", "pcm_s16le", "-f", "segment", "-segment_time", f"{segment_s:g}",
            "-reset_timestamps", "1", str(folder / "s0-%06d.wav")]


@dataclass(frozen=True)
class Analysis:
    check: EventCheck
    report: Path
    segments: int
    seconds: float


def analyze_recording(settings: Settings, media: Path, event_id: str, schedules: Path,
                      *, start: datetime | None = None) -> Analysis:
    loaded = validate_registrations([schedules], settings)
    registration = next((r for r in loaded.registrations if r.event.id == event_id), None)
    if registration is None:
        known = ", ".join(sorted(r.event.id for r in loaded.registrations)) or "none"
        raise AnalyzeError(f"no valid registration for event {event_id!r} in {schedules} (events there: {known})")
    event = registration.event
    data = DataDir(settings.data_dir).ensure()
    folder = data.ensure_event(event_id) / "audio" / f"analyzed-{datetime.now(event.zone):%Y%m%dT%H%M%S}"
    folder.mkdir(parents=True)
    result = subprocess.run(split_audio_argv(media, folder), capture_output=True, text=True, check=False)
    pieces = sorted(folder.glob("s0-*.wav"))
    if result.returncode != 0 or not pieces:
        raise CaptureError(f"cannot read audio from {media}: {result.stderr.strip()[-300:] or 'no audio stream'}")
    origin = start or event.start
    with Database.open(data) as db:
        db.sync_events(loaded.registrations)
        store, queue = RunStore(db.engine), SqliteWorkQueue(db.engine)
        run = store.open_run(event_id, event.start, event.end)
        if run is None:
            raise AnalyzeError(f"event {event_id} already has a finished run for its registered window")
        at = origin
        for seq, path in enumerate(pieces):
            with wave.open(str(path), "rb") as handle:
                seconds = handle.getnframes() / handle.getframerate()
            end = at + timedelta(seconds=seconds)
            segment_id = store.add_segment(SegmentRecord(run.id, 0, None, "audio", seq, path, at, end,
                                                         path.stat().st_size, "ok"))
            store.note_on_air(run.id, at, end)
            queue.put(TRANSCRIBE, f"{run.id}:0:{seq}", {
                "event_id": event_id, "run_id": run.id, "stream": 0, "seq": seq, "segment_id": segment_id,
                "path": str(path), "start_at": at.isoformat(), "end_at": end.isoformat()})
            at = end
        store.finish_run(run.id, FINISHED, f"analyzed recording {media.name}")
        if settings.transcriber.enabled:
            service = TranscriptionService(settings, db.engine, queue, data)
            while service.worker.process_one():
                pass
            service.worker.flush(event_id, run.id, 0)
            write_transcript_files(db.engine, run.id, data.transcripts_dir(event_id))
        check = check_event(db.engine, settings, event_id, audio=True)
        report = publish(db.engine, data, check, model_store=settings.model_store)
    return Analysis(check, report, len(pieces), (at - origin).total_seconds())
