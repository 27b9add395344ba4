"""``livewatch analyze``: an existing recording checked as if it had been captured live for a registered
event (organizers often hand in recordings). The recording is cut into the same 16 kHz WAV segments the
capture writes, placed on the wall clock from the event's registered start (or a given start), and then
goes through the same path: transcription (the whole recording in one call when the event's language is known,
:mod:`livewatch.transcription.recording`, committing what the worker would; else the worker), the checks, the
exports and the report.
A recording with video also gives the capture's frames and picture metadata (one ffmpeg run), read by the
monitor's screen stage before the check, so the screen's findings are there too.
"""

from __future__ import annotations

import shutil
import subprocess
import wave
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from livewatch.capture.frames import frame_name, metadata_name
from livewatch.checking import EventCheck
from livewatch.errors import CaptureError, LivewatchError, StateError
from livewatch.monitor.check_service import CheckService
from livewatch.monitor.jobs import armed_jobs
from livewatch.monitor.lock import running_monitor
from livewatch.monitor.screen import ScreenService
from livewatch.monitor.screen_stage import BLACK_MIN_S, FROZEN_MIN_S
from livewatch.monitor.transcription import TranscriptionService
from livewatch.pipeline import ClosedSegment, encode
from livewatch.pipeline.run_status import ACTIVE, FINISHED
from livewatch.pipeline.screen import CapturedFrame
from livewatch.queue import SCREEN, TRANSCRIBE
from livewatch.registration import validate_registrations
from livewatch.registration.models import Event
from livewatch.screen.picture import picture_filters
from livewatch.session import Session
from livewatch.settings import Settings
from livewatch.state import Database, DataDir
from livewatch.state.runs import RunLog, SegmentRecord, WindowTaken
from livewatch.transcription.choice import event_language
from livewatch.transcription.engines import EngineChooser
from livewatch.transcription.recording import RecordedSegment, recording_mode, transcribe_recording
from livewatch.transcription.transcript_files import write_transcript_files

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


def _recording_input(media: Path) -> list[str]:
    return ["-protocol_whitelist", "file", "-format_whitelist", ",".join(RECORDING_FORMATS), "-i", str(media)]


def has_video_argv(media: Path) -> list[str]:
    """ffprobe argv that prints ``video`` when the recording has a video stream (and nothing otherwise; an
    audio file's cover art is no video: ``V`` leaves attached pictures out)."""
    return ["ffprobe", "-hide_banner", "-v", "error", *_recording_input(media), "-select_streams", "V:0",
            "-show_entries", "stream=codec_type", "-of", "csv=p=0"]


def frames_argv(media: Path, folder: Path, *, fps: float, max_width: int) -> list[str]:
    """The capture's frames from a recording's first video stream, as the capture writes them: ``fps`` a
    second, at most ``max_width`` px wide (even height), ``s0-c0-<n>.jpg`` with ``n`` the frame's time in
    frame intervals, and ffmpeg's black and frozen picture metadata in ``s0-c0.picture.txt``."""
    metadata = folder / metadata_name(0, 0)
    chain = f"fps={fps:g},scale='min({max_width},iw)':-2,{picture_filters(metadata, BLACK_MIN_S, FROZEN_MIN_S)}"
    return ["ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-y", *_recording_input(media), "-map", "0:V:0",
            "-an", "-sn", "-dn", "-vf", chain, "-q:v", "4", "-frame_pts", "1", "-f", "image2",
            str(folder / frame_name(0, 0))]


@dataclass(frozen=True)
class Analysis:
    check: EventCheck
    report: Path
    segments: int
    seconds: float
    #: Frames read by the screen stage (0: no video, or frames or the screen stage turned off).
    frames: int = 0


def _refuse_if_taken(data: DataDir, store: RunLog, event: Event, database: Database) -> None:
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
        armed = armed_jobs(data, database).get(event.id)
        if armed is not None:
            raise AnalyzeError(
                f"the monitor ({monitor.describe()}) has event {event.id} armed for capture at "
                f"{armed:%Y-%m-%d %H:%M} UTC; an analysed run would make it skip the live broadcast "
                "(remove the registration from the monitor's schedules first)")


def _claim_window(store: RunLog, event: Event, media: Path) -> int:
    """A new run for the event's window, created final at once and only if the window has none: a monitor
    arming the event meanwhile then sees the window recorded and never captures into this run."""
    try:
        return store.claim_final_window(event.id, event.start, event.end, FINISHED,
                                        f"analyzing recording {media.name}")
    except WindowTaken as taken:
        raise AnalyzeError(f"event {event.id} got run {taken.run_id} ({taken.status}) for its registered window "
                           "while the recording was being read; nothing was analysed") from None


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
    with Session.open(settings) as session:
        data = session.data
        _refuse_if_taken(data, session.runs, event, session.database)
        # Only this event is written: the monitor's other events stay as its own schedules say.
        session.database.sync_events([registration], remove_missing=False)
        name = f"analyzed-{datetime.now(event.zone):%Y%m%dT%H%M%S}"
        folder = data.ensure_event(event_id) / "audio" / name
        frames = data.frames_dir(event_id) / name
        try:
            folder.mkdir()
        except OSError as err:
            raise StateError(f"cannot create {folder}: {err.strerror or err}") from err
        run_id: int | None = None
        try:
            pieces = _split(media, folder)
            stills = _frames(media, frames, event) if _reads_screen(settings, event) else []
            run_id = _claim_window(session.runs, event, media)
            analysis = _analyze(session, event, run_id, pieces, stills, start or event.start, media)
        except BaseException:
            # A refused or failed analysis leaves nothing behind: no folder, no run blocking the window.
            if run_id is not None:
                session.runs.discard(run_id, queue=(TRANSCRIBE, SCREEN))
            shutil.rmtree(folder, ignore_errors=True)
            shutil.rmtree(frames, ignore_errors=True)
            raise
    return analysis


def _reads_screen(settings: Settings, event: Event) -> bool:
    return settings.screen.enabled and event.capture.frames


def _frames(media: Path, folder: Path, event: Event) -> list[Path]:
    """The recording's frames (none when it has no video), written into ``folder``."""
    try:
        probe = subprocess.run(has_video_argv(media), capture_output=True, text=True, check=False)
    except OSError as err:
        raise CaptureError(f"cannot run ffprobe to read {media}: {err.strerror or err}") from err
    if probe.returncode != 0 or "video" not in probe.stdout:
        return []
    try:
        folder.mkdir()
    except OSError as err:
        raise StateError(f"cannot create {folder}: {err.strerror or err}") from err
    capture = event.capture
    argv = frames_argv(media, folder, fps=capture.frames_per_second, max_width=capture.frame_max_width)
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    stills = sorted(folder.glob("s0-c0-*.jpg"))
    if result.returncode != 0 or not stills:
        detail = "; ".join(line.strip() for line in result.stderr.strip()[-300:].splitlines() if line.strip())
        raise CaptureError(f"cannot read the video of {media}: {detail or 'no frames'}")
    return stills


def _analyze(session: Session, event: Event, run_id: int, pieces: list[Path], stills: list[Path],
             origin: datetime, media: Path) -> Analysis:
    store, queue = session.runs, session.queue
    at = origin
    recorded: list[RecordedSegment] = []
    for seq, path in enumerate(pieces):
        with wave.open(str(path), "rb") as handle:
            seconds = handle.getnframes() / handle.getframerate()
        end = at + timedelta(seconds=seconds)
        segment_id = store.add_segment(SegmentRecord(run_id, 0, None, "audio", seq, path, at, end,
                                                     path.stat().st_size, "ok"))
        if segment_id is None:  # cannot happen in a run of our own; never drop a segment silently
            raise AnalyzeError(f"segment {seq} of {media} was already recorded in run {run_id}")
        store.note_on_air(run_id, at, end)
        recorded.append(RecordedSegment(seq, segment_id, path, at, end))
        at = end
    # A frame's number is its time in frame intervals from the container's time zero; the audio's clock starts
    # at its first sample, as does the video's at its first frame (a transport stream starts at 1.4 s, say).
    interval = 1.0 / event.capture.frames_per_second
    numbers = [int(path.stem.rsplit("-", 1)[1]) for path in stills]
    for path, number in zip(stills, numbers, strict=True):
        at_s = (number - numbers[0]) * interval
        frame = CapturedFrame(event.id, run_id, 0, 0, path, origin + timedelta(seconds=at_s), interval)
        queue.put(SCREEN, frame.queue_key, encode(frame))
    # The monitor's own stages, run in this thread: transcription to the end of the stream, the screen, then
    # the final check.
    if session.settings.transcriber.enabled:
        _transcribe(session, event, run_id, recorded)
    if stills:
        ScreenService(session).drain()
    store.finish_run(run_id, FINISHED, f"analyzed recording {media.name}")
    check, report = CheckService(session).check_now(event.id, final=True)
    return Analysis(check, report, len(pieces), (at - origin).total_seconds(), len(stills))


def _transcribe(session: Session, event: Event, run_id: int, recorded: list[RecordedSegment]) -> None:
    """The recording's audio transcribed and committed, and the event's transcript files written. An event of
    known language is decoded in one call (:mod:`livewatch.transcription.recording`: faster-whisper's batched
    pipeline); an ``auto`` event goes segment by segment through the monitor's worker, which switches to the
    language's model once the language settles."""
    registered = session.records.registration(event.id).get("language")
    if event_language(session.settings.transcriber, registered) != "auto":
        # One engine, one replica: a single call decodes the whole recording.
        choice = EngineChooser(session).choose(event.id)
        if recording_mode(choice):
            transcribe_recording(session.transcripts, choice, run_id, 0, recorded)
            data = session.data
            write_transcript_files(session.runs, session.transcripts, run_id, data.transcripts_dir(event.id), data)
            return
    for segment in recorded:
        closed = ClosedSegment(event.id, run_id, 0, segment.seq, segment.segment_id, segment.path, segment.start_at,
                               segment.end_at)
        session.queue.put(TRANSCRIBE, closed.queue_key, encode(closed))
    service = TranscriptionService(session)
    service.drain()
    service.finish_stream(event.id, run_id, 0)
