"""How many live events one machine can monitor at once: capture, Whisper tiny.en and checks, side by side.

For each N in ``--streams``, N local live origins (ffmpeg: a test pattern plus espeak-ng forum talk that never
repeats, HLS on 127.0.0.1) are monitored at once, in three phases measured in the same run:

1. bare copy: N ``ffmpeg -i URL -c copy -f segment`` processes, the least any recorder must do;
2. livewatch capture only (transcription off): the monitor's own CPU plus its ffmpeg children;
3. the whole chain for ``--minutes``: capture, transcription, checks and reports, sampling every 2 s each
   stream's transcription lag (newest recorded audio minus what is committed to the transcript).

Lag is bounded when, over the second half of phase 3, every stream's lag stays below two segments: one
segment is always there (a segment is only transcribed once it has closed), so a second one means Whisper
is falling behind. All origins play the same track from the same moment, so every stream's segment closes
at once: the worst case for the queue (printed as "queued max", the audio waiting over all streams).
Prints one row per N and the largest N whose lag stayed bounded (goal: at least 20 streams on 2 cores).
CPU is in cores (1.0 = one core busy); the origins' own encoders are measured apart and left
out.

    .venv/bin/python bench/capacity.py [--streams 1,2,4,6,8,10] [--minutes 2] [--compare-seconds 20]
        [--segment 10] [--model tiny.en|base] [--screen]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import func, select  # noqa: E402

from bench.latency import registration  # noqa: E402
from livewatch.demo.origin import HlsOrigin  # noqa: E402
from livewatch.demo.script import GUEST, HOST, Line, Script  # noqa: E402
from livewatch.demo.synth import Track, synthesize  # noqa: E402
from livewatch.monitor import Monitor  # noqa: E402
from livewatch.queue import TRANSCRIBE  # noqa: E402
from livewatch.settings import Settings  # noqa: E402
from livewatch.state import Database, DataDir, tables  # noqa: E402
from tests.support.origin import wait_for_playlist  # noqa: E402

# Clean forum talk that never repeats: a looped sentence would make Whisper's output repetitive, trip its
# compression-ratio check and send every window through the temperature fallback (several decodes each),
# which real speech does not do.
SUBJECTS = ("Our guest", "The organizer", "Every new creator", "A small studio", "The audience", "My team",
            "This community", "Our panel", "The host", "A young writer")
VERBS = ("talked about", "learned a lot from", "wrote a short book on", "shared a story about",
         "asked a question about", "spent a year on", "made a video about", "gave a lecture on")
OBJECTS = ("building trust online", "editing short videos", "live streaming at night", "growing a channel slowly",
           "planning a weekly schedule", "recording good sound", "answering comments politely",
           "working with local museums", "teaching children to draw", "cooking simple meals")
TAILS = ("last spring.", "for many years.", "with great care.", "in a small town.", "during the summer break.",
         "before the holidays.", "with two friends.", "after a long trip.")


def forum_track(folder: Path, seconds: float) -> Track:
    rng = random.Random(7)
    lines: list[Line] = []
    while len(lines) * 3.5 < seconds:
        text = f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} {rng.choice(TAILS)}"
        lines.append(Line(HOST if len(lines) % 2 else GUEST, text))
    return synthesize(Script("capacity", "Capacity bench", (HOST, GUEST), tuple(lines)), folder, pause_s=0.6)
TICK = os.sysconf("SC_CLK_TCK")


def own_cpu() -> float:
    """CPU seconds of this process and of its children that have ended (the recorders' ffmpeg)."""
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def pid_cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / TICK
    return total


@dataclass
class Phase:
    cpu_cores: float
    origin_cores: float
    lag_p50: float = 0.0
    lag_max: float = 0.0
    backlog_max: float = 0.0
    bounded: bool = True
    segments: int = 0


def bare_copy(urls: list[str], seconds: float, folder: Path, origin_pids: list[int]) -> Phase:
    folder.mkdir(parents=True)
    before, origins_before, started = own_cpu(), pid_cpu(origin_pids), time.monotonic()
    processes = [subprocess.Popen(
        ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-i", url, "-map", "0", "-c", "copy",
         "-f", "segment", "-segment_time", "10", str(folder / f"copy{index}-%05d.ts")],
        stdin=subprocess.DEVNULL) for index, url in enumerate(urls)]
    time.sleep(seconds)
    for process in processes:
        process.terminate()
    for process in processes:
        process.wait()
    wall = time.monotonic() - started
    return Phase((own_cpu() - before) / wall, (pid_cpu(origin_pids) - origins_before) / wall)


def monitored(urls: list[str], seconds: float, folder: Path, origin_pids: list[int], *, transcribe: bool,
              segment: float, model: str = "tiny.en", screen: bool = False) -> Phase:
    schedules = folder / "schedules"
    schedules.mkdir(parents=True)
    start = datetime.now(UTC) + timedelta(seconds=1)
    end = start + timedelta(seconds=seconds)
    for index, url in enumerate(urls):
        (schedules / f"e{index}.yaml").write_text(registration(f"e{index}", url, start, end, segment,
                                                               title=f"Capacity e{index}"),
                                                  encoding="utf-8")
    settings = Settings(data_dir=folder / "data", screen={"enabled": screen},
                        transcriber={"enabled": transcribe, "language": "en", "models": {"en": model}})
    monitor = Monitor(settings, [schedules], reload_interval=0.5, horizon=timedelta(minutes=5))
    lags: list[tuple[float, float, float]] = []
    stop = threading.Event()
    before, origins_before, started = own_cpu(), pid_cpu(origin_pids), time.monotonic()
    monitor.start()
    sampler = threading.Thread(target=sample_lag, args=(monitor.data, lags, stop, started), daemon=True)
    if transcribe:
        sampler.start()
    # Measured over the event window only: afterwards the monitor drains its backlog, which is not live load.
    time.sleep(max(0.0, (end - datetime.now(UTC)).total_seconds()))
    wall = time.monotonic() - started
    cpu, origin_cpu = own_cpu() - before, pid_cpu(origin_pids) - origins_before
    stop.set()
    monitor.request_stop()
    monitor.shutdown()
    phase = Phase(cpu / wall, origin_cpu / wall)
    with Database(monitor.data.database, migrate=False) as db, db.engine.connect() as conn:
        phase.segments = int(conn.execute(select(func.count()).select_from(tables.segments)
                                          .where(tables.segments.c.kind == "audio")).scalar_one())
    late = [(lag, backlog) for at, lag, backlog in lags if at >= wall / 2]
    if late:
        phase.lag_p50, phase.lag_max = statistics.median(x for x, _ in late), max(x for x, _ in late)
        phase.backlog_max = max(b for _, b in late)
    phase.bounded = bool(late) and phase.lag_max < 2 * segment
    return phase


def sample_lag(data: DataDir, samples: list[tuple[float, float, float]], stop: threading.Event,
               started: float) -> None:
    """Every 2 s, over the streams: the largest lag (newest audio recorded − transcript committed so far) and
    the backlog (seconds of recorded audio waiting in the transcription queue)."""
    s, p, q = tables.segments, tables.transcription_progress, tables.work_queue
    while not stop.wait(2.0):
        try:
            with Database(data.database, migrate=False) as db, db.engine.connect() as conn:
                newest = {(row.run_id, row.stream): (row.first, row.last) for row in conn.execute(
                    select(s.c.run_id, s.c.stream, func.min(s.c.start_at).label("first"),
                           func.max(s.c.end_at).label("last"))
                    .where(s.c.kind == "audio").group_by(s.c.run_id, s.c.stream))}
                committed = {(row.run_id, row.stream): row.committed_until for row in conn.execute(select(p))}
                waiting = [json.loads(row.payload_json) for row in conn.execute(
                    select(q.c.payload_json).where(q.c.queue == TRANSCRIBE, q.c.status.in_(("pending", "claimed"))))]
        except Exception:  # the database not created yet
            continue
        worst = 0.0
        for key, (first, last) in newest.items():
            worst = max(worst, (last - (committed.get(key) or first)).total_seconds())
        backlog = sum((datetime.fromisoformat(item["end_at"]) - datetime.fromisoformat(item["start_at"]))
                      .total_seconds() for item in waiting)
        if newest:
            samples.append((time.monotonic() - started, worst, backlog))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", default="1,2,4,6,8,10", help="Comma-separated numbers of streams.")
    parser.add_argument("--minutes", type=float, default=2.0, help="Length of the whole-chain phase for each N.")
    parser.add_argument("--compare-seconds", type=float, default=20.0, help="Length of each CPU comparison phase.")
    parser.add_argument("--segment", type=float, default=10.0, help="Capture segment length in seconds.")
    parser.add_argument("--model", default="tiny.en", help="Whisper model for the English speech (tiny.en, base).")
    parser.add_argument("--screen", action="store_true",
                        help="Read the frames too (off by default: the origins' moving test pattern changes every "
                             "frame, the screen stage's worst case, which bench/vision.py measures on its own).")
    args = parser.parse_args()
    counts = sorted({int(n) for n in args.streams.split(",")})
    work = Path(tempfile.mkdtemp(prefix="livewatch-capacity-"))
    print(f"{os.cpu_count()} CPU(s); {args.model}; screen stage {'on' if args.screen else 'off'}; "
          f"segments of {args.segment:g} s; whole chain {args.minutes:g} min per N; "
          f"work folder {work}")
    track = forum_track(work / "speech", 2 * args.compare_seconds + args.minutes * 60 + 20)
    print(f"speech: {len(track.lines)} different sentences, {track.duration_s:.0f} s", flush=True)
    rows = []
    for n in counts:
        # Fresh origins for every N, so that every phase hears speech (each plays the track once).
        origins = [HlsOrigin(work / f"n{n}" / f"origin{index}", audio=track.path) for index in range(n)]
        try:
            for origin in origins:
                origin.start()
            for origin in origins:
                wait_for_playlist(origin.url, min_segments=2)
            urls = [origin.url for origin in origins]
            pids = [pid for origin in origins if (pid := origin.encoder_pid) is not None]
            copy = bare_copy(urls, args.compare_seconds, work / f"n{n}" / "copy", pids)
            capture = monitored(urls, args.compare_seconds, work / f"n{n}" / "capture", pids, transcribe=False,
                                segment=args.segment, screen=args.screen)
            chain = monitored(urls, args.minutes * 60, work / f"n{n}" / "chain", pids, transcribe=True,
                              segment=args.segment, model=args.model, screen=args.screen)
        finally:
            for origin in origins:
                origin.close()
        rows.append((n, copy, capture, chain))
        print(f"N={n:3d}  bare copy {copy.cpu_cores:5.2f} cores | livewatch capture {capture.cpu_cores:5.2f} "
              f"cores ({capture.cpu_cores / max(copy.cpu_cores, 1e-3):4.1f}x) | whole chain {chain.cpu_cores:5.2f}"
              f" cores, lag p50 {chain.lag_p50:5.1f} s max {chain.lag_max:5.1f} s, "
              f"queued max {chain.backlog_max:5.1f} s "
              f"{'bounded' if chain.bounded else 'GROWING'} | origins {chain.origin_cores:4.2f} cores",
              flush=True)
    bounded = [n for n, _, _, chain in rows if chain.bounded]
    best = max(bounded, default=0)
    print(f"largest N with bounded lag (< {2 * args.segment:g} s on every stream): {best} (goal >= 20: "
          f"{'met' if best >= 20 else 'NOT met'})")


if __name__ == "__main__":
    main()
