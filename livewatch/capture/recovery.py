"""After the monitor died mid-recording: record what its ffmpeg saved, including the segment it was still
writing, so nothing captured is lost and nothing is counted twice (segments are unique per run)."""

from __future__ import annotations

import os
import stat
import struct
from pathlib import Path
from typing import Any

from livewatch.capture.clock import BroadcastClock
from livewatch.capture.segments import WAV_HEADER, ListedSegment, SegmentListTail, wav_seconds
from livewatch.capture.writer import SegmentWriter

PARTIAL_NOTE = "cut off when the monitor stopped"


def repair_wav_header(path: Path) -> None:
    """Write the RIFF and data sizes that ffmpeg only fills in when it closes the file."""
    info = path.lstat()
    if not stat.S_ISREG(info.st_mode) or info.st_size <= WAV_HEADER:
        return  # a link planted in the data directory is never written through
    size = info.st_size
    with os.fdopen(os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC), "r+b") as handle:
        head = handle.read(WAV_HEADER)
        if head[:4] != b"RIFF" or head[36:40] != b"data":
            return  # not the plain 44-byte header ffmpeg writes for PCM; leave it alone
        handle.seek(4)
        handle.write(struct.pack("<I", size - 8))
        handle.seek(40)
        handle.write(struct.pack("<I", size - WAV_HEADER))


def recover_connection(writer: SegmentWriter, row: Any, media_dir: Path, audio_dir: Path, index: int) -> None:
    # The dead connection's playlist is long gone; its start is the reference for its timeline.
    clock = BroadcastClock(row.wall_base)
    first_seq: int = row.first_seq
    media_list = media_dir / f"s{index}-{first_seq:06d}.media.csv"
    audio_list = audio_dir / f"s{index}-{first_seq:06d}.audio.csv"
    media_listed = SegmentListTail(media_list).read_new()
    audio_listed = SegmentListTail(audio_list).read_new()
    for listed in media_listed:
        writer.add("media", listed, row.id, clock)
    for listed in audio_listed:
        writer.add("audio", listed, row.id, clock)
    listed_names = {s.filename for s in (*media_listed, *audio_listed)}
    resume_at = max((s.end for s in audio_listed), default=0.0)
    for audio in sorted(audio_dir.glob(f"s{index}-*.wav")):
        number = audio.stem.rsplit("-", 1)[-1]
        if not number.isdigit():
            continue  # not a segment ffmpeg wrote (ours are s<stream>-<6 digits>.wav)
        seq = int(number)
        if seq < first_seq or audio.name in listed_names:
            continue
        repair_wav_header(audio)
        cut = ListedSegment(audio.name, resume_at, resume_at + wav_seconds(audio))
        writer.add("audio", cut, row.id, clock, status="partial", note=PARTIAL_NOTE)
        media = media_dir / f"s{index}-{seq:06d}.ts"
        if media.exists() and media.name not in listed_names:
            writer.add("media", ListedSegment(media.name, cut.start, cut.end), row.id, clock,
                       status="partial", note=PARTIAL_NOTE)
        resume_at = cut.end
