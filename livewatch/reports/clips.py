"""Audio clips of the moment of each finding, a few seconds either side, cut from the captured WAV
segments with ffmpeg and stored beside the report (``clips/<finding-id>.ogg``, Opus: small, and played by
every browser from ``file://``)."""

from __future__ import annotations

import logging
import subprocess
import tempfile
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

from livewatch.pipeline.findings import Finding
from livewatch.state.event_records import EventRecords
from livewatch.state.media import MediaBlobs

log = logging.getLogger(__name__)

#: Seconds of context before and after a finding.
MARGIN_S = 3.0
#: Never longer than this, whatever the finding's span (a schedule finding can span hours).
MAX_CLIP_S = 30.0


def clip_argv(listing: Path, offset_s: float, seconds: float, out: Path) -> list[str]:
    """Cut ``seconds`` from ``offset_s`` into the concatenated inputs named in ``listing``."""
    return ["ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-y", "-f", "concat", "-safe", "0",
            "-i", str(listing), "-ss", f"{offset_s:.3f}", "-t", f"{seconds:.3f}", "-ac", "1",
            "-c:a", "libopus", "-b:a", "32k", str(out)]


def _segments(records: EventRecords, media: MediaBlobs, run_id: int, stream: int, start: datetime,
              end: datetime) -> list[tuple[Path, datetime]]:
    return [(piece.path, piece.start_at) for piece in records.audio_between(run_id, stream, start, end)
            if media.has(piece.path)]


def extract_clips(records: EventRecords, run_id: int | None, findings: Sequence[Finding], media: MediaBlobs,
                  folder: Path) -> dict[str, str]:
    """Clips for findings that have audio around them; returns finding id → path relative to the report.
    A clip already cut is kept (a finding's id fixes its moment). ffmpeg writes into a private temporary
    folder, never into the report folder, where a planted link could send its output elsewhere."""
    if run_id is None:
        return {}
    clips: dict[str, str] = {}
    media.make_folder(folder / "clips")
    for finding in findings:
        if finding.stream is None:
            continue  # schedule, registration and audio findings: no moment of speech to hear
        finding_id = finding.id
        target = folder / "clips" / f"{finding_id}.ogg"
        relative = f"clips/{target.name}"
        if media.has(target):
            clips[finding_id] = relative
            continue
        start = finding.start_at - timedelta(seconds=MARGIN_S)
        end = min(finding.end_at + timedelta(seconds=MARGIN_S), start + timedelta(seconds=MAX_CLIP_S))
        pieces = _segments(records, media, run_id, finding.stream, start, end)
        if not pieces:
            continue
        with tempfile.TemporaryDirectory(prefix="livewatch-clip-") as tmp:
            listing = Path(tmp) / "inputs.txt"
            listing.write_text("".join("file '{}'\n".format(str(p.resolve()).replace("'", "'\\''"))
                                       for p, _ in pieces), encoding="utf-8")
            offset = max((start - pieces[0][1]).total_seconds(), 0.0)
            partial = Path(tmp) / target.name
            result = subprocess.run(clip_argv(listing, offset, (end - start).total_seconds(), partial),
                                    capture_output=True, text=True, check=False)
            if result.returncode != 0 or not partial.is_file():
                log.warning("no clip for finding %s: %s", finding_id, result.stderr.strip()[-200:])
                continue
            media.save(target, partial.read_bytes())
        clips[finding_id] = relative
    return clips
