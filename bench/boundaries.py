"""Segment boundaries: does cutting a live stream into capture segments lose or double words?

    .venv/bin/python bench/boundaries.py [--segments 10,25] [--phases 4] [--backend faster-whisper]

The demo's 64 s forum (espeak-ng, two voices) is decoded once whole, then fed to the monitor's incremental
worker as a live capture would: cut into segments of each length, at several phases (so the cuts fall in
different words), each segment transcribed as it closes, with the worker's carry-over. Side by side in one
run it prints each pass's word error rate against the script and every word where it differs from the whole
decode, split by where that word was said (by the whole decode's word times): within ``--near`` seconds of a
cut, or elsewhere. Words lost or doubled at a boundary show as changes near a cut; changes elsewhere are
Whisper hearing the same words differently with other context (a prompt, a shorter window).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from livewatch.demo.script import FORUM  # noqa: E402
from livewatch.demo.synth import synthesize  # noqa: E402
from livewatch.transcription.worker import EngineChoice, read_wav  # noqa: E402
from tests.transcription.test_worker import captured_run, transcribe_live, transcript, words_of  # noqa: E402
from transcribers import registry  # noqa: E402
from transcribers.base import Segment, TranscribeOptions  # noqa: E402
from transcribers.store import ModelStore  # noqa: E402


def alignment(truth: list[str], heard: list[str]) -> list[tuple[str, str | None, str | None]]:
    """Word-level Levenshtein alignment: (op, truth word, heard word) with op in =, sub, del, ins."""
    rows, cols = len(truth) + 1, len(heard) + 1
    cost = [[0] * cols for _ in range(rows)]
    for i in range(rows):
        cost[i][0] = i
    for j in range(cols):
        cost[0][j] = j
    for i in range(1, rows):
        for j in range(1, cols):
            same = truth[i - 1] == heard[j - 1]
            cost[i][j] = min(cost[i - 1][j - 1] + (0 if same else 1), cost[i - 1][j] + 1, cost[i][j - 1] + 1)
    steps: list[tuple[str, str | None, str | None]] = []
    i, j = len(truth), len(heard)
    while i or j:
        if i and j and cost[i][j] == cost[i - 1][j - 1] + (0 if truth[i - 1] == heard[j - 1] else 1):
            steps.append(("=" if truth[i - 1] == heard[j - 1] else "sub", truth[i - 1], heard[j - 1]))
            i, j = i - 1, j - 1
        elif i and cost[i][j] == cost[i - 1][j] + 1:
            steps.append(("del", truth[i - 1], None))
            i -= 1
        else:
            steps.append(("ins", None, heard[j - 1]))
            j -= 1
    return steps[::-1]


def word_error_rate(truth: list[str], heard: list[str]) -> float:
    return sum(op != "=" for op, _, _ in alignment(truth, heard)) / len(truth)


def timed_words(segments: list[Segment]) -> list[tuple[str, float]]:
    """The whole decode's words, normalized as ``words_of`` does, each with its start in seconds."""
    return [(token, word.start) for segment in segments for word in segment.words for token in words_of(word.word)]


def changes(whole: list[tuple[str, float]], heard: list[str], cuts: list[float],
            near: float) -> tuple[list[str], list[str]]:
    """The differences from the whole decode, as (near a cut, elsewhere); a word put in between two words is
    placed at the time of the word before it."""
    at_cut: list[str] = []
    elsewhere: list[str] = []
    index, last = 0, 0.0
    for op, was, now in alignment([w for w, _ in whole], heard):
        if was is not None:
            last = whole[index][1]
            index += 1
        if op != "=":
            (at_cut if any(abs(last - cut) <= near for cut in cuts) else elsewhere).append(
                f"{op} {was or ''}->{now or ''}")
    return at_cut, elsewhere


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--segments", default="10,25", help="capture segment lengths in seconds, comma-separated")
    parser.add_argument("--phases", type=int, default=4, help="cut phases per segment length")
    parser.add_argument("--backend", default="faster-whisper", choices=["faster-whisper", "openai-whisper"])
    parser.add_argument("--near", type=float, default=2.0, help="seconds either side of a cut that count as at it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        track = synthesize(FORUM, folder / "synth")
        wav = folder / "track16.wav"
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(track.path), "-ar", "16000", "-ac", "1",
                        "-c:a", "pcm_s16le", str(wav)], check=True)
        audio = read_wav(wav)
        seconds = len(audio) / 16000
        model = ModelStore(folder / "models").resolve("tiny.en", args.backend)
        engine = registry.create(args.backend, model, device="cpu")
        choice = EngineChoice(engine, TranscribeOptions(language="en"))
        truth = words_of(" ".join(line.text for line in FORUM.lines))
        whole = timed_words(list(engine.transcribe(audio, choice.options)))
        whole_wer = word_error_rate(truth, [w for w, _ in whole])
        print(f"{seconds:.1f} s of speech, {len(truth)} words; {args.backend} tiny.en")
        print(f"{'pass':<24} {'WER':>6} {'vs whole':>9}  changed against the whole: at a cut | elsewhere")
        print(f"{'whole file':<24} {whole_wer:6.1%} {'1.00x':>9}")
        totals: Counter[str] = Counter()
        for length in (float(x) for x in args.segments.split(",")):
            for k in range(args.phases):
                phase = length * k / args.phases
                cuts = [c for c in (phase + length * n for n in range(1, int(seconds / length) + 2))
                        if 0.5 < c < seconds - 0.5]
                with tempfile.TemporaryDirectory() as run_dir:
                    data, run_id, payloads = captured_run(Path(run_dir), audio, cuts)
                    transcribe_live(data, run_id, choice, payloads)
                    heard = words_of(" ".join(row.text for row in transcript(data, run_id)))
                wer = word_error_rate(truth, heard)
                at_cut, elsewhere = changes(whole, heard, cuts, args.near)
                totals.update(passes=1, cuts=len(cuts), at_cut=len(at_cut), elsewhere=len(elsewhere))
                name = f"{length:g} s segments, +{phase:g} s"
                print(f"{name:<24} {wer:6.1%} {wer / whole_wer if whole_wer else 0:8.2f}x  "
                      f"{'; '.join(at_cut) or '-'} | {'; '.join(elsewhere) or '-'}")
        print(f"over {totals['passes']} passes and {totals['cuts']} cuts: {totals['at_cut']} words changed within "
              f"{args.near:g} s of a cut, {totals['elsewhere']} elsewhere")


if __name__ == "__main__":
    main()
