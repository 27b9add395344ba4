"""Per-event transcript files beside the media: ``transcript.jsonl``, ``transcript.srt``, ``transcript.vtt``.

SRT and WebVTT times count from the start of the recording (the run's first media), so they line up with
the recorded segments; ``transcript.jsonl`` carries absolute wall-clock times and the quality flags.
"""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import Engine, select

from livewatch.state import DataDir, files, tables
from livewatch.transcript_formats import to_srt, to_vtt
from transcribers.base import Segment


def write_transcript_files(engine: Engine, run_id: int, folder: Path, data: DataDir | None = None) -> list[Path]:
    """Write the three files into ``folder`` (inside ``data``: then no link on the way is followed)."""
    t = tables.transcripts
    with engine.connect() as conn:
        run = conn.execute(select(tables.runs).where(tables.runs.c.id == run_id)).one()
        rows = list(conn.execute(select(t).where(t.c.run_id == run_id).order_by(t.c.start_at, t.c.stream)))
    origin = run.on_air_at or (rows[0].start_at if rows else None)
    lines, segments = [], []
    for row in rows:
        lines.append(json.dumps({
            "stream": row.stream, "start": row.start_at.isoformat(), "end": row.end_at.isoformat(),
            "text": row.text, "text_check": row.text_check, "language": row.language,
            "flags": [f for f in row.flags.split(",") if f], "avg_logprob": row.avg_logprob,
            "no_speech_prob": row.no_speech_prob, "words": json.loads(row.words_json),
            "backend": row.backend, "model": row.model,
        }, ensure_ascii=False))
        if origin is not None:
            segments.append(Segment((row.start_at - origin).total_seconds(), (row.end_at - origin).total_seconds(),
                                    row.text))
    root = data.root if data is not None else folder
    written = []
    for name, text in (("transcript.jsonl", "".join(line + "\n" for line in lines)),
                       ("transcript.srt", to_srt(segments)), ("transcript.vtt", to_vtt(segments))):
        # Temporary file created exclusively beside the target, then renamed: readers never see half a
        # file, and a link planted under either name is replaced, never written through.
        written.append(files.write_whole(root, folder / name, text))
    return written
