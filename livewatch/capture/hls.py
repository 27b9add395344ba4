"""Just enough of HLS to decide where recording starts and what wall-clock time it starts at.

ffmpeg does the recording; we read the media playlist ourselves for three facts ffmpeg does not report:
whether the stream is live and advancing, the ``EXT-X-PROGRAM-DATE-TIME`` of each segment (the broadcast's
own clock, which puts findings at the moment words were said), and which segment to start at so that a
reconnect neither skips nor repeats media.
"""

from __future__ import annotations

import math
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from livewatch.capture.fetch import WEB_SCHEMES, fetch_bytes, printable
from livewatch.capture.urls import UrlPolicy
from livewatch.errors import CaptureError

MAX_PLAYLIST_BYTES = 2_000_000
#: Longest segment or target duration we believe; a day is far beyond any live stream's segments.
MAX_DURATION_S = 86_400.0
#: HLS decimal-integers are unsigned 64-bit; we keep to what the database and Python's int() handle cheaply.
_DECIMAL_INTEGER = re.compile(r"[0-9]{1,18}")
#: Program date-times outside these years are an origin's joke or a broken encoder, not the broadcast's clock.
_PDT_YEARS = range(2000, 3000)
#: A live origin lists a segment at least every segment length; one whose newest segment ended this many
#: segment lengths ago has stopped adding to its playlist.
STALE_SEGMENTS = 3


@dataclass(frozen=True)
class HlsSegment:
    uri: str
    duration: float
    sequence: int
    program_date_time: datetime | None
    discontinuity: bool = False

    @property
    def end_time(self) -> datetime | None:
        if self.program_date_time is None:
            return None
        return self.program_date_time + timedelta(seconds=self.duration)


@dataclass(frozen=True)
class MediaPlaylist:
    url: str
    target_duration: float
    media_sequence: int
    ended: bool
    segments: list[HlsSegment] = field(default_factory=list)
    #: What was ignored while reading it (an implausible date-time), for the log and the run's notes.
    notes: tuple[str, ...] = ()

    @property
    def has_program_date_time(self) -> bool:
        return any(seg.program_date_time is not None for seg in self.segments)


@dataclass(frozen=True)
class Variant:
    uri: str
    bandwidth: int
    has_audio: bool


def _attributes(text: str) -> dict[str, str]:
    attrs: dict[str, str] = {}
    key, value, quoted, reading_key = "", "", False, True
    for ch in text + ",":
        if reading_key:
            if ch == "=":
                reading_key = False
            elif ch != ",":
                key += ch
        elif ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            attrs[key.strip()] = value
            key, value, reading_key = "", "", True
        else:
            value += ch
    return attrs


def parse_master(text: str, base_url: str) -> list[Variant]:
    """The variants of a master playlist. A variant whose URI cannot be a URL is left out; a BANDWIDTH that
    is not a number only ranks its variant last (it is a preference, not worth losing the stream over)."""
    variants: list[Variant] = []
    pending: dict[str, str] | None = None
    for line in (raw.strip() for raw in text.splitlines()):
        if line.startswith("#EXT-X-STREAM-INF:"):
            pending = _attributes(line.split(":", 1)[1])
        elif line and not line.startswith("#") and pending is not None:
            codecs = pending.get("CODECS", "")
            has_audio = "AUDIO" in pending or not codecs or "mp4a" in codecs or "ac-3" in codecs
            digits = pending.get("BANDWIDTH", "").strip()
            bandwidth = int(digits) if _DECIMAL_INTEGER.fullmatch(digits) else 0
            uri = _join(base_url, line)
            if uri is not None:
                variants.append(Variant(uri, bandwidth, has_audio))
            pending = None
    return variants


def _join(base_url: str, line: str) -> str | None:
    if not line.isprintable():  # a control character: no HTTP client may send it
        return None
    try:
        return urllib.parse.urljoin(base_url, line)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return None


def is_master(text: str) -> bool:
    return "#EXT-X-STREAM-INF" in text


def parse_media(text: str, url: str) -> MediaPlaylist:
    """Parse a media playlist.

    A value that breaks the playlist's structure (a duration or sequence number that is not a number, or
    out of range) raises :class:`CaptureError` naming the line, so the caller treats the answer as bad and
    asks again later. A program date-time that cannot be the broadcast's clock is ignored, as if absent,
    and said in ``notes``: recording goes on with our own clock rather than not at all.
    """
    shown = printable(url)
    if not text.lstrip().startswith("#EXTM3U"):
        raise CaptureError(f"{shown} is not an HLS playlist")
    target, sequence, ended = 0.0, 0, False
    segments: list[HlsSegment] = []
    notes: list[str] = []
    duration: float | None = None
    pdt: datetime | None = None
    discontinuity = False
    for number, line in enumerate((raw.strip() for raw in text.splitlines()), start=1):
        tag, _, value = line.partition(":")
        if tag == "#EXT-X-TARGETDURATION":
            target = _seconds(value, tag, shown, number)
        elif tag == "#EXT-X-MEDIA-SEQUENCE":
            sequence = _integer(value, tag, shown, number)
        elif line.startswith("#EXT-X-ENDLIST"):
            ended = True
        elif tag == "#EXTINF":
            duration = _seconds(value.split(",", 1)[0], tag, shown, number)
        elif tag == "#EXT-X-PROGRAM-DATE-TIME":
            stated = _parse_pdt(value)
            if stated is None and _parse_pdt_any(value) is not None:
                notes.append(f"line {number}: {tag} {printable(value, 40)} ignored (not a plausible date-time)")
            pdt = stated if stated is not None else pdt
        elif line.startswith("#EXT-X-DISCONTINUITY") and not line.startswith("#EXT-X-DISCONTINUITY-SEQUENCE"):
            discontinuity = True
        elif line and not line.startswith("#") and duration is not None:
            segments.append(HlsSegment(line, duration, sequence + len(segments), pdt, discontinuity))
            # A PDT applies to its segment; later ones follow on from it unless re-stated.
            pdt = pdt + timedelta(seconds=duration) if pdt is not None else None
            duration, discontinuity = None, False
    return MediaPlaylist(url, target, sequence, ended, segments, tuple(notes))


def _seconds(value: str, tag: str, shown: str, number: int) -> float:
    text = value.strip()
    try:
        seconds = float(text) if len(text) <= 32 else math.nan
    except ValueError:
        seconds = math.nan
    if not 0 <= seconds <= MAX_DURATION_S:  # also false for NaN
        raise CaptureError(f"malformed playlist {shown}, line {number}: {tag} {printable(text, 40)!r} "
                           f"is not a duration of 0 to {MAX_DURATION_S:g} seconds")
    return seconds


def _integer(value: str, tag: str, shown: str, number: int) -> int:
    text = value.strip()
    if not _DECIMAL_INTEGER.fullmatch(text):
        raise CaptureError(f"malformed playlist {shown}, line {number}: {tag} {printable(text, 40)!r} "
                           "is not a whole number of at most 18 digits")
    return int(text)


def _parse_pdt(text: str) -> datetime | None:
    value = _parse_pdt_any(text)
    # The broadcast's clock, if plausible: a far year would overflow as segments are added and would put
    # every finding centuries away.
    return value if value is not None and value.year in _PDT_YEARS else None


def _parse_pdt_any(text: str) -> datetime | None:
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    # A PDT without an offset is not allowed by the HLS spec; refuse to guess its zone.
    return value if value.tzinfo is not None else None


def fetch_text(url: str, headers: Mapping[str, str], timeout: float, policy: UrlPolicy | None = None) -> str:
    """The playlist at ``url``; ``timeout`` bounds the whole request, not each read (see :mod:`.fetch`).
    With a ``policy``, ``url`` and every redirect it takes are checked before they are opened."""
    check = None if policy is None else (lambda target: policy.check(target, "playlist URL"))
    body = fetch_bytes(url, headers, timeout=timeout, limit=MAX_PLAYLIST_BYTES, check=check)
    return body.decode("utf-8", errors="replace")


def fetch_media_playlist(
    url: str, headers: Mapping[str, str], timeout: float = 10.0, policy: UrlPolicy | None = None
) -> MediaPlaylist:
    """Fetch ``url``; a master playlist is followed to its best variant that carries audio.

    Every URL on the way passes ``policy`` (by default: http or https, and this machine only when ``url``
    itself is on it): the playlist, its redirects, the chosen variant and each segment, so a playlist
    cannot hand ffmpeg a local file, a ``data:`` URL or another service on this machine.
    """
    policy = policy or UrlPolicy(url, WEB_SCHEMES, resolve_timeout_s=timeout)
    text = fetch_text(url, headers, timeout, policy)
    if is_master(text):
        variants = parse_master(text, url)
        if not variants:
            raise CaptureError(f"master playlist {printable(url)} lists no usable variants")
        with_audio = [v for v in variants if v.has_audio] or variants
        # The chosen variant is checked, not skipped: an origin that offers a local variant is refused
        # outright rather than quietly recorded from its second choice.
        url = policy.check(max(with_audio, key=lambda v: v.bandwidth).uri, "master playlist variant")
        text = fetch_text(url, headers, timeout, policy)
    playlist = parse_media(text, url)
    policy.check_all((_join(url, segment.uri) or segment.uri for segment in playlist.segments), "segment")
    policy.check_all((_join(url, uri) or uri for uri in _tag_uris(text)), "key or init-section URI")
    return playlist


def _tag_uris(text: str) -> list[str]:
    """The URI attributes of the tags ffmpeg opens besides segments (``EXT-X-KEY``, ``EXT-X-MAP``)."""
    uris = []
    for line in (raw.strip() for raw in text.splitlines()):
        if line.startswith(("#EXT-X-KEY:", "#EXT-X-MAP:", "#EXT-X-SESSION-KEY:")):
            uri = _attributes(line.split(":", 1)[1]).get("URI", "").strip('"')
            if uri:
                uris.append(uri)
    return uris


def start_index(playlist: MediaPlaylist, resume_after: datetime | None, max_lookback_s: float,
                after: tuple[int, str] | None = None) -> int:
    """Which segment of ``playlist`` recording should start at.

    Resuming: the first segment that ends after what is already recorded, so nothing is repeated and
    whatever the playlist still holds of the outage is recovered. Without date-times see
    :func:`resume_point` (the segment after ``after``, the (sequence, URI) last recorded).
    Fresh: as far back as ``max_lookback_s`` behind the live edge, so the seconds between going on air and
    our next poll are not lost; without date-times never before the newest discontinuity, since only the
    segments after it are placed by the live edge.
    """
    segments = playlist.segments
    if not segments:
        return 0
    if resume_after is not None and playlist.has_program_date_time:
        for index, seg in enumerate(segments):
            end = seg.end_time
            # Half a segment of slack: PDTs are rounded to milliseconds and durations to microseconds.
            if end is not None and end > resume_after + timedelta(seconds=seg.duration / 2):
                return index
        return len(segments) - 1
    if resume_after is not None and after is not None:
        point = resume_point(segments, after)
        return point.index if point.index is not None else len(segments) - 1
    first = 0 if playlist.has_program_date_time else last_run_start(segments)
    covered = 0.0
    for index in range(len(segments) - 1, first - 1, -1):
        covered += segments[index].duration
        if covered > max_lookback_s:
            return min(index + 1, len(segments) - 1)
    return first


def last_run_start(segments: list[HlsSegment]) -> int:
    """Where the newest run of segments begins: the newest ``EXT-X-DISCONTINUITY`` (a broadcaster's restart,
    a new stream), else 0. Without date-times only this run can be placed from the live edge."""
    return max((index for index, seg in enumerate(segments) if seg.discontinuity), default=0)


@dataclass(frozen=True)
class Resume:
    """Where a playlist without date-times is resumed after the segment last recorded."""

    #: The segment to start at; None when nothing after what was recorded is listed (not advancing).
    index: int | None
    #: The segment follows the one last recorded directly (same run, next sequence number), so it went out
    #: right after it: it is placed there, however long ago that was. Otherwise (a discontinuity, a
    #: renumbered or restarted stream, segments missed) it is placed from the live edge.
    continues: bool
    #: Seconds of listed segments skipped after the one last recorded because the previous connection's
    #: output had already reached past them (see :func:`resume_point`'s ``unlisted_s``): the resumed segment
    #: follows them, so it is placed this much after the end of the segment last recorded.
    skipped_s: float = 0.0


def resume_point(segments: list[HlsSegment], after: tuple[int, str], unlisted_s: float = 0.0) -> Resume:
    """Where to resume a playlist without date-times after ``after``, the (sequence, URI) last recorded.

    Media already recorded is never recorded again: the segments up to ``after`` are skipped, and when
    ``after`` is no longer listed so is every segment numbered at or before it. A playlist renumbered below
    ``after`` (the origin restarted its stream) is a new stream. Where segments cannot be placed (an older
    run before a discontinuity, not following on from what was recorded), recording starts at the newest run.

    ``unlisted_s``: how far the previous connection's output reached past ``after`` (the newest segment its
    clock saw listed). ffmpeg reads the playlist on its own; one the origin listed, and ffmpeg read, between
    two of the clock's reads just before the origin went away is recorded without the clock knowing its
    name. Those seconds of the segments that follow ``after`` (in its run) were recorded and are skipped.
    """
    sequence = after[0]
    newest_run = last_run_start(segments)
    for index, seg in enumerate(segments):
        if (seg.sequence, seg.uri) == after:
            return _past_recorded(segments, index + 1, unlisted_s)
    renumbered = any(seg.sequence == sequence for seg in segments) or not any(
        seg.sequence > sequence for seg in segments)
    if renumbered:
        return Resume(newest_run, False)
    first = next(index for index, seg in enumerate(segments) if seg.sequence > sequence)
    if segments[first].sequence == sequence + 1 and not segments[first].discontinuity:
        # ``after`` has just left the playlist; its successor is still there.
        return _past_recorded(segments, first, unlisted_s)
    return Resume(max(first, newest_run), False)


def _past_recorded(segments: list[HlsSegment], index: int, unlisted_s: float) -> Resume:
    """Resume at ``segments[index]``, which follows directly the segment last recorded, or past the ones after
    it that the previous output reached into (``unlisted_s``; a segment counts once its larger half was)."""
    skipped = 0.0
    while (index < len(segments) and not segments[index].discontinuity
           and unlisted_s - skipped >= segments[index].duration / 2):
        skipped += segments[index].duration
        index += 1
    if index == len(segments):
        return Resume(None, False)
    if segments[index].discontinuity:
        return Resume(index, False)
    return Resume(index, True, skipped)


def stale_leftover_s(segments: list[HlsSegment], index: int, continues_at: datetime, now: datetime) -> float | None:
    """Seconds of media to record from ``segments[index]``, which follows on directly from media recorded
    up to ``continues_at`` (see :func:`resume_point`), when that is all of its run there will be; None to
    follow the playlist live.

    An origin back from an outage (nginx-rtmp) lists its old stream's last segments, which no reader got
    before it went down, and later its new stream's behind a discontinuity. Those leftovers are recorded,
    placed after what was recorded before, but ffmpeg must not run on into the new stream: one output
    segment would then hold both, all placed before the outage's end. So the leftover is recorded on its
    own when a discontinuity already follows it, or when by its place it ended ``STALE_SEGMENTS`` segment
    lengths before ``now`` (the origin adds nothing to it); the new stream is the next connection's."""
    run = segments[index:]
    if not run:
        return None
    cut = next((i for i, seg in enumerate(run) if i > 0 and seg.discontinuity), len(run))
    seconds = sum(seg.duration for seg in run[:cut])
    if cut < len(run):
        return seconds
    longest = max(seg.duration for seg in segments)
    if now - (continues_at + timedelta(seconds=seconds)) > timedelta(seconds=STALE_SEGMENTS * longest):
        return seconds
    return None
