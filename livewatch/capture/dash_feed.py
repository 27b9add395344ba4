"""Recording live DASH: livewatch fetches the segments, ffmpeg reads them from a pipe (see :mod:`.dash`).

One thread per connection follows the manifest and writes the recorded representation's initialization
segment, then each media segment once, in numbering order, into a pipe that ffmpeg reads as one fragmented
MP4 (``-f mp4 -i pipe:N``). The feed ends, closing the pipe so that ffmpeg closes its outputs and exits by
itself, when the manifest turns ``static`` (the packager stopped), when another manifest takes its place (a
packager's restart: :meth:`.DashManifest.restarted_from`), or when the origin stops answering for longer
than the read timeout; :meth:`DashClock.restarted` then says why.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from livewatch.capture.base import ResolvedStream
from livewatch.capture.clock import BroadcastClock
from livewatch.capture.dash import DashManifest, DashSegment, fetch_manifest, next_read_s
from livewatch.capture.fetch import WEB_SCHEMES, fetch_bytes, printable
from livewatch.capture.urls import UrlPolicy
from livewatch.errors import CaptureError, StreamOffline

#: One media segment's most bytes (a 10 s 1080p segment is a few MB).
MAX_SEGMENT_BYTES = 64_000_000


class DashClock(BroadcastClock):
    """Feeds ffmpeg the segments from ``first`` on and places output second *t* at the manifest's wall clock
    of media time ``first.media_s + t``."""

    BASIS = "the DASH manifest's availabilityStartTime and segment times"

    def __init__(self, stream: ResolvedStream, manifest: DashManifest, first: DashSegment, timeout: float) -> None:
        wall = manifest.wall(first.media_s)
        assert wall is not None  # a manifest with segment times has an availabilityStartTime
        super().__init__(wall)
        self.basis = self.BASIS
        self.stream, self.manifest, self.first, self.timeout = stream, manifest, first, timeout
        self.policy = UrlPolicy(stream.media_url, WEB_SCHEMES, resolve_timeout_s=timeout)
        self._read_fd, self._write_fd = os.pipe()
        self._fds_lock = threading.Lock()
        self.input_url = f"pipe:{self._read_fd}"
        self.pass_fds = (self._read_fd,)
        self._ended: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._feed, name="dash-feed", daemon=True)

    def wall(self, offset: float) -> datetime:
        placed = self.manifest.wall(self.first.media_s + offset)
        return placed if placed is not None else self.wall_base + timedelta(seconds=offset)

    def started(self) -> None:
        """ffmpeg holds the pipe's read end now: start feeding it (the thread owns the write end from here)."""
        self._close_read_end()
        self._thread.start()

    def restarted(self) -> str | None:
        return self._ended

    def close(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:  # started: the feed closes the write end itself when it ends
            self._thread.join(timeout=self.timeout + 1)
            return
        # Never started (ffmpeg could not be): nothing else holds the pipe. Each end is closed once only: a
        # descriptor number closed twice may by then be another file's (the state database's, whose every
        # later read then fails with "disk I/O error").
        self._close_read_end()
        with self._fds_lock:
            write_fd, self._write_fd = self._write_fd, -1
        if write_fd >= 0:
            with contextlib.suppress(OSError):
                os.close(write_fd)

    def _close_read_end(self) -> None:
        with self._fds_lock:
            read_fd, self._read_fd = self._read_fd, -1
        if read_fd >= 0:
            with contextlib.suppress(OSError):
                os.close(read_fd)

    def _get(self, url: str) -> bytes:
        self.policy.check(url, "DASH segment")
        return fetch_bytes(url, self.stream.headers, timeout=self.timeout, limit=MAX_SEGMENT_BYTES,
                           check=lambda target: self.policy.check(target, "DASH segment"))

    def _feed(self) -> None:
        try:
            with os.fdopen(self._write_fd, "wb") as pipe:
                def write(data: bytes) -> None:
                    pipe.write(data)
                    pipe.flush()
                self._ended = self._follow(write)
        except (BrokenPipeError, OSError):
            self._ended = self._ended or "ffmpeg stopped reading"
        except CaptureError as err:
            self._ended = f"the DASH feed failed: {printable(err)}"

    def _follow(self, write: Callable[[bytes], None]) -> str:
        manifest, number = self.manifest, self.first.number
        if manifest.init_url:
            write(self._get(manifest.init_url))
        answered = time.monotonic()
        interval = max(0.5, min(self.first.duration_s / 2, 5.0))
        while not self._stop.is_set():
            for segment in (s for s in manifest.segments if s.number >= number):
                if self._stop.is_set():
                    return "stopped"
                # Listed but gone (or not there yet): a hole, placed where it is by the media times after it.
                with contextlib.suppress(StreamOffline):
                    write(self._get(manifest.segment_url(segment)))
                number = segment.number + 1
            if not manifest.dynamic:
                return "the DASH manifest is static (the broadcast is over)"
            if self._stop.wait(next_read_s(manifest, datetime.now(UTC), interval)):
                return "stopped"
            try:
                fresh = fetch_manifest(self.stream.media_url, self.stream.headers, self.timeout, self.policy)
            except CaptureError as err:
                if time.monotonic() - answered > self.timeout:
                    return f"the DASH manifest does not answer ({printable(err, 200)})"
                continue
            answered = time.monotonic()
            why = fresh.restarted_from(manifest)
            if why is not None:
                return why
            manifest = fresh
        return "stopped"

