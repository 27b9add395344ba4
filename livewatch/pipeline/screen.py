"""Capture → screen readers → checks: what the picture showed, on the wall clock.

The capture's ffmpeg writes a low-rate frame stream beside the audio (:class:`CapturedFrame`, one per file,
placed by the same clock as the audio). The screen stage reads a frame only when the picture changed, and
turns what its readers find over consecutive frames into appearances (:class:`ScreenItem`: a QR code or a
line of text, from when it was first seen until it was last seen). ffmpeg's ``blackdetect`` and
``freezedetect`` give spells of black or frozen picture (:class:`PictureSpell`). The rule engine reads the
items as a second channel beside speech, and the spells as facts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import ClassVar, Literal

from livewatch.pipeline.base import Message

#: Where a finding's evidence comes from (findings.json's ``channel``).
Channel = Literal["speech", "screen", "audio", "schedule", "registration", "stream"]
#: The channels a text rule may read (``channels:`` in a pack).
TextChannel = Literal["speech", "screen"]
#: What a screen reader found: a code (QR or barcode) or a line of text.
ScreenKind = Literal["code", "text"]
#: The classes a decoded code's payload falls in (:func:`livewatch.screen.payloads.classify`).
PayloadClass = Literal["wechat-personal", "wechat-group", "qq", "payment", "phone", "url", "other"]
PictureProblem = Literal["black", "frozen"]


@dataclass(frozen=True, slots=True)
class Box(Message):
    """A rectangle in a frame, in pixels of the frame as stored (top-left origin)."""

    kind: ClassVar[str] = "box"

    left: int
    top: int
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class CapturedFrame(Message):
    """One still of a stream, as a JPEG the capture wrote (at most ``screen.max_width`` px wide). Built once,
    by the capture's segment writer or by ``livewatch analyze``; the screen stage reads it from the queue."""

    kind: ClassVar[str] = "captured-frame"

    event_id: str
    run_id: int
    stream: int
    #: The capture connection that wrote it (frame numbers restart with each connection).
    connection: int | None
    path: Path
    #: When the picture was on air (the audio's clock: the same wall time as the sound at that moment).
    at: datetime
    #: Seconds until the next frame is due (1 / frames per second): how long the picture stands for.
    interval_s: float

    @property
    def lane(self) -> str:
        """The queue-key prefix shared by every frame of this stream."""
        return frame_lane(self.run_id, self.stream)

    @property
    def queue_key(self) -> str:
        """The lane and the frame's time in whole milliseconds: digits only after the lane, so the work queue
        finds the lane by stripping them (a decimal point there would make every frame a lane of its own)."""
        return f"{self.lane}{round(self.at.timestamp() * 1000)}"


@dataclass(frozen=True, slots=True)
class ScreenItem(Message):
    """One appearance of one thing on screen: a code or a line of text, from the first frame it was read in
    to the last (``end_at`` is the last frame's time plus its interval). Built by the screen stage, stored by
    the screen store, read by the rules and the report."""

    kind: ClassVar[str] = "screen-item"

    run_id: int
    stream: int
    item: ScreenKind
    #: The decoded payload (a code) or the line as read (text), exactly as the reader gave it.
    text: str
    start_at: datetime
    end_at: datetime
    #: The reader's confidence, 0..1 (OCR's score; a decoded code is 1.0).
    confidence: float
    #: Where it was in ``frame`` (the frame kept as evidence: the one it was read best in).
    box: Box
    frame: Path
    #: The reader that found it (``qr``, ``ocr``, or a plugin's name).
    reader: str
    #: For a code: its symbology (``QRCode``, ``EAN13``, ...) and its payload's class; None for text.
    symbology: str | None = None
    payload_class: PayloadClass | None = None
    #: For a code whose payload is a URL: its host (lower case), for the report and the rules.
    host: str | None = None


@dataclass(frozen=True, slots=True)
class PictureSpell(Message):
    """A spell of black or frozen picture on one stream (ffmpeg's ``blackdetect``/``freezedetect``)."""

    kind: ClassVar[str] = "picture-spell"

    run_id: int
    stream: int
    problem: PictureProblem
    start_at: datetime
    #: None while the spell lasts (the stream is still black or frozen when last seen).
    end_at: datetime | None


def frame_lane(run_id: int, stream: int) -> str:
    """The queue-key prefix of one stream's frames (:attr:`CapturedFrame.lane`)."""
    return f"{run_id}:{stream}:screen:"
