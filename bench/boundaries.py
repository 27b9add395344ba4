"""Segment boundaries: does cutting a live stream into capture segments lose or double words?

    .venv/bin/python bench/boundaries.py [--language en|zh] [--segments 10,25] [--phases 4]
                                         [--backend faster-whisper] [--carry on|off|both]

The demo's forum (English: 64 s, espeak-ng, tiny.en, counted in words; Mandarin: 111 s, Kokoro voices, base,
counted in characters) is decoded once whole, then fed to the monitor's incremental
worker as a live capture would: cut into segments of each length, at several phases (so the cuts fall in
different words), each segment transcribed as it closes, with the worker's carry-over. Side by side in one
run it prints each pass's word error rate against the script and every word where it differs from the whole
decode, split by where that word was said (by the whole decode's word times): within ``--near`` seconds of a
cut, or elsewhere. Words lost or doubled at a boundary show as changes near a cut; changes elsewhere are
Whisper hearing the same words differently with other context (a prompt, a shorter window).

``--carry both`` runs every pass twice: with the worker carrying speech Whisper stopped before into the next
window (the default), and without (as before that existed), so what it saves is measured side by side.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from livewatch.chinese import to_simplified  # noqa: E402
from livewatch.demo.script import FORUM, FORUM_ZH  # noqa: E402
from livewatch.demo.synth import synthesize  # noqa: E402
from livewatch.rules.normalize import is_cjk  # noqa: E402
from livewatch.transcription import backends  # noqa: E402
from livewatch.transcription.worker import EngineChoice, read_wav  # noqa: E402
from tests.transcription.test_worker import captured_run, transcribe_live, transcript, words_of  # noqa: E402
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


def tokens_of(text: str, language: str) -> list[str]:
    """English: words, as ``words_of`` makes them; Mandarin: Chinese characters (Simplified) and digit runs."""
    if language == "en":
        return words_of(text)
    simplified = to_simplified(text)
    return [token for token in re.findall(r"\d+|\w", simplified) if token.isdigit() or is_cjk(token)]


def timed_words(segments: list[Segment], language: str) -> list[tuple[str, float]]:
    """The whole decode's tokens, each with its word's start in seconds."""
    return [(token, word.start) for segment in segments for word in segment.words
            for token in tokens_of(word.word, language)]


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
    parser.add_argument("--language", default="en", choices=["en", "zh"], help="the English or the Mandarin forum")
    parser.add_argument("--carry", default="on", choices=["on", "off", "both"],
                        help="carry speech Whisper stopped before into the next window (both: side by side)")
    args = parser.parse_args()
    script, model_name = (FORUM, "tiny.en") if args.language == "en" else (FORUM_ZH, "base")
    unit = "words" if args.language == "en" else "characters"
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        track = synthesize(script, folder / "synth")
        wav = folder / "track16.wav"
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(track.path), "-ar", "16000", "-ac", "1",
                        "-c:a", "pcm_s16le", str(wav)], check=True)
        audio = read_wav(wav)
        seconds = len(audio) / 16000
        model = ModelStore(folder / "models").resolve(model_name, args.backend)
        engine = backends.create(args.backend, model, device="cpu")
        choice = EngineChoice(engine, TranscribeOptions(language=args.language))
        truth = tokens_of(" ".join(line.text for line in script.lines), args.language)
        whole = timed_words(list(engine.transcribe(audio, choice.options)), args.language)
        whole_wer = word_error_rate(truth, [w for w, _ in whole])
        print(f"{seconds:.1f} s of speech, {len(truth)} {unit}; {args.backend} {model_name}")
        print(f"{'pass':<34} {'ER':>6} {'vs whole':>9}  changed against the whole: at a cut | elsewhere")
        print(f"{'whole file':<34} {whole_wer:6.1%} {'1.00x':>9}")
        variants = {"on": [True], "off": [False], "both": [False, True]}[args.carry]
        totals: Counter[tuple[bool, str]] = Counter()
        for length in (float(x) for x in args.segments.split(",")):
            for k in range(args.phases):
                phase = length * k / args.phases
                cuts = [c for c in (phase + length * n for n in range(1, int(seconds / length) + 2))
                        if 0.5 < c < seconds - 0.5]
                for carry in variants:
                    with tempfile.TemporaryDirectory() as run_dir:
                        data, run_id, payloads = captured_run(Path(run_dir), audio, cuts)
                        transcribe_live(data, run_id, choice, payloads, carry_unheard=carry)
                        heard = tokens_of(" ".join(row.text for row in transcript(data, run_id)), args.language)
                    wer = word_error_rate(truth, heard)
                    at_cut, elsewhere = changes(whole, heard, cuts, args.near)
                    lost = sum(change.startswith("del") for change in at_cut + elsewhere)
                    totals.update({(carry, "passes"): 1, (carry, "cuts"): len(cuts), (carry, "at_cut"): len(at_cut),
                                   (carry, "elsewhere"): len(elsewhere), (carry, "lost"): lost})
                    name = f"{length:g} s segments, +{phase:g} s, carry {'on' if carry else 'off'}"
                    print(f"{name:<34} {wer:6.1%} {wer / whole_wer if whole_wer else 0:8.2f}x  "
                          f"{'; '.join(at_cut) or '-'} | {'; '.join(elsewhere) or '-'}")
        for carry in variants:
            print(f"carry {'on' if carry else 'off'}: over {totals[carry, 'passes']} passes and "
                  f"{totals[carry, 'cuts']} cuts: {totals[carry, 'at_cut']} {unit} changed within {args.near:g} s "
                  f"of a cut, {totals[carry, 'elsewhere']} elsewhere; {totals[carry, 'lost']} lost (in the whole "
                  "decode, missing here)")


if __name__ == "__main__":
    main()
