"""The frozen messages that pass between stages, and their one wire format (:mod:`livewatch.pipeline.codec`)."""

from __future__ import annotations

from livewatch.pipeline.alerts import Alert
from livewatch.pipeline.base import Message, MessageError
from livewatch.pipeline.codec import MESSAGE_VERSION, decode, encode
from livewatch.pipeline.event_checks import EventCheck
from livewatch.pipeline.findings import Finding
from livewatch.pipeline.segments import ClosedSegment, lane_key
from livewatch.pipeline.transcripts import SpanWord, TranscriptSpan

__all__ = ["MESSAGE_VERSION", "Alert", "ClosedSegment", "EventCheck", "Finding", "Message", "MessageError", "SpanWord",
           "TranscriptSpan", "decode", "encode", "lane_key"]
