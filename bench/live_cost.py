"""What the live transcription path costs per second of audio: CPU seconds, Whisper encodes per window.

The capacity bench's forum talk (espeak-ng, never repeating, every second spoken) is cut into capture segments
of each ``--segments`` length and fed to the monitor's incremental worker as a live capture would (each segment
transcribed as it closes, with the carry-over and the prompt), for each model in ``--models``. Prints, per
model and segment length, the CPU seconds this process spent per second of audio (the worker's whole cost:
Whisper, VAD, the database), the encoder calls per window (Whisper pads every window to 30 s, so each costs the
same however short the window) and what that makes a core keep up with: 1 / (CPU s per audio s) streams of
continuous speech. CPU time, not wall time, so the figure holds on a shared machine (as a ratio: run before and
after side by side, alternating).

    .venv/bin/python bench/live_cost.py [--models tiny.en,base] [--segments 10,5] [--seconds 90]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import faster_whisper.transcribe  # noqa: E402

from bench.capacity import forum_track  # noqa: E402
from livewatch.transcription import backends  # noqa: E402
from livewatch.transcription.worker import EngineChoice, read_wav  # noqa: E402
from tests.transcription.test_worker import captured_run, transcribe_live  # noqa: E402
from transcribers.base import TranscribeOptions  # noqa: E402
from transcribers.store import ModelStore  # noqa: E402

ENCODES = [0]
_encode = faster_whisper.transcribe.WhisperModel.encode


def counted_encode(self: faster_whisper.transcribe.WhisperModel, features: object) -> object:
    ENCODES[0] += 1
    return _encode(self, features)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="tiny.en,base", help="Whisper models, comma-separated.")
    parser.add_argument("--segments", default="10,5", help="Capture segment lengths in seconds, comma-separated.")
    parser.add_argument("--seconds", type=float, default=90.0, help="Least length of the speech.")
    args = parser.parse_args()
    faster_whisper.transcribe.WhisperModel.encode = counted_encode  # type: ignore[method-assign]
    work = Path(tempfile.mkdtemp(prefix="livewatch-live-cost-"))
    track = forum_track(work / "speech", args.seconds)
    wav = work / "track16.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(track.path), "-ar", "16000", "-ac", "1",
                    "-c:a", "pcm_s16le", str(wav)], check=True)
    audio = read_wav(wav)
    seconds = len(audio) / 16000
    print(f"{seconds:.0f} s of continuous speech; CPU seconds of this process (Whisper int8 on the CPU, "
          "CTranslate2's own threads)")
    store = ModelStore(work / "models")
    for name in args.models.split(","):
        engine = backends.create("faster-whisper", store.resolve(name, "faster-whisper"), device="cpu",
                                 compute_type="int8")
        choice = EngineChoice(engine, TranscribeOptions(language="en"))
        for length in (float(x) for x in args.segments.split(",")):
            cuts = [length * k for k in range(1, int(seconds / length))]
            data, run_id, payloads = captured_run(work / f"{name}-{length:g}", audio, cuts)
            ENCODES[0] = 0
            started = time.process_time()
            transcribe_live(data, run_id, choice, payloads)
            cpu = time.process_time() - started
            print(f"{name:8} {length:4g} s segments: {cpu / seconds:.3f} CPU s per audio s, "
                  f"{ENCODES[0] / len(payloads):.2f} encodes per window; one core keeps up with "
                  f"{seconds / cpu:4.1f} streams of continuous speech", flush=True)


if __name__ == "__main__":
    main()
