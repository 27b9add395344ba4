"""Reading subtitle files (SRT and WebVTT, as Whisper, ffmpeg and caption tools write them) into timed cues.

The rule engine wants what was said and when; everything else in a subtitle file (numbering, styling, speaker
tags, karaoke timestamps, notes) is dropped. A file that cannot be read as a whole is refused with its line
number: skipping a broken cue silently would hide that speech from the compliance checks.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from livewatch.errors import LivewatchError

SubtitleFormat = Literal["srt", "vtt"]

# SRT: hh:mm:ss,mmm (some tools write a dot or fewer digits); WebVTT: [hh:]mm:ss.mmm.
_SRT_TIME = r"(\d{1,3}):(\d{1,2}):(\d{1,2})[,.](\d{1,3})"
_VTT_TIME = r"(?:(\d{1,3}):)?(\d{2}):(\d{2})\.(\d{3})"
_SRT_TIMING = re.compile(rf"^\s*{_SRT_TIME}\s*-->\s*{_SRT_TIME}(?:\s+.*)?$")  # SRT may add X1: Y1: boxes
_VTT_TIMING = re.compile(rf"^{_VTT_TIME}[ \t]+-->[ \t]+{_VTT_TIME}(?:[ \t]+(.*))?$")  # then cue settings
_SRT_SNIFF = re.compile(rf"^\s*\d+\s*\n{_SRT_TIMING.pattern[1:]}", re.MULTILINE)
# <rt> holds a reading of the ruby base (pinyin, furigana), not more speech. The tag's attributes stop at the
# next "<" as well as at ">": a line of unclosed "<rt " (a hostile file) would otherwise cost quadratic time.
_RUBY_TEXT = re.compile(r"<rt(?:[.\s][^<>]*)?>.*?(?:</rt>|(?=</ruby>)|$)", re.DOTALL)
_TAG = re.compile(r"</?[A-Za-z][^<>]*>|<\d[\d:.]*>|</[A-Za-z.]*>")  # <c.x>, <v Name>, <i>, <00:00:01.000>
_ASS_OVERRIDE = re.compile(r"\{\\[^{}]*\}")  # {\an8}, {\i1}: ASS styling ffmpeg carries into SRT
_SPACE = re.compile(r"\s+")
_CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uf900-\ufaff\uff00-\uffef]")


class SubtitleError(LivewatchError):
    """A subtitle file cannot be read; the message names the file and the line."""

    def __init__(self, path: Path | str, line: int, reason: str) -> None:
        self.path = str(path)
        self.line = line
        super().__init__(f"{path}, line {line}: {reason}")


@dataclass(frozen=True)
class Cue:
    """One subtitle cue: seconds from the start of the media, its plain text, and where it was in the file."""

    start: float
    end: float
    text: str
    line: int


def subtitle_format(path: Path, content: str) -> SubtitleFormat | None:
    """``vtt`` or ``srt`` from the content (a WEBVTT header; a numbered cue with ``-->``) or, failing that,
    from the extension; ``None`` for anything else."""
    head = content.lstrip("\ufeff")
    if re.match(r"WEBVTT(?:[ \t\r\n]|$)", head):
        return "vtt"
    if _SRT_SNIFF.match(head.lstrip().replace("\r\n", "\n")):
        return "srt"
    suffix = path.suffix.lower()
    if suffix == ".vtt":
        return "vtt"
    if suffix == ".srt":
        return "srt"
    return None


def read_cues(path: Path, content: str, kind: SubtitleFormat) -> list[Cue]:
    """The cues of ``content`` (the text of ``path``), in file order, with consecutive repeats merged."""
    lines = content.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    cues = _vtt_cues(path, lines) if kind == "vtt" else _srt_cues(path, lines)
    return _merge_repeats([cue for cue in cues if cue.text])


def _blocks(lines: list[str], first: int = 0) -> list[tuple[int, list[str]]]:
    """Runs of non-blank lines, each with the 1-based line number of its first line."""
    blocks: list[tuple[int, list[str]]] = []
    current: list[str] = []
    for number, line in enumerate(lines[first:], start=first + 1):
        if line.strip():
            if not current:
                blocks.append((number, current))
            current.append(line)
        else:
            current = []
    return blocks


def _seconds(path: Path, line: int, hours: str | None, minutes: str, seconds: str, millis: str) -> float:
    if int(minutes) > 59 or int(seconds) > 59:
        raise SubtitleError(path, line, f"minutes and seconds must be below 60 in {minutes}:{seconds}")
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds) + int(millis.ljust(3, "0")) / 1000


def _timing(path: Path, line: int, found: re.Match[str]) -> tuple[float, float]:
    start = _seconds(path, line, *found.group(1, 2, 3, 4))
    end = _seconds(path, line, *found.group(5, 6, 7, 8))
    if end < start:
        raise SubtitleError(path, line, f"the cue ends before it starts: {found.group(0).strip()!r}")
    return start, end


def _srt_cues(path: Path, lines: list[str]) -> list[Cue]:
    cues: list[Cue] = []
    for number, block in _blocks(lines):
        # The cue number is optional in practice; the timing is the first or the second line.
        at = 1 if len(block) > 1 and block[0].strip().isdigit() and "-->" not in block[0] else 0
        found = _SRT_TIMING.match(block[at])
        if found is None:
            what = "a cue timing 'hh:mm:ss,mmm --> hh:mm:ss,mmm'"
            raise SubtitleError(path, number + at, f"expected {what}, found {block[at].strip()!r}")
        start, end = _timing(path, number + at, found)
        cues.append(Cue(start, end, _plain(block[at + 1:]), number + at))
    return cues


def _vtt_cues(path: Path, lines: list[str]) -> list[Cue]:
    if not re.match(r"WEBVTT(?:[ \t]|$)", lines[0]):
        raise SubtitleError(path, 1, "a WebVTT file must start with 'WEBVTT'")
    blocks = _blocks(lines)
    header_number, header = blocks[0]
    for offset, line in enumerate(header):
        if "-->" in line:  # a cue glued to the header would otherwise be read as header text and lost
            raise SubtitleError(path, header_number + offset, "a blank line must separate the header from the cues")
    cues: list[Cue] = []
    for number, block in blocks[1:]:  # the first block is the header (and any Kind:/Language: lines)
        if re.match(r"(?:NOTE|STYLE|REGION)(?:[ \t]|$)", block[0]):
            continue
        at = 0 if "-->" in block[0] else 1  # a cue may start with an identifier line
        found = _VTT_TIMING.match(block[at].strip()) if at < len(block) else None
        if found is None:
            shown = block[min(at, len(block) - 1)].strip()
            what = "a cue timing '[hh:]mm:ss.mmm --> [hh:]mm:ss.mmm'"
            raise SubtitleError(path, number + min(at, len(block) - 1), f"expected {what}, found {shown!r}")
        start, end = _timing(path, number + at, found)
        cues.append(Cue(start, end, _plain(block[at + 1:]), number + at))
    return cues


def _plain(payload: list[str]) -> str:
    """One utterance from a cue's lines: markup and entities resolved, lines joined as they were spoken."""
    text = ""
    for raw in payload:
        line = _RUBY_TEXT.sub("", raw)
        line = _ASS_OVERRIDE.sub("", _TAG.sub("", line))
        line = _SPACE.sub(" ", html.unescape(line).replace("\u200e", "").replace("\u200f", "")).strip()
        if not line:
            continue
        # A line break inside Chinese is not a pause between words, so it becomes no space.
        joint = "" if not text or _CJK.match(line[0]) or _CJK.match(text[-1]) else " "
        text += joint + line
    return text


def _merge_repeats(cues: list[Cue]) -> list[Cue]:
    """Whisper's ``--highlight_words`` and rolling live captions repeat a cue's text in the next cue; a cue
    that says the same as the one just before and follows it without a gap extends it, so the speech is
    checked (and counted) once."""
    merged: list[Cue] = []
    for cue in cues:
        last = merged[-1] if merged else None
        if last is not None and cue.text == last.text and cue.start <= last.end + 0.05:
            merged[-1] = Cue(last.start, max(last.end, cue.end), last.text, last.line)
        else:
            merged.append(cue)
    return merged
