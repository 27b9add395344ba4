"""`livewatch analyze` against the `whisper` command, whole processes, side by side in one run.

    .venv/bin/python bench/analyze.py [--before DIR] [--minutes 2,20] [--repeat N] [--zh]

The recordings are the English demo forum (``livewatch.demo.script.FORUM``, espeak-ng) spoken with 5 s pauses
between lines (about 2 minutes), and for longer ones that track repeated with 4-12 s of silence between copies,
encoded as AAC (``.m4a``) the way organizers hand recordings in. Each contender is a whole process (model
load, decoding, and for analyze the checks, clips and report): the `whisper` command (openai-whisper's CLI, the
same ``tiny.en`` weights, beam 5 with its temperature fallback, beam 5 without it (as the batched pipeline
decodes), and greedy: ``--beam_size None``), and ``livewatch analyze`` of the code in
this tree and, with ``--before``, of another checkout (a worktree of main) run from its own root. Contenders
alternate within each round so they share the machine's load; the median wall and CPU seconds are reported,
with the ratio of the whisper command's wall time to each, and the word error rate of every contender against
the script. ``--zh`` also runs the Mandarin forum (Kokoro, ``base``) through analyze before and after and
reports its character error rate (bench/cer.py's normalisation).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from rapidfuzz.distance import Levenshtein

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from livewatch.demo.script import FORUM, Script, forum_zh  # noqa: E402
from livewatch.demo.synth import synthesize  # noqa: E402
from transcribers.store import ModelStore  # noqa: E402

PYTHON = Path(sys.executable)
WHISPER = PYTHON.with_name("whisper")
PAUSE_S = 5.0
REGISTRATION = """\
id: {event}
title: Creator forum (recording)
kind: forum
category: knowledge
organizer: {{name: Forum Org}}
timezone: Asia/Shanghai
start: 2026-12-01T09:00
end: 2026-12-01T{end_hour}:00
language: {language}
streams: [{{url: "https://live.example.com/room/9"}}]
participants: [{{name: Li Hua, role: host, real_name_verified: true, birth_year: 1990}}]
"""


@dataclass(frozen=True)
class Recording:
    name: str
    path: Path
    seconds: float
    reference: str
    language: str


@dataclass
class Timing:
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    error_rate: float | None = None


def _duration(path: Path) -> float:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
                         check=True, capture_output=True, text=True).stdout
    return float(out)


def make_recordings(folder: Path, minutes: list[float], script: Script, language: str) -> list[Recording]:
    """The forum with pauses (one copy), and copies of it with silences between them up to each length."""
    track = synthesize(script, folder / f"speech-{language}", pause_s=PAUSE_S)
    one = folder / f"one-{language}.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(track.path), "-ar", "16000", "-ac", "1",
                    "-c:a", "pcm_s16le", str(one)], check=True)
    text = " ".join(spoken.line.text for spoken in track.lines)
    made = []
    for length in minutes:
        copies, pieces, at, gap = 0, [], 0.0, 0
        while at < length * 60 - 1 or copies == 0:
            if copies:
                silence = folder / f"silence-{gap}.wav"
                seconds = 4 + (gap * 5) % 9
                if not silence.exists():
                    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                                    "anullsrc=r=16000:cl=mono", "-t", str(seconds), "-c:a", "pcm_s16le",
                                    str(silence)], check=True)
                pieces.append(silence)
                at += seconds
                gap += 1
            pieces.append(one)
            at += track.duration_s
            copies += 1
            if length * 60 - at < track.duration_s / 2:
                break
        listing = folder / f"list-{language}-{length:g}.txt"
        listing.write_text("".join(f"file '{p}'\n" for p in pieces), encoding="utf-8")
        out = folder / f"forum-{language}-{length:g}min.m4a"
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(listing),
                        "-af", f"apad=whole_dur={length * 60:g}", "-c:a", "aac", "-b:a", "96k", str(out)], check=True)
        made.append(Recording(out.stem, out, _duration(out), " ".join([text] * copies), language))
    return made


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower().replace("%", " percent"))


def wer(reference: str, heard: str) -> float:
    expected = words(reference)
    return Levenshtein.distance(expected, words(heard)) / max(1, len(expected))


def cer(reference: str, heard: str) -> float:
    from bench.cer import normalise

    expected = normalise(reference)
    return Levenshtein.distance(expected, normalise(heard)) / max(1, len(expected))


def run_timed(argv: list[str], cwd: Path) -> tuple[float, float]:
    """Wall and CPU seconds (user + system, the process and its children) of one whole process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise SystemExit(f"{argv[:4]} failed ({result.returncode}):\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


class Analyze:
    """``livewatch analyze`` of the checkout at ``root``, into a fresh data folder each run."""

    def __init__(self, root: Path, folder: Path, store: ModelStore, recording: Recording) -> None:
        self.root, self.folder, self.store, self.recording = root, folder, store, recording
        self.schedules = folder / "schedules"
        self.schedules.mkdir(parents=True, exist_ok=True)
        end_hour = f"{min(23, 10 + int(recording.seconds // 3600)):02d}"
        (self.schedules / "rec.yaml").write_text(
            REGISTRATION.format(event="rec", end_hour=end_hour, language=recording.language), encoding="utf-8")
        self.runs = 0
        self.last_data: Path | None = None

    def __call__(self) -> tuple[float, float]:
        self.runs += 1
        data = self.folder / f"data-{self.runs}"
        config = self.folder / f"livewatch-{self.runs}.toml"
        config.write_text(f'data_dir = "{data}"\n[transcriber]\nmodel_store = "{self.store.root}"\n', encoding="utf-8")
        timed = run_timed([str(PYTHON), "-m", "livewatch", "--config", str(config), "analyze",
                           str(self.recording.path), "--event", "rec", "--schedules", str(self.schedules)], self.root)
        if self.last_data is not None:
            subprocess.run(["rm", "-rf", str(self.last_data)], check=False)
        self.last_data = data
        return timed

    def heard(self) -> str:
        assert self.last_data is not None
        path = self.last_data / "events" / "rec" / "transcripts" / "transcript.jsonl"
        return " ".join(json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines())


class WhisperCommand:
    def __init__(self, folder: Path, model: Path, recording: Recording, beam: str, *, fallback: bool = True) -> None:
        self.folder, self.model, self.recording, self.beam = folder, model, recording, beam
        #: Whether it may fall back through temperatures (its default); without, it decodes as the batched
        #: pipeline does (the first temperature only).
        self.fallback = fallback
        folder.mkdir(parents=True, exist_ok=True)

    def __call__(self) -> tuple[float, float]:
        return run_timed([str(WHISPER), str(self.recording.path), "--model", str(self.model), "--language",
                          self.recording.language, "--fp16", "False", "--beam_size", self.beam, "--output_dir",
                          str(self.folder), "--output_format", "txt", "--verbose", "False",
                          *([] if self.fallback else ["--temperature_increment_on_fallback", "None"])], self.folder)

    def heard(self) -> str:
        return (self.folder / f"{self.recording.path.stem}.txt").read_text(encoding="utf-8")


def compare(recording: Recording, contenders: dict[str, Analyze | WhisperCommand], repeat: int) -> None:
    timings = {name: Timing() for name in contenders}
    for round_ in range(repeat):
        order = list(contenders) if round_ % 2 == 0 else list(reversed(contenders))
        for name in order:
            wall, cpu = contenders[name]()
            timings[name].wall.append(wall)
            timings[name].cpu.append(cpu)
            print(f"  {recording.name} round {round_ + 1} {name}: {wall:.1f} s wall, {cpu:.1f} s CPU", flush=True)
    measure = cer if recording.language == "zh" else wer
    for name, contender in contenders.items():
        timings[name].error_rate = measure(recording.reference, contender.heard())
    load = os.getloadavg()
    print(f"\n{recording.name}: {recording.seconds:.0f} s of audio; median of {repeat}; load average "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    reference = next((n for n in ("whisper, beam 5", "whisper, beam 5, no fallback") if n in timings), None)
    rate = "CER" if recording.language == "zh" else "WER"
    print(f"{'contender':<28} {'wall s':>7} {'CPU s':>7} {'RTF':>6} {'speed-up':>9} {rate:>6}")
    for name, timing in timings.items():
        wall, cpu = statistics.median(timing.wall), statistics.median(timing.cpu)
        ratio = f"{statistics.median(timings[reference].wall) / wall:8.2f}x" if reference else "-"
        print(f"{name:<28} {wall:7.2f} {cpu:7.2f} {wall / recording.seconds:6.3f} {ratio:>9} "
              f"{timing.error_rate or 0:6.3f}")
    print(flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", type=Path, help="another checkout whose `livewatch analyze` runs as 'before'")
    parser.add_argument("--minutes", default="2,20", help="recording lengths, minutes, comma-separated")
    parser.add_argument("--repeat", type=int, default=3, help="rounds (median reported)")
    parser.add_argument("--no-whisper", action="store_true", help="leave the whisper command out")
    parser.add_argument("--no-fallback-only", action="store_true",
                        help="of the whisper command's beam 5, run only the one without temperature fallback")
    parser.add_argument("--zh", action="store_true", help="also the Mandarin forum (base) through analyze")
    parser.add_argument("--store", type=Path, help="model store folder (default: a temporary one)")
    args = parser.parse_args()
    minutes = [float(m) for m in args.minutes.split(",") if m]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        store = ModelStore(args.store or folder / "models")
        store.resolve("tiny.en", "faster-whisper")
        pt = store.resolve("tiny.en", "openai-whisper").path
        assert pt is not None
        for recording in make_recordings(folder, minutes, FORUM, "en"):
            contenders: dict[str, Analyze | WhisperCommand] = {}
            if not args.no_whisper:
                if not args.no_fallback_only:
                    contenders["whisper, beam 5"] = WhisperCommand(folder / f"w5-{recording.name}", pt, recording,
                                                                   "5")
                contenders["whisper, beam 5, no fallback"] = WhisperCommand(
                    folder / f"w5n-{recording.name}", pt, recording, "5", fallback=False)
                contenders["whisper, greedy"] = WhisperCommand(folder / f"w1-{recording.name}", pt, recording,
                                                               "None")
            if args.before:
                contenders["analyze, before"] = Analyze(args.before.resolve(), folder / f"b-{recording.name}", store,
                                                        recording)
            contenders["analyze, after"] = Analyze(REPO, folder / f"a-{recording.name}", store, recording)
            compare(recording, contenders, args.repeat)
        if args.zh:
            store.resolve("base", "faster-whisper")
            for recording in make_recordings(folder, [2.0], forum_zh(), "zh"):
                zh: dict[str, Analyze | WhisperCommand] = {}
                if args.before:
                    zh["analyze, before"] = Analyze(args.before.resolve(), folder / f"zb-{recording.name}", store,
                                                    recording)
                zh["analyze, after"] = Analyze(REPO, folder / f"za-{recording.name}", store, recording)
                compare(recording, zh, args.repeat)


if __name__ == "__main__":
    main()
