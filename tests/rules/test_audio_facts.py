"""Silence and loudness measured by real ffmpeg on real WAV segments; argv built by pure functions."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from livewatch.rules.audio_facts import (
    AudioSegmentRef,
    contiguous_runs,
    ebur128_argv,
    measure_audio,
    parse_loudness,
    parse_silences,
    silencedetect_argv,
)

T0 = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)


def wav(path: Path, source: str, seconds: float, gain_db: float = 0.0) -> Path:
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", source, "-t", str(seconds),
                    "-af", f"volume={gain_db}dB", "-ar", "16000", "-ac", "1", "-c:a", "pcm_s16le", str(path)],
                   check=True)
    return path


def tone(path: Path, seconds: float, gain_db: float) -> Path:
    return wav(path, "sine=frequency=440:sample_rate=16000", seconds, gain_db)


def quiet(path: Path, seconds: float) -> Path:
    return wav(path, "anullsrc=r=16000:cl=mono", seconds)


def test_argv_are_exact() -> None:
    assert silencedetect_argv(Path("l.txt"), noise_db=-50, min_duration_s=30, concat=True) == [
        "ffmpeg", "-hide_banner", "-nostats", "-v", "info", "-f", "concat", "-safe", "0", "-i", "l.txt",
        "-af", "silencedetect=noise=-50dB:d=30", "-f", "null", "-"]
    assert ebur128_argv(Path("a.wav"), concat=False) == [
        "ffmpeg", "-hide_banner", "-nostats", "-v", "info", "-i", "a.wav", "-af", "ebur128=peak=true",
        "-f", "null", "-"]


def test_parsers_read_ffmpeg_output() -> None:
    stderr = ("[silencedetect @ 0x1] silence_start: 12.5\n"
              "[silencedetect @ 0x1] silence_end: 50.25 | silence_duration: 37.75\n"
              "[silencedetect @ 0x1] silence_start: 90\n")
    assert parse_silences(stderr, media_seconds=120) == [(12.5, 50.25), (90.0, 120.0)]
    summary = ("[Parsed_ebur128_0 @ 0x2] Summary:\n\n  Integrated loudness:\n    I:         -23.4 LUFS\n"
               "    Threshold: -33.4 LUFS\n\n  Loudness range:\n    LRA:         3.1 LU\n\n  True peak:\n"
               "    Peak:       -1.5 dBFS\n")
    loud = parse_loudness("early noise Summary: I: -10 LUFS\n" + summary)
    assert (loud.integrated_lufs, loud.loudness_range_lu, loud.true_peak_dbtp) == (-23.4, 3.1, -1.5)
    silent = parse_loudness(summary.replace("-23.4", "-70.0").replace("-1.5", "-inf"))
    assert (silent.integrated_lufs, silent.true_peak_dbtp) == (None, None)


def test_silence_across_a_segment_boundary_is_one_and_a_gap_splits_runs(tmp_path: Path) -> None:
    segments = [
        AudioSegmentRef(tone(tmp_path / "0.wav", 10, -20), T0, T0 + timedelta(seconds=10)),
        AudioSegmentRef(quiet(tmp_path / "1.wav", 20), T0 + timedelta(seconds=10), T0 + timedelta(seconds=30)),
        AudioSegmentRef(quiet(tmp_path / "2.wav", 20), T0 + timedelta(seconds=30), T0 + timedelta(seconds=50)),
        AudioSegmentRef(tone(tmp_path / "3.wav", 5, -20), T0 + timedelta(seconds=50), T0 + timedelta(seconds=55)),
        # A capture gap of 60 s, then 20 s of silence and tone: the two silences are not one.
        AudioSegmentRef(quiet(tmp_path / "4.wav", 35), T0 + timedelta(seconds=115), T0 + timedelta(seconds=150)),
        AudioSegmentRef(tone(tmp_path / "5.wav", 5, -20), T0 + timedelta(seconds=150), T0 + timedelta(seconds=155)),
    ]
    assert [len(run) for run in contiguous_runs(segments)] == [4, 2]
    facts = measure_audio(segments, min_silence_s=30)
    assert len(facts.silences) == 2
    first, second = facts.silences
    assert abs((first.start_at - (T0 + timedelta(seconds=10))).total_seconds()) < 0.2
    assert abs((first.end_at - (T0 + timedelta(seconds=50))).total_seconds()) < 0.2
    assert abs((second.start_at - (T0 + timedelta(seconds=115))).total_seconds()) < 0.2
    assert second.seconds == pytest.approx(35, abs=0.3)
    assert facts.measured_seconds == pytest.approx(95)


def test_loudness_of_a_quiet_tone_a_hot_tone_and_silence(tmp_path: Path) -> None:
    def measured(path: Path, seconds: float) -> tuple[float | None, float | None]:
        facts = measure_audio([AudioSegmentRef(path, T0, T0 + timedelta(seconds=seconds))])
        assert facts.loudness is not None
        return facts.loudness.integrated_lufs, facts.loudness.true_peak_dbtp

    # ffmpeg's sine source (amplitude 1/8, -18 dBFS peak) measures -21.7 LUFS at 440 Hz: 1.3 dB less is the
    # EBU R128 target of -23 LUFS, with the peak far below -1 dBTP.
    level, peak = measured(tone(tmp_path / "ok.wav", 12, -1.3), 12)
    assert level is not None
    assert peak is not None
    assert -24 <= level <= -22
    assert peak < -1
    hot_level, hot_peak = measured(tone(tmp_path / "hot.wav", 12, 18.5), 12)
    assert hot_peak is not None
    assert hot_peak > -1
    assert hot_level is not None
    assert hot_level > level + 19
    assert measured(quiet(tmp_path / "silent.wav", 12), 12) == (None, None)
