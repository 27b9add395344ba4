"""Hostile registration files (issue 15, item 4): whatever one file holds, `validate`, `schedule` and `run` give a
precise error for that file (file, line, field, event when known), never a traceback, and a running monitor
keeps arming every valid event while the bad file is there."""

from __future__ import annotations

import json
import logging
import random
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from livewatch.cli import cli
from livewatch.monitor import Monitor
from livewatch.monitor.jobs import armed_jobs
from livewatch.settings import Settings
from livewatch.state import DataDir

REPO = Path(__file__).resolve().parents[2]
#: Far enough ahead that no mutant of it falls due during a test, and no capture ever starts.
START = datetime(2031, 6, 2, 9, 0, tzinfo=UTC)

GOOD = """\
id: {id}
title: Control event {id}
kind: forum
category: knowledge
organizer: {{name: QA}}
timezone: Asia/Shanghai
start: {start}
end: {end}
streams: [{{url: "http://127.0.0.1:9/{id}.m3u8"}}]
"""


def good_event(event_id: str, start: datetime = START) -> str:
    return GOOD.format(id=event_id, start=start.isoformat(), end=(start + timedelta(hours=1)).isoformat())


BASE = good_event("victim")
TOML_BASE = """\
id = "victim"
title = "Control event"
kind = "forum"
category = "knowledge"
timezone = "Asia/Shanghai"
start = 2031-06-02T09:00:00
end = 2031-06-02T10:00:00

[organizer]
name = "QA"

[[streams]]
url = "http://127.0.0.1:9/victim.m3u8"
"""

#: name → (file text or bytes, the line, the field and the event id the error must name)
HOSTILE: dict[str, tuple[str | bytes, int, str, str | None]] = {
    "escape.yaml": (BASE.replace("title: Control", "title: Con\x1b[31mtrol"), 2, "title", "victim"),
    "form-feed.yaml": (BASE.replace("kind: forum", "kind: for\x0cum"), 3, "kind", "victim"),
    "nul.yaml": (BASE.replace("category: knowledge", "category: know\x00ledge"), 4, "category", "victim"),
    "del-c1.yaml": (BASE.replace("organizer: {name: QA}", "organizer: {name: Q\x7f\x9bA}"), 5,
                    "organizer.name", "victim"),
    "complex-key.yaml": (BASE + "? [a, b]\n: 1\n", 10, "(top level)", "victim"),
    "complex-key-nested.yaml": (BASE + "tolerances:\n  ? {a: 1}\n  : 2\n", 11, "tolerances", "victim"),
    "long-int.yaml": (BASE + "tolerances: {overrun: " + "9" * 5000 + "}\n", 10, "tolerances.overrun", "victim"),
    "long-int-list.yaml": (f"- {BASE.rstrip().replace(chr(10), chr(10) + '  ')}\n  notes: {'1' * 4400}\n", 10,
                           "[0].notes", "victim"),
    "year-1.yaml": (BASE.replace("2031-06-02T09:00", "0001-01-01T00:00"), 7, "start", "victim"),
    "year-9999.yaml": (BASE.replace("2031-06-02T10:00", "9999-12-31T23:59"), 8, "end", "victim"),
    "year-9999-utc.yaml": (BASE.replace("2031-06-02T09:00:00+00:00", "9999-12-31T23:00:00Z")
                           .replace("2031-06-02T10:00:00+00:00", "9999-12-31T23:59:00Z"), 7, "start", "victim"),
    "not-utf8.yaml": (BASE.encode() + b"notes: \xff\xfe caf\xe9\n", 10, "(top level)", None),
    "deep.yaml": ("notes: " + "[" * 600 + "]" * 600 + "\n", 1, "(top level)", None),
    "deep-map.yaml": ("notes: " + "{a: " * 600 + "1" + "}" * 600 + "\n", 1, "(top level)", None),
    "huge.yaml": (BASE + "notes: " + "x" * 1_100_000 + "\n", 1, "(top level)", None),
    "laughs.yaml": ("a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8))
        + "topics: *i\n", 1, "a", None),
    "toml-long-int.toml": (TOML_BASE.replace('kind = "forum"', "kind = " + "7" * 5000), 3, "kind", None),
    "toml-year-1.toml": (TOML_BASE.replace("2031-06-02T09:00:00", "0001-01-01T00:00:00"), 6, "start", "victim"),
    "toml-year-9999.toml": (TOML_BASE.replace("2031-06-02T10:00:00", "9999-12-31T23:59:00+23:59"), 7, "end",
                            "victim"),
    "toml-escape.toml": (TOML_BASE.replace('"Control event"', '"Control\x1b event"'), 2, "title", None),
    "toml-deep.toml": ("notes = " + "[" * 600 + "]" * 600 + "\n", 1, "notes", None),
    "toml-not-utf8.toml": (TOML_BASE.encode().replace(b"QA", b"Q\xc0A"), 10, "organizer.name", None),
}


def write(folder: Path, name: str, content: str | bytes) -> Path:
    path = folder / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def no_traceback(result: Result) -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "livewatch.toml"
    path.write_text("[transcriber]\nenabled = false\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_validate_names_file_line_field_and_event(tmp_path: Path, name: str) -> None:
    content, line, field, event_id = HOSTILE[name]
    path = write(tmp_path, name, content)
    result = CliRunner().invoke(cli, ["validate", "--format", "json", str(path)])
    no_traceback(result)
    assert result.exit_code == 1, result.output
    issues = [i for i in json.loads(result.output)["issues"] if i["severity"] == "error"]
    assert issues, result.output
    first = issues[0]
    assert (first["file"], first["line"], first["field"], first["event"]) == (str(path), line, field, event_id), \
        first
    assert "\x1b" not in result.output  # the message shows U+001B, not the character itself


def test_one_bad_file_costs_only_itself_in_validate_schedule_and_run(tmp_path: Path, config: Path) -> None:
    schedules = tmp_path / "schedules"
    schedules.mkdir()
    for name, (content, *_) in HOSTILE.items():
        write(schedules, name, content)
    write(schedules, "good.yaml", good_event("good"))
    runner = CliRunner()

    validated = runner.invoke(cli, ["--config", str(config), "validate", "--format", "json", str(schedules)])
    no_traceback(validated)
    report = json.loads(validated.output)
    assert report["events"] == ["good"]
    failed = {Path(issue["file"]).name for issue in report["issues"] if issue["severity"] == "error"}
    assert failed == set(HOSTILE)

    listed = runner.invoke(cli, ["--config", str(config), "schedule", "--format", "json", "--schedules",
                                 str(schedules)])
    no_traceback(listed)
    assert listed.exit_code == 1  # the bad files are invalid registrations
    listing = json.loads(listed.stdout)
    assert [row["id"] for row in listing["events"]] == ["good"]
    assert {Path(issue["file"]).name for issue in listing["issues"] if issue["severity"] == "error"} == set(HOSTILE)

    data = DataDir(tmp_path / "data")
    ran = runner.invoke(cli, ["--config", str(config), "--data", str(data.root), "run", "--schedules",
                              str(schedules), "--until-idle", "--reload-interval", "0.2"])
    no_traceback(ran)
    assert ran.exit_code == 0, ran.output
    for name in HOSTILE:
        assert name in ran.output


@pytest.fixture
def monitor(tmp_path: Path) -> Iterator[Monitor]:
    schedules = tmp_path / "schedules"
    schedules.mkdir()
    settings = Settings(data_dir=tmp_path / "data", transcriber={"enabled": False})
    monitor = Monitor(settings, [schedules], reload_interval=0.2)
    write(schedules, "good.yaml", good_event("good"))
    monitor.start()
    try:
        yield monitor
    finally:
        monitor.shutdown()


def reload(monitor: Monitor) -> None:
    time.sleep(0.02)  # a new mtime even on coarse file systems
    monitor.reload_if_changed()


def test_running_monitor_arms_new_events_while_bad_files_exist(
    monitor: Monitor, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="livewatch")
    schedules = monitor.schedules[0]
    for name, (content, *_) in HOSTILE.items():
        write(schedules, name, content)
    write(schedules, "added.yaml", good_event("added", START + timedelta(days=1)))
    reload(monitor)
    assert set(armed_jobs(monitor.data)) == {"good", "added"}
    assert not [r for r in caplog.records if r.exc_info], "a reload raised"
    logged = " ".join(r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)
    for name in HOSTILE:
        assert name in logged


# -- fuzzing: seeded mutants of valid registration files -------------------------------------------------------

#: Values a type swap puts in place of a field: wrong types, extremes, hostile text.
SWAPS: list[Any] = [
    None, True, 0, -1, 10**40, 1e308, float("inf"), float("nan"), "", "x" * 400, "\x1b[2J", "\u202e", [], {},
    [[[[1]]]], {"a": {"b": None}}, "9999-12-31T23:59", "0001-01-01T00:00", "2031-03-09T02:30", "2031-11-02T01:30",
    "https://a.example/\u200b", "file:///etc/passwd", {"url": 1}, ["x"] * 50,
]
#: Raw snippets spliced into the text.
SNIPPETS = [
    "\x1b", "\x0c", "\x00", "\x7f", "\ufeff", "\u202e", "? [a, b]\n: 1\n", "9" * 4400, "&a [*a]", "*nowhere",
    "!!python/object:os.system", "{", "]", "\t", "<<: *x", "%YAML 9.9\n", "---\n", "\"\\", "'''",
]


def _mutate_tree(data: Any, rng: random.Random) -> Any:
    """A copy of ``data`` with one subtree swapped for another type, or one field deleted."""
    if isinstance(data, dict) and data:
        key = rng.choice(sorted(data, key=str))
        copy = dict(data)
        if rng.random() < 0.3:
            del copy[key]
        elif rng.random() < 0.5:
            copy[key] = rng.choice(SWAPS)
        else:
            copy[key] = _mutate_tree(copy[key], rng)
        return copy
    if isinstance(data, list) and data:
        index = rng.randrange(len(data))
        copy_list = list(data)
        copy_list[index] = _mutate_tree(copy_list[index], rng) if rng.random() < 0.6 else rng.choice(SWAPS)
        return copy_list
    return rng.choice(SWAPS)


#: Bytes a random overwrite favours: controls, invalid UTF-8 and YAML/TOML syntax.
HOSTILE_BYTES = b"\x00\x07\x0c\x1b\x7f\x80\xc0\xff[]{}:?&*!'\"\n\t-#=,|>%@`"


def mutate(seed: bytes, is_yaml: bool, rng: random.Random) -> bytes:
    """A hostile variant of a valid file: one to three of random bytes, truncation, spliced snippets, line
    deletions or duplications, type swaps and field deletions."""
    raw = seed
    for _ in range(rng.randint(1, 3)):
        raw = _mutate_once(raw, is_yaml, rng)
    return raw


def _mutate_once(seed: bytes, is_yaml: bool, rng: random.Random) -> bytes:
    operation = rng.choice(["bytes", "truncate", "splice", "tree", "tree", "lines"])
    raw = bytearray(seed)
    if not raw:
        return b"\x1b" if rng.random() < 0.5 else b""
    if operation == "bytes":
        for _ in range(rng.randint(1, 8)):
            raw[rng.randrange(len(raw))] = rng.choice(HOSTILE_BYTES) if rng.random() < 0.6 else rng.randrange(256)
    elif operation == "truncate":
        del raw[rng.randrange(len(raw)):]
    elif operation == "splice":
        at = rng.randrange(len(raw))
        raw[at:at] = rng.choice(SNIPPETS).encode("utf-8", "surrogatepass")
    elif operation == "lines":
        lines = bytes(raw).splitlines(keepends=True)
        for _ in range(rng.randint(1, 3)):
            if len(lines) > 1:
                index = rng.randrange(len(lines))
                lines[index:index + 1] = [] if rng.random() < 0.7 else [lines[index]] * 2
        raw = bytearray(b"".join(lines))
    elif is_yaml:
        try:
            tree = yaml.safe_load(seed.decode("utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError, ValueError, TypeError):  # already broken by an earlier step
            return bytes(raw) + rng.choice(SNIPPETS).encode()
        for _ in range(rng.randint(1, 3)):
            tree = _mutate_tree(tree, rng)
        raw = bytearray(yaml.safe_dump(tree, allow_unicode=True).encode())
    else:  # no TOML writer: a TOML file gets the same mutations as text
        at = rng.randrange(len(raw))
        raw[at:at] = f"x = {rng.choice(['9' * 4400, '0001-01-01T00:00:00', '[[[', '{a=1', 'nan'])}\n".encode()
    return bytes(raw)


def seeds() -> list[tuple[str, bytes]]:
    """The valid example registrations, moved to 2031 and to a closed local port (no capture can start)."""
    found = []
    for path in sorted((REPO / "schedules").iterdir()):
        text = path.read_text(encoding="utf-8").replace("2026-12-", "2031-06-")
        text = re.sub(r"(url\s*[:=]\s*\"?)[a-z]+://[^\s\"]+", r"\1http://127.0.0.1:9/a", text)
        found.append((path.suffix, text.encode("utf-8")))
    return found


def test_seeds_are_valid(tmp_path: Path) -> None:
    for index, (suffix, raw) in enumerate(seeds()):
        write(tmp_path, f"seed{index}{suffix}", raw)
    result = CliRunner().invoke(cli, ["validate", "--format", "json", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.output)["events"]) >= 3


def mutants(rng: random.Random, count: int) -> list[tuple[str, bytes]]:
    pool = seeds()
    made = []
    for index in range(count):
        suffix, raw = rng.choice(pool)
        made.append((f"mutant{index:03d}{suffix}", mutate(raw, suffix != ".toml", rng)))
    return made


def test_fuzzed_files_through_validate(tmp_path: Path) -> None:
    rng = random.Random(15)
    for name, raw in mutants(rng, 120):
        write(tmp_path, name, raw)
    write(tmp_path, "zz-control.yaml", good_event("zz-control"))
    result = CliRunner().invoke(cli, ["validate", "--format", "json", str(tmp_path)])
    no_traceback(result)
    report = json.loads(result.output)
    assert "zz-control" in report["events"]
    for issue in report["issues"]:
        assert issue["file"]
        assert issue["line"] >= 1
        assert issue["message"]
        assert "Traceback" not in issue["message"]


def test_fuzzed_files_through_a_running_monitors_reload(
    monitor: Monitor, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="livewatch")
    rng = random.Random(4)
    schedules = monitor.schedules[0]
    for round_number in range(4):
        for old in schedules.glob("mutant*"):
            old.unlink()
        for name, raw in mutants(rng, 25):
            write(schedules, name, raw)
        fresh = f"fresh-{round_number}"
        write(schedules, f"{fresh}.yaml", good_event(fresh, START + timedelta(days=round_number + 1)))
        reload(monitor)
        armed = set(armed_jobs(monitor.data))
        assert {"good", fresh} <= armed, round_number
        assert not [r for r in caplog.records if r.exc_info], "a reload raised"
        assert not monitor.captures, "a mutant started a capture"


@pytest.mark.parametrize("content", ['people:\n  - name: "a\x1bb"\n', "people:\n  ? [a, b]\n  : 1\n",
                                     "people:\n  - name: " + "9" * 5000 + "\n"], ids=["escape", "key", "number"])
def test_a_hostile_blacklist_is_a_configuration_error_not_a_traceback(tmp_path: Path, content: str) -> None:
    blacklist = tmp_path / "blacklist.yaml"
    blacklist.write_text(content, encoding="utf-8")
    config = tmp_path / "livewatch.toml"
    config.write_text(f'blacklist = "{blacklist}"\n', encoding="utf-8")
    write(tmp_path, "good.yaml", good_event("good"))
    result = CliRunner().invoke(cli, ["--config", str(config), "validate", str(tmp_path / "good.yaml")])
    no_traceback(result)
    assert result.exit_code == 2
    assert f"{blacklist}:2" in result.output
