"""`livewatch demo` and the demo machinery, end to end: a simulated forum with planted violations is spoken
(Mandarin by Kokoro voices, English by espeak-ng), broadcast live on 127.0.0.1, recorded, transcribed by the
model the event's language picks (base, tiny.en), checked and reported; every plant must be found in its category
within ±3 s of where it was said, and clean talk must raise nothing above low. The English forum runs with its
state in PostgreSQL (the password from $PGPASSWORD alone), the Mandarin one on SQLite, the default. The same
forum handed in as a recording (`livewatch analyze`) must come out the same, and the Mandarin one on a second set
of voices. The English demo and both analyses run as `livewatch` processes of their own beside the Mandarin
broadcast, which is bound by its two minutes of speech in real time: the module waits for them all at once.
The Mandarin broadcast is recorded twice at once: by the demo's `livewatch run`, and by a `livewatch scheduler`
and two `livewatch worker`s on PostgreSQL and RabbitMQ (tests/demo/side_by_side.py), which must agree."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from bs4 import BeautifulSoup
from click.testing import CliRunner
from sqlalchemy import select

from livewatch.capture.hls import parse_media
from livewatch.cli import cli
from livewatch.demo import kokoro
from livewatch.demo.run import DemoError, PlantCheck, evaluate, registration, stage, write_config
from livewatch.demo.screen_check import channel
from livewatch.demo.script import FORUM_ZH, SHORT_FORUM, ZH_VOICES_ALT, Script, forum_zh
from livewatch.demo.synth import Track, synthesize
from livewatch.fields import CaptureSettings
from livewatch.registration import validate_registrations
from livewatch.rules.engine import SEVERITIES
from livewatch.rules.normalize import is_cjk
from livewatch.settings import Settings, load_settings
from livewatch.state import Database, DataDir, tables
from livewatch.state.engines import mask_url
from tests.capture.conftest import run_facts
from tests.demo.side_by_side import DistributedSide, heard_during, transcription_lags
from tests.support.postgres import PostgresCluster
from tests.support.roles import wait_until

TOLERANCE_S = 3.0
BACKGROUND_TIMEOUT_S = 600
PASSWORD = "demo-only-secret-7f3a"  # the test cluster demands it of the demo's role (tests/support/postgres.py)
ABOVE_LOW = set(SEVERITIES[:SEVERITIES.index("low")])


def spoken_at(track: Track, zero: datetime) -> list[tuple[Any, datetime]]:
    """Each line of the track with the wall-clock time it starts, media time 0 being ``zero``."""
    return [(spoken, zero + timedelta(seconds=spoken.start_s)) for spoken in track.lines]


def assert_plants_found(document: dict[str, Any], track: Track, zero: datetime, *, by_its_rule: bool = True,
                        screen: list[dict[str, Any]] | None = None) -> None:
    """Every plant found, in its category (and by its rule, unless ``by_its_rule`` is false: a Mandarin claim
    Whisper misheard is found by its category's cue rule instead of the word list), covering part of its line
    or within ±3 s of it; nothing else above low anywhere but what the picture showed (``screen``: the demo
    manifest's screen plants), in its category while it was shown."""
    findings = document["findings"]
    explained: set[str] = {
        f["id"] for shown in screen or () for f in findings if f["category"] == shown["category"]
        and datetime.fromisoformat(f["start"]) <= datetime.fromisoformat(shown["shown_until"]) + timedelta(seconds=3)
        and datetime.fromisoformat(f["end"]) >= datetime.fromisoformat(shown["shown_at"]) - timedelta(seconds=3)}
    for spoken, at in spoken_at(track, zero):
        plant = spoken.line.plant
        if plant is None:
            continue
        said_until = at + timedelta(seconds=spoken.end_s - spoken.start_s)
        near = [f for f in findings if f["category"] == plant.category
                and datetime.fromisoformat(f["start"]) <= said_until + timedelta(seconds=TOLERANCE_S)
                and datetime.fromisoformat(f["end"]) >= at - timedelta(seconds=TOLERANCE_S)]
        summary = [(f["category"], f["start"], f["matched"]) for f in findings]
        assert near, f"plant {spoken.line.text!r} (said at {at.isoformat()}) not found; findings: {summary}"
        if by_its_rule:  # others of the category may fire too (a QR code is also mentioned, at low)
            assert plant.rule in {f["rule"] for f in near}
        explained |= {f["id"] for f in near}
    loud = [(f["rule"], f["severity"], f["start"], f["evidence"]) for f in findings
            if f["severity"] in ABOVE_LOW and f["id"] not in explained]
    assert not loud, f"clean talk raised findings above low: {loud}"
    assert document["verdict"] == "fail"  # a critical promise and two high findings
    assert document["run_status"] == "finished"


def assert_report_and_exports(folder: Path, document: dict[str, Any]) -> None:
    ids = {f["id"] for f in document["findings"]}
    assert ids
    soup = BeautifulSoup((folder / "report.html").read_text(encoding="utf-8"), "html.parser")
    verdict = soup.find(id="verdict")
    assert verdict is not None
    # The shown word is in the report's language (a Mandarin event's report is in Chinese); the attribute is not.
    assert verdict["data-verdict"] == document["verdict"]
    rows = {str(row["id"]).removeprefix("finding-") for row in soup.select("#findings tr.finding")}
    assert rows == ids
    with (folder / "findings.csv").open(encoding="utf-8-sig", newline="") as handle:
        assert {row["id"] for row in csv.DictReader(handle)} == ids
    assert (folder / "transcript.srt").read_text(encoding="utf-8").startswith("1\n")


def test_the_forum_script_is_synthesized_with_known_line_times(tmp_path: Path) -> None:
    track = synthesize(SHORT_FORUM, tmp_path)
    assert len(track.lines) == len(SHORT_FORUM.lines)
    assert {p.line.plant.category for p in track.plants if p.line.plant} == {
        "finance-promise", "traffic-diversion", "ad-disclosure"}
    assert 30 < track.speech_end_s < 50, "the short forum is about 40 s of speech"
    with wave.open(str(track.path), "rb") as handle:
        assert handle.getnframes() / handle.getframerate() == pytest.approx(track.duration_s)
        rate = handle.getframerate()
    for index, (before, after) in enumerate(zip(track.lines, track.lines[1:], strict=False)):
        with wave.open(str(tmp_path / "lines" / f"{index:02d}.wav"), "rb") as piece:
            assert before.end_s - before.start_s == pytest.approx(piece.getnframes() / rate)
        assert after.start_s - before.end_s == pytest.approx(1.2, abs=0.001), "a pause between lines"
    assert track.lines[0].start_s == pytest.approx(1.0)


def test_demo_refuses_to_run_without_its_tools(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shutil.which", lambda name: None if name == "espeak-ng" else f"/usr/bin/{name}")
    result = CliRunner().invoke(cli, ["demo", "--language", "en"])
    assert result.exit_code == 1
    assert "error: the demo cannot run: espeak-ng is not installed" in result.output
    assert "apt-get install ffmpeg ffprobe espeak-ng" in result.output


def test_mandarin_demo_needs_the_speech_extra_not_espeak(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing() -> str:
        raise kokoro.SpeechError("Mandarin speech needs the package 'misaki', which is not installed")

    monkeypatch.setattr("shutil.which", lambda name: None if name == "espeak-ng" else f"/usr/bin/{name}")
    monkeypatch.setattr("livewatch.demo.run.engine_id", missing)
    result = CliRunner().invoke(cli, ["demo"])
    assert result.exit_code == 1
    assert "error: the demo cannot run: Mandarin speech needs the package 'misaki'" in result.output
    assert "espeak-ng" not in result.output


def test_demo_refuses_a_database_url_with_a_password(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://demo:{PASSWORD}@db.example/demo"
    with pytest.raises(DemoError, match=r"database_url must not hold a password: put it in \$PGPASSWORD") as caught:
        write_config(tmp_path, url)
    assert PASSWORD not in str(caught.value)
    assert not (tmp_path / "livewatch.toml").exists(), "nothing written: the file is no place for a password"
    written = write_config(tmp_path, "postgresql+psycopg://demo@db.example/demo").read_text(encoding="utf-8")
    assert 'database_url = "postgresql+psycopg://demo@db.example/demo"' in written


@pytest.mark.parametrize("script", [FORUM_ZH, forum_zh(*ZH_VOICES_ALT)], ids=lambda s: s.name)
def test_the_mandarin_demo_registers_only_its_language(tmp_path: Path, script: Script) -> None:
    start = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    event_id = f"demo-{script.name}-20261201-090000"  # as the demo names its event
    text = registration(script, event_id, "https://live.example.com/1", start, start + timedelta(hours=1))
    (tmp_path / "forum.yaml").write_text(text, encoding="utf-8")
    loaded = validate_registrations([tmp_path / "forum.yaml"], Settings(data_dir=tmp_path / "data"))
    assert loaded.ok, [issue.render() for issue in loaded.issues]
    assert [r.event.id for r in loaded.registrations] == [event_id]
    document = yaml.safe_load(text)
    assert document["language"] == "zh"
    assert "transcriber" not in document
    assert "transcriber" not in write_config(tmp_path).read_text(encoding="utf-8")  # the defaults pick the model


def recording(track: Track, out: Path) -> Path:
    """A handed-in recording: the synthesized track over testsrc2 video, as an organizer's MP4."""
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=10",
                    "-i", str(track.path), "-shortest", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac",
                    "-b:a", "64k", str(out)], check=True)
    return out


def handed_in(script: Script, event_id: str, folder: Path) -> tuple[Track, Path, Path, datetime]:
    """The script as an organizer's recording, and a schedules folder registering it for 09:00 UTC."""
    track = synthesize(script, folder / "speech")
    media = recording(track, folder / "forum.mp4")
    schedules = folder / "schedules"
    schedules.mkdir()
    start = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    (schedules / "forum.yaml").write_text(
        registration(script, event_id, "https://live.example.com/room/1", start, start + timedelta(hours=1)),
        encoding="utf-8")
    return track, media, schedules, start


@dataclass
class Background:
    """A `livewatch` command running as its own process, what it prints going to a file."""

    process: subprocess.Popen[bytes]
    output: Path

    def finish(self) -> tuple[int, str]:
        """Its exit status and everything it printed, once it is done."""
        returncode = self.process.wait(timeout=BACKGROUND_TIMEOUT_S)
        return returncode, self.output.read_text(encoding="utf-8")


@contextmanager
def in_background(arguments: list[str], folder: Path, environment: dict[str, str] | None = None,
                  ) -> Iterator[Background]:
    """``livewatch <arguments>`` started now, in a process of its own (killed at the end if still running), with
    none of the developer's livewatch variables and ``environment`` added."""
    variables = {key: value for key, value in os.environ.items()
                 if key not in ("LIVEWATCH_CONFIG", "LIVEWATCH_DATA", "LIVEWATCH_DATABASE_URL")}
    output = folder / "output.txt"
    with output.open("wb") as sink:
        process = subprocess.Popen([sys.executable, "-m", "livewatch", *arguments], stdout=sink,
                                   stderr=subprocess.STDOUT, env={**variables, **(environment or {})})
    try:
        yield Background(process, output)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@dataclass(frozen=True)
class EnglishDemo:
    command: Background
    work: Path
    url: str


@pytest.fixture(scope="module")
def english_demo(tmp_path_factory: pytest.TempPathFactory, postgres_cluster: PostgresCluster) -> Iterator[EnglishDemo]:
    """`livewatch demo --language en --short` with its state in PostgreSQL, the password in the process's
    environment alone."""
    root = tmp_path_factory.mktemp("english-demo")
    url = postgres_cluster.create_login(PASSWORD, prefix="demo")
    arguments = ["demo", "--language", "en", "--work-dir", str(root / "work"), "--keep", "--short",
                 "--database-url", url]
    with in_background(arguments, root, {"PGPASSWORD": PASSWORD}) as command:
        yield EnglishDemo(command, root / "work", url)


@dataclass(frozen=True)
class HandedIn:
    command: Background
    track: Track
    start: datetime
    data: Path


@pytest.fixture(scope="module")
def english_recording(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HandedIn]:
    """The short English forum handed in as a recording, analyzed with a configuration file."""
    folder = tmp_path_factory.mktemp("analyze-en")
    track, media, schedules, start = handed_in(SHORT_FORUM, "handed-in-forum", folder)
    config = folder / "livewatch.toml"
    config.write_text('data_dir = "data"\n[transcriber]\nlanguage = "en"\n', encoding="utf-8")
    arguments = ["--config", str(config), "analyze", str(media), "--event", "handed-in-forum",
                 "--schedules", str(schedules)]
    with in_background(arguments, folder) as command:
        yield HandedIn(command, track, start, folder / "data")


@pytest.fixture(scope="module")
def mandarin_recording(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HandedIn]:
    """The Mandarin forum spoken by a second pair of voices, handed in as a recording, with no configuration
    at all and a registration that says only `language: zh`."""
    folder = tmp_path_factory.mktemp("analyze-zh")
    track, media, schedules, start = handed_in(forum_zh(*ZH_VOICES_ALT), "zh-forum", folder)
    arguments = ["--data", str(folder / "data"), "analyze", str(media), "--event", "zh-forum",
                 "--schedules", str(schedules)]
    with in_background(arguments, folder) as command:
        yield HandedIn(command, track, start, folder / "data")


@pytest.fixture(scope="module")
def distributed_side(tmp_path_factory: pytest.TempPathFactory, postgres_cluster: PostgresCluster,
                     postgres_template: str, rabbitmq_url: str) -> Iterator[DistributedSide]:
    """A scheduler and two workers (PostgreSQL, RabbitMQ, a data folder of their own) reading the schedules
    folder of the Mandarin demo's work folder (``<root>/work``): they record its broadcast too."""
    root = tmp_path_factory.mktemp("mandarin-demo")
    side = DistributedSide(root / "distributed", root / "work" / "schedules",
                           postgres_cluster.create_database("demo", template=postgres_template), rabbitmq_url)
    try:
        side.start(FORUM_ZH)
        yield side
    finally:
        side.stop()


@pytest.mark.slow
# Started here: the English broadcast and both recordings' analyses run beside this broadcast, which is bound
# by its speech in real time, so the module waits for all of them at once; the distributed roles record it too.
@pytest.mark.usefixtures("english_demo", "english_recording", "mandarin_recording")
def test_the_mandarin_demo_finds_every_plant_live(tmp_path: Path, distributed_side: DistributedSide) -> None:
    """`make demo`: the Mandarin forum live through the whole chain, registered with only `language: zh`; and
    the same broadcast through `livewatch scheduler` and two `livewatch worker`s finds the same plants."""
    work = distributed_side.schedules.parent
    began = time.monotonic()
    result = CliRunner().invoke(cli, ["demo", "--work-dir", str(work), "--keep"])
    demo_done = time.monotonic()
    assert result.exit_code == 0, result.output
    assert "7 of 7 planted violations found" in result.output, result.output
    assert "clean talk: nothing above low" in result.output
    manifest = json.loads((work / "demo.json").read_text(encoding="utf-8"))
    playlist = parse_media((work / "origin" / "stream.m3u8").read_text(encoding="utf-8"), "stream.m3u8")
    zero = playlist.segments[0].program_date_time
    assert zero is not None
    track = synthesize(FORUM_ZH, tmp_path / "again")  # from the speech cache: the same samples, the same times
    assert [line["start_s"] for line in manifest["lines"]] == [round(s.start_s, 3) for s in track.lines]
    folder = work / "data" / "reports" / manifest["event_id"]
    document = json.loads((folder / "findings.json").read_text(encoding="utf-8"))
    assert_plants_found(document, track, zero, by_its_rule=False, screen=manifest["screen"])
    assert_report_and_exports(folder, document)
    # The QR code and the banner the picture showed: checked wherever the capture reads frames, and then found
    # on the screen within ±3 s of when they were shown.
    assert [(s["kind"], s["category"]) for s in manifest["screen"]] == [
        ("banner", "absolute-terms"), ("banner", "traffic-diversion"), ("qr", "traffic-diversion")]
    reads_frames = "frames" in CaptureSettings.model_fields
    assert all(s["checked"] == reads_frames for s in manifest["screen"])
    if reads_frames:
        assert all(s["found"] for s in manifest["screen"]), manifest["screen"]
        assert "3 of 3 on-screen violations found" in result.output, result.output
    assert {p["category"] for p in manifest["plants"]} == {
        "finance-promise", "medical-claim", "absolute-terms", "ad-disclosure", "traffic-diversion",
        "tipping-inducement"}
    assert [t["model"] for t in document["provenance"]["transcriber"]] == ["base"]
    heard = "".join(line for line in (folder / "transcript.srt").read_text(encoding="utf-8").splitlines()
                    if line and not line[0].isdigit())
    assert sum(is_cjk(ch) for ch in heard) > 0.8 * sum(ch.isalnum() for ch in heard), "heard as Mandarin"
    assert_the_distributed_side_agrees(distributed_side, manifest, track, zero, began, demo_done)


def said(plant: PlantCheck) -> tuple[datetime, datetime]:
    """When a plant's line was said, on the broadcast's clock."""
    return plant.spoken_at, plant.spoken_at + timedelta(seconds=plant.spoken.end_s - plant.spoken.start_s)


def assert_the_distributed_side_agrees(side: DistributedSide, manifest: dict[str, Any], track: Track,
                                       zero: datetime, began: float, demo_done: float) -> None:
    """The roles recorded the demo's broadcast into one run of their own, transcribed every segment, wrote the
    report, and found every plant within ±3 s of when it was said, each by the rule `livewatch run` found it by."""
    event_id = manifest["event_id"]
    wait_until(lambda: side.done(event_id), 120, "the distributed side's final check")
    side_done = time.monotonic()
    facts = run_facts(DataDir(side.settings.data_dir), event_id, side.database_url)  # exactly one run
    assert facts.run.status == "finished"
    assert [s.seq for s in facts.audio] == list(range(len(facts.audio)))
    assert facts.queued == len(facts.audio), "every audio segment queued for transcription"
    side_lags = transcription_lags(side.database_url)
    assert len(side_lags) == len(facts.audio), "and transcribed"
    folder = DataDir(side.settings.data_dir).report_dir(event_id)
    document = json.loads((folder / "findings.json").read_text(encoding="utf-8"))
    assert_plants_found(document, track, zero, by_its_rule=False, screen=manifest["screen"])
    assert_report_and_exports(folder, document)
    # The screen queue's last check may come a moment after the transcript's final one.
    wait_until(lambda: all(c.found for c in side.evaluate(FORUM_ZH, event_id, zero, track).screen if c.checked),
               60, "the screen findings on the distributed side")
    distributed = side.evaluate(FORUM_ZH, event_id, zero, track)
    work = side.schedules.parent  # the demo's work folder: `livewatch run`'s side
    single = evaluate(work, load_settings(work / "livewatch.toml"), FORUM_ZH, event_id, zero, track,
                      stage(FORUM_ZH, track))
    # Found: a finding of the plant's category within ±3 s of the line that said it (run.py's TOLERANCE_S).
    assert all(plant.found for plant in distributed.plants), [(p.spoken.line.text, p.delta_s)
                                                               for p in distributed.plants if not p.found]
    # By the rule `livewatch run` found it by, wherever both sides heard the line alike. Each side's transcriber
    # takes its windows from its own backlog (segments queued behind one another go to Whisper together), so a
    # side that fell behind decodes a line in a longer window than one that kept up, and Whisper base may hear
    # a Mandarin line differently in it (根治 as 根之), which another rule of the category then finds.
    heard = [(heard_during(work / "data" / "events" / event_id / "transcripts" / "transcript.jsonl", *said(p)),
              heard_during(DataDir(side.settings.data_dir).transcripts_dir(event_id) / "transcript.jsonl", *said(p)))
             for p in single.plants]
    rules = [(p.finding["rule"] if p.finding else None, q.finding["rule"] if q.finding else None)
             for p, q in zip(single.plants, distributed.plants, strict=True)]
    assert [p.spoken.line.text for p in single.plants] == [p.spoken.line.text for p in distributed.plants]
    assert all(ours == theirs for (ours, theirs), (alike, heard_there) in zip(rules, heard, strict=True)
               if alike == heard_there), list(zip(rules, heard, strict=True))
    # And what the picture showed (the QR code, the banners), read by the workers' screen queue.
    assert [(c.checked, c.found) for c in distributed.screen] == [(c.checked, c.found) for c in single.screen]
    assert all(c.found for c in distributed.screen if c.checked), distributed.screen
    single_lags = transcription_lags(work / "data" / "livewatch.db")
    print(f"side by side: demo {demo_done - began:.0f} s, distributed final {side_done - demo_done:+.1f} s after; "
          f"roles ready in {side.ready_s:.1f} s; transcription lag single max {max(single_lags):.1f} s "
          f"mean {sum(single_lags) / len(single_lags):.1f} s, distributed max {max(side_lags):.1f} s "
          f"mean {sum(side_lags) / len(side_lags):.1f} s; "
          f"plant deltas {[round(p.delta_s or 0, 1) for p in single.plants]} vs "
          f"{[round(p.delta_s or 0, 1) for p in distributed.plants]}; plants heard alike "
          f"{sum(ours == theirs for ours, theirs in heard)} of {len(heard)}, by the same rule "
          f"{sum(ours == theirs for ours, theirs in rules)}; screen findings "
          f"{sum(channel(f) == 'screen' for f in single.findings)} vs "
          f"{sum(channel(f) == 'screen' for f in distributed.findings)}")


@pytest.mark.slow
def test_livewatch_demo_finds_every_plant_where_it_was_said(tmp_path: Path, english_demo: EnglishDemo,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The English forum with its state in PostgreSQL: a database owned by a role the server asks a password
    of, given in $PGPASSWORD only, never on the command line or in the work folder's livewatch.toml."""
    returncode, out = english_demo.command.finish()
    assert returncode == 0, out
    work, url = english_demo.work, english_demo.url
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    for step in ("synthesizing 8 lines", f"state database: {mask_url(url)}", "origin live: http://127.0.0.1:",
                 "capture started", "segment 1 recorded", "transcribed +0:0",
                 "finding: critical finance-promise.guaranteed-returns", "report written",
                 "3 of 3 planted violations found"):
        assert step in out, f"{step!r} not shown:\n{out}"
    paths = {key: Path(value) for key, _, value in (line.partition(": ") for line in out.splitlines())
             if key in ("report", "index")}
    assert paths["report"].is_file()
    assert paths["index"].is_file()
    manifest = json.loads((work / "demo.json").read_text(encoding="utf-8"))
    event_id = manifest["event_id"]
    assert paths["report"] == work / "data" / "reports" / event_id / "report.html"
    assert f'href="{event_id}/report.html"' in paths["index"].read_text(encoding="utf-8")

    # The clock: media time 0 went out at the origin's first PROGRAM-DATE-TIME (read from its playlist here,
    # not taken from the demo), and line i is spoken at that plus its start in the track (synthesized again
    # here: espeak-ng is deterministic).
    playlist = parse_media((work / "origin" / "stream.m3u8").read_text(encoding="utf-8"), "stream.m3u8")
    zero = playlist.segments[0].program_date_time
    assert playlist.segments[0].sequence == 0
    assert zero is not None
    assert datetime.fromisoformat(manifest["broadcast_start"]) == zero
    track = synthesize(SHORT_FORUM, tmp_path / "again")
    assert [line["start_s"] for line in manifest["lines"]] == [round(s.start_s, 3) for s in track.lines]

    folder = paths["report"].parent
    document = json.loads((folder / "findings.json").read_text(encoding="utf-8"))
    assert_plants_found(document, track, zero)
    assert_report_and_exports(folder, document)
    assert manifest["ok"] is True
    assert all(plant["found"] for plant in manifest["plants"])
    assert abs((datetime.fromisoformat(document["on_air"]["start"]) - zero).total_seconds()) < 1, \
        "recorded from the first second of the broadcast"
    assert (work / "speech" / "track.wav").is_file(), "--keep keeps the synthesized speech"
    assert_state_in_postgresql(work, url, event_id, document, monkeypatch)


def assert_state_in_postgresql(work: Path, url: str, event_id: str, document: dict[str, Any],
                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The run and its findings are rows in PostgreSQL, no SQLite database was made, the work folder's
    configuration names the database without its password, and `livewatch status` reads it from there."""
    assert not (work / "data" / "livewatch.db").exists(), "no SQLite state beside PostgreSQL"
    config = (work / "livewatch.toml").read_text(encoding="utf-8")
    assert f'database_url = "{url}"' in config
    assert PASSWORD not in config
    with Database(url, migrate=False) as db, db.engine.connect() as conn:
        runs = conn.execute(select(tables.runs.c.status).where(tables.runs.c.event_id == event_id)).all()
        stored = set(conn.execute(select(tables.findings.c.id).where(tables.findings.c.event_id == event_id))
                     .scalars())
    assert [status for (status,) in runs] == ["finished"]
    assert stored == {f["id"] for f in document["findings"]}
    status = CliRunner().invoke(cli, ["--config", str(work / "livewatch.toml"), "status", "--format", "json"])
    assert status.exit_code == 0, status.output
    assert event_id in status.output
    monkeypatch.setenv("PGPASSWORD", "not-" + PASSWORD)  # the server checks it: a wrong one is turned away
    refused = CliRunner().invoke(cli, ["--config", str(work / "livewatch.toml"), "status", "--format", "json"])
    assert refused.exit_code != 0
    assert "password authentication failed" in refused.output, refused.output


@pytest.mark.slow
def test_analyze_finds_the_same_plants_in_a_recording(english_recording: HandedIn) -> None:
    returncode, out = english_recording.command.finish()
    assert returncode == 0, out
    assert "verdict fail" in out
    folder = english_recording.data / "reports" / "handed-in-forum"
    assert f"report: {folder / 'report.html'}" in out
    document = json.loads((folder / "findings.json").read_text(encoding="utf-8"))
    assert document["on_air"]["start"] == english_recording.start.isoformat()
    assert_plants_found(document, english_recording.track, english_recording.start)
    assert_report_and_exports(folder, document)


@pytest.mark.slow
def test_analyze_finds_the_mandarin_plants_on_other_voices(mandarin_recording: HandedIn) -> None:
    """The Mandarin forum on a second pair of voices, analyzed with no configuration and a registration that
    says only `language: zh`."""
    returncode, out = mandarin_recording.command.finish()
    assert returncode == 0, out
    folder = mandarin_recording.data / "reports" / "zh-forum"
    document = json.loads((folder / "findings.json").read_text(encoding="utf-8"))
    assert [t["model"] for t in document["provenance"]["transcriber"]] == ["base"]
    assert_plants_found(document, mandarin_recording.track, mandarin_recording.start, by_its_rule=False)
    assert_report_and_exports(folder, document)
