"""Just enough of HLS to decide where recording starts and what wall-clock time it starts at.

ffmpeg does the recording; we read the media playlist ourselves for three facts ffmpeg does not report:
whether the stream is live and advancing, the ``EXT-X-PROGRAM-DATE-TIME`` of each segment (the broadcast's
own clock, which puts findings at the moment words were said), and which segment to start at so that a
reconnect neither skips nor repeats media.
"""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from livewatch.errors import CaptureError, StreamOffline

MAX_PLAYLIST_BYTES = 2_000_000


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
    variants: list[Variant] = []
    pending: dict[str, str] | None = None
    for line in (raw.strip() for raw in text.splitlines()):
        if line.startswith("#EXT-X-STREAM-INF:"):
            pending = _attributes(line.split(":", 1)[1])
        elif line and not line.startswith("#") and pending is not None:
            codecs = pending.get("CODECS", "")
            has_audio = "AUDIO" in pending or not codecs or "mp4a" in codecs or "ac-3" in codecs
            bandwidth = int(pending.get("BANDWIDTH", "0") or 0)
            variants.append(Variant(urllib.parse.urljoin(base_url, line), bandwidth, has_audio))
            pending = None
    return variants


def is_master(text: str) -> bool:
    return "#EXT-X-STREAM-INF" in text


def parse_media(text: str, url: str) -> MediaPlaylist:
    if not text.lstrip().startswith("#EXTM3U"):
        raise CaptureError(f"{url} is not an HLS playlist")
    target, sequence, ended = 0.0, 0, False
    segments: list[HlsSegment] = []
    duration: float | None = None
    pdt: datetime | None = None
    discontinuity = False
    for line in (raw.strip() for raw in text.splitlines()):
        if line.startswith("#EXT-X-TARGETDURATION:"):
            target = float(line.split(":", 1)[1])
        elif line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
            sequence = int(line.split(":", 1)[1])
        elif line.startswith("#EXT-X-ENDLIST"):
            ended = True
        elif line.startswith("#EXTINF:"):
            duration = float(line.split(":", 1)[1].split(",", 1)[0])
        elif line.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
            pdt = _parse_pdt(line.split(":", 1)[1])
        elif line.startswith("#EXT-X-DISCONTINUITY") and not line.startswith("#EXT-X-DISCONTINUITY-SEQUENCE"):
            discontinuity = True
        elif line and not line.startswith("#") and duration is not None:
            segments.append(HlsSegment(line, duration, sequence + len(segments), pdt, discontinuity))
            # A PDT applies to its segment; later ones follow on from it unless re-stated.
            pdt = pdt + timedelta(seconds=duration) if pdt is not None else None
            duration, discontinuity = None, False
    return MediaPlaylist(url, target, sequence, ended, segments)


def _parse_pdt(text: str) -> datetime | None:
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    # A PDT without an offset is not allowed by the HLS spec; refuse to guess its zone.
    return value if value.tzinfo is not None else None


def fetch_text(url: str, headers: Mapping[str, str], timeout: float) -> str:
    request = urllib.request.Request(url, headers=dict(headers))  # noqa: S310 - scheme checked by the caller
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            body: bytes = response.read(MAX_PLAYLIST_BYTES + 1)
    except urllib.error.HTTPError as err:
        if err.code in (404, 410):  # the room is there but nothing is being broadcast
            raise StreamOffline(f"HTTP {err.code} from {url}") from err
        raise CaptureError(f"HTTP {err.code} from {url}") from err
    except (urllib.error.URLError, TimeoutError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise CaptureError(f"cannot reach {url}: {reason}") from err
    if len(body) > MAX_PLAYLIST_BYTES:
        raise CaptureError(f"playlist {url} is larger than {MAX_PLAYLIST_BYTES} bytes")
    return body.decode("utf-8", errors="replace")


def fetch_media_playlist(url: str, headers: Mapping[str, str], timeout: float = 10.0) -> MediaPlaylist:
    """Fetch ``url``; a master playlist is followed to its best variant that carries audio."""
    text = fetch_text(url, headers, timeout)
    if is_master(text):
        variants = parse_master(text, url)
        if not variants:
            raise CaptureError(f"master playlist {url} lists no variants")
        with_audio = [v for v in variants if v.has_audio] or variants
        url = max(with_audio, key=lambda v: v.bandwidth).uri
        text = fetch_text(url, headers, timeout)
    return parse_media(text, url)


def start_index(playlist: MediaPlaylist, resume_after: datetime | None, max_lookback_s: float) -> int:
    """Which segment of ``playlist`` recording should start at.

    Resuming: the first segment that ends after what is already recorded, so nothing is repeated and
    whatever the playlist still holds of the outage is recovered. Fresh: as far back as ``max_lookback_s``
    behind the live edge, so the seconds between going on air and our next poll are not lost.
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
    covered = 0.0
    for index in range(len(segments) - 1, -1, -1):
        covered += segments[index].duration
        if covered > max_lookback_s:
            return min(index + 1, len(segments) - 1)
    return 0
