"""Transcription speed, side by side in one run on the same ≥ 60 s recording and the same tiny.en weights.

    .venv/bin/python bench/transcribe.py [--repeat N]

Compares: the `whisper` command (openai-whisper's CLI), bare faster-whisper, and livewatch with each
backend — both `livewatch transcribe`'s path (one file) and the monitor's incremental worker (10 s segments
from the durable queue, with boundary carry-over). Prints real-time factors (processing seconds per second
of audio; lower is faster) and the ratios the targets are about. Absolute seconds mean little on a shared
machine; the ratios, measured back to back, are the result.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import wave
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from livewatch.pipeline import ClosedSegment, encode  # noqa: E402
from livewatch.pipeline.run_status import FINISHED  # noqa: E402
from livewatch.queue import TRANSCRIBE  # noqa: E402
from livewatch.state import Database, DataDir  # noqa: E402
from livewatch.state.runs import RunStore, SegmentRecord  # noqa: E402
from livewatch.state.transcripts import TranscriptStore  # noqa: E402
from livewatch.state.work_queue import SqliteWorkQueue  # noqa: E402
from livewatch.transcription import backends  # noqa: E402
from livewatch.transcription.worker import EngineChoice, TranscriptionWorker, read_wav  # noqa: E402
from transcribers.base import TranscribeOptions  # noqa: E402
from transcribers.store import ModelStore  # noqa: E402

SENTENCES = [
    "Good evening everyone and welcome to the annual creator forum.",
    "Tonight we will talk about how influencers work with brands and what the rules say about it.",
    "Every sponsored post must carry a clear disclosure, in the video and in the description.",
    "Our first guest has run a cooking channel for six years and will share how she chooses partners.",
    "Please hold your questions until the end of the session, when we will open the microphones.",
    "Before we start, a reminder that this event is recorded and broadcast live on three platforms.",
    "Financial advice may only be given by people who hold the right qualifications.",
    "Thank you all for joining us, and let us begin with the first panel of the evening.",
]


def make_recording(folder: Path) -> Path:
    """About 70 s of speech: espeak-ng sentences with pauses, then the alsa human recordings."""
    pieces = []
    for index, sentence in enumerate(SENTENCES):
        raw = folder / f"s{index}.wav"
        subprocess.run(["espeak-ng", "-s", "150", "-w", str(raw), sentence], check=True)
        pieces.append(raw)
    pieces += sorted(Path("/usr/share/sounds/alsa").glob("*.wav"))
    listing = folder / "list.txt"
    listing.write_text("".join(f"file '{p}'\n" for p in pieces), encoding="utf-8")
    out = folder / "recording.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(listing),
                    "-af", "apad=pad_dur=0.5", "-ar", "16000", "-ac", "1", "-c:a", "pcm_s16le", str(out)], check=True)
    return out


def timed(action: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        began = time.perf_counter()
        action()
        samples.append(time.perf_counter() - began)
    return statistics.median(samples)


def worker_pass(recording: Path, choice: EngineChoice, folder: Path) -> None:
    """The monitor's path: 10 s WAV segments in the durable queue, consumed by the incremental worker."""
    data = DataDir(folder / f"data-{time.monotonic_ns()}")
    audio = read_wav(recording)
    t0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    with Database.open(data) as db:
        from sqlalchemy import insert

        from livewatch.state import tables

        with db.engine.begin() as conn:
            conn.execute(insert(tables.events).values(
                id="bench", title="bench", kind="forum", timezone="UTC", registered_start=t0,
                registered_end=t0 + timedelta(hours=1), source_file="-", source_sha256="-",
                registration_json="{}", updated_at=t0))
        store, queue = RunStore(db.engine), SqliteWorkQueue(db.engine)
        run = store.open_run("bench", t0, t0 + timedelta(hours=1))
        assert run is not None
        folder_audio = data.ensure_event("bench") / "audio"
        step = 16000 * 10
        for seq, offset in enumerate(range(0, len(audio), step)):
            path = folder_audio / f"s0-{seq:06d}.wav"
            with wave.open(str(path), "wb") as handle:
                handle.setnchannels(1)
                handle.setsampwidth(2)
                handle.setframerate(16000)
                handle.writeframes((audio[offset:offset + step] * 32767).astype("<i2").tobytes())
            start = t0 + timedelta(seconds=offset / 16000)
            end = start + timedelta(seconds=min(step, len(audio) - offset) / 16000)
            segment = store.add_segment(SegmentRecord(run.id, 0, None, "audio", seq, path, start, end,
                                                      path.stat().st_size, "ok"))
            closed = ClosedSegment("bench", run.id, 0, seq, segment, path, start, end)
            queue.put(TRANSCRIBE, closed.queue_key, encode(closed))
        store.finish_run(run.id, FINISHED, "bench")
        worker = TranscriptionWorker(store, TranscriptStore(db.engine), queue, lambda event: choice)
        while worker.process_one():
            pass
        worker.flush("bench", run.id, 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="runs per contender (median is reported)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        recording = make_recording(folder)
        seconds = len(read_wav(recording)) / 16000
        store = ModelStore(folder / "models")
        ct2 = store.resolve("tiny.en", "faster-whisper")
        pt = store.resolve("tiny.en", "openai-whisper")
        options = TranscribeOptions(language="en", beam_size=5)
        fw = backends.create("faster-whisper", ct2, device="cpu", compute_type="int8")
        ow = backends.create("openai-whisper", pt, device="cpu")
        from faster_whisper import WhisperModel

        bare = WhisperModel(str(ct2.path), device="cpu", compute_type="int8")
        whisper_cli = Path(sys.executable).with_name("whisper")
        results: dict[str, float] = {}
        print(f"recording: {seconds:.1f} s of speech; model tiny.en; {args.repeat} run(s) each, median")
        results["whisper CLI (openai-whisper)"] = timed(lambda: subprocess.run(
            [str(whisper_cli), str(recording), "--model", str(pt.path), "--language", "en", "--fp16", "False",
             "--beam_size", "5", "--output_dir", str(folder / "cli"), "--output_format", "txt", "--verbose", "False"],
            check=True, capture_output=True), args.repeat)
        results["bare faster-whisper"] = timed(lambda: list(bare.transcribe(
            str(recording), language="en", beam_size=5, word_timestamps=True, vad_filter=True,
            condition_on_previous_text=False)[0]), args.repeat)
        results["livewatch, faster-whisper (file)"] = timed(lambda: list(fw.transcribe(recording, options)),
                                                            args.repeat)
        results["livewatch, faster-whisper (worker)"] = timed(
            lambda: worker_pass(recording, EngineChoice(fw, options), folder), args.repeat)
        results["livewatch, openai-whisper (file)"] = timed(lambda: list(ow.transcribe(recording, options)),
                                                            args.repeat)
        results["livewatch, openai-whisper (worker)"] = timed(
            lambda: worker_pass(recording, EngineChoice(ow, options), folder), args.repeat)
        width = max(map(len, results))
        print(f"{'contender':<{width}}  seconds  real-time factor")
        for name, spent in results.items():
            print(f"{name:<{width}}  {spent:7.2f}  {spent / seconds:6.3f}")
        cli = results["whisper CLI (openai-whisper)"]
        bare_s = results["bare faster-whisper"]
        for name in ("livewatch, faster-whisper (file)", "livewatch, faster-whisper (worker)"):
            print(f"speed-up of {name} over the whisper CLI: {cli / results[name]:.2f}x (target >= 4x)")
            print(f"overhead of {name} over bare faster-whisper: "
                  f"{(results[name] / bare_s - 1) * 100:+.1f}% (target <= 10%)")


if __name__ == "__main__":
    main()
