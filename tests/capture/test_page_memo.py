"""A page is resolved to its stream URL once; later checks read that URL directly, and the page is resolved
again only when the URL fails or is gone (issue 16: the page was resolved, yt-dlp then the player fallback,
at every check)."""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any, cast

import pytest

from livewatch.capture import stream as stream_module
from livewatch.capture.base import ResolvedStream
from livewatch.capture.context import CaptureContext
from livewatch.capture.probe import LiveCheck
from livewatch.capture.resolve import DeadlineResolver
from livewatch.capture.stream import StreamCapture
from livewatch.capture.writer import SegmentWriter
from livewatch.fields import CaptureSettings

PAGE = "http://127.0.0.1:8080/www/room.html"
PLAYLIST = ResolvedStream(PAGE, "http://127.0.0.1:8080/hls/show.m3u8", "hls")


class CountingResolver(DeadlineResolver):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def resolve_chain(self, sources: Any, url: str, deadline_s: float) -> ResolvedStream:
        self.calls += 1
        return PLAYLIST


def capture(resolver: CountingResolver) -> StreamCapture:
    made = StreamCapture.__new__(StreamCapture)
    made.url, made.settings, made.resolver = PAGE, CaptureSettings(), resolver
    made.ctx = cast(CaptureContext, SimpleNamespace(sources=SimpleNamespace(chain_for=lambda url: []),
                                                    allowed_url_schemes=("http",), ffprobe_bin="ffprobe"))
    made.writer = cast(SegmentWriter, SimpleNamespace(last_end=None))
    made.remembered, made.unresolved, made.newest_recorded, made.recorded_unlisted_s = None, "", None, 0.0
    made.log = logging.getLogger("test")
    return made


def test_the_stream_url_is_checked_directly_until_it_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = [LiveCheck(True, "playlist is live"), LiveCheck(False, "playlist is not advancing"),
               LiveCheck(True, "playlist is live"),
               LiveCheck(False, "connection refused", error=True), LiveCheck(True, "playlist is live"),
               LiveCheck(False, "HTTP 404", gone=True), LiveCheck(False, "HTTP 404", gone=True)]
    checked: list[str] = []

    def check_live(resolved: ResolvedStream, settings: CaptureSettings, **kwargs: Any) -> LiveCheck:
        checked.append(resolved.media_url)
        return answers.pop(0)

    monkeypatch.setattr(stream_module, "check_live", check_live)
    resolver = CountingResolver()
    made = capture(resolver)
    assert (made._check().live, resolver.calls) == (True, 1)  # resolved once
    assert (made._check().live, resolver.calls) == (False, 1)  # not advancing: the URL answers, kept
    assert (made._check().live, resolver.calls) == (True, 1)
    assert (made._check().live, resolver.calls) == (True, 2)  # refused: the page again, whose URL is live
    assert (made._check().live, resolver.calls) == (False, 3)  # gone, and gone again after resolving
    assert checked == [PLAYLIST.media_url] * 7


def test_a_direct_stream_url_is_never_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stream_module, "check_live", lambda resolved, settings, **kwargs: LiveCheck(True, "live"))
    resolver = CountingResolver()
    made = capture(resolver)
    made.url = PLAYLIST.media_url
    made._check()
    made._check()
    assert (resolver.calls, made.remembered) == (2, None)
