"""Still frames from the capture's ffmpeg, handed to the screen readers on the wall clock.

Each connection's ffmpeg writes ``s<stream>-c<connection>-<n>.jpg`` into the event's ``frames/`` folder
(:func:`livewatch.capture.commands.frame_args`): ``n`` is the frame's output time in frame intervals, so the
frame shows output second ``n / fps`` of the connection, which the connection's clock places on the wall
clock exactly as it places the audio. A frame is handed on once complete (a later one exists, or ffmpeg has
ended) as a :class:`~livewatch.pipeline.screen.CapturedFrame` on the ``screen`` queue. The files come from a
stream origin's picture through ffmpeg, but the folder is in reach of whoever can write the data directory:
a link or anything but a small JPEG is never handed on.
"""

from __future__ import annotations

import logging
import os
import re
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path

from livewatch.capture.clock import BroadcastClock
from livewatch.capture.commands import FramePlan, frame_rate
from livewatch.capture.context import CaptureContext
from livewatch.errors import StateError
from livewatch.fields import CaptureSettings
from livewatch.pipeline import encode
from livewatch.pipeline.screen import CapturedFrame
from livewatch.queue import SCREEN
from livewatch.state.runs import Run

log = logging.getLogger(__name__)

#: Largest frame file handed on: a 1920 px JPEG at ``-q:v 4`` is well under 1 MB.
MAX_FRAME_BYTES = 8_000_000
#: While the next frame does not show up where expected, the folder is listed at most this often (a frame
#: number can skip: the first frame of a connection, a jump in the stream's timestamps).
RESCAN_S = 10.0
#: Frame numbers tried by name for a connection's first frame before the folder is listed.
FIRST_NUMBERS = 4
JPEG_START = b"\xff\xd8"


def frame_name(index: int, connection: int) -> str:
    """ffmpeg's image2 pattern for one connection's frames."""
    return f"s{index}-c{connection}-%08d.jpg"


def metadata_name(index: int, connection: int) -> str:
    """The file ffmpeg prints one connection's black and frozen picture metadata into (``pts_time`` there is
    the same output time as a frame's ``n / fps``: place it with the connection's clock)."""
    return f"s{index}-c{connection}.picture.txt"


def handed_on_name(index: int, connection: int) -> str:
    """The file that keeps the newest frame number of one connection handed on (for crash recovery)."""
    return f"s{index}-c{connection}.handed-on"


def check_frame(path: Path) -> str | None:
    """``None`` when ``path`` is a plain, non-empty, bounded JPEG file (never through a link), else why not."""
    try:
        info = path.lstat()
        if not stat.S_ISREG(info.st_mode):
            return "not a plain file"
        if not 0 < info.st_size <= MAX_FRAME_BYTES:
            return f"{info.st_size} bytes"
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
        try:
            head = os.read(fd, len(JPEG_START))
        finally:
            os.close(fd)
    except OSError as err:
        return f"unreadable: {err.strerror or err}"
    return None if head == JPEG_START else "not a JPEG file"


@dataclass
class _Connection:
    """What has been handed on of one connection's frames."""

    pattern: re.Pattern[str]
    #: The next frame number expected, and the numbers seen but held back (the newest may be half-written).
    next_number: int | None = None
    waiting: list[int] = field(default_factory=list)
    scanned_at: float = float("-inf")


class FrameIngest:
    """The frames of one stream's capture: plans each connection's frame output, and queues its frames."""

    def __init__(self, ctx: CaptureContext, run: Run, event_id: str, index: int, settings: CaptureSettings) -> None:
        self.ctx, self.run, self.event_id, self.index = ctx, run, event_id, index
        self.enabled = settings.frames
        self.folder = ctx.data.frames_dir(event_id)
        self.rate = frame_rate(settings.frames_per_second)
        self.fps = float(self.rate)
        self.interval_s = 1 / self.fps
        self.max_width = settings.frame_max_width
        self.queued = 0
        self.refused = 0
        self._connections: dict[int, _Connection] = {}

    def plan(self, connection: int) -> FramePlan | None:
        """The frame output for ``connection``, or None (frames off, or their folder unusable: ffmpeg would fail
        at once on a metadata file it cannot open, and the audio matters more)."""
        if not self.enabled:
            return None
        metadata = self.folder / metadata_name(self.index, connection)
        try:
            self.ctx.data.make_folder(self.folder)
            self.ctx.data.append(metadata, b"")  # created here, where a planted link is refused
        except StateError as err:
            log.warning("stream %s: no frames for connection %s: %s", self.index, connection, err)
            return None
        return FramePlan(self.folder / frame_name(self.index, connection), metadata, self.fps, self.max_width)

    def ingest(self, connection: int, clock: BroadcastClock, *, final: bool = False) -> int:
        """Queue the frames of ``connection`` that are complete (``final``: its ffmpeg has ended, all are);
        returns how many were queued."""
        if not self.enabled:
            return 0
        state = self._state(connection)
        self._look(connection, state, final)
        ready = state.waiting if final else state.waiting[:-1]
        state.waiting = [] if final else state.waiting[-1:]
        queued = sum(self._queue(connection, number, clock) for number in ready)
        if ready:
            self._note_handed_on(connection, ready[-1])
        if final:
            del self._connections[connection]
        return queued

    def _state(self, connection: int) -> _Connection:
        state = self._connections.get(connection)
        if state is None:
            state = self._connections[connection] = _Connection(self._pattern(connection))
        return state

    def _look(self, connection: int, state: _Connection, final: bool) -> None:
        """Add the frame numbers that appeared since the last look to ``state.waiting``: the expected next ones
        by name (cheap), the folder listed only at the start, at the end, and now and then while none comes."""
        if state.next_number is None:  # the first frame is usually number 0 or close to it
            state.next_number = next((n for n in range(FIRST_NUMBERS) if self._exists(connection, n)), None)
        found = False
        while state.next_number is not None and self._exists(connection, state.next_number):
            state.waiting.append(state.next_number)
            state.next_number += 1
            found = True
        now = time.monotonic()
        if not (final or (not found and now - state.scanned_at >= RESCAN_S)):
            return
        state.scanned_at = now
        after = state.next_number if state.next_number is not None else 0
        numbers = sorted(n for n in self._listed(state.pattern) if n >= after and n not in state.waiting)
        state.waiting = sorted({*state.waiting, *numbers})
        if state.waiting:
            state.next_number = state.waiting[-1] + 1

    def _pattern(self, connection: int) -> re.Pattern[str]:
        return re.compile(rf"^{re.escape(f's{self.index}-c{connection}-')}(\d{{8,}})\.jpg$")

    def _exists(self, connection: int, number: int) -> bool:
        return (self.folder / (frame_name(self.index, connection) % number)).exists()

    def _listed(self, pattern: re.Pattern[str]) -> list[int]:
        try:
            with os.scandir(self.folder) as entries:
                return [int(match.group(1)) for entry in entries if (match := pattern.match(entry.name))]
        except OSError:
            return []

    def _queue(self, connection: int, number: int, clock: BroadcastClock) -> bool:
        path = self.folder / (frame_name(self.index, connection) % number)
        problem = check_frame(path)
        if problem is not None:
            self.refused += 1
            log.warning("stream %s: frame %s not handed on: %s", self.index, path.name, problem)
            return False
        frame = CapturedFrame(self.event_id, self.run.id, self.index, connection, path,
                              clock.moment(number / self.fps), self.interval_s)
        if not self.ctx.queue.put(SCREEN, frame.queue_key, encode(frame)):
            return False  # this moment is queued already (a reconnect that recorded it again)
        self.queued += 1
        return True

    def _note_handed_on(self, connection: int, number: int) -> None:
        """Keep the newest frame number handed on, for :meth:`recover`: a dead connection's clock is rebuilt
        from its start, so a frame queued before would come again under another time."""
        try:
            self.ctx.data.write_whole(self.folder / handed_on_name(self.index, connection), f"{number}\n")
        except StateError as err:
            log.warning("stream %s: %s", self.index, err)

    def recover(self, connection: int, clock: BroadcastClock) -> int:
        """After a crash of the monitor: queue the frames a dead connection's ffmpeg left that were not handed
        on before (all are complete: a frame is written under a temporary name and renamed whole)."""
        if not self.enabled:
            return 0
        note = self.ctx.data.read_bytes(self.folder / handed_on_name(self.index, connection)) or b""
        text = note.decode("ascii", errors="replace").strip()
        state = self._state(connection)
        if text.isdigit() and len(text) < 12:
            state.next_number = int(text) + 1
            state.scanned_at = float("-inf")
        return self.ingest(connection, clock, final=True)
