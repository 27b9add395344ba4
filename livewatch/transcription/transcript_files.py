"""Per-event transcript files beside the media: ``transcript.jsonl``, ``transcript.srt``, ``transcript.vtt``.

SRT and WebVTT times count from the start of the recording (the run's first media), so they line up with
the recorded segments; ``transcript.jsonl`` carries absolute wall-clock times and the quality flags.
"""

from __future__ import annotations

import json
from pathlib import Path

from livewatch.state import DataDir, files
from livewatch.state.runs import RunLog
from livewatch.state.transcripts import TranscriptLog
from livewatch.transcription.formats import to_srt, to_vtt
from transcribers.base import Segment


def write_transcript_files(runs: RunLog, transcripts: TranscriptLog, run_id: int, folder: Path,
                           data: DataDir | None = None) -> list[Path]:
    """Write the three files of a run into ``folder`` (inside ``data``: then no link on the way is followed)."""
    run = runs.run(run_id)
    spans = transcripts.spans(run_id)
    origin = run.on_air_at or (spans[0].start_at if spans else None)
    lines, segments = [], []
    for span in spans:
        lines.append(json.dumps({
            "stream": span.stream, "start": span.start_at.isoformat(), "end": span.end_at.isoformat(),
            "text": span.text, "text_check": span.text_check, "language": span.language,
            "flags": list(span.flags), "avg_logprob": span.avg_logprob, "no_speech_prob": span.no_speech_prob,
            "words": [{"start": w.start_at.isoformat(), "end": w.end_at.isoformat(), "word": w.word,
                       "probability": w.probability} for w in span.words],
            "backend": span.backend, "model": span.model,
        }, ensure_ascii=False))
        if origin is not None:
            segments.append(Segment((span.start_at - origin).total_seconds(),
                                    (span.end_at - origin).total_seconds(), span.text))
    root = data.root if data is not None else folder
    written = []
    for name, text in (("transcript.jsonl", "".join(line + "\n" for line in lines)),
                       ("transcript.srt", to_srt(segments)), ("transcript.vtt", to_vtt(segments))):
        # Temporary file created exclusively beside the target, then renamed: readers never see half a
        # file, and a link planted under either name is replaced, never written through.
        written.append(files.write_whole(root, folder / name, text))
    return written
