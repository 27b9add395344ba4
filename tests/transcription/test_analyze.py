"""`livewatch analyze`: a recording handed in by an organizer goes through transcription, checks and the
report as if it had been captured live, with findings where the violations were said."""

from __future__ import annotations

import json
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from livewatch.cli import cli
from transcribers.store import ModelStore

pytestmark = pytest.mark.slow

REGISTRATION = """\
id: handed-in
title: Creator forum (recording)
kind: forum
category: knowledge
organizer: {name: Forum Org}
timezone: Asia/Shanghai
start: 2026-12-01T09:00
end: 2026-12-01T10:00
language: en
streams: [{url: "https://live.example.com/room/9"}]
participants: [{name: Li Hua, role: host, real_name_verified: true, birth_year: 1990}]
"""
SENTENCES = ["Good evening everyone and welcome to the creator forum.",
             "This fund gives you guaranteed returns every single year.",
             "Thank you all for joining us tonight."]


def recording(folder: Path) -> tuple[Path, list[float]]:
    """The sentences with two seconds of silence after each, and where each one starts (seconds)."""
    pieces, starts, at = [], [], 0.0
    for index, sentence in enumerate(SENTENCES):
        wav = folder / f"{index}.wav"
        subprocess.run(["espeak-ng", "-s", "150", "-w", str(wav), sentence], check=True)
        padded = folder / f"{index}-padded.wav"
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(wav), "-af", "apad=pad_dur=2", "-ar", "16000",
                        "-ac", "1", str(padded)], check=True)
        starts.append(at)
        at += float(subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
                                    str(padded)], check=True, capture_output=True, text=True).stdout)
        pieces.append(padded)
    listing = folder / "list.txt"
    listing.write_text("".join(f"file '{p}'\n" for p in pieces), encoding="utf-8")
    out = folder / "handed-in.m4a"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(listing), "-c:a", "aac",
                    str(out)], check=True)
    return out, starts


def test_analyze_a_recording_like_a_live_capture(tmp_path: Path, model_store: ModelStore) -> None:
    schedules = tmp_path / "schedules"
    schedules.mkdir()
    (schedules / "handed-in.yaml").write_text(REGISTRATION, encoding="utf-8")
    media, starts = recording(tmp_path)
    config = tmp_path / "livewatch.toml"
    config.write_text(f'data_dir = "data"\n[transcriber]\nmodel_store = "{model_store.root}"\n', encoding="utf-8")
    result = CliRunner().invoke(cli, ["--config", str(config), "analyze", str(media), "--event", "handed-in",
                                      "--schedules", str(schedules)])
    assert result.exit_code == 0, result.output
    assert "verdict fail" in result.output
    folder = tmp_path / "data" / "reports" / "handed-in"
    document = json.loads((folder / "findings.json").read_text(encoding="utf-8"))
    [promise] = [f for f in document["findings"] if f["category"] == "finance-promise"]
    spoken = datetime.fromisoformat("2026-12-01T09:00:00+08:00") + timedelta(seconds=starts[1])
    assert abs((datetime.fromisoformat(promise["start"]) - spoken).total_seconds()) <= 3
    assert not [f for f in document["findings"] if f["category"] not in ("finance-promise", "technical")]
    assert document["on_air"]["start"] == "2026-12-01T09:00:00+08:00"
    [whisper] = document["provenance"]["transcriber"]
    assert (whisper["backend"], whisper["model"]) == ("faster-whisper", "tiny.en")
    assert whisper["sha256"] == model_store.get("tiny.en").manifest["files"]["ct2/model.bin"]  # type: ignore[union-attr]
    assert (folder / "report.html").is_file()
    assert (folder / "transcript.srt").read_text(encoding="utf-8").startswith("1\n")
    again = CliRunner().invoke(cli, ["--config", str(config), "analyze", str(media), "--event", "handed-in",
                                     "--schedules", str(schedules)])
    assert again.exit_code == 1
    assert "already has a finished run" in again.output
