"""Transcript files: SRT, WebVTT, plain text and JSON, from typed segments (times in seconds)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict

from transcribers.base import Segment


def _clock(seconds: float, separator: str) -> str:
    millis = max(0, round(seconds * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def to_srt(segments: Iterable[Segment]) -> str:
    blocks = []
    for number, seg in enumerate(segments, start=1):
        text = seg.text.strip().replace("\n", " ")
        blocks.append(f"{number}\n{_clock(seg.start, ',')} --> {_clock(seg.end, ',')}\n{text}\n")
    return "\n".join(blocks)


def to_vtt(segments: Iterable[Segment]) -> str:
    cues = ["WEBVTT\n"]
    for seg in segments:
        # "-->" inside a cue would end it early; WebVTT has no escape for it.
        text = seg.text.strip().replace("\n", " ").replace("-->", "->")
        cues.append(f"{_clock(seg.start, '.')} --> {_clock(seg.end, '.')}\n{text}\n")
    return "\n".join(cues)


def to_txt(segments: Iterable[Segment]) -> str:
    return "".join(seg.text.strip() + "\n" for seg in segments)


def to_json(segments: Iterable[Segment]) -> str:
    return json.dumps([asdict(seg) for seg in segments], ensure_ascii=False, indent=2) + "\n"


WRITERS = {"srt": to_srt, "vtt": to_vtt, "txt": to_txt, "json": to_json}
