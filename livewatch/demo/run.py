"""``livewatch demo``: a whole monitored broadcast on one machine, offline, in about two minutes.

1. Kokoro (Mandarin, the default) or espeak-ng (English) says a forum script with planted violations
   (``script.py``, ``synth.py``, ``kokoro.py``);
2. a live HLS origin on 127.0.0.1 broadcasts it over the forum's stage, a picture that shows the script's screen
   plants (a QR code, a banner) for a few seconds each (``origin.py``, ``picture.py``);
3. the event is registered in the demo's own schedules folder, starting a few seconds from now;
4. the real monitor (``livewatch.monitor.Monitor``, one-shot mode) records it in segments, transcribes
   them with Whisper, checks the rule packs and writes the report, exactly as ``livewatch run`` would;
5. the findings are compared with the plants: each must be found, in its category, where it was said, and each
   screen plant on the screen while it was shown (``screen_check.py``; when the monitor reads frames).

Everything lives in one work folder: ``livewatch.toml``, ``schedules/``, ``data/`` (database, media,
transcripts, ``reports/``), ``demo.json`` (plants against findings) and ``demo.log`` (the monitor's log). With a
``database_url`` the state (runs, queue, findings, jobs) goes to that PostgreSQL database instead of
``data/livewatch.db``; the URL is written to ``livewatch.toml`` without a password (libpq reads ``$PGPASSWORD``).
The synthesized speech and the origin's HLS files are deleted at the end unless ``keep`` is set.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from rich.markup import escape

from livewatch.demo.kokoro import SpeechError, engine_id, kokoro_voice
from livewatch.demo.origin import HlsOrigin
from livewatch.demo.picture import Picture, PictureError, check_font, schedule
from livewatch.demo.progress import ProgressWatcher, clock
from livewatch.demo.screen_check import ScreenCheck, channel, check_screen, reads_the_screen, screen_lines
from livewatch.demo.script import FORUM_ZH, Script
from livewatch.demo.synth import SpokenLine, Track, synthesize
from livewatch.errors import LivewatchError
from livewatch.monitor import Monitor
from livewatch.registration import validate_registrations
from livewatch.rules.engine import SEVERITIES
from livewatch.session import data_dir
from livewatch.settings import Settings, TranscriberSettings, load_settings
from livewatch.state.engines import mask_url

#: How far a finding may lie outside the line that carries its plant.
TOLERANCE_S = 3.0
#: Capture settings for a demo: no pre-roll, quick polls, short segments, a hard stop at the registered end.
CAPTURE = {"pre_roll_minutes": 0, "poll_interval_s": 1, "poll_jitter_s": 0, "segment_seconds": 5,
           "stall_timeout_s": 10, "backoff_base_s": 0.5, "backoff_max_s": 2, "reconnect_grace_s": 5,
           "overrun_cap_minutes": 0, "stop_timeout_s": 5}

Say = Callable[[str], None]


class DemoError(LivewatchError):
    """The demo cannot run here (a tool or the model is missing) or did not finish."""


@dataclass(frozen=True)
class Installation:
    tools: dict[str, str]  # program → path
    model: str  # where the offline Whisper model comes from


def model_store_in(work: Path) -> Path:
    """The model store of a demo work folder (the default store of its data folder, see write_config)."""
    return work / "data" / "models"


def check_installation(model_store: Path | None = None, script: Script = FORUM_ZH) -> Installation:
    """ffmpeg and ffprobe on the PATH, the speech engines the script's voices need (espeak-ng, or Kokoro from
    the ``speech`` extra), and the offline Whisper model for the script's language (an installed model package,
    or already in ``model_store``). Raises :class:`DemoError` naming everything that is missing, and how to fix it."""
    from transcribers.store import ModelStore, installed_packages

    needed = ["ffmpeg", "ffprobe"]
    uses_kokoro = any(kokoro_voice(s.voice) is not None for s in script.speakers)
    if not all(kokoro_voice(s.voice) is not None for s in script.speakers):
        needed.append("espeak-ng")
    tools = {name: shutil.which(name) for name in needed}
    missing = [f"{name} is not installed" for name, where in tools.items() if where is None]
    if missing:
        missing[-1] += f" (Debian/Ubuntu: sudo apt-get install {' '.join(needed)})"
    if uses_kokoro:
        try:
            engine_id()
        except SpeechError as err:
            missing.append(str(err))
    try:
        check_font()  # the stage's title and banners are drawn in Noto Sans CJK
    except PictureError as err:
        missing.append(str(err))
    model = model_for(script)
    packaged = installed_packages().get(model)
    stored = ModelStore(model_store).get(model) if model_store is not None else None
    if packaged is None and stored is None:
        missing.append(f"the offline Whisper model {model} is not installed (pip install 'livewatch[model]'; "
                       "`make demo` does it)")
    if missing:
        raise DemoError("the demo cannot run: " + "; ".join(missing))
    where = str(stored.folder) if stored is not None else f"package {packaged[0] if packaged else '?'}"
    return Installation({name: str(path) for name, path in tools.items()}, f"{model} ({where})")


def model_for(script: Script) -> str:
    """The Whisper model the demo's configuration (the defaults) picks for the script's language."""
    return TranscriberSettings().model_for(script.language)


@dataclass(frozen=True)
class DemoOptions:
    work_dir: Path | None = None  # default: a new folder under the system's temporary folder
    keep: bool = False
    script: Script = FORUM_ZH
    lead_s: float = 3.0  # the registered start, this long after the broadcast went live
    timeout_s: float = 240.0  # beyond the speech, for capture, transcription, checks and report
    database_url: str | None = None  # default: SQLite in the work folder's data/


@dataclass(frozen=True)
class PlantCheck:
    spoken: SpokenLine
    spoken_at: datetime
    finding: dict[str, Any] | None
    delta_s: float | None  # finding start minus line start

    @property
    def found(self) -> bool:
        """A finding of the plant's category covers part of its line, or comes within the tolerance of it (a
        long Mandarin line may say its claim seconds after it begins; a claim made of several cues may begin
        with the question the line answers)."""
        return self.finding is not None and seconds_apart(self.finding, self.spoken_at, self.spoken) <= TOLERANCE_S


@dataclass(frozen=True)
class DemoResult:
    work_dir: Path
    script_name: str
    settings: Settings
    event_id: str
    broadcast_start: datetime
    track: Track
    report: Path
    index: Path
    findings_json: Path
    verdict: str
    findings: list[dict[str, Any]]
    plants: list[PlantCheck]
    unexpected: list[dict[str, Any]] = field(default_factory=list)  # above low, and not a plant's
    seconds: float = 0.0
    screen: list[ScreenCheck] = field(default_factory=list)  # the screen plants (checked when frames are read)

    @property
    def ok(self) -> bool:
        return (all(plant.found for plant in self.plants) and not self.unexpected
                and all(check.found for check in self.screen if check.checked))


def run_demo(options: DemoOptions, say: Say) -> DemoResult:
    """Synthesize, broadcast, register and monitor the script; ``say`` gets each progress line (rich markup)."""
    began = time.monotonic()
    work = options.work_dir or Path(tempfile.mkdtemp(prefix="livewatch-demo-"))
    work.mkdir(parents=True, exist_ok=True)
    settings = load_settings(write_config(work, options.database_url))
    check_installation(settings.model_store, options.script)
    say(f"[dim]{clock()}[/dim] work folder: {escape(str(work))}")
    if settings.database_url is not None:
        say(f"[dim]{clock()}[/dim] state database: {escape(mask_url(settings.database_url))}")
    speech_dir, origin_dir = work / "speech", work / "origin"
    for scratch in (speech_dir, origin_dir):
        shutil.rmtree(scratch, ignore_errors=True)
    engine = "Kokoro (Mandarin, cached per line)" if options.script.language == "zh" else "espeak-ng"
    say(f"[dim]{clock()}[/dim] synthesizing {len(options.script.lines)} lines with {engine} "
        f"({len(options.script.plants)} planted violations)")
    track = synthesize(options.script, speech_dir)
    say(f"[dim]{clock()}[/dim] speech track ready: {track.speech_end_s:.0f} s")
    prepare_model(settings, model_for(options.script), say)
    picture = stage(options.script, track)
    try:
        with HlsOrigin(origin_dir, audio=track.path, segment_seconds=2.0, list_size=0, picture=picture) as origin:
            origin.start()
            zero = origin.first_program_date_time()
            shows = f", showing {len(picture.shows)} screen plants" if picture.shows else ""
            say(f"[dim]{clock()}[/dim] origin live: {origin.url} (the forum's stage{shows}, and its speech)")
            event_id = _register(settings, options, origin.url, zero, track, say)
            _monitor(settings, event_id, zero, options.timeout_s + track.duration_s, work / "demo.log", say)
    finally:
        if not options.keep:
            for scratch in (speech_dir, origin_dir):
                shutil.rmtree(scratch, ignore_errors=True)
    result = evaluate(work, settings, options.script, event_id, zero, track, picture, time.monotonic() - began)
    (work / "demo.json").write_text(json.dumps(_manifest(result), ensure_ascii=False, indent=2) + "\n",
                                    encoding="utf-8")
    return result


def stage(script: Script, track: Track) -> Picture:
    """The picture the demo broadcasts: the forum's title over the stage, and its screen plants placed on the
    track's clock (each from the start of its line)."""
    title = script.title.partition(" (")[0]  # "(simulated, voices …)" is for the report, not the stage
    return Picture(title, schedule(script.screen, [spoken.start_s for spoken in track.lines]))


def write_config(work: Path, database_url: str | None = None) -> Path:
    """The demo's ``livewatch.toml``: written out so that ``livewatch --config <work>/livewatch.toml status``
    (or ``report``) works on the demo's data afterwards. A ``database_url`` holding a password is refused
    before anything is written: the file is no place for a secret."""
    config = work / "livewatch.toml"
    database: list[str] = []
    if database_url is not None:
        try:
            Settings(database_url=database_url)  # the settings' own check: a URL, and no password in it
        except ValueError as err:  # pydantic's ValidationError; its text masks the password
            raise DemoError(f"the demo cannot use this database: {err}") from None
        database = [f"database_url = {json.dumps(database_url)}"]  # a JSON string is a TOML basic string
    # No [transcriber] section: the event's `language` picks the model, as it does for a user's event.
    lines = ['# Written by `livewatch demo`.', 'data_dir = "data"', *database, 'schedules_dir = "schedules"',
             'timezone = "UTC"', "", "[capture]", *(f"{key} = {value}" for key, value in CAPTURE.items())]
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return config


def registration(script: Script, event_id: str, url: str, start: datetime, end: datetime) -> str:
    """The demo event's registration file: every speaker a verified participant, so that the registration
    checks raise nothing and every finding comes from what is said."""
    document = {
        "id": event_id, "title": f"livewatch demo — {script.title}", "kind": "forum", "category": "knowledge",
        "organizer": {"name": "livewatch demo"}, "timezone": "UTC",
        "start": start.isoformat(timespec="seconds"), "end": end.isoformat(timespec="seconds"),
        "language": script.language,
        "streams": [{"url": url, "label": "simulated main stage"}],
        "participants": [{"name": s.name, "role": s.role, "real_name_verified": True, "birth_year": s.birth_year}
                         for s in script.speakers],
        "topics": ["marketing"], "rule_packs": ["default"],
    }
    return "# Written by `livewatch demo`: a simulated broadcast on this machine.\n" + yaml.safe_dump(
        document, allow_unicode=True, sort_keys=False)


def prepare_model(settings: Settings, model: str, say: Say) -> None:
    """The offline Whisper ``model`` imported into the settings' model store before going live, so that the
    first segment is not kept waiting for it."""
    from transcribers.store import ModelStore

    store = ModelStore(settings.model_store)
    if store.get(model) is None:
        say(f"[dim]{clock()}[/dim] importing the offline Whisper model {model} into "
            f"{escape(str(settings.model_store))}")
    store.resolve(model, settings.transcriber.backend)


def _register(settings: Settings, options: DemoOptions, url: str, zero: datetime, track: Track, say: Say) -> str:
    now = datetime.now(UTC)
    start = (now + timedelta(seconds=options.lead_s)).replace(microsecond=0)
    # Just after the track: the capture stops when its media reaches the end (no overrun is allowed).
    end = (zero + timedelta(seconds=track.duration_s + 2)).replace(microsecond=0)
    event_id = f"demo-{options.script.name}-{now:%Y%m%d-%H%M%S}"
    settings.schedules_dir.mkdir(parents=True, exist_ok=True)
    path = settings.schedules_dir / f"{event_id}.yaml"
    path.write_text(registration(options.script, event_id, url, start, end), encoding="utf-8")
    loaded = validate_registrations([path], settings)
    if not loaded.ok or [r.event.id for r in loaded.registrations] != [event_id]:
        problems = "; ".join(issue.render() for issue in loaded.issues) or "not loaded"
        raise DemoError(f"the demo's registration {path} is invalid: {problems}")
    say(f"[dim]{clock()}[/dim] registered {event_id}: {start:%H:%M:%S} to {end:%H:%M:%S} UTC "
        f"({path.name})")
    return event_id


def _monitor(settings: Settings, event_id: str, zero: datetime, timeout: float, log_file: Path, say: Say) -> None:
    """The monitor in one-shot mode, in a thread; this thread shows its progress until it is idle."""
    logger = logging.getLogger("livewatch")
    handler = logging.FileHandler(log_file, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    monitor = Monitor(settings, [settings.schedules_dir], reload_interval=0.5, horizon=timedelta(minutes=10))
    failure: list[BaseException] = []
    try:
        monitor.start()
        say(f"[dim]{clock()}[/dim] monitor started (one-shot); its log: {escape(str(log_file))}")

        def body() -> None:
            try:
                monitor.run_until_idle()
            except BaseException as err:  # handed to the main thread, which reports it
                failure.append(err)

        thread = threading.Thread(target=body, name="demo-monitor", daemon=True)
        thread.start()
        watcher = ProgressWatcher(monitor.session, event_id, zero, say)
        deadline = time.monotonic() + timeout
        while thread.is_alive() and time.monotonic() < deadline:
            thread.join(0.5)
            watcher.poll()
        if thread.is_alive():
            monitor.request_stop()
            thread.join(30)
            raise DemoError(f"the monitor was not done within {timeout:.0f} s; see {log_file}")
        if failure:
            raise DemoError(f"the monitor failed: {failure[0]!r}; see {log_file}") from failure[0]
        watcher.finish()
    finally:
        monitor.request_stop()
        monitor.shutdown()
        logger.removeHandler(handler)
        logger.setLevel(level)
        handler.close()


def evaluate(work: Path, settings: Settings, script: Script, event_id: str, zero: datetime, track: Track,
             picture: Picture, seconds: float = 0.0) -> DemoResult:
    """The plants against the findings the monitor running on ``settings`` (in the work folder ``work``)
    exported for the event: ``livewatch run`` in the demo, or the distributed roles beside it on its broadcast."""
    data = data_dir(settings)
    exported = data.report_dir(event_id) / "findings.json"
    report, index = data.report_dir(event_id) / "report.html", data.reports / "index.html"
    if not (exported.is_file() and report.is_file() and index.is_file()):
        raise DemoError(f"the monitor finished but wrote no report for {event_id} in {data.root}")
    document = json.loads(exported.read_text(encoding="utf-8"))
    findings: list[dict[str, Any]] = document["findings"]
    plants = [match_plant(spoken, zero, findings) for spoken in track.plants]
    screen = check_screen(picture.shows, zero, findings, checked=reads_the_screen(settings))
    claimed = {id(plant.finding) for plant in plants if plant.found}
    claimed |= {id(check.finding) for check in screen if check.found}
    above_low = SEVERITIES.index("low")
    unexpected = [f for f in findings if id(f) not in claimed and SEVERITIES.index(f["severity"]) < above_low
                  and not any(_belongs(f, plant) for plant in plants)
                  and not any(check.explains(f) for check in screen)]
    return DemoResult(work, script.name, settings, event_id, zero, track, report, index, exported,
                      document["verdict"], findings, plants, unexpected, seconds, screen)


def seconds_apart(finding: dict[str, Any], spoken_at: datetime, spoken: SpokenLine) -> float:
    """Seconds between a finding's span and the span its line was said in (0 when they overlap)."""
    line_end = spoken_at + timedelta(seconds=spoken.end_s - spoken.start_s)
    start, end = datetime.fromisoformat(finding["start"]), datetime.fromisoformat(finding["end"])
    return max((spoken_at - end).total_seconds(), (start - line_end).total_seconds(), 0.0)


def match_plant(spoken: SpokenLine, zero: datetime, findings: list[dict[str, Any]]) -> PlantCheck:
    """The finding of the plant's category nearest to where its line was said (``zero``: when media time 0
    of the broadcast went out, on the broadcast's own clock); what the screen showed is no finding of a line."""
    assert spoken.line.plant is not None
    at = zero + timedelta(seconds=spoken.start_s)
    candidates = [f for f in findings if f["category"] == spoken.line.plant.category and channel(f) != "screen"]
    if not candidates:
        return PlantCheck(spoken, at, None, None)

    def start_s(finding: dict[str, Any]) -> float:
        return (datetime.fromisoformat(finding["start"]) - at).total_seconds()

    best = min(candidates, key=lambda f: (seconds_apart(f, at, spoken), abs(start_s(f))))
    return PlantCheck(spoken, at, best, start_s(best))


def _belongs(finding: dict[str, Any], plant: PlantCheck) -> bool:
    # A plant's words may fire its rule twice (a cooldown shorter than the line): that is no surprise.
    category = plant.spoken.line.plant.category if plant.spoken.line.plant else None
    return finding["category"] == category and seconds_apart(finding, plant.spoken_at, plant.spoken) <= TOLERANCE_S


def _manifest(result: DemoResult) -> dict[str, Any]:
    zero = result.broadcast_start
    return {
        "event_id": result.event_id, "script": result.script_name,
        "broadcast_start": zero.isoformat(), "verdict": result.verdict, "ok": result.ok,
        "report": str(result.report), "index": str(result.index), "findings_json": str(result.findings_json),
        "seconds": round(result.seconds, 1),
        "lines": [{"speaker": s.line.speaker.name, "text": s.line.text, "start_s": round(s.start_s, 3),
                   "end_s": round(s.end_s, 3),
                   "spoken_at": (zero + timedelta(seconds=s.start_s)).isoformat(),
                   "plant": None if s.line.plant is None else {"category": s.line.plant.category,
                                                               "rule": s.line.plant.rule}}
                  for s in result.track.lines],
        "plants": [{"text": p.spoken.line.text, "category": p.spoken.line.plant.category if p.spoken.line.plant
                    else None, "spoken_at": p.spoken_at.isoformat(), "found": p.found,
                    "finding": p.finding["id"] if p.finding else None, "delta_s": p.delta_s} for p in result.plants],
        "screen": [{"kind": c.placed.shown.kind, "content": c.placed.shown.content, "category": c.plant.category,
                    "rule": c.plant.rule, "shown_at": c.shown_at.isoformat(), "shown_until": c.shown_until.isoformat(),
                    "checked": c.checked, "found": c.found if c.checked else None,
                    "finding": c.finding["id"] if c.finding else None, "delta_s": c.delta_s} for c in result.screen],
        "unexpected": [f["id"] for f in result.unexpected],
    }


def summarize(result: DemoResult, say: Say) -> None:
    """Plants against findings, the verdict, and where the report is."""
    say("")
    say(f"[bold]{sum(p.found for p in result.plants)} of {len(result.plants)} planted violations found[/bold] "
        f"(within ±{TOLERANCE_S:g} s of where they were said):")
    for plant in result.plants:
        line = plant.spoken.line
        category = line.plant.category if line.plant else "?"
        if plant.found and plant.finding is not None:
            mark = (f"[green]found[/green] {plant.finding['rule']} ({plant.finding['severity']}) "
                    f"{plant.delta_s:+.1f} s, heard as “{escape(plant.finding['matched'])}”")
        elif plant.finding is not None:
            mark = f"[red]MISSED[/red] nearest {category} finding is {plant.delta_s:+.1f} s away"
        else:
            mark = "[red]MISSED[/red] no finding in this category"
        say(f"  {category:18} “{escape(line.text)}” → {mark}")
    for text in screen_lines(result.screen):
        say(text)
    clean = (f"[red]{len(result.unexpected)} finding(s) above low[/red]" if result.unexpected
             else "nothing above low")
    say(f"clean talk: {clean}; {len(result.findings)} finding(s) in all; verdict [bold]{result.verdict}[/bold]; "
        f"{result.seconds:.0f} s")
