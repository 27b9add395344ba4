"""Closed segments as ffmpeg's segment muxer announces them, and the cheap checks each one passes.

ffmpeg appends ``name,start,end`` to a CSV segment list the moment it closes a segment, so a segment is
known (and can be queued for transcription) within a poll interval of closing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

TS_PACKET = 188
TS_SYNC = 0x47
WAV_HEADER = 44
#: Enough of a WAV file's start to find its ``data`` chunk behind ffmpeg's ``LIST`` chunk.
WAV_HEAD_READ = 512


@dataclass(frozen=True)
class ListedSegment:
    """One line of a segment list: file name and start/end in seconds on the connection's timeline."""

    filename: str
    start: float
    end: float


def parse_list_line(line: str) -> ListedSegment | None:
    parts = line.strip().rsplit(",", 2)
    if len(parts) != 3:
        return None
    try:
        return ListedSegment(parts[0], float(parts[1]), float(parts[2]))
    except ValueError:
        return None


class SegmentListTail:
    """Reads the lines appended to a segment list since the last call (a half-written line waits)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        #: Read but not recorded (a database write failed): returned first by the next :meth:`read_new`.
        self._put_back: list[ListedSegment] = []

    def read_new(self) -> list[ListedSegment]:
        held, self._put_back = self._put_back, []
        try:
            with self.path.open("rb") as handle:
                handle.seek(self._offset)
                chunk = handle.read()
        except FileNotFoundError:
            return held
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self._offset += len(complete)
        listed = (parse_list_line(line) for line in complete.decode("utf-8", errors="replace").splitlines())
        return held + [segment for segment in listed if segment is not None]

    def put_back(self, segments: list[ListedSegment]) -> None:
        """Segments :meth:`read_new` returned that the caller could not record: the next call returns them."""
        self._put_back = [*segments, *self._put_back]


def check_ts(path: Path) -> str | None:
    """``None`` when ``path`` looks like MPEG-TS, else what is wrong with it."""
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            head = handle.read(TS_PACKET * 2 + 1)
    except OSError as err:
        return f"unreadable: {err.strerror or err}"
    if size == 0:
        return "empty file"
    if head[0] != TS_SYNC or (len(head) > TS_PACKET and head[TS_PACKET] != TS_SYNC):
        return "not MPEG-TS (no sync byte)"
    return None


def check_wav(path: Path) -> str | None:
    """``None`` when ``path`` is a RIFF/WAVE file with audio data, else what is wrong with it."""
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            head = handle.read(12)
    except OSError as err:
        return f"unreadable: {err.strerror or err}"
    if size <= WAV_HEADER:
        return "no audio data"
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return "not a WAV file"
    return None


def wav_data_offset(head: bytes) -> int | None:
    """Where the ``data`` chunk's header starts in a WAV file's first bytes, or ``None``.

    ffmpeg writes a ``LIST``/``INFO`` chunk (its version) between ``fmt `` and ``data``, so the audio does
    not start at byte 44; the chunks are walked by their sizes, which ffmpeg writes up front except for
    ``RIFF`` and ``data``, the two a cut-off file lacks.
    """
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    offset = 12
    while offset + 8 <= len(head):
        if head[offset:offset + 4] == b"data":
            return offset
        size = int.from_bytes(head[offset + 4:offset + 8], "little")
        offset += 8 + size + (size & 1)
    return None


def wav_seconds(path: Path, sample_rate: int = 16_000, sample_bytes: int = 2) -> float:
    """Duration of a mono PCM WAV from its size (works for a file cut off before its header was final)."""
    with path.open("rb") as handle:
        head = handle.read(WAV_HEAD_READ)
    offset = wav_data_offset(head)
    audio_at = WAV_HEADER if offset is None else offset + 8
    return max(0.0, (path.stat().st_size - audio_at) / (sample_rate * sample_bytes))
