"""Whisper's character error rate on Mandarin speech, per voice and decoding setting, side by side.

    .venv/bin/python bench/cer.py [--voices jf_gongitsune,jm_kumo,jf_alpha] [--settings beam5,beam5+prompt|all]
                                  [--store DIR] [--window 15] [--no-baseline] [--show SETTING]

The Mandarin demo forum (``livewatch.demo.script.forum_zh``, 16 lines, 7 plants) is spoken whole by each Kokoro
voice (cached: the first run synthesises, later runs read WAV files), then transcribed by Whisper ``base``
(multilingual; faster-whisper, int8, CPU) under each setting. The track is cut into windows of at most
``--window`` seconds in the pauses between lines, as the monitor decodes a stream window by window (each window
gets the setting's prompt and hot words), so a prompt's effect is measured where it is used.

Reported per setting: CER per voice and on all voices together (character edit distance over reference length,
after removing punctuation and spaces, converting Traditional to Simplified, and writing numbers the same way on
both sides: 百分之三十 and 30% both become 30, 十块 and 10块 both 10块), the share of Traditional characters in the raw
output, the real-time factor (decode seconds per second of audio), how far each line's first word is from when
the line really starts (mean |error|, and how many lines got no word at all), how many of the rule pack's Chinese
terms that were said were heard, how many were heard but never said (invented: false findings in waiting), and
the ratios of CER and RTF to the ``beam5`` setting. ``tiny.en`` (English-only) runs once as the baseline: what a
Mandarin event got before.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from rapidfuzz.distance import Levenshtein

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from livewatch.chinese import to_simplified  # noqa: E402
from livewatch.demo.kokoro import VOICES  # noqa: E402
from livewatch.demo.script import forum_zh  # noqa: E402
from livewatch.demo.synth import Track, synthesize  # noqa: E402
from livewatch.transcription import backends  # noqa: E402
from transcribers.base import SAMPLE_RATE, TranscribeOptions, Transcriber, Word  # noqa: E402
from transcribers.decoding import MANDARIN_PROMPT, hotwords_for  # noqa: E402
from transcribers.store import ModelStore  # noqa: E402

PACK = REPO / "livewatch" / "rules" / "packs" / "cn-live-events.yaml"
#: A prompt that says what is being heard, not only which script to write.
CONTEXT_PROMPT = "这是一场直播活动的普通话对话，嘉宾介绍产品，使用简体中文。"
#: The script instruction without a full-width comma (with one, base sometimes writes ４ between clauses).
SHORT_PROMPT = "以下是普通话的句子。"


@dataclass(frozen=True)
class Setting:
    name: str
    model: str
    beam_size: int = 5
    prompt: str | None = None
    hot: str = ""  # "names": participants' names as hot words; "terms": the names and the pack's terms
    vad: bool = True
    language: str = "zh"


SETTINGS = {s.name: s for s in (
    Setting("greedy", "base", beam_size=1),
    Setting("greedy+prompt", "base", beam_size=1, prompt=MANDARIN_PROMPT),
    Setting("beam5", "base"),
    Setting("beam5+prompt", "base", prompt=MANDARIN_PROMPT),
    Setting("beam5+prompt2", "base", prompt=SHORT_PROMPT),
    Setting("beam5+ctxprompt", "base", prompt=CONTEXT_PROMPT),
    Setting("beam5+names", "base", hot="names"),
    Setting("beam5+prompt+names", "base", prompt=MANDARIN_PROMPT, hot="names"),
    Setting("beam5+terms", "base", hot="terms"),
    Setting("beam5+prompt-vad", "base", prompt=MANDARIN_PROMPT, vad=False),
)}
BASELINE = Setting("tiny.en", "tiny.en", language="en")
#: What a plain run compares (about 8 min on 2 shared cores with the speech cached); ``--settings all`` runs
#: every setting (about 20 min).
DEFAULT_SETTINGS = ("greedy", "beam5", "beam5+prompt", "beam5+names", "beam5+terms", "beam5+prompt-vad")


@dataclass
class Result:
    edits: int = 0
    reference_chars: int = 0
    han: int = 0
    traditional: int = 0
    audio_s: float = 0.0
    decode_s: float = 0.0
    timing_errors: list[float] = field(default_factory=list)
    lines_without_words: int = 0
    terms_said: int = 0
    terms_heard: int = 0
    terms_invented: int = 0
    texts: list[str] = field(default_factory=list)

    def add(self, other: Result) -> None:
        for name in ("edits", "reference_chars", "han", "traditional", "audio_s", "decode_s", "lines_without_words",
                     "terms_said", "terms_heard", "terms_invented"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.timing_errors += other.timing_errors

    @property
    def cer(self) -> float:
        return self.edits / max(1, self.reference_chars)

    @property
    def rtf(self) -> float:
        return self.decode_s / max(1e-9, self.audio_s)


# --- normalisation --------------------------------------------------------------------------------------------

_DIGITS = {"零": 0, "〇": 0, "一": 1, "幺": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8,
           "九": 9}
_UNITS = {"十": 10, "百": 100, "千": 1000, "万": 10_000}
_NUMERAL = re.compile(f"[{''.join(_DIGITS)}{''.join(_UNITS)}]+")


def _numeral_value(run: str) -> str:
    """A run of Chinese numerals as Arabic digits: 三十 → 30, 二零二六 → 2026 (digit by digit when no unit)."""
    if not any(char in _UNITS for char in run):
        return "".join(str(_DIGITS[char]) for char in run)
    total, section, digit = 0, 0, None
    for char in run:
        if char in _DIGITS:
            digit = _DIGITS[char]
        elif char == "万":
            total += (section + (digit or 0)) * 10_000
            section, digit = 0, None
        else:
            section += (1 if digit is None else digit) * _UNITS[char]
            digit = None
    return str(total + section + (digit or 0))


def normalise(text: str) -> str:
    """Simplified, no punctuation or spaces, lower case, numbers in Arabic digits (百分之X → X)."""
    text = to_simplified(unicodedata.normalize("NFKC", text))
    text = text.replace("百分之", "")
    text = _NUMERAL.sub(lambda match: _numeral_value(match.group()), text)
    return "".join(char for char in text.lower() if unicodedata.category(char)[0] in "LN")


def traditional_share(raw: str) -> tuple[int, int]:
    """(Han characters, how many of them OpenCC changes to Simplified) in ``raw``."""
    han = [char for char in raw if "\u4e00" <= char <= "\u9fff"]
    return len(han), sum(to_simplified(char) != char for char in han)


# --- speech and windows ---------------------------------------------------------------------------------------

def windows(track: Track, longest_s: float) -> list[tuple[float, float]]:
    """(start, end) seconds: consecutive lines grouped up to ``longest_s``, cut in the middle of pauses."""
    cuts = [0.0] + [(a.end_s + b.start_s) / 2 for a, b in zip(track.lines, track.lines[1:], strict=False)]
    cuts.append(track.duration_s)
    spans: list[tuple[float, float]] = []
    start = cuts[0]
    for index in range(1, len(cuts)):
        at_end = index == len(cuts) - 1
        if at_end or cuts[index + 1] - start > longest_s:
            spans.append((start, cuts[index]))
            start = cuts[index]
    return spans


def pack_terms(path: Path) -> list[str]:
    """Every term of every rule of the pack (whatever list it sits in: terms, a, b, cue, condition, ...)."""
    found: list[str] = []

    def walk(node: Any, key: str = "") -> None:
        if isinstance(node, dict):
            for name, value in node.items():
                walk(value, str(name))
        elif isinstance(node, list):
            for item in node:
                if isinstance(item, str) and key == "terms":
                    found.append(item)
                else:
                    walk(item, key)

    walk(yaml.safe_load(path.read_text(encoding="utf-8")).get("rules", []))
    return found


def run(transcriber: Transcriber, setting: Setting, track: Track, audio: np.ndarray[Any, Any],
        spans: list[tuple[float, float]], hot: dict[str, str | None], terms: list[str]) -> Result:
    options = TranscribeOptions(language=setting.language, beam_size=setting.beam_size, initial_prompt=setting.prompt,
                                hotwords=hot.get(setting.hot), vad=setting.vad)
    result = Result()
    words: list[Word] = []
    raw: list[str] = []
    for start, end in spans:
        window = audio[round(start * SAMPLE_RATE):round(end * SAMPLE_RATE)]
        began = time.perf_counter()
        segments = list(transcriber.transcribe(window, options))
        result.decode_s += time.perf_counter() - began
        result.audio_s += len(window) / SAMPLE_RATE
        raw += [segment.text for segment in segments]
        words += [Word(w.start + start, w.end + start, w.word, w.probability) for s in segments for w in s.words]
    heard = "".join(raw)
    reference = normalise("".join(line.line.text for line in track.lines))
    result.edits = Levenshtein.distance(reference, normalise(heard))
    result.reference_chars = len(reference)
    result.han, result.traditional = traditional_share(heard)
    # Rule terms: said and heard, and heard but never said (a hot word or a prompt put them in Whisper's mouth:
    # each is a false finding waiting to happen).
    for term in {normalise(t) for t in terms} - {""}:
        said, heard_count = reference.count(term), normalise(heard).count(term)
        result.terms_said += said
        result.terms_heard += min(said, heard_count)
        result.terms_invented += max(0, heard_count - said)
    for line in track.lines:
        first = next((w for w in words if line.start_s - 1.0 <= w.start <= line.end_s and w.word.strip()), None)
        if first is None:
            result.lines_without_words += 1
        else:
            result.timing_errors.append(abs(first.start - line.start_s))
    result.texts = raw
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--voices", default="jf_gongitsune,jm_kumo,jf_alpha",
                        help=f"comma-separated Kokoro voices (of {', '.join(VOICES)})")
    parser.add_argument("--settings", default=",".join(DEFAULT_SETTINGS),
                        help="comma-separated, of: " + ", ".join(SETTINGS) + "; or all")
    parser.add_argument("--store", type=Path, help="model store folder (default: a temporary one)")
    parser.add_argument("--window", type=float, default=15.0, help="longest decoding window, seconds")
    parser.add_argument("--no-baseline", action="store_true", help="skip the tiny.en baseline")
    parser.add_argument("--show", default="", help="print the transcripts of these settings (comma-separated)")
    args = parser.parse_args()
    voices = [voice for voice in args.voices.split(",") if voice]
    names = list(SETTINGS) if args.settings == "all" else [name for name in args.settings.split(",") if name]
    unknown = [name for name in names if name not in SETTINGS]
    if unknown:
        parser.error(f"unknown setting(s) {', '.join(unknown)}; choose from {', '.join(SETTINGS)}")
    chosen = [SETTINGS[name] for name in names]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        store = ModelStore(args.store or folder / "models")
        tracks: dict[str, Track] = {}
        for voice in voices:
            began = time.perf_counter()
            tracks[voice] = synthesize(forum_zh(voice, voice), folder / voice)
            print(f"speech {voice}: {tracks[voice].speech_end_s:.1f} s of speech, "
                  f"synthesised in {time.perf_counter() - began:.1f} s (cached lines are only read)")
        from faster_whisper.audio import decode_audio

        audio = {voice: decode_audio(str(track.path), sampling_rate=SAMPLE_RATE) for voice, track in tracks.items()}
        people = [speaker.name for speaker in forum_zh().speakers]
        terms = [term for term in pack_terms(PACK) if re.search(r"[\u4e00-\u9fff]", term)]
        hot = {"names": hotwords_for(people, [], "zh"), "terms": hotwords_for(people, terms, "zh")}
        print(f"hot words, terms ({len(hot['terms'] or '')} characters): {hot['terms']}")
        engines: dict[str, Transcriber] = {}
        results: dict[str, dict[str, Result]] = {}
        for setting in ([BASELINE] if not args.no_baseline else []) + chosen:
            if setting.model not in engines:
                engines[setting.model] = backends.create(
                    "faster-whisper", store.resolve(setting.model, "faster-whisper"), device="cpu",
                    compute_type="int8")
            row: dict[str, Result] = {}
            # The baseline once (on the first voice): it writes no Chinese whatever the voice.
            for voice in voices[:1] if setting is BASELINE else voices:
                row[voice] = run(engines[setting.model], setting, tracks[voice], audio[voice],
                                 windows(tracks[voice], args.window), hot, terms)
                if setting.name in args.show.split(","):
                    print(f"--- {setting.name}, {voice}:\n" + "\n".join(row[voice].texts))
            results[setting.name] = row
            print(f"... {setting.name}: " + ", ".join(f"{v} {r.cer:.3f}" for v, r in row.items()), flush=True)
        report(results, voices)


def report(results: dict[str, dict[str, Result]], voices: list[str]) -> None:
    totals = {}
    for name, row in results.items():
        total = Result()
        for result in row.values():
            total.add(result)
        totals[name] = total
    reference = totals.get("beam5")
    head = ["setting", *(v.removeprefix("jf_").removeprefix("jm_") for v in voices), "all", "trad%", "RTF",
            "1st-word err", "no word", "terms heard", "invented", "CER/beam5", "RTF/beam5"]
    rows = []
    for name, row in results.items():
        total = totals[name]
        rows.append([name, *(f"{row[v].cer:.3f}" if v in row else "-" for v in voices), f"{total.cer:.3f}",
                     f"{100 * total.traditional / max(1, total.han):.0f}", f"{total.rtf:.3f}",
                     f"{statistics.mean(total.timing_errors):.2f} s" if total.timing_errors else "-",
                     str(total.lines_without_words), f"{total.terms_heard}/{total.terms_said}",
                     str(total.terms_invented),
                     f"{total.cer / reference.cer:.2f}" if reference and reference.cer else "-",
                     f"{total.rtf / reference.rtf:.2f}" if reference and reference.rtf else "-"])
    widths = [max(len(str(cell)) for cell in column) for column in zip(head, *rows, strict=True)]
    print()
    for cells in (head, *rows):
        print("  ".join(str(cell).ljust(width) for cell, width in zip(cells, widths, strict=True)))


if __name__ == "__main__":
    main()
