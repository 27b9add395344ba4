"""A real live HLS origin on 127.0.0.1 for tests: it can start late, drop, stall and stop.

The encoder and the HTTP server are the demo's origin (``livewatch/demo/origin.py``, which documents what
ffmpeg 5.1 writes); ``LiveOrigin`` adds what only tests need: a looped espeak-ng sentence as the audio, and
the broadcaster's failures (drop, stall, resume). Every segment carries ``#EXT-X-PROGRAM-DATE-TIME`` with the
wall-clock time it was produced.

Server states::

    before start()      404 for everything (page included)
    live / stalled      200 (a stall serves the frozen playlist; the encoder is stopped)
    dropped             404 for everything until the timer restarts the encoder
    stop(endlist=True)  200, playlist ends with #EXT-X-ENDLIST
    stop(endlist=False) 404 for everything
    closed              404 for everything (the server is shut down)
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime
from http import HTTPStatus
from pathlib import Path
from typing import ClassVar

from livewatch.demo.origin import SAMPLE_RATE, HlsOrigin

__all__ = [
    "LiveOrigin",
    "MediaPlaylist",
    "Segment",
    "fetch",
    "parse_media_playlist",
    "wait_for_playlist",
]


# --------------------------------------------------------------------------------------------------------------
# Playlist helpers
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    uri: str
    duration: float
    program_date_time: datetime | None
    discontinuity: bool
    sequence: int


@dataclass(frozen=True)
class MediaPlaylist:
    media_sequence: int
    target_duration: int
    segments: list[Segment] = field(default_factory=list)
    endlist: bool = False
    discontinuities: int = 0  # #EXT-X-DISCONTINUITY tags in the window, wherever they stand

    @property
    def last_sequence(self) -> int:
        return self.media_sequence + len(self.segments) - 1


def parse_media_playlist(text: str) -> MediaPlaylist:
    """Parse the small subset of HLS that ffmpeg's muxer writes."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines or lines[0] != "#EXTM3U":
        raise ValueError(f"not an HLS playlist: {text[:80]!r}")
    media_sequence = 0
    target_duration = 0
    endlist = False
    discontinuities = 0
    segments: list[Segment] = []
    duration: float | None = None
    pdt: datetime | None = None
    discontinuity = False
    for line in lines[1:]:
        if line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
            media_sequence = int(line.partition(":")[2])
        elif line.startswith("#EXT-X-TARGETDURATION:"):
            target_duration = int(line.partition(":")[2])
        elif line == "#EXT-X-ENDLIST":
            endlist = True
        elif line == "#EXT-X-DISCONTINUITY":
            discontinuities += 1
            discontinuity = True
        elif line.startswith("#EXTINF:"):
            duration = float(line.partition(":")[2].split(",")[0])
        elif line.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
            pdt = datetime.fromisoformat(line.partition(":")[2])
        elif not line.startswith("#"):
            if duration is None:
                raise ValueError(f"segment {line!r} without #EXTINF")
            segments.append(Segment(line, duration, pdt, discontinuity, media_sequence + len(segments)))
            duration, pdt, discontinuity = None, None, False
    return MediaPlaylist(media_sequence, target_duration, segments, endlist, discontinuities)


def fetch(url: str, timeout: float = 5.0) -> tuple[int, bytes, dict[str, str]]:
    """GET ``url``; return (status, body, headers) and never raise for an HTTP error status."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read(), dict(response.headers.items())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read(), dict(error.headers.items())


def wait_for_playlist(url: str, min_segments: int = 1, timeout: float = 15.0) -> str:
    """Poll ``url`` until it answers 200 with a playlist of at least ``min_segments`` segments; return its text."""
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while True:
        try:
            status, body, _ = fetch(url, timeout=2.0)
        except OSError as error:
            last = f"{type(error).__name__}: {error}"
        else:
            if status == HTTPStatus.OK:
                text = body.decode("utf-8")
                count = len(parse_media_playlist(text).segments)
                if count >= min_segments:
                    return text
                last = f"200 with {count} segment(s)"
            else:
                last = f"HTTP {status}"
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{url}: no playlist with {min_segments} segment(s) within {timeout} s ({last})")
        time.sleep(0.2)


# --------------------------------------------------------------------------------------------------------------
# The origin
# --------------------------------------------------------------------------------------------------------------


class LiveOrigin(HlsOrigin):
    """A live HLS origin on 127.0.0.1 whose broadcaster a test can start late, drop, stall and stop.

    All controls are thread-safe. ``drop`` returns at once (a timer thread does the work); the others return
    once the encoder has been started or has exited (a graceful stop takes well under a second).
    """

    STOPPABLE: ClassVar[frozenset[str]] = frozenset({"idle", "live", "dropped", "stalled"})

    def __init__(
        self,
        workdir: Path,
        *,
        speech: str | None = None,
        segment_seconds: float = 2.0,
        list_size: int = 6,
    ) -> None:
        if list_size < 1:
            raise ValueError("list_size must be at least 1")
        for program in ("ffmpeg", "espeak-ng") if speech is not None else ("ffmpeg",):
            if shutil.which(program) is None:
                raise RuntimeError(f"{program} is not installed")
        self.speech = speech
        self.dropped_at: datetime | None = None
        self.returned_at: datetime | None = None
        self._speech_audio: Path | None = None
        self._timers: list[threading.Thread] = []
        super().__init__(workdir, segment_seconds=segment_seconds, list_size=list_size, programs=())

    # ------------------------------------------------------------------------------------------------ controls

    def drop(self, seconds: float) -> None:
        """The broadcaster disconnects: 404 for everything now, the encoder back after ``seconds``.

        Returns at once; ``dropped_at`` is set now and ``returned_at`` when serving resumes.
        """
        if seconds < 0:
            raise ValueError("seconds must not be negative")
        with self._lock:
            self._require({"live", "stalled"}, "drop")
            self._generation += 1
            generation = self._generation
            self._state = "dropped"
            self._serving = False
            self.dropped_at = self._record("drop")
            self.returned_at = None
            deadline = time.monotonic() + seconds
            timer = threading.Thread(
                target=self._drop_worker, args=(generation, deadline), name=f"origin-drop-{self.port}", daemon=True
            )
            self._timers.append(timer)
            self._changed.notify_all()
        timer.start()

    def stall(self) -> None:
        """The encoder stops but the server keeps serving the now-stale playlist."""
        with self._lock:
            self._require({"live"}, "stall")
            self._generation += 1
            self._state = "stalled"
            self._record("stall")
            self._changed.notify_all()
        with self._encoder_lock:
            self._stop_encoder()

    def resume(self) -> None:
        """Restart the encoder after ``stall()``; the playlist goes on after a discontinuity."""
        with self._encoder_lock:
            with self._lock:
                self._require({"stalled"}, "resume")
                self._generation += 1
                self._record("resume")
            self._start_encoder()
            with self._lock:
                self._state = "live"
                self._changed.notify_all()

    def close(self) -> None:
        """Kill everything, pending drop timers included. Idempotent; used by ``__exit__``."""
        super().close()
        # No timer can be added any more (drop needs a live or stalled origin), and each one sees the
        # generation bumped by close() and returns without restarting anything.
        with self._lock:
            timers = list(self._timers)
        for timer in timers:
            if timer is not threading.current_thread():
                timer.join(timeout=10)

    # ------------------------------------------------------------------------------------------------ internals

    def _drop_worker(self, generation: int, deadline: float) -> None:
        with self._encoder_lock:
            self._stop_encoder()
        with self._lock:
            overtaken = self._changed.wait_for(
                lambda: self._generation != generation, timeout=max(0.0, deadline - time.monotonic())
            )
            if overtaken:
                return
        with self._encoder_lock:
            with self._lock:
                if self._generation != generation:
                    return
            self._start_encoder()
            with self._lock:
                # Whoever changed the generation meanwhile waits for _encoder_lock and stops this encoder.
                if self._generation == generation:
                    self._state = "live"
                    self._serving = True
                    self.returned_at = self._record("return")
                    self._changed.notify_all()

    def audio_input(self) -> list[str]:
        audio = self._prepare_speech()
        if audio is None:
            return super().audio_input()
        return ["-re", "-stream_loop", "-1", "-i", str(audio)]

    def _prepare_speech(self) -> Path | None:
        if self.speech is None:
            return None
        if self._speech_audio is None:
            raw = self.workdir / "speech-raw.wav"
            padded = self.workdir / "speech.wav"
            subprocess.run(["espeak-ng", "-w", str(raw), "--", self.speech], check=True, capture_output=True)
            # One second of silence after every repeat, resampled once so the live encoder does less work.
            subprocess.run(
                ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i", str(raw),
                 "-af", "apad=pad_dur=1", "-ar", str(SAMPLE_RATE), "-ac", "1", str(padded)],
                check=True,
                capture_output=True,
            )  # fmt: skip
            self._speech_audio = padded
        return self._speech_audio
