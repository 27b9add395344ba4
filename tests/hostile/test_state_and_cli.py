"""Hostile state in the data directory (issue 15, the low items about the CLI and the monitor lock): a
corrupt, empty, foreign, newer, damaged or non-file database, an unusable job store and a read-only data
directory give one line naming the path and exit 1, never a traceback; deleting ``monitor.lock`` does not let
a second monitor start; ``analyze`` never touches an event the monitor records or has armed, and a refused
or failed analysis leaves nothing behind."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import ClassVar

import pytest
from apscheduler.triggers.date import DateTrigger
from click.testing import CliRunner, Result
from sqlalchemy import func, select

from livewatch.analyze import AnalyzeError, _claim_window
from livewatch.cli import cli
from livewatch.errors import StateError
from livewatch.monitor.jobs import JOB_FUNCTION, job_id, make_scheduler
from livewatch.monitor.lock import PID_NOTE, MonitorLock, running_monitor
from livewatch.pipeline.run_status import RECORDING
from livewatch.registration import validate_registrations
from livewatch.settings import load_settings
from livewatch.state import Database, DataDir, tables
from livewatch.state.runs import RunStore, SegmentRecord

REGISTRATION = """\
id: {id}
title: Creator forum
kind: forum
category: knowledge
organizer: {{name: Forum Org}}
timezone: Asia/Shanghai
start: {start}
end: {end}
language: en
streams: [{{url: "https://live.example.com/room/9"}}]
participants: [{{name: Li Hua, role: host, real_name_verified: true, birth_year: 1990}}]
"""


def one_line_error(result: Result, names: Path | str) -> None:
    """Exit 1, no traceback, and a single ``error:`` line that names ``names`` (a path or an event)."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    assert str(names) in lines[0], lines[0]


def quiet_config(folder: Path) -> Path:
    """A configuration without transcription: a monitor that starts in a second, not a model load."""
    config = folder / "quiet.toml"
    config.write_text("[transcriber]\nenabled = false\n", encoding="utf-8")
    config.chmod(0o644)  # read by an unprivileged user in the read-only cases
    return config


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A current, empty livewatch database, made once and copied for each case."""
    data = tmp_path_factory.mktemp("migrated") / "data"
    result = CliRunner().invoke(cli, ["--data", str(data), "db", "migrate"])
    assert result.exit_code == 0, result.output
    return data / "livewatch.db"


def _bytes(content: bytes) -> Callable[[Path, Path], None]:
    def make(db: Path, _good: Path) -> None:
        db.write_bytes(content)
    return make


def _zeroed_after_header(db: Path, good: Path) -> None:
    whole = good.read_bytes()
    db.write_bytes(whole[:4096] + b"\0" * (len(whole) - 4096))  # truncated in place: pages lost


def _cut_short(db: Path, good: Path) -> None:
    whole = good.read_bytes()
    db.write_bytes(whole[: len(whole) // 3])


def _with_version(version: int) -> Callable[[Path, Path], None]:
    def make(db: Path, good: Path) -> None:
        shutil.copy(good, db)
        with sqlite3.connect(db) as conn:
            conn.execute(f"PRAGMA user_version = {version}")
            if version == 1:  # as an older livewatch left it: user_version only, before Alembic took over
                conn.execute("DROP TABLE alembic_version")
        conn.close()
    return make


def _dropped_table(db: Path, good: Path) -> None:
    shutil.copy(good, db)
    conn = sqlite3.connect(db)
    conn.execute("DROP TABLE runs")
    conn.commit()
    conn.close()


def _foreign(db: Path, _good: Path) -> None:
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE notes (body TEXT)")
    conn.commit()
    conn.close()


DAMAGED: dict[str, Callable[[Path, Path], None]] = {
    "random bytes": _bytes(os.urandom(8192)),
    "empty file": _bytes(b""),
    "pages zeroed": _zeroed_after_header,
    "truncated": _cut_short,
    "newer schema": _with_version(999),
    "older schema": _with_version(1),
    "table dropped": _dropped_table,
    "foreign database": _foreign,
    "directory": lambda db, _good: db.mkdir(),
    "fifo": lambda db, _good: os.mkfifo(db),
    "dangling link": lambda db, _good: db.symlink_to(db.parent / "gone.db"),
    "link loop": lambda db, _good: db.symlink_to(db.name),
}


@pytest.mark.parametrize("command", ["status", "schedule"])
@pytest.mark.parametrize("damage", list(DAMAGED))
def test_a_damaged_database_is_one_line_naming_it(command: str, damage: str, migrated: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    DAMAGED[damage](data / "livewatch.db", migrated)
    schedules = tmp_path / "schedules"
    schedules.mkdir()
    extra = ["--schedules", str(schedules)] if command == "schedule" else []
    one_line_error(CliRunner().invoke(cli, ["--data", str(data), command, *extra]), data / "livewatch.db")


@pytest.mark.parametrize("damage", ["random bytes", "directory", "fifo"])
def test_a_damaged_job_store_is_one_line_for_status_and_the_monitor(damage: str, migrated: Path,
                                                                    tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(migrated, data / "livewatch.db")
    DAMAGED[damage](data / "jobs.db", migrated)
    one_line_error(CliRunner().invoke(cli, ["--data", str(data), "status"]), data / "jobs.db")
    schedules = tmp_path / "schedules"
    schedules.mkdir()
    result = CliRunner().invoke(cli, ["--config", str(quiet_config(tmp_path)), "--data", str(data), "run",
                                      "--until-idle", "--schedules", str(schedules)])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output, result.output
    assert f"error: database {data / 'jobs.db'}" in result.output or f"job store {data / 'jobs.db'}" in result.output
    assert running_monitor(data) is None  # the failed start gave the lock back


def test_a_data_directory_that_is_a_link_loop_is_one_line(tmp_path: Path) -> None:
    loop = tmp_path / "data"
    loop.symlink_to(loop.name)
    for command in ("status", "schedule"):
        one_line_error(CliRunner().invoke(cli, ["--data", str(loop), command, *(
            ["--schedules", str(tmp_path)] if command == "schedule" else [])]), loop)


# -- a read-only data directory ----------------------------------------------------------------------------


@functools.cache
def _as_unprivileged() -> list[str] | None:
    """The argv prefix that runs a command as a user file modes apply to: none needed when not root; as root
    `setpriv` to nobody, if this Python can be run that way (it may live in a folder only root can read)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    prefix = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]
    probe = subprocess.run([*prefix, sys.executable, "-c", "import livewatch"], capture_output=True,
                           cwd="/", check=False, timeout=60)
    return prefix if probe.returncode == 0 else None


@pytest.fixture
def read_only_data(migrated: Path) -> Iterator[tuple[Path, list[str]]]:
    """A data directory (0555) holding a current database (0444), readable by everyone, in a folder the
    unprivileged user can reach (pytest's own tmp folder is private to root)."""
    prefix = _as_unprivileged()
    if prefix is None:
        pytest.skip("running as root, and no way to run this Python as an unprivileged user (setpriv)")
    top = Path(tempfile.mkdtemp(prefix="livewatch-ro-"))
    try:
        top.chmod(0o755)
        (top / "schedules").mkdir()
        (top / "schedules").chmod(0o755)
        data = top / "data"
        data.mkdir()
        shutil.copy(migrated, data / "livewatch.db")
        (data / "livewatch.db").chmod(0o444)
        data.chmod(0o555)
        yield data, prefix
    finally:
        data.chmod(0o755)
        shutil.rmtree(top)


@pytest.mark.parametrize("command", [["status"], ["schedule"], ["run", "--until-idle"]])
def test_a_read_only_data_directory_is_one_line(command: list[str], read_only_data: tuple[Path, list[str]]) -> None:
    data, prefix = read_only_data
    schedules = ["--schedules", str(data.parent / "schedules")] if command[0] != "status" else []
    config = quiet_config(data.parent)
    done = subprocess.run([*prefix, sys.executable, "-m", "livewatch", "--config", str(config), "--data", str(data),
                           *command, *schedules],
                          capture_output=True, text=True, cwd="/", timeout=120, check=False)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    [line] = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    if command[0] == "run":  # the monitor stops at the first thing it cannot write
        assert str(data) in line, line
        assert "Permission denied" in line or "readonly" in line, line
    else:
        assert str(data / "livewatch.db") in line, line
        assert "readonly" in line, line


# -- the monitor lock --------------------------------------------------------------------------------------


def _monitor(data: Path, schedules: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "livewatch", "--config", str(quiet_config(schedules.parent)),
                             "--data", str(data), "run", "--schedules", str(schedules), "--reload-interval", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_deleting_monitor_lock_does_not_let_a_second_monitor_start(tmp_path: Path) -> None:
    data, schedules = tmp_path / "data", tmp_path / "schedules"
    schedules.mkdir()
    first = _monitor(data, schedules)
    try:
        deadline = time.monotonic() + 60
        while running_monitor(data) is None:
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "the first monitor never took its lock"
            time.sleep(0.1)
        assert running_monitor(data) is not None
        (data / PID_NOTE).unlink()
        second = subprocess.run([sys.executable, "-m", "livewatch", "--config", str(quiet_config(tmp_path)),
                                 "--data", str(data), "run", "--schedules", str(schedules)],
                                capture_output=True, text=True, timeout=60, check=False)
        assert second.returncode == 1, second.stderr
        assert f"another livewatch monitor (pid {first.pid}) is already running on {data}" in second.stderr
        assert "Traceback" not in second.stderr
        assert first.poll() is None  # the first one is untouched
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=60)
    assert running_monitor(data) is None
    MonitorLock.acquire(data).release()  # free again once the holder has gone


def test_the_lock_holds_in_process_and_its_note_never_follows_a_link(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n", encoding="utf-8")
    (data / PID_NOTE).symlink_to(victim)
    lock = MonitorLock.acquire(data)
    try:
        assert victim.read_text(encoding="utf-8") == "precious\n"
        holder = running_monitor(data)
        assert holder is not None
        assert holder.pid in (os.getpid(), None)
        with pytest.raises(StateError, match=r"another livewatch monitor \(pid \d+\) is already running"):
            MonitorLock.acquire(data)
    finally:
        lock.release()
    assert running_monitor(data) is None


# -- analyze -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tone") / "tone.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=440:duration=3",
                    "-ar", "16000", str(path)], check=True, timeout=60)
    return path


class Setup:
    def __init__(self, root: Path, start: str = "2026-12-01T09:00", end: str = "2026-12-01T10:00") -> None:
        self.root = root
        self.schedules = root / "schedules"
        self.schedules.mkdir()
        (self.schedules / "forum.yaml").write_text(REGISTRATION.format(id="forum", start=start, end=end),
                                                   encoding="utf-8")
        self.config = root / "livewatch.toml"
        self.config.write_text('data_dir = "data"\n[transcriber]\nenabled = false\n', encoding="utf-8")
        self.settings = load_settings(self.config)
        self.data = DataDir(self.settings.data_dir)
        self.registrations = validate_registrations([self.schedules], self.settings).registrations

    def database(self) -> Database:
        db = Database.open(self.data)
        db.sync_events(self.registrations)
        return db

    def analyze(self, media: Path) -> Result:
        return CliRunner().invoke(cli, ["--config", str(self.config), "analyze", str(media), "--event", "forum",
                                        "--schedules", str(self.schedules)])

    def analyzed_folders(self) -> list[Path]:
        return sorted(self.data.root.glob("events/forum/audio/analyzed-*"))

    def runs(self) -> list[tuple[int, str]]:
        if not self.data.database.exists():
            return []
        with Database(self.data.database) as db, db.engine.connect() as conn:
            return [(row.id, row.status) for row in conn.execute(select(tables.runs).order_by(tables.runs.c.id))]


def test_analyze_refuses_an_event_the_monitor_is_recording(tmp_path: Path, tone: Path) -> None:
    setup = Setup(tmp_path)
    event = setup.registrations[0].event
    with setup.database() as db:
        store = RunStore(db.engine)
        run = store.open_run("forum", event.start, event.end)
        assert run is not None
        store.set_status(run.id, RECORDING)
        live = setup.data.ensure_event("forum") / "audio" / "s0-000000.wav"
        shutil.copy(tone, live)
        store.add_segment(SegmentRecord(run.id, 0, None, "audio", 0, live, event.start,
                                        event.start + timedelta(seconds=3), live.stat().st_size, "ok"))
    result = setup.analyze(tone)
    one_line_error(result, "forum")
    assert "being recorded by the monitor" in result.stderr
    assert setup.runs() == [(run.id, RECORDING)]  # the live run is left as it was
    with Database(setup.data.database) as db, db.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(tables.segments)).scalar_one() == 1
    assert setup.analyzed_folders() == []


def test_analyze_refuses_an_event_a_running_monitor_has_armed(tmp_path: Path, tone: Path) -> None:
    later = datetime.now(UTC) + timedelta(days=2)
    setup = Setup(tmp_path, start=f"{later:%Y-%m-%dT09:00}", end=f"{later:%Y-%m-%dT10:00}")
    setup.database().close()
    scheduler = make_scheduler(setup.data)
    scheduler.start(paused=True)
    scheduler.add_job(JOB_FUNCTION, DateTrigger(run_date=later), id=job_id("forum"),
                      kwargs={"event_id": "forum", "start": "", "end": ""})
    scheduler.shutdown(wait=False)
    lock = MonitorLock.acquire(setup.data.root)  # the monitor, as far as analyze can tell
    try:
        result = setup.analyze(tone)
    finally:
        lock.release()
    assert result.exit_code == 1, result.output
    assert "armed for capture" in result.stderr, result.output
    assert f"pid {os.getpid()}" in result.stderr
    assert setup.runs() == []
    assert setup.analyzed_folders() == []


def test_a_refused_or_failed_analysis_leaves_nothing_behind_and_can_be_run_again(tmp_path: Path,
                                                                                 tone: Path) -> None:
    setup = Setup(tmp_path)
    setup.data.ensure()
    other = setup.schedules / "other.yaml"
    other.write_text(REGISTRATION.format(id="other", start="2026-12-02T09:00", end="2026-12-02T10:00"),
                     encoding="utf-8")
    setup.registrations = validate_registrations([setup.schedules], setup.settings).registrations
    setup.database().close()
    other.unlink()  # analyze now reads a folder without it: the monitor's event must stay registered

    unreadable = tmp_path / "not-media.wav"
    unreadable.write_bytes(b"RIFF" + os.urandom(2000))
    assert setup.analyze(unreadable).exit_code == 1
    assert (setup.runs(), setup.analyzed_folders()) == ([], [])

    # Fails after the run was claimed (the report folder's place is taken by a file): run and audio go.
    setup.data.reports.mkdir(exist_ok=True)
    blocker = setup.data.reports / "forum"
    blocker.write_text("in the way\n", encoding="utf-8")
    failed = setup.analyze(tone)
    assert failed.exit_code == 1, failed.output
    assert "Traceback" not in failed.output, failed.output
    assert (setup.runs(), setup.analyzed_folders()) == ([], [])
    with Database(setup.data.database) as db, db.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(tables.segments)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(tables.work_queue)).scalar_one() == 0

    blocker.unlink()
    ok = setup.analyze(tone)
    assert ok.exit_code == 0, ok.output
    [(_, status)] = setup.runs()
    assert status == "finished"
    assert len(setup.analyzed_folders()) == 1

    again = setup.analyze(tone)
    one_line_error(again, "forum")
    assert "already has a finished run" in again.stderr
    assert len(setup.analyzed_folders()) == 1  # the refusal made no second folder

    with Database(setup.data.database) as db, db.engine.connect() as conn:
        removed = conn.execute(select(tables.events.c.removed_at).where(tables.events.c.id == "other")).scalar_one()
    assert removed is None


def test_a_capture_that_starts_while_analyze_reads_the_recording_wins_the_window(tmp_path: Path) -> None:
    setup = Setup(tmp_path)
    event = setup.registrations[0].event
    with setup.database() as db:
        run = RunStore(db.engine).open_run("forum", event.start, event.end)
        assert run is not None
        with pytest.raises(AnalyzeError, match=f"got run {run.id}"):
            _claim_window(RunStore(db.engine), event, tmp_path / "recording.mp4")
    assert setup.runs() == [(run.id, "waiting")]


class _Counting(http.server.BaseHTTPRequestHandler):
    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.hits.append(self.path)
        self.send_error(404)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.mark.parametrize("kind", ["hls", "concat", "dash behind junk"])
def test_analyze_refuses_a_recording_that_points_elsewhere(kind: str, tmp_path: Path, tone: Path) -> None:
    """A handed-in "recording" that is a playlist, a concat script or a manifest would make ffmpeg read the
    network or other files (another event's recordings) as this event's audio."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Counting)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/seg.ts"
    media = tmp_path / "recording.mp4"
    media.write_text({
        "hls": f"#EXTM3U\n#EXT-X-TARGETDURATION:3\n#EXTINF:3,\n{url}\n#EXTINF:3,\n{tone}\n#EXT-X-ENDLIST\n",
        "concat": f"ffconcat version 1.0\nfile '{tone}'\n",
        "dash behind junk": f"junk\n<MPD><Period><AdaptationSet><Representation><BaseURL>{url}</BaseURL>"
                            "</Representation></AdaptationSet></Period></MPD>\n",
    }[kind], encoding="utf-8")
    setup = Setup(tmp_path)
    try:
        result = setup.analyze(media)
    finally:
        server.shutdown()
        server.server_close()
    one_line_error(result, media)
    assert _Counting.hits == []
    assert (setup.runs(), setup.analyzed_folders()) == ([], [])
