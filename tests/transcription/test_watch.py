"""``livewatch watch URL`` (issue 22): a live broadcast inspected now, without a registration, from a local
HLS origin whose speech plants a WeChat diversion at a known second of every cycle. Run as the real command:
alone (it runs the chain itself), handed to a running monitor, and ended early with Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from livewatch.demo.origin import SAMPLE_RATE
from livewatch.monitor.lock import running_monitor
from livewatch.registration import validate_registrations
from livewatch.settings import load_settings
from livewatch.state import Database, DataDir, tables
from tests.capture.conftest import FAST
from tests.capture.test_monitor import run_status, wait_until
from tests.support.origin import LiveOrigin, wait_for_playlist
from transcribers.base import ModelInfo
from transcribers.store import ModelStore

pytestmark = pytest.mark.slow

# tiny.en hears "add me on we chat" reliably after a first sentence (alone it writes "and the on we chat").
PLANT = "Welcome to the forum. Add me on WeChat for the gift."
PLANT_AT_S, CYCLE_S = 5.0, 14.0  # the speech starts this far into every cycle of the origin's audio
SAID_AT_S = PLANT_AT_S + 1.5  # "add me on WeChat", after the welcome
TOLERANCE_S = 3.0
DIVERSION = "traffic-diversion.contact-apps"


class PlantOrigin(LiveOrigin):
    """The live origin whose audio is silence with the plant spoken once per cycle, at a known second."""

    _zero: datetime | None = None

    def first_program_date_time(self, timeout: float = 20.0) -> datetime:
        """Read once, when the origin starts: the module's tests share it, and its playlist lists segment 0
        only for a while."""
        if self._zero is None:
            self._zero = super().first_program_date_time(timeout)
        return self._zero

    def _prepare_speech(self) -> Path | None:
        if self._speech_audio is None:
            raw, placed = self.workdir / "plant-raw.wav", self.workdir / "plant.wav"
            subprocess.run(["espeak-ng", "-w", str(raw), "--", PLANT], check=True, capture_output=True)
            subprocess.run(["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i", str(raw),
                            "-af", f"adelay={PLANT_AT_S * 1000:.0f}:all=1,apad=whole_dur={CYCLE_S:g}",
                            "-ar", str(SAMPLE_RATE), "-ac", "1", str(placed)], check=True, capture_output=True)
            self._speech_audio = placed
        return self._speech_audio


@pytest.fixture(scope="module")
def origin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlantOrigin]:
    """One origin for the module, live throughout like a real broadcaster's (it took seconds to start): each
    test watches the part of the stream its own window covers."""
    with PlantOrigin(tmp_path_factory.mktemp("origin"), speech=PLANT) as live:
        live.start()
        wait_for_playlist(live.url, min_segments=2)
        live.first_program_date_time()
        yield live


def _config(tmp_path: Path, store: ModelStore, *, transcribe: bool = True) -> Path:
    capture = {**FAST, "segment_seconds": 5}
    lines = ["[transcriber]", f"enabled = {'true' if transcribe else 'false'}", f'model_store = "{store.root}"',
             'compute_type = "int8"', "[screen]", "enabled = false", "[capture]",
             *(f"{key} = {value}" for key, value in capture.items())]
    config = tmp_path / "livewatch.toml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return config


def _livewatch(config: Path, data: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "livewatch", "--config", str(config), "--data", str(data), *args]


def _watch(config: Path, data: Path, schedules: Path, url: str, seconds: int) -> list[str]:
    return _livewatch(config, data, "watch", url, "--for", f"{seconds}s", "--language", "en",
                      "--schedules", str(schedules), "--inspector", "qa", "--tip-from", "a viewer",
                      "--note", "a WeChat group in the comments")


def _adhoc(schedules: Path) -> Path:
    [path] = (schedules / "adhoc").glob("*.yaml")
    return path


def _findings(data: DataDir, event_id: str) -> list[tuple[str, str, datetime]]:
    with Database(data.database, migrate=False) as db, db.engine.connect() as conn:
        rows = conn.execute(select(tables.findings.c.rule, tables.findings.c.category, tables.findings.c.start_at)
                            .where(tables.findings.c.event_id == event_id))
        return [(row.rule, row.category, row.start_at) for row in rows]


def _on_air(data: DataDir, event_id: str) -> tuple[datetime, datetime]:
    with Database(data.database, migrate=False) as db, db.engine.connect() as conn:
        run = conn.execute(select(tables.runs).where(tables.runs.c.event_id == event_id)).one()
    assert run.on_air_at is not None, run
    assert run.off_air_at is not None, run
    return run.on_air_at, run.off_air_at


def _marked_as_inspection(data: DataDir, event_id: str) -> None:
    report = (data.report_dir(event_id) / "report.html").read_text(encoding="utf-8")
    assert 'id="inspection"' in report
    assert "qa" in report
    assert "a viewer" in report
    assert "a WeChat group in the comments" in report
    exported = json.loads((data.report_dir(event_id) / "findings.json").read_text(encoding="utf-8"))
    assert exported["event"]["kind"] == "inspection"


def test_watch_inspects_a_live_stream_and_finds_the_plants_in_time(
        tmp_path: Path, origin: PlantOrigin, model_store: ModelStore, tiny_ct2: ModelInfo) -> None:
    data, schedules = DataDir(tmp_path / "data"), tmp_path / "schedules"
    config = _config(tmp_path, model_store)
    zero = origin.first_program_date_time()
    done = subprocess.run(_watch(config, data.root, schedules, origin.url, 30), capture_output=True, text=True,
                          timeout=150, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    event_id = done.stdout.splitlines()[0]
    # The registration under schedules/adhoc/, valid for the normal loader, with no warning for what an
    # inspection cannot know (category, participants' credentials).
    path = _adhoc(schedules)
    assert path.stem == event_id
    written = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert written["kind"] == "inspection"
    assert written["inspection"]["inspector"] == "qa"
    assert written["inspection"]["tip_from"] == "a viewer"
    loaded = validate_registrations([schedules], load_settings(config))
    assert [reg.event.id for reg in loaded.registrations] == [event_id]
    assert loaded.issues == []
    # Every plant spoken while on air is found within ±3 s, and nothing is found elsewhere.
    findings = _findings(data, event_id)
    on_air_at, off_air_at = _on_air(data, event_id)
    # Every cycle since the origin started (it may have been live for a while: the module shares it).
    cycles = int((off_air_at - zero).total_seconds() // CYCLE_S) + 2
    plants = [zero + timedelta(seconds=SAID_AT_S + CYCLE_S * k) for k in range(cycles)]
    heard = [at for at in plants if on_air_at <= at and at + timedelta(seconds=4) <= off_air_at]
    assert heard, (on_air_at, off_air_at, zero)
    diversions = [at for rule, _, at in findings if rule == DIVERSION]
    print("plants", [(at - zero).total_seconds() for at in heard],
          "found", [(at - zero).total_seconds() for at in diversions])
    for plant in heard:
        assert any(abs((at - plant).total_seconds()) <= TOLERANCE_S for at in diversions), (plant, diversions)
    for at in diversions:
        assert any(abs((at - plant).total_seconds()) <= TOLERANCE_S for plant in plants), at
    # The window is how long to watch, not a promise: no schedule or registration findings.
    assert not [f for f in findings if f[1] in ("schedule", "registration") or f[0].startswith("schedule")]
    _marked_as_inspection(data, event_id)
    assert f"report: {data.report_dir(event_id) / 'report.html'}" in done.stdout


def test_watch_hands_the_inspection_to_the_running_monitor(
        tmp_path: Path, origin: PlantOrigin, model_store: ModelStore) -> None:
    data, schedules = DataDir(tmp_path / "data"), tmp_path / "schedules"
    schedules.mkdir()
    config = _config(tmp_path, model_store, transcribe=False)
    monitor = subprocess.Popen(_livewatch(config, data.root, "run", "--schedules", str(schedules),
                                          "--reload-interval", "0.5"),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: data.root.is_dir() and running_monitor(data.root) is not None, 30, "the monitor")
        started = time.monotonic()
        done = subprocess.run(_watch(config, data.root, schedules, origin.url, 8), capture_output=True,
                              text=True, timeout=30, check=False)
        assert done.returncode == 0, done.stderr
        assert time.monotonic() - started < 15  # handed over, not run here
        assert "handed over to the monitor" in done.stderr
        event_id = done.stdout.splitlines()[0]
        assert _adhoc(schedules).stem == event_id
        wait_until(lambda: run_status(data, event_id) == "finished", 40, "the monitor to record the inspection")
        wait_until(lambda: (data.report_dir(event_id) / "report.html").is_file(), 20, "its report")
    finally:
        monitor.send_signal(signal.SIGTERM)
        monitor.wait(30)
    _marked_as_inspection(data, event_id)


def test_ctrl_c_mid_inspection_keeps_media_transcript_and_report(
        tmp_path: Path, origin: PlantOrigin, model_store: ModelStore, tiny_ct2: ModelInfo) -> None:
    data, schedules = DataDir(tmp_path / "data"), tmp_path / "schedules"
    config = _config(tmp_path, model_store)
    watch = subprocess.Popen(_watch(config, data.root, schedules, origin.url, 300), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env={**os.environ})
    try:
        wait_until(lambda: (schedules / "adhoc").is_dir() and any((schedules / "adhoc").glob("*.yaml")), 20,
                   "the inspection's file")
        event_id = _adhoc(schedules).stem
        media = data.media_dir(event_id)
        wait_until(lambda: media.is_dir() and len(list(media.glob("*.ts"))) >= 2, 60, "two media segments")
        stopped_at = datetime.now().astimezone()
        watch.send_signal(signal.SIGINT)
        stdout, stderr = watch.communicate(timeout=90)
    finally:
        if watch.poll() is None:
            watch.kill()
            watch.wait()
    assert watch.returncode == 0, stderr[-3000:]
    assert "stopping the recording" in stderr
    assert run_status(data, event_id) == "finished"
    _on_air_at, off_air_at = _on_air(data, event_id)
    assert off_air_at <= stopped_at + timedelta(seconds=15)  # ended by Ctrl-C, long before the window's end
    assert list(media.glob("*.ts"))
    transcript = data.transcripts_dir(event_id) / "transcript.jsonl"
    assert transcript.is_file()
    assert transcript.read_text(encoding="utf-8").strip()
    assert f"report: {data.report_dir(event_id) / 'report.html'}" in stdout
    _marked_as_inspection(data, event_id)
