"""The screen as text: each line read on screen becomes an utterance that text rules match as they match speech.

The screen stage gives appearances (:class:`~livewatch.pipeline.screen.ScreenItem`): a line of text from the
first frame it was read in to the last. A banner shown for ten minutes is one item, so one utterance over its
whole visible span, and one finding. Every character of a line is "said" over that span (one word covering
the line), so a hit on a line starts when the line appeared and ends when it went. OCR's score is the line's
confidence; a line read with less than :data:`OCR_LOW_CONFIDENCE` is a low-confidence span, which the engine
caps at "review" exactly as it caps a hit in a span Whisper was unsure of.

Lines never join: a match must lie inside one line (:attr:`ScreenTranscript.joins_lines`), since two lines
on screen are two things (a price tag beside a title), not one sentence split by a pause.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import ClassVar

from livewatch.pipeline.screen import ScreenItem, TextChannel
from livewatch.rules.transcript import Transcript, Utterance, Word

#: Below this OCR score a line is a low-confidence span (a finding on it is capped at ``medium``). Measured on
#: RapidOCR with Chinese captions rendered at 10–36 px, blurred and not: lines read right scored 0.94–0.999;
#: the one misread (非产品保水保息年化心 for 本产品保本保息 年化收益8%, 10 px blurred) scored 0.72.
OCR_LOW_CONFIDENCE = 0.8
#: The longest line taken from a reader: text on a screen is short, and what comes from a stream is hostile.
MAX_LINE_CHARS = 500
#: The folder of an event's frames (``events/<id>/frames/``); a finding's frame is relative to the event.
FRAMES_FOLDER = "frames"


def _line(item: ScreenItem) -> str:
    # One line: a separator inside the text would let a match in "one line" span two.
    return " ".join(item.text[:MAX_LINE_CHARS].split())


@dataclass
class ScreenTranscript(Transcript):
    """The text lines one stream showed, in order of appearance, one utterance each."""

    channel: ClassVar[TextChannel] = "screen"
    joins_lines: ClassVar[bool] = False

    items: Sequence[ScreenItem] = field(default=(), kw_only=True)

    @classmethod
    def of_items(cls, items: Iterable[ScreenItem]) -> ScreenTranscript:
        """The transcript of the text items among ``items`` (codes are read by ``qr-code`` rules)."""
        lines = sorted((i for i in items if i.item == "text" and _line(i)), key=lambda i: (i.start_at, i.end_at))
        utterances = [Utterance(i.start_at, i.end_at, _line(i), (Word(i.start_at, i.end_at, _line(i)),),
                                i.confidence < OCR_LOW_CONFIDENCE, i.confidence) for i in lines]
        return cls(utterances, items=lines)

    def __post_init__(self) -> None:
        super().__post_init__()
        # The parent sorts its utterances by start; of_items gave them already in that order, one per item.
        if len(self.items) != len(self.utterances):
            raise ValueError("a screen transcript needs one item per utterance")

    def item_at(self, start: int) -> ScreenItem:
        """The item whose line holds original character ``start``."""
        return self.items[self._clock(start).utterance]

    def evidence(self, start: int, end: int, *, context: int = 40) -> tuple[str, int, int]:
        """The line the match is in (never its neighbours on screen) and where the match sits in it."""
        index = self._clock(start).utterance
        begin = self._begins[index]
        text = self.utterances[index].text
        return text, start - begin, min(end, begin + len(text)) - begin


def frame_ref(path: Path) -> str:
    """A frame as a finding names it: relative to the event's folder (``frames/<file>``). The screen stage
    may give the path relative already, or absolute inside ``events/<id>/frames/``."""
    if not path.is_absolute():
        return PurePosixPath(*path.parts).as_posix()
    parts = path.parts
    if FRAMES_FOLDER in parts[:-1]:
        last = len(parts) - 1 - parts[::-1].index(FRAMES_FOLDER)
        return PurePosixPath(*parts[last:]).as_posix()
    return PurePosixPath(FRAMES_FOLDER, path.name).as_posix()


def screen_transcripts(screen: Mapping[int, Sequence[ScreenItem]]) -> dict[int, ScreenTranscript]:
    """Each stream's screen transcript (streams with no text line have none)."""
    built = {stream: ScreenTranscript.of_items(items) for stream, items in screen.items()}
    return {stream: transcript for stream, transcript in built.items() if transcript.utterances}
