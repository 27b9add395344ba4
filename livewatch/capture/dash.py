"""Live MPEG-DASH manifests (``.mpd``): what they say about the broadcast's clock, and a clock that follows it.

A live manifest (``type="dynamic"``) carries its own clock: media time *m* of a representation is presentation
time ``m - presentationTimeOffset / timescale``, which went out at ``availabilityStartTime + Period@start`` plus
that. livewatch reads the segments itself (:mod:`.dash_feed`), each once and in order, from the one it chose
(:func:`first_to_record`), and hands them to ffmpeg through a pipe: output second *t* is then media time
``first.media_s + t``, placed on the manifest's clock. (ffmpeg's own DASH demuxer is not used: on a live
manifest it asks for segments not listed yet, skips each one that is not there, and then falls back to the
oldest listed segment, so it records the same seconds again and again, and nothing in its output says which.)

A packager that restarts (ffmpeg's DASH muxer after its broadcaster returned) writes a new manifest: a new
``availabilityStartTime``, numbering from 1. It is another stream: the feed of the old one ends, so does its
connection, and the next connection is placed by the new manifest; the gap between them is the real outage.
A packager that stops writes a ``static`` manifest: the broadcast is over (as ``EXT-X-ENDLIST`` in HLS).
"""

from __future__ import annotations

import re
import urllib.parse
import xml.etree.ElementTree as ET  # DTDs and entities are refused before parsing (_parse_xml)
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from livewatch.capture.fetch import WEB_SCHEMES, fetch_bytes, printable
from livewatch.capture.urls import UrlPolicy
from livewatch.errors import CaptureError

MAX_MANIFEST_BYTES = 2_000_000
#: Segments kept from a timeline (the newest): a ``<S r="...">`` may repeat a billion times.
MAX_SEGMENTS = 1000
#: Media that ends within this of what was recorded already is not recorded again (timing jitter).
RESUME_SLACK_S = 0.5
_DURATION = re.compile(r"^P(?:(?P<Y>[\d.]+)Y)?(?:(?P<Mo>[\d.]+)M)?(?:(?P<D>[\d.]+)D)?"
                       r"(?:T(?:(?P<H>[\d.]+)H)?(?:(?P<Mi>[\d.]+)M)?(?:(?P<S>[\d.]+)S)?)?$")
_TEMPLATE_FIELD = re.compile(r"\$(RepresentationID|Number|Time|Bandwidth|)(%0(\d+)d)?\$")
_UNIT_S = {"Y": 365 * 86400.0, "Mo": 30 * 86400.0, "D": 86400.0, "H": 3600.0, "Mi": 60.0, "S": 1.0}


@dataclass(frozen=True)
class DashSegment:
    """One listed segment: its ``$Number$`` and media times (seconds, the representation's timescale applied)."""

    number: int
    media_s: float
    duration_s: float
    #: ``$Time$``: the start in the representation's timescale, as the manifest writes it.
    time: int = 0


@dataclass(frozen=True)
class DashManifest:
    """What a manifest says about the clock, for the representation that is recorded (audio where there is)."""

    url: str
    dynamic: bool
    #: availabilityStartTime (None in a static manifest).
    availability_start: datetime | None
    #: Seconds from availabilityStartTime to media time 0: ``Period@start - presentationTimeOffset``.
    media_zero_s: float
    segments: tuple[DashSegment, ...]
    #: False where the representation lists no segment times (SegmentBase, SegmentList): no clock in it.
    timed: bool
    #: The recorded representation's initialization segment and media URLs (templates resolved against
    #: the BaseURLs), its id and bandwidth for the templates.
    init_url: str | None = None
    media_template: str = ""
    representation: tuple[str, str] = ("", "")

    def wall(self, media_s: float) -> datetime | None:
        """When media time ``media_s`` went out, by the manifest's clock."""
        if self.availability_start is None:
            return None
        return self.availability_start + timedelta(seconds=self.media_zero_s + media_s)

    @property
    def newest_end(self) -> datetime | None:
        last = self.segments[-1] if self.segments else None
        return None if last is None else self.wall(last.media_s + last.duration_s)

    @property
    def span_s(self) -> float:
        return sum(segment.duration_s for segment in self.segments)

    def segment_url(self, segment: DashSegment) -> str:
        return fill_template(self.media_template, self.representation, segment)

    def restarted_from(self, earlier: DashManifest) -> str | None:
        """Why this manifest is no longer the stream ``earlier`` described (None while it is)."""
        if earlier.availability_start != self.availability_start and self.dynamic:
            return "the DASH packager restarted (a new manifest: availabilityStartTime changed)"
        if earlier.segments and self.segments and self.segments[-1].number < earlier.segments[-1].number:
            return "the DASH packager restarted (a new manifest: segment numbers went back)"
        return None


#: After a segment's end by the manifest's clock, how long the packager takes to write it and list it.
LISTING_MARGIN_S = 0.15


def next_read_s(manifest: DashManifest, now: datetime, interval_s: float) -> float:
    """Seconds until ``manifest`` is worth reading again: when the segment after its newest one is due (its
    end by the manifest's clock, plus :data:`LISTING_MARGIN_S`), so that a segment is fetched as soon as it is
    listed (an origin that goes down moments later must not take a finished segment with it), at most
    ``interval_s`` and at least a quarter of it (a packager running late, or an origin whose clock is behind
    ours, is not read in a loop)."""
    newest = manifest.newest_end
    if newest is None or not manifest.dynamic:
        return interval_s
    due = newest + timedelta(seconds=manifest.segments[-1].duration_s + LISTING_MARGIN_S)
    return min(interval_s, max(interval_s / 4, (due - now).total_seconds()))


def iso_duration(text: str) -> float:
    """Seconds in an xs:duration such as ``PT10.0S`` or ``P1DT2H`` (years and months taken as 365 and 30 days)."""
    match = _DURATION.match(text.strip())
    if match is None or text.strip() in ("P", "PT") or text.strip().endswith("T"):
        raise CaptureError(f"not an ISO 8601 duration: {printable(text, 60)}")
    try:
        return sum(float(value) * _UNIT_S[unit] for unit, value in match.groupdict().items() if value)
    except ValueError as err:
        raise CaptureError(f"not an ISO 8601 duration: {printable(text, 60)}") from err


def _datetime(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as err:
        raise CaptureError(f"not a date-time: {printable(text, 60)}") from err
    # DASH's date-times are UTC where they name no zone (every packager we know writes Z).
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _name(element: ET.Element) -> str:
    return element.tag.rsplit("}", 1)[-1]


def _children(element: ET.Element, name: str) -> list[ET.Element]:
    return [child for child in element if _name(child) == name]


def _parse_xml(text: str, shown: str) -> ET.Element:
    # The manifest is the watched party's: no document type, so no entity can expand (billion laughs).
    if re.search(r"<!(?:DOCTYPE|ENTITY)", text, re.IGNORECASE):
        raise CaptureError(f"DASH manifest {shown} declares a document type: refused")
    try:
        root = ET.fromstring(text)  # noqa: S314  # see above
    except ET.ParseError as err:
        raise CaptureError(f"DASH manifest {shown} is not XML: {printable(err)}") from err
    if _name(root) != "MPD":
        raise CaptureError(f"{shown} is not a DASH manifest (root <{printable(_name(root), 40)}>)")
    return root


def _is_audio(adaptation: ET.Element) -> bool:
    kinds = [adaptation.get("contentType", ""), adaptation.get("mimeType", "")]
    kinds += [r.get("mimeType", "") for r in _children(adaptation, "Representation")]
    return any(kind == "audio" or kind.startswith("audio/") for kind in kinds)


def _number(element: ET.Element, name: str, default: float, shown: str) -> float:
    try:
        return float(element.get(name, default))
    except ValueError as err:
        raise CaptureError(f"DASH manifest {shown}: {name}={printable(element.get(name), 40)} is not a number") from err


def parse_mpd(text: str, url: str, read_at: datetime) -> DashManifest:
    """The manifest at ``url``, read at ``read_at`` (a template with a fixed ``duration`` lists the segments
    available then). Raises :class:`CaptureError` for anything that is not a usable manifest."""
    shown = printable(url)
    root = _parse_xml(text, shown)
    dynamic = root.get("type", "static") == "dynamic"
    start = root.get("availabilityStartTime")
    available = _datetime(start) if start else None
    periods = _children(root, "Period")
    if not periods:
        raise CaptureError(f"DASH manifest {shown} has no Period")
    period = periods[-1]  # a live stream goes on in its newest period
    period_start = iso_duration(period.get("start", "PT0S"))
    adaptations = _children(period, "AdaptationSet")
    if not adaptations:
        raise CaptureError(f"DASH manifest {shown} has no AdaptationSet")
    adaptation = next((a for a in adaptations if _is_audio(a)), adaptations[0])
    representations = _children(adaptation, "Representation")
    # SegmentTemplate attributes are inherited: Period, then AdaptationSet, then Representation.
    templates = [t for level in (period, adaptation, *representations[:1]) for t in _children(level, "SegmentTemplate")]
    if not templates:
        return DashManifest(url, dynamic, available, period_start, (), timed=False)
    merged: dict[str, str] = {}
    for template in templates:
        merged.update(template.attrib)
    template = ET.Element("SegmentTemplate", merged)
    timescale = _number(template, "timescale", 1, shown)
    if timescale <= 0:
        raise CaptureError(f"DASH manifest {shown}: timescale must be positive")
    offset_s = _number(template, "presentationTimeOffset", 0, shown) / timescale
    first_number = int(_number(template, "startNumber", 1, shown))
    timelines = [tl for t in templates for tl in _children(t, "SegmentTimeline")]
    if timelines:
        segments = _timeline(timelines[-1], first_number, timescale, shown)
    elif "duration" in merged and available is not None:
        segments = _by_duration(template, first_number, timescale, offset_s,
                                (read_at - available).total_seconds() - period_start, root, shown)
    else:
        return DashManifest(url, dynamic, available, period_start - offset_s, (), timed=False)
    base = url
    for level in (root, period, adaptation, *representations[:1]):
        for element in _children(level, "BaseURL")[:1]:
            base = urllib.parse.urljoin(base, (element.text or "").strip())
    first = representations[0] if representations else adaptation
    ids = (first.get("id", ""), first.get("bandwidth", ""))
    init = merged.get("initialization")
    return DashManifest(url, dynamic, available, period_start - offset_s, segments, timed=True,
                        init_url=urllib.parse.urljoin(base, fill_template(init, ids, None)) if init else None,
                        media_template=urllib.parse.urljoin(base, merged.get("media", "")), representation=ids)


def _timeline(timeline: ET.Element, number: int, timescale: float, shown: str) -> tuple[DashSegment, ...]:
    # Runs (first number, first time, duration, count), then only the newest MAX_SEGMENTS expanded.
    runs: list[tuple[int, float, float, int]] = []
    elements = _children(timeline, "S")
    at = 0.0
    for i, element in enumerate(elements):
        at = _number(element, "t", at, shown)
        duration = _number(element, "d", 0, shown)
        repeat = int(_number(element, "r", 0, shown))
        if duration <= 0:
            raise CaptureError(f"DASH manifest {shown}: a segment of duration {duration:g}")
        if repeat < 0:  # up to the next S's time (an open end counts as this one segment)
            following = _number(elements[i + 1], "t", -1, shown) if i + 1 < len(elements) else -1
            repeat = max(0, int((following - at) // duration) - 1) if following > at else 0
        runs.append((number, at, duration, repeat + 1))
        number += repeat + 1
        at += duration * (repeat + 1)
    kept: list[DashSegment] = []
    for first, time, duration, count in reversed(runs):
        for k in range(count - 1, max(count - 1 - (MAX_SEGMENTS - len(kept)), -1), -1):
            start = time + k * duration
            kept.append(DashSegment(first + k, start / timescale, duration / timescale, int(start)))
        if len(kept) >= MAX_SEGMENTS:
            break
    return tuple(reversed(kept))


def _by_duration(template: ET.Element, number: int, timescale: float, offset_s: float, elapsed_s: float,
                 root: ET.Element, shown: str) -> tuple[DashSegment, ...]:
    """Segments of a fixed duration, numbered from the period's start: those complete ``elapsed_s`` into the
    period, back over the time-shift buffer."""
    duration = _number(template, "duration", 0, shown) / timescale
    if duration <= 0:
        raise CaptureError(f"DASH manifest {shown}: a segment of duration {duration:g}")
    depth = iso_duration(root.get("timeShiftBufferDepth", "PT30S"))
    complete = int(elapsed_s // duration)
    count = max(0, min(complete, int(depth // duration) or 1, MAX_SEGMENTS))
    starts = [offset_s + k * duration for k in range(complete - count, complete)]
    return tuple(DashSegment(number + complete - count + i, at, duration, round(at * timescale))
                 for i, at in enumerate(starts))


def fetch_manifest(url: str, headers: Mapping[str, str], timeout: float, policy: UrlPolicy | None = None
                   ) -> DashManifest:
    """The manifest at ``url`` (which, and every redirect, passes ``policy``), parsed as of its arrival."""
    policy = policy or UrlPolicy(url, WEB_SCHEMES, resolve_timeout_s=timeout)
    check: Callable[[str], object] = lambda target: policy.check(target, "DASH manifest URL")  # noqa: E731
    body = fetch_bytes(url, headers, timeout=timeout, limit=MAX_MANIFEST_BYTES, check=check)
    return parse_mpd(body.decode("utf-8", errors="replace"), url, datetime.now(UTC))


def fill_template(template: str, representation: tuple[str, str], segment: DashSegment | None) -> str:
    """A SegmentTemplate ``media``/``initialization`` URL with its ``$...$`` fields filled in."""
    def field(match: re.Match[str]) -> str:
        name, width = match.group(1), int(match.group(3) or 0)
        if name == "":
            return "$"
        if name == "RepresentationID":
            return representation[0]
        if name == "Bandwidth":
            return representation[1]
        value = 0 if segment is None else segment.number if name == "Number" else segment.time
        return f"{value:0{width}d}"
    return _TEMPLATE_FIELD.sub(field, template)


def first_to_record(manifest: DashManifest, resume_after: datetime | None, max_lookback_s: float
                    ) -> DashSegment | None:
    """The segment a connection starts at: the oldest within ``max_lookback_s`` of the live edge (the start of
    a broadcast is recorded from its first second), and never one that ends before ``resume_after`` (media
    already recorded is not recorded again). None when there is nothing new."""
    newest = manifest.newest_end
    if newest is None:
        return None
    for segment in manifest.segments:
        end = manifest.wall(segment.media_s + segment.duration_s)
        assert end is not None  # a manifest with segment times has an availabilityStartTime
        if (newest - end).total_seconds() > max_lookback_s:  # the newest is always within it
            continue
        if resume_after is not None and end <= resume_after + timedelta(seconds=RESUME_SLACK_S):
            continue
        return segment
    return None
