"""One broadcast, recorded at once through every kind of origin livewatch meets, on servers we did not write.

A publisher (ffmpeg) broadcasts a track to nginx with Debian's RTMP module in real time: Mandarin speech with a
planted violation near its start and another near its end, and 1 kHz beeps at known seconds between. Five
events record it, each through another kind of origin:

* ``hls``: nginx-rtmp's HLS (no program date-times);
* ``rtmp``: RTMP pulled from the same nginx;
* ``flv``: HTTP-FLV from ffmpeg's own HTTP server (``-listen 1``, one client at a time), behind ffmpeg's
  ``fifo`` muxer so that it stays live between clients (Debian's RTMP module has no HTTP-FLV);
* ``page``: a page served by nginx whose hls.js player loads nginx's HLS;
* ``dash``: ffmpeg's DASH muxer (SegmentTemplate with a SegmentTimeline, 2 s segments, five listed, video and
  audio in separate adaptation sets) writing into a folder nginx serves. When its publisher stops it writes a
  ``static`` manifest; when it returns it writes a new one (a new availabilityStartTime, numbering from 1).

Sixteen seconds in, the publishers (RTMP, HTTP-FLV, DASH) drop for 30 s; seventeen seconds after they come back,
nginx and the HTTP-FLV server go down for 20 s, and the publishers reconnect when they return. Each publisher
that comes back starts where the broadcast has got to, so second *s* of the track always goes out at
``zero + s``. The beeps are loud (a 1 kHz tone at half of full scale) and the speech is kept quieter, so a
beep is never mistaken for a word's onset nor the other way round.

livewatch reads DASH itself (livewatch/capture/dash_feed.py: each listed segment once, in order, piped to
ffmpeg) and places it by the manifest's clock; ffmpeg's own DASH demuxer, which this broadcast once went
through, replayed the oldest listed segments whenever it reached the live edge.
"""

from __future__ import annotations

import threading
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from livewatch.demo import kokoro
from livewatch.demo.script import DIVERSION_ZH, FORUM_ZH, GUARANTEED_ZH, Plant
from tests.support.nginx_rtmp import NginxRtmp, Publisher, free_port

RATE = 24_000  # Kokoro's rate; the recorder resamples to 16 kHz for Whisper anyway
TRACK_S = 98.0
DROP = (16.0, 46.0)  # the publishers away: 30 s
OUTAGE = (63.0, 83.0)  # nginx and the HTTP-FLV server down: 20 s
#: Every beep the track holds, at least twice the tolerance apart (a beep placed within it is that beep).
#: Those inside the drop and the outage are never broadcast.
BEEPS = (10.5, 23.0, 34.0, 46.5, 52.5, 58.5, 66.0, 74.0, 83.5, 93.0)
BEEP_LEVEL = 16_000
SPEECH_PEAK = 8_000
#: A found onset at or above this is a beep; speech never reaches it.
BEEP_THRESHOLD = 12_000
TOLERANCE_S = 3.0


@dataclass(frozen=True)
class PlantedLine:
    """A planted line: what is said, from which second of the track to which, and what must find it."""

    text: str
    start_s: float
    end_s: float
    plant: Plant


def required_beeps() -> list[float]:
    """The beeps broadcast more than the tolerance away from the drop and the outage: each must be recorded."""
    return [b for b in BEEPS if all(not (lo - TOLERANCE_S <= b <= hi + TOLERANCE_S) for lo, hi in (DROP, OUTAGE))]


def make_track(path: Path) -> tuple[PlantedLine, ...]:
    """The broadcast's audio: silence, the beeps, and two planted lines said by the demo's Kokoro voices
    (cached: the demo's own tests say the same lines)."""
    samples = np.zeros(int(TRACK_S * RATE), dtype=np.float64)
    for at in BEEPS:
        first = int(at * RATE)
        t = np.arange(int(0.4 * RATE)) / RATE
        samples[first:first + len(t)] = BEEP_LEVEL * np.sin(2 * np.pi * 1000 * t)
    said = {line.plant: line for line in FORUM_ZH.lines if line.plant is not None}
    plants = []
    for plant, start_s in ((GUARANTEED_ZH, 4.0), (DIVERSION_ZH, 86.0)):
        line = said[plant]
        speech = kokoro.say(line.text, line.speaker.voice.removeprefix(kokoro.PREFIX))
        assert speech.sample_rate == RATE
        voice = speech.samples.astype(np.float64)
        voice *= SPEECH_PEAK / max(1.0, float(np.abs(voice).max()))
        first = int(start_s * RATE)
        samples[first:first + len(voice)] = voice
        plants.append(PlantedLine(line.text, start_s, start_s + len(voice) / RATE, plant))
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(samples.astype("<i2").tobytes())
    return tuple(plants)


class FlvServer(Publisher):
    """HTTP-FLV from ffmpeg's own HTTP server (``-listen 1``: one client at a time) at ``url``. Its ``fifo``
    muxer keeps encoding in real time while no one is connected (dropping what no one takes, so a client gets
    live media, not a backlog) and listens again after each client leaves."""

    def __init__(self, nginx: NginxRtmp, audio: Path, port: int, from_s: float = 0.0) -> None:
        super().__init__(nginx, "flv", audio, from_s)
        self.port = port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/live.flv"

    def output_args(self) -> list[str]:
        return ["-f", "fifo", "-fifo_format", "flv", "-format_opts", "listen=1", "-drop_pkts_on_overflow", "1",
                "-queue_size", "30", "-attempt_recovery", "1", "-recover_any_error", "1",
                "-recovery_wait_time", "0.2", "-restart_with_keyframe", "1", self.url]


class DashPackager(Publisher):
    """ffmpeg's DASH muxer writing ``show.mpd`` and its segments into ``www/dash``, which nginx serves."""

    def __init__(self, nginx: NginxRtmp, audio: Path, from_s: float = 0.0) -> None:
        super().__init__(nginx, "dash", audio, from_s)
        self.folder = nginx.folder / "www" / "dash"

    def output_args(self) -> list[str]:
        return ["-f", "dash", "-seg_duration", "2", "-window_size", "5",
                "-adaptation_sets", "id=0,streams=v id=1,streams=a", str(self.folder / "show.mpd")]

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        super().start()


PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>show</title>
<script src="https://cdn.jsdelivr.net/npm/hls.js@1"></script></head><body><video id="v"></video>
<script>
  var src = "../hls/show.m3u8";
  if (Hls.isSupported()) { var hls = new Hls(); hls.loadSource(src); hls.attachMedia(document.getElementById("v")); }
</script></body></html>
"""


class Broadcaster:
    """Runs the broadcast's timeline: the publishers, the drop, the outage. ``zero`` is when second 0 went out."""

    def __init__(self, nginx: NginxRtmp, audio: Path) -> None:
        self.nginx, self.audio = nginx, audio
        (nginx.folder / "www" / "room.html").write_text(PAGE, encoding="utf-8")
        self.flv_port = free_port()
        self.publishers: list[Publisher] = []
        self.zero: datetime | None = None
        self._zero_mono = 0.0
        self._thread: threading.Thread | None = None
        self.failure: BaseException | None = None

    @property
    def flv_url(self) -> str:
        return f"http://127.0.0.1:{self.flv_port}/live.flv"

    @property
    def dash_url(self) -> str:
        return self.nginx.www_url("dash/show.mpd")

    def _publish(self, from_s: float) -> None:
        started = [Publisher(self.nginx, "show", self.audio, from_s),
                   FlvServer(self.nginx, self.audio, self.flv_port, from_s),
                   DashPackager(self.nginx, self.audio, from_s)]
        for publisher in started:
            publisher.start()
        self.publishers += started

    def _stop_publishers(self) -> None:
        for publisher in self.publishers:
            publisher.stop()

    def _outage(self) -> None:
        self._stop_publishers()
        self.nginx.close()

    def _back(self) -> None:
        self.nginx.start()
        self._publish(OUTAGE[1])

    def _at(self, second: float, action: Callable[[], None]) -> None:
        time.sleep(max(0.0, self._zero_mono + second - time.monotonic()))
        action()

    def _timeline(self) -> None:
        try:
            self._at(DROP[0], self._stop_publishers)
            self._at(DROP[1], lambda: self._publish(DROP[1]))
            self._at(OUTAGE[0], self._outage)
            self._at(OUTAGE[1], self._back)
            self._at(TRACK_S + 1, self._stop_publishers)
        except BaseException as err:  # handed to the test, which fails with it
            self.failure = err

    def start(self) -> None:
        self._zero_mono = time.monotonic()
        self._publish(0.0)
        first = self.publishers[0]
        assert first.started_at is not None
        self.zero = first.started_at
        (self.nginx.folder.parent / "zero.txt").write_text(self.zero.isoformat(), encoding="utf-8")
        self._thread = threading.Thread(target=self._timeline, name="broadcast", daemon=True)
        self._thread.start()

    def at(self, second: float) -> datetime:
        assert self.zero is not None
        return self.zero + timedelta(seconds=second)

    def close(self) -> None:
        if self._thread is not None:
            self._thread.join(TRACK_S + 10)
        self._stop_publishers()
