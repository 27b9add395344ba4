"""Recording one stream of one event from arming to stop: wait for live, record, reconnect, keep the ledger.

States: waiting (not live yet) → recording ⇄ reconnecting → one final outcome. A page is resolved to its
stream URL once; later checks read that URL directly (the URL policy still applies) and resolve the page
again when it fails or is gone, since platform URLs expire. Every connection's segments are recorded as they
close; the time between two connections' media is a gap, with the reason the first one ended.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from livewatch.capture.base import ResolvedStream
from livewatch.capture.clock import ArrivalClock, BroadcastClock, HlsClock
from livewatch.capture.commands import RecordPlan, frame_args, is_rtmp, record_args
from livewatch.capture.context import CaptureContext, StopSignal
from livewatch.capture.dash_feed import DashClock
from livewatch.capture.fetch import printable
from livewatch.capture.frames import FrameIngest
from livewatch.capture.hls import stale_leftover_s
from livewatch.capture.pacing import backoff_s, resolve_deadline_s
from livewatch.capture.placement import clock_for
from livewatch.capture.probe import LiveCheck, check_live, keeps_resolution, nothing_arrived
from livewatch.capture.process import FfmpegProcess, stop_orphan
from livewatch.capture.recovery import INTERRUPTED_NOTE, next_free_seq, recover_connection, recover_unlisted
from livewatch.capture.resolve import DeadlineResolver
from livewatch.capture.segments import SegmentListTail
from livewatch.capture.writer import LedgerOutage, SegmentWriter
from livewatch.errors import CaptureError, StateError, StreamNotFound, StreamOffline, UnsafeUrl
from livewatch.pipeline.run_status import (
    CANCELLED,
    FINISHED,
    INCOMPLETE,
    NO_SHOW,
    RECONNECTING,
    RECORDING,
    SEARCHING,
    UNRESOLVED,
    WAITING,
)
from livewatch.registration.models import Event
from livewatch.state.runs import Run

log = logging.getLogger(__name__)

INTERRUPTED = "interrupted"  # the monitor is shutting down; the run continues after a restart
#: Seconds a stalled ffmpeg gets to end after q and SIGINT before its blocked read is interrupted.
STALLED_STOP_GRACE_S = 1.0
#: Seconds between two looks at a running ffmpeg (its segment lists, its exit, the watchdog).
WATCH_INTERVAL_S = 0.5
@dataclass(frozen=True)
class StreamOutcome:
    status: str  # finished, no-show, unresolved, incomplete, cancelled, interrupted
    reason: str
    recorded: bool


class StreamCapture:
    def __init__(
        self, ctx: CaptureContext, run: Run, event: Event, index: int, stop: StopSignal,
        on_state: Callable[[int, str], None] = lambda index, state: None,
    ) -> None:
        self.ctx, self.run, self.event, self.index, self.stop = ctx, run, event, index, stop
        self.settings = event.capture
        self.url = event.streams[index].url
        self.on_state = on_state
        self.log = logging.getLogger(f"livewatch.capture.{event.id}.{index}")
        self.hard_stop = event.end + timedelta(minutes=self.settings.overrun_cap_minutes)
        self.media_dir = ctx.data.media_dir(event.id)
        self.audio_dir = ctx.data.audio_dir(event.id)
        self.writer = SegmentWriter(ctx, run, event.id, index)
        self.frames = FrameIngest(ctx, run, event.id, index, self.settings)
        self.session = ctx.store.last_session(run.id, index)
        self.failures = 0  # connections in a row that recorded nothing, or checks after going off air
        self.errors = 0  # checks in a row that failed (as opposed to "not live yet")
        self.offline_since: datetime | None = None
        self.resolver = DeadlineResolver()
        # Bad answers from the origin (malformed playlists, garbage HTTP, resolver errors), for the run's notes.
        self.bad_answers = 0
        self.last_bad_answer = ""
        # URLs the origin handed over that were refused (local resources, schemes not allowed): the notes.
        self.refusals = 0
        #: The stream a page resolved to, checked directly until it fails or is gone (see _check).
        self.remembered: ResolvedStream | None = None
        #: Why the last check found no stream in the page ("" when it did not): ours to fix, not a no-show.
        self.unresolved = ""
        self.last_refusal = ""
        #: Without PROGRAM-DATE-TIME: the (sequence, URI) of the segment recorded last, and when it ended as
        #: placed then: a segment listed right after it is placed there (it went out right after it).
        self.newest_recorded: tuple[int, str] | None = None
        self.newest_recorded_end: datetime | None = None
        #: How far the last connection's output reached past ``newest_recorded`` (segments its clock never saw).
        self.recorded_unlisted_s = 0.0
        #: What placed media on the wall clock, where it was not the broadcast's own date-times: the notes.
        self.estimated_clocks: list[str] = []
        #: Seconds of media the last HLS playlist listed (0 when unknown or not HLS), to bound the back-off.
        self.playlist_span_s = 0.0
        #: When the origin said the broadcast is over (EXT-X-ENDLIST, an RTMP stream's clean end) and has
        #: not come back since: the session then ends end_grace_s later instead of reconnect_grace_s.
        self.ended_since: datetime | None = None

    # -- the loop ---------------------------------------------------------------------------------------

    def run_capture(self) -> StreamOutcome:
        try:
            # Walked from the data root without following links: ffmpeg must not record into a linked folder.
            self.ctx.data.make_folder(self.media_dir)
            self.ctx.data.make_folder(self.audio_dir)
        except StateError as err:
            return StreamOutcome(INCOMPLETE, f"cannot write to {self.media_dir.parent}: {err}", False)
        self._recover()
        while True:
            now = self.ctx.clock()
            if self.stop.is_set():
                final = {StopSignal.SHUTDOWN: INTERRUPTED, StopSignal.ENDED: FINISHED}.get(
                    self.stop.reason or "", CANCELLED)
                return self._finish(final, self.stop.reason or "stopped")
            if self._past_hard_stop() or (now >= self.hard_stop and self.writer.last_end is None):
                if self.unresolved and self.writer.last_end is None:
                    return self._finish(UNRESOLVED, f"no stream found in the page by the registered end "
                                                    f"({self.unresolved})")
                return self._finish(FINISHED, "overrun cap reached")
            checked_at = time.monotonic()
            check = self._check()
            self.errors = self.errors + 1 if check.error else 0
            if check.error and not check.refused:  # refusals are noted on their own, below
                self.bad_answers += 1
                self.last_bad_answer = check.reason
            if check.refused:
                self.refusals += 1
                self.last_refusal = check.reason
                self.log.warning("%s", printable(check.reason))
            if not check.live:
                outcome = self._offline(now, check.reason, check.ended, time.monotonic() - checked_at)
                if outcome is not None:
                    return outcome
                continue
            if not check.unprobed:  # else not before media arrives: the connection is the check
                self.offline_since = None
                self.ended_since = None
            if not self._acquire_slot():
                continue
            began = time.monotonic()
            try:
                result = self._record(check)
            finally:
                self.ctx.slots.release()
            if isinstance(result, LiveCheck):  # the recorder's connection was the check, and brought nothing
                if self.remembered is not None and not keeps_resolution(result, self.remembered):
                    self.remembered = None  # the page's stream URL brought nothing: the page is asked again
                if self.stop.is_set():
                    continue
                outcome = self._offline(self.ctx.clock(), result.reason, result.ended, time.monotonic() - began)
                if outcome is not None:
                    return outcome
            elif result is not None:
                return result

    def _check(self) -> LiveCheck:
        """Whatever the origin answers, a check ends within its deadlines and returns; it never raises."""
        went_live = self.writer.last_end is not None
        self.unresolved = ""
        try:
            if self.remembered is not None:
                # A page resolved before: its stream URL is checked directly (cheap; the URL policy still
                # applies), and the page resolved again only when that URL fails or is gone.
                check = self._check_stream(self.remembered, went_live)
                if keeps_resolution(check, self.remembered):
                    return check
                self.remembered = None
            sources = self.ctx.sources.chain_for(self.url)
            resolved = self.resolver.resolve_chain(sources, self.url, resolve_deadline_s(self.settings))
            if resolved.media_url != self.url:
                self.remembered = resolved
            return self._check_stream(resolved, went_live)
        except UnsafeUrl as err:  # yt-dlp's answer or one of its requests pointed at this machine
            return LiveCheck(False, str(err), error=True, refused=True)
        except StreamOffline as err:
            return LiveCheck(False, str(err))
        except StreamNotFound as err:
            # The page answered: polled at the regular interval, not backed off as after an error (a page
            # may name its stream only once live, and the window must not pass between two checks).
            self.unresolved = str(err)
            return LiveCheck(False, str(err))
        except CaptureError as err:
            return LiveCheck(False, str(err), error=True)
        except Exception as err:  # one bad answer must not end the recording for the whole window
            self.log.exception("live check of %s failed", printable(self.url))
            return LiveCheck(False, f"live check failed: {printable(repr(err))}", error=True)

    def _check_stream(self, resolved: ResolvedStream, went_live: bool) -> LiveCheck:
        return check_live(resolved, self.settings, resume_after=self.writer.last_end,
                          allowed_schemes=self.ctx.allowed_url_schemes, ffprobe_bin=self.ctx.ffprobe_bin,
                          last_newest=self.newest_recorded if went_live else None,
                          unlisted_s=self.recorded_unlisted_s)

    def _offline(self, now: datetime, reason: str, ended: bool = False, took: float = 0.0) -> StreamOutcome | None:
        """Not live: decide whether to give up, else sleep until the next check (None). The check's own
        ``took`` seconds count toward the wait (an RTMP probe waits 3 s for a publisher: that was the wait)."""
        went_live = self.writer.last_end is not None
        self.offline_since = self.offline_since or now
        if not went_live and now >= self.event.end and self.unresolved:
            return self._finish(UNRESOLVED, f"no stream found in the page by the registered end ({reason})")
        if not went_live and now >= self.event.end:
            return self._finish(NO_SHOW, f"never live by the registered end ({reason})")
        if not went_live:  # said while the window is open: the schedule watch then blames no one meanwhile
            self.on_state(self.index, SEARCHING if self.unresolved else WAITING)
        # After the end, a stream that stays away for the grace window has ended.
        away = (now - max(self.offline_since, self.event.end)).total_seconds()
        if went_live and now >= self.event.end and away >= self.settings.reconnect_grace_s:
            return self._finish(FINISHED, f"stream ended ({reason})")
        if went_live and now >= self.hard_stop:  # nothing recorded now can reach past the cap: no more checks
            return self._finish(FINISHED, f"overrun cap reached ({reason})")
        if went_live and ended and self.ended_since is None:
            self.ended_since = now
        # The origin said it is over: past the registered end, a short grace is enough. Inside the window
        # checks go on (a broadcaster must not blind the monitor by announcing an end and resuming).
        if (went_live and self.ended_since is not None and now >= self.event.end
                and (now - self.ended_since).total_seconds() >= self.settings.end_grace_s):
            return self._finish(FINISHED, f"the origin ended the broadcast ({reason})")
        if went_live:
            self.on_state(self.index, RECONNECTING)
            delay = self._backoff(now)
            self.failures += 1
        else:
            # Waiting for the start: the regular poll, backed off while the platform answers with errors.
            backoff = 2 ** min(max(self.errors - 1, 0), 4)
            delay = self.settings.poll_interval_s * backoff + random.uniform(0, self.settings.poll_jitter_s)  # noqa: S311
        deadline = self.hard_stop if went_live else self.event.end
        if went_live and self.ended_since is not None:
            said_over = self.ended_since + timedelta(seconds=self.settings.end_grace_s)
            deadline = min(deadline, max(self.event.end, said_over))
        delay = min(max(0.0, delay - took), max(0.5, (deadline - now).total_seconds()))
        self.log.info("not live (%s); next check in %.1f s", printable(reason), delay)
        self.stop.wait(delay)
        return None

    def _backoff(self, now: datetime) -> float:
        return backoff_s(self.settings, self.failures, now, self.event.end, self.playlist_span_s)

    def _acquire_slot(self) -> bool:
        while not self.stop.is_set() and self.ctx.clock() < self.hard_stop:
            if self.ctx.slots.acquire(timeout=1.0):
                return True
        return False

    # -- one connection ---------------------------------------------------------------------------------

    def _record(self, check: LiveCheck) -> StreamOutcome | LiveCheck | None:
        """One connection: an outcome that ends the capture, None to check again, or (a connection that was
        the check, see :attr:`LiveCheck.unprobed`) the not-live answer it amounted to."""
        assert check.stream is not None
        offline = self.ctx.clock() - (self.offline_since or self.ctx.clock())
        if self.writer.last_end is not None and offline.total_seconds() > self.settings.reconnect_grace_s:
            self.session += 1
        first_seq = next_free_seq(self.ctx.store.next_seq(self.run.id, self.index), self.index,
                                  (self.media_dir, self.audio_dir))
        plan = RecordPlan(
            media_pattern=self.media_dir / f"s{self.index}-%06d.ts",
            audio_pattern=self.audio_dir / f"s{self.index}-%06d.wav",
            media_list=self.media_dir / f"s{self.index}-{first_seq:06d}.media.csv",
            audio_list=self.audio_dir / f"s{self.index}-{first_seq:06d}.audio.csv",
            start_number=first_seq,
            segment_seconds=self.settings.segment_seconds,
        )
        continues_at = (None if self.newest_recorded_end is None
                        else self.newest_recorded_end + timedelta(seconds=check.skipped_s))
        clock = clock_for(check, self.settings, recorded_end=self.writer.last_end,
                          newest_recorded_end=continues_at, now=self.ctx.clock)
        leftover = None
        if check.continues and isinstance(clock, HlsClock) and continues_at is not None:
            # From the clock's fresh read: a new stream listed since the check is not run into either.
            leftover = stale_leftover_s(clock.listed(), 0, continues_at, self.ctx.clock())
        args = record_args(check.stream, plan, rw_timeout_s=self.settings.rw_timeout_s, ffmpeg_bin=self.ctx.ffmpeg_bin,
                           live_start_index=clock.start_index if isinstance(clock, HlsClock) else check.start_index,
                           hold=check.hold_counters(self.settings.stall_timeout_s),
                           input_url=clock.input_url, duration_s=leftover)
        if clock.basis not in (HlsClock.PDT_BASIS, DashClock.BASIS, *self.estimated_clocks):
            self.estimated_clocks.append(clock.basis)
        connection = self.ctx.store.open_connection(
            self.run.id, self.index, self.session, check.stream.media_url, first_seq, clock.wall_base)
        frames = self.frames.plan(connection)  # named by the connection: what record_args(frames=) appends
        process = FfmpegProcess([*args, *frame_args(frames)] if frames else args, pass_fds=clock.pass_fds,
                                dies_with_us=self.ctx.ffmpeg_dies_with_us)
        if isinstance(clock, ArrivalClock):
            clock.follow(process)
        try:
            pid = process.start()
        except OSError as err:
            clock.close()
            self.ctx.store.close_connection(connection, None, f"cannot start ffmpeg: {err}", "")
            return self._finish(INCOMPLETE, f"cannot start ffmpeg: {err.strerror or err}")
        self.ctx.store.set_connection_pid(connection, pid)
        clock.started()
        self.log.info("recording %s (connection %s, from segment %s)", check.stream.media_url, connection, first_seq)
        tails = (SegmentListTail(plan.media_list), SegmentListTail(plan.audio_list))
        before = self.writer.recorded
        began = time.monotonic()
        try:
            reason = self._watch(process, tails, connection, clock)
            # ffmpeg ended up to one watch interval before this: a segment first listed since, it never read.
            exited = time.monotonic() - WATCH_INTERVAL_S
        except BaseException:
            # The ledger could not be written (the data directory's disk full, say): ffmpeg must not go
            # on recording unwatched, nor outlive the monitor. The connection stays open for recovery.
            process.stop(min(self.settings.stop_timeout_s, 5.0))
            clock.close()
            raise
        self.writer.ingest(tails, connection, clock)  # what ffmpeg closed on its way out
        self.frames.ingest(connection, clock, final=True)
        # An interrupted ffmpeg (the watchdog's stop of a stalled input) lists nothing it was writing.
        recovered = recover_unlisted(self.writer, connection, clock, first_seq, INTERRUPTED_NOTE).describe()
        clock.close()
        self._settle(clock, connection)
        self.ctx.store.close_connection(connection, process.returncode,
                                        f"{reason}; {recovered}" if recovered else reason, process.stderr_tail)
        produced = self.writer.recorded > before
        if (check.unprobed and not produced and process.media_origin is None and process.disk_problem() is None
                and "matches no streams" not in process.stderr_tail):
            # Nothing arrived: not a failed recording but the check's answer (the next gap's cause stays that
            # of the connection that recorded last).
            return nothing_arrived(check.stream, process.stderr_tail, time.monotonic() - began,
                                   timed_out=reason.startswith("stalled"))
        self.ended_since = None  # it came back (a clean RTMP end says so again below)
        self.writer.gap_cause = reason
        if produced and isinstance(clock, HlsClock) and self.writer.last_end is not None:
            # What ffmpeg got to, not what was listed when it began: a playlist left up, stale, after the
            # broadcast ends (nginx-rtmp) lists newer segments that this connection has already recorded.
            ended_itself = process.returncode == 0 and clock.basis != HlsClock.PDT_BASIS
            self.newest_recorded = clock.recorded_last(ended_itself, seen_before=exited)
            self.newest_recorded_end = None if self.newest_recorded is None else clock.end_of(self.newest_recorded[0])
            self.recorded_unlisted_s = clock.unlisted_s() if self.newest_recorded == clock.newest_listed() else 0.0
        # A connection shorter than one segment (a short file served as the stream, an origin that hangs up
        # at once) counts as a failure, so reconnects back off instead of looping.
        floor = max(self.settings.backoff_base_s, self.settings.segment_seconds)
        short = time.monotonic() - began < floor
        self.failures = 0 if produced and not short else self.failures + 1
        disk = process.disk_problem()
        if disk is not None:
            return self._finish(INCOMPLETE, f"cannot write media: {disk}")
        if not produced and process.returncode not in (0, None, 255) and "matches no streams" in process.stderr_tail:
            return self._finish(INCOMPLETE, "the stream has no audio track to monitor")
        if produced and process.returncode == 0 and is_rtmp(check.stream):
            # RTMP and the like end cleanly only when the broadcaster unpublishes (HLS says so by ENDLIST).
            self.ended_since = self.ctx.clock()
        if check.segments or check.manifest:
            self.playlist_span_s = sum(segment.duration for segment in check.segments) or (
                check.manifest.span_s if check.manifest else 0.0)
        if not produced and self.writer.last_end is None and self.ctx.clock() >= self.event.end:
            return self._finish(NO_SHOW, f"never live by the registered end ({reason})")
        # Never reconnect at once (a short file would be re-recorded several times a second): while
        # connections keep failing or ending early, at least backoff_base_s, doubling. After one that
        # recorded for a while, the first check is immediate: the origin may be back already.
        if self.failures:
            self.stop.wait(self._backoff(self.ctx.clock()))
        self.offline_since = self.ctx.clock()
        return None

    def _watch(self, process: FfmpegProcess, tails: tuple[SegmentListTail, SegmentListTail],
               connection: int, clock: BroadcastClock) -> str:
        beat = 0
        outage = LedgerOutage(self.log)
        while True:
            stopping = self.stop.wait(WATCH_INTERVAL_S)
            with outage:  # the database restarting: ffmpeg records on, and what it wrote is listed afterwards
                if clock.ready() and self.writer.ingest(tails, connection, clock):
                    self.on_state(self.index, RECORDING)
                    self._settle(clock, connection)
                if clock.ready():
                    self.frames.ingest(connection, clock)
                beat += 1
                if beat % 10 == 0:
                    self.ctx.store.heartbeat(self.run.id)
            if process.returncode is not None:
                return clock.restarted() or f"ffmpeg exited with code {process.returncode}"
            if stopping:
                process.stop(self.settings.stop_timeout_s)
                return self.stop.reason or "stopped"
            if self._past_hard_stop():
                process.stop(self.settings.stop_timeout_s)
                return "overrun cap reached"
            if process.stalled_for() > self.settings.stall_timeout_s:
                self.log.warning("no new media for %.0f s; restarting ffmpeg", process.stalled_for())
                process.stop(min(self.settings.stop_timeout_s, 5.0), grace=STALLED_STOP_GRACE_S)
                return f"stalled: no new media for {self.settings.stall_timeout_s:g} s (watchdog)"

    def _settle(self, clock: BroadcastClock, connection: int) -> None:
        """Once an arrival clock has placed its first segment, the connection's row says where its output
        second 0 fell, for recovery after a crash (it was opened with the connection's start)."""
        if isinstance(clock, ArrivalClock) and clock.fixed and not clock.saved:
            self.ctx.store.set_connection_wall_base(connection, clock.wall_base)
            clock.saved = True

    def _past_hard_stop(self) -> bool:
        """Media arrives seconds after it is broadcast (the origin's segment length plus our read), so the
        cap is met when the *recorded media* reaches it; the wall clock only bounds how long we wait."""
        now = self.ctx.clock()
        if now < self.hard_stop:
            return False
        media_end = self.writer.last_end
        drain = timedelta(seconds=max(2 * self.settings.segment_seconds, self.settings.stall_timeout_s))
        return (media_end is not None and media_end >= self.hard_stop) or now >= self.hard_stop + drain

    # -- bookkeeping ------------------------------------------------------------------------------------

    def _recover(self) -> None:
        """After a crash of the monitor: stop its orphaned ffmpeg, then record what that ffmpeg saved."""
        for row in self.ctx.store.open_connections(self.run.id, self.index):
            if row.pid and stop_orphan(row.pid, str(self.media_dir)):
                self.log.warning("stopped ffmpeg %s left by a previous monitor", row.pid)
            recover_connection(self.writer, row, self.media_dir, self.audio_dir, self.index)
            self.frames.recover(row.id, BroadcastClock(row.wall_base))
            self.ctx.store.close_connection(row.id, None, "monitor stopped unexpectedly; recovered", "")
            self.writer.gap_cause = "monitor restarted"
        if self.writer.last_end is not None:
            self.offline_since = self.ctx.clock()

    def _finish(self, status: str, reason: str) -> StreamOutcome:
        went_live = self.writer.last_end is not None
        ended_early = self.stop.reason == StopSignal.ENDED  # on purpose: no broadcast was lost
        if status == FINISHED and went_live and self.writer.last_end is not None and not ended_early:
            end_of_media = self.writer.last_end
            if end_of_media < self.event.end - timedelta(seconds=self.settings.segment_seconds):
                self.ctx.store.add_gap(self.run.id, self.index, end_of_media, self.event.end,
                                       f"off air before the registered end ({self.writer.gap_cause or reason})")
        if self.bad_answers:
            reason += (f"; {self.bad_answers} bad answer(s) from the origin, "
                       f"the last: {printable(self.last_bad_answer, 200)}")
        if self.estimated_clocks and went_live:
            reason += f"; media times estimated from {' and '.join(self.estimated_clocks)}"
        if self.refusals:
            reason += f"; {self.refusals} URL(s) refused, the last: {printable(self.last_refusal, 200)}"
        self.log.info("stream %s done: %s (%s)", self.index, status, reason)
        return StreamOutcome(status, reason, went_live)
