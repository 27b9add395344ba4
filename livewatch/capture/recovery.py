"""Segments ffmpeg wrote but never listed: after the monitor died mid-recording, or after ffmpeg had to be
interrupted (a stalled input makes a second SIGINT necessary, and that fails every write, the segment list's
last line and the WAV trailer included). What the files hold is recorded, so nothing captured is lost and
nothing is counted twice (segments are unique per run)."""

from __future__ import annotations

import logging
import os
import re
import stat
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from livewatch.capture.clock import BroadcastClock
from livewatch.capture.segments import (
    WAV_HEAD_READ,
    WAV_HEADER,
    ListedSegment,
    SegmentListTail,
    wav_data_offset,
    wav_seconds,
)
from livewatch.capture.writer import SegmentWriter

log = logging.getLogger(__name__)

PARTIAL_NOTE = "cut off when the monitor stopped"
_SEQ_NAME = re.compile(r"^s(\d+)-(\d{6})\.(?:ts|wav)$")
INTERRUPTED_NOTE = "cut off when ffmpeg was interrupted"


def next_free_seq(next_in_store: int, index: int, folders: tuple[Path, ...]) -> int:
    """The next segment number of stream ``index``: past both the database's (``next_in_store``) and every
    file on disk, so a file left by a crashed ffmpeg is never overwritten."""
    top = next_in_store - 1
    for folder in folders:
        for path in folder.glob(f"s{index}-*"):
            match = _SEQ_NAME.match(path.name)
            if match:
                top = max(top, int(match.group(2)))
    return top + 1


@dataclass(frozen=True)
class Recovered:
    """What one connection's unlisted files held."""

    audio_seconds: float = 0.0
    #: Unlisted files with nothing in them (ffmpeg still held their data in memory): noted, not registered.
    empty: tuple[str, ...] = ()
    #: Unlisted media files with data but no audio on disk to place them by: kept on disk, not registered.
    unplaced: tuple[str, ...] = ()

    def describe(self) -> str:
        parts = []
        if self.audio_seconds:
            parts.append(f"{self.audio_seconds:.1f} s of unlisted audio recovered as partial")
        if self.empty:
            parts.append(f"empty file(s) left unregistered: {', '.join(self.empty)}")
        if self.unplaced:
            parts.append(f"media without audio to time it, left unregistered: {', '.join(self.unplaced)}")
        return "; ".join(parts)


def repair_wav_header(path: Path) -> None:
    """Write the RIFF and data sizes that ffmpeg only fills in when it closes the file."""
    info = path.lstat()
    if not stat.S_ISREG(info.st_mode) or info.st_size <= WAV_HEADER:
        return  # a link planted in the data directory is never written through
    size = info.st_size
    with os.fdopen(os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC), "r+b") as handle:
        data_at = wav_data_offset(handle.read(WAV_HEAD_READ))
        if data_at is None or size < data_at + 8:
            return  # not a PCM WAV file as ffmpeg writes them; leave it alone
        handle.seek(4)
        handle.write(struct.pack("<I", size - 8))
        handle.seek(data_at + 4)
        handle.write(struct.pack("<I", size - data_at - 8))


def recover_connection(writer: SegmentWriter, row: Any, media_dir: Path, audio_dir: Path, index: int) -> Recovered:
    """After a crash: record everything one connection's ffmpeg listed, then what it left unlisted."""
    # The dead connection's playlist is long gone; its start is the reference for its timeline.
    clock = BroadcastClock(row.wall_base)
    first_seq: int = row.first_seq
    for listed in SegmentListTail(media_dir / f"s{index}-{first_seq:06d}.media.csv").read_new():
        writer.add("media", listed, row.id, clock)
    for listed in SegmentListTail(audio_dir / f"s{index}-{first_seq:06d}.audio.csv").read_new():
        writer.add("audio", listed, row.id, clock)
    return recover_unlisted(writer, row.id, clock, first_seq, PARTIAL_NOTE)


def recover_unlisted(writer: SegmentWriter, connection: int, clock: BroadcastClock, first_seq: int,
                     note: str) -> Recovered:
    """Register, as ``partial``, the segments of the connection that began at ``first_seq`` which are on
    disk but not in its segment lists, each placed right after the audio before it, and queue their audio
    for transcription. Call it once ffmpeg has ended (a file still being written would be cut short)."""
    media_dir, audio_dir, index = writer.media_dir, writer.audio_dir, writer.index
    # Read afresh from the start: the lists' names say what is listed, their ends where a cut file begins.
    media_listed = SegmentListTail(media_dir / f"s{index}-{first_seq:06d}.media.csv").read_new()
    audio_listed = SegmentListTail(audio_dir / f"s{index}-{first_seq:06d}.audio.csv").read_new()
    listed_names = {s.filename for s in (*media_listed, *audio_listed)}
    resume_at = max((s.end for s in audio_listed), default=0.0)
    seconds, empty, unplaced = 0.0, [], []
    for audio in sorted(audio_dir.glob(f"s{index}-*.wav")):
        number = audio.stem.rsplit("-", 1)[-1]
        if not number.isdigit():
            continue  # not a segment ffmpeg wrote (ours are s<stream>-<6 digits>.wav)
        seq = int(number)
        if seq < first_seq or audio.name in listed_names:
            continue
        media = media_dir / f"s{index}-{seq:06d}.ts"
        media_empty = media.exists() and media.stat().st_size == 0
        if media_empty and media.name not in listed_names:
            empty.append(media.name)  # no TS packet reached the disk: nothing to keep as media
        if wav_seconds(audio) <= 0:
            empty.append(audio.name)
            if media.exists() and not media_empty and media.name not in listed_names:
                unplaced.append(media.name)
            continue
        repair_wav_header(audio)
        cut = ListedSegment(audio.name, resume_at, resume_at + wav_seconds(audio))
        if writer.add("audio", cut, connection, clock, status="partial", note=note):
            seconds += cut.end - cut.start
        if media.exists() and not media_empty and media.name not in listed_names:
            writer.add("media", ListedSegment(media.name, cut.start, cut.end), connection, clock,
                       status="partial", note=note)
        resume_at = cut.end
    recovered = Recovered(seconds, tuple(empty), tuple(unplaced))
    if seconds or empty or unplaced:
        log.warning("connection %s: %s", connection, recovered.describe())
    return recovered
