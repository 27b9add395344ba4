"""Audio facts: argv built by pure functions, parsers on literal ffmpeg 5.1 output, and real ffmpeg on real WAV
segments made with lavfi (no mocks)."""

from __future__ import annotations

import array
import subprocess
import wave
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from livewatch.errors import CaptureError
from livewatch.rules.audio_facts import (
    AudioSegmentRef,
    Loudness,
    contiguous_runs,
    ebur128_argv,
    measure_audio,
    parse_loudness,
    parse_silences,
    silencedetect_argv,
)

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
TONE = "sine=frequency=997:sample_rate=16000"  # ~0 dB of K-weighting: a mono sine peaking at P dBFS is P-3 LUFS
QUIET = "anullsrc=r=16000:cl=mono"

# What ffmpeg 5.1 prints, trimmed: silencedetect closes a silence that reaches the end itself, and its very
# last line has no line break.
SILENCES = (
    "[silencedetect @ 0x55e2f6a72140] silence_start: 5\n"
    "[silencedetect @ 0x55e2f6a72140] silence_end: 15.0001 | silence_duration: 10.0001\n"
    "[silencedetect @ 0x55e2f6a72140] silence_start: -0.000125\n"
    "size=N/A time=00:00:30.00 bitrate=N/A speed=3.12e+03x    \n"
    "[silencedetect @ 0x55e2f6a72140] silence_end: 30 | silence_duration: 30"
)
SUMMARY = """[Parsed_ebur128_0 @ 0x55f9ad13f7c0] Summary:

  Integrated loudness:
    I:         -21.8 LUFS
    Threshold: -31.9 LUFS

  Loudness range:
    LRA:         7.8 LU
    Threshold: -43.2 LUFS
    LRA low:   -29.5 LUFS
    LRA high:  -21.7 LUFS

  Sample peak:
    Peak:      -19.0 dBFS

  True peak:
    Peak:      -18.1 dBFS
"""
ALL_SILENT = """[Parsed_ebur128_0 @ 0x55679dbd3dc0] Summary:

  Integrated loudness:
    I:         -70.0 LUFS
    Threshold:   0.0 LUFS

  Loudness range:
    LRA:         0.0 LU
    Threshold:   0.0 LUFS
    LRA low:     0.0 LUFS
    LRA high:    0.0 LUFS

  True peak:
    Peak:       -inf dBFS
"""


def wav(path: Path, *parts: tuple[str, float]) -> Path:
    """A 16 kHz mono s16 WAV of lavfi sources played one after another: (source, seconds) each."""
    args = ["ffmpeg", "-v", "error", "-nostdin", "-y"]
    for source, _ in parts:
        args += ["-f", "lavfi", "-i", source]
    chain = "".join(f"[{i}]atrim=duration={seconds:g}[a{i}];" for i, (_, seconds) in enumerate(parts))
    chain += "".join(f"[a{i}]" for i in range(len(parts))) + f"concat=n={len(parts)}:v=0:a=1"
    subprocess.run([*args, "-filter_complex", chain, "-ar", "16000", "-ac", "1", "-c:a", "pcm_s16le", str(path)],
                   check=True)
    return path


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def ref(path: Path, start_s: float, seconds: float) -> AudioSegmentRef:
    return AudioSegmentRef(path, at(start_s), at(start_s + seconds))


def near(value: datetime, seconds: float, tolerance_s: float = 0.2) -> bool:
    return abs((value - at(seconds)).total_seconds()) <= tolerance_s


# --- pure functions ----------------------------------------------------------------------------------------

def test_silencedetect_argv() -> None:
    base = ["ffmpeg", "-hide_banner", "-nostdin", "-nostats", "-v", "info"]
    tail = ["-af", "silencedetect=noise=-50dB:d=30", "-f", "null", "-"]
    assert silencedetect_argv(Path("/d/run.txt"), noise_db=-50, min_duration_s=30, concat=True) == [
        *base, "-f", "concat", "-safe", "0", "-i", "/d/run.txt", *tail]
    assert silencedetect_argv(Path("/d/a.wav"), noise_db=-50.0, min_duration_s=30.0, concat=False) == [
        *base, "-i", "/d/a.wav", *tail]
    assert silencedetect_argv(Path("a.wav"), noise_db=-42.5, min_duration_s=2.5, concat=False)[-4] == (
        "silencedetect=noise=-42.5dB:d=2.5")


def test_ebur128_argv() -> None:
    base = ["ffmpeg", "-hide_banner", "-nostdin", "-nostats", "-v", "info"]
    tail = ["-af", "ebur128=peak=true:framelog=verbose", "-f", "null", "-"]
    assert ebur128_argv(Path("/d/all.txt"), concat=True) == [
        *base, "-f", "concat", "-safe", "0", "-i", "/d/all.txt", *tail]
    assert ebur128_argv(Path("/d/a.wav"), concat=False) == [*base, "-i", "/d/a.wav", *tail]


def test_parse_silences() -> None:
    # The start just below zero is clamped; the last silence is closed by ffmpeg itself.
    assert parse_silences(SILENCES, media_seconds=30) == [(5.0, 15.0001), (0.0, 30.0)]


def test_parse_silences_closes_an_open_silence_at_the_end() -> None:
    stderr = "[silencedetect @ 0x1] silence_start: 12.5\n[silencedetect @ 0x1] silence_end: 50.25 | silence_" \
             "duration: 37.75\n[silencedetect @ 0x1] silence_start: 90\n"
    assert parse_silences(stderr, media_seconds=120) == [(12.5, 50.25), (90.0, 120.0)]
    assert parse_silences("no silence here\n", media_seconds=120) == []


def test_parse_loudness_reads_the_true_peak_of_the_last_summary() -> None:
    early = SUMMARY.replace("-21.8", "-40.0").replace("-18.1", "-30.0")
    assert parse_loudness(early + SUMMARY) == Loudness(-21.8, 7.8, -18.1)


@pytest.mark.parametrize("stderr", [ALL_SILENT, SUMMARY.replace("-21.8", "-inf").replace("-18.1", "nan"), ""])
def test_parse_loudness_of_nothing_measurable(stderr: str) -> None:
    assert parse_loudness(stderr) == Loudness(None, None, None)


def test_contiguous_runs() -> None:
    a, b, c, d = (ref(Path(f"{n}.wav"), start, 10) for n, start in enumerate((0, 11.5, 21.5, 33.1)))
    assert contiguous_runs([d, b, a, c]) == [[a, b, c], [d]]  # 1.5 s apart is one run, 1.6 s is not
    assert contiguous_runs([a, b, c, d], tolerance_s=2) == [[a, b, c, d]]
    assert contiguous_runs([]) == []


# --- real ffmpeg -------------------------------------------------------------------------------------------

def test_a_silence_across_a_segment_boundary_is_one_silence(tmp_path: Path) -> None:
    # 40 s of silence from 10 s to 50 s, 20 s on each side of the boundary: each half alone is under 30 s.
    first = wav(tmp_path / "s-000001.wav", (TONE, 10), (QUIET, 20))
    second = wav(tmp_path / "s-000002.wav", (QUIET, 20), (TONE, 10))
    facts = measure_audio([ref(first, 0, 30), ref(second, 30, 30)])
    (silence,) = facts.silences
    assert near(silence.start_at, 10)
    assert near(silence.end_at, 50)
    assert facts.measured_seconds == pytest.approx(60)


def test_a_capture_gap_splits_silences(tmp_path: Path) -> None:
    first = wav(tmp_path / "s-000001.wav", (TONE, 10), (QUIET, 20))
    second = wav(tmp_path / "s-000002.wav", (QUIET, 20), (TONE, 10))
    segments = [ref(first, 0, 30), ref(second, 90, 30)]  # a minute not recorded in between
    assert measure_audio(segments).silences == ()
    one, two = measure_audio(segments, min_silence_s=15).silences
    assert (near(one.start_at, 10), near(one.end_at, 30)) == (True, True)  # closed at the end of its run
    assert (near(two.start_at, 90), near(two.end_at, 110)) == (True, True)


def test_silence_to_the_end_and_a_quote_in_the_name(tmp_path: Path) -> None:
    folder = tmp_path / "it's here"
    folder.mkdir()
    first = wav(folder / "a'1.wav", (TONE, 5), (QUIET, 10))
    second = wav(folder / "a'2.wav", (QUIET, 25))
    (silence,) = measure_audio([ref(first, 0, 15), ref(second, 15, 25)]).silences
    assert (near(silence.start_at, 5), near(silence.end_at, 40)) == (True, True)


def test_loudness_at_the_target_over_two_runs(tmp_path: Path) -> None:
    # Peak -20 dBFS at 997 Hz, mono: -23 LUFS, the EBU R128 target; split over a capture gap.
    first = wav(tmp_path / "1.wav", (f"{TONE},volume=-1.94dB", 10))
    second = wav(tmp_path / "2.wav", (f"{TONE},volume=-1.94dB", 10))
    loudness = measure_audio([ref(first, 0, 10), ref(second, 600, 10)]).loudness
    assert loudness is not None
    assert loudness.integrated_lufs == pytest.approx(-23, abs=1)
    assert loudness.true_peak_dbtp == pytest.approx(-20, abs=0.5)
    assert loudness.loudness_range_lu == pytest.approx(0, abs=1)


def test_a_loud_tone(tmp_path: Path) -> None:
    loudness = measure_audio([ref(wav(tmp_path / "hot.wav", (f"{TONE},volume=17.6dB", 10)), 0, 10)]).loudness
    assert loudness is not None
    assert loudness.integrated_lufs == pytest.approx(-3.5, abs=1)
    assert loudness.true_peak_dbtp is not None
    assert loudness.true_peak_dbtp > -1


def test_true_peak_sees_between_the_samples(tmp_path: Path) -> None:
    # fs/4 shifted by 45 degrees: every sample is at 0.7 of the wave's crest, 3 dB under its true peak.
    path = wav(tmp_path / "isp.wav", ("aevalsrc=0.99*sin(2*PI*4000*t+PI/4):s=16000", 5))
    with wave.open(str(path)) as w:
        samples = array.array("h", w.readframes(w.getnframes()))
    assert max(abs(s) for s in samples) / 32768 < 0.75
    loudness = measure_audio([ref(path, 0, 5)]).loudness
    assert loudness is not None
    assert loudness.true_peak_dbtp is not None
    assert loudness.true_peak_dbtp > -1


def test_all_silence(tmp_path: Path) -> None:
    facts = measure_audio([ref(wav(tmp_path / "quiet.wav", (QUIET, 35)), 0, 35)])
    assert facts.loudness == Loudness(None, None, None)
    (silence,) = facts.silences
    assert (silence.start_at, near(silence.end_at, 35)) == (at(0), True)


def test_no_audio() -> None:
    assert measure_audio([]) == measure_audio(()) == measure_audio([], min_silence_s=1)
    assert measure_audio([]).loudness is None


def test_an_unreadable_segment_is_named(tmp_path: Path) -> None:
    good = wav(tmp_path / "good.wav", (TONE, 2))
    bad = tmp_path / "bad.wav"
    bad.write_text("not audio", encoding="utf-8")
    with pytest.raises(CaptureError, match=r"bad\.wav"):
        measure_audio([ref(bad, 0, 2)])
    # Inside a run ffmpeg's concat demuxer takes an unopenable file for the end of input and exits 0.
    with pytest.raises(CaptureError, match=r"could not open audio segment .*bad\.wav"):
        measure_audio([ref(good, 0, 2), ref(bad, 2, 2)])


def test_a_missing_ffmpeg_is_a_capture_error(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match="no-such-ffmpeg"):
        measure_audio([ref(wav(tmp_path / "a.wav", (TONE, 1)), 0, 1)], ffmpeg=str(tmp_path / "no-such-ffmpeg"))
