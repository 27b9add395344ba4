"""Prometheus metrics: read from the state database at scrape time, served over HTTP, wired into `livewatch run`."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, create_engine

from livewatch import __version__
from livewatch.cli import cli, monitor_commands
from livewatch.errors import StateError
from livewatch.metrics import EVENT_STATES, MetricsServer, metrics_registry
from livewatch.monitor import Monitor
from livewatch.state import Database, DataDir, tables
from livewatch.state.database import write

NOW = datetime(2026, 12, 18, 7, 0, tzinfo=UTC)
T0 = NOW - timedelta(minutes=10)

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _samples(exposition: str) -> Samples:
    """Every sample of an exposition, by name and labels: parsed, never matched as text."""
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(exposition) for sample in family.samples}


def _value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def _series(samples: Samples, name: str) -> dict[frozenset[tuple[str, str]], float]:
    return {labels: value for (sample, labels), value in samples.items() if sample == name}


def _fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        return str(response.read().decode("utf-8"))


# -- a populated database ------------------------------------------------------------------------------------


def _event(event_id: str, end: datetime, removed: bool = False) -> dict[str, Any]:
    return {"id": event_id, "title": f"Event {event_id}", "kind": "forum", "timezone": "UTC",
            "registered_start": end - timedelta(hours=2), "registered_end": end, "source_file": f"{event_id}.yaml",
            "source_sha256": "0" * 64, "registration_json": "{}", "updated_at": T0,
            "removed_at": T0 if removed else None}


def _run(run_id: int, event_id: str, status: str) -> dict[str, Any]:
    return {"id": run_id, "event_id": event_id, "status": status, "registered_start": T0,
            "registered_end": T0 + timedelta(hours=2), "started_at": T0, "updated_at": T0}


def _segment(run_id: int, kind: str, seq: int, size: int, status: str = "ok") -> dict[str, Any]:
    start = T0 + timedelta(seconds=10 * seq)
    return {"run_id": run_id, "stream": 0, "kind": kind, "seq": seq, "path": f"s0-{seq}.{kind}",
            "start_at": start, "end_at": start + timedelta(seconds=10), "bytes": size, "status": status}


def _item(run_id: int, seq: int, status: str, age_s: float, queue: str = "transcribe") -> dict[str, Any]:
    return {"queue": queue, "item_key": f"{run_id}:0:{seq}", "status": status, "attempts": 0,
            "payload_json": json.dumps({"event_id": "x", "run_id": run_id, "stream": 0, "seq": seq}),
            "enqueued_at": NOW - timedelta(seconds=age_s)}


def _finding(finding_id: str, severity: str, status: str) -> dict[str, Any]:
    return {"id": finding_id, "event_id": "done", "run_id": 4, "rule": "r", "pack": "cn-live-events@1.0.0",
            "category": "finance-promise", "severity": severity, "status": status, "start_at": T0, "end_at": T0,
            "evidence": "保本保息", "matched": "保本保息", "details_json": "{}", "created_at": T0}


def _alert(key: str, target: str, status: str, attempts: int) -> dict[str, Any]:
    return {"key": key, "target": target, "event_id": "done", "group_key": key, "kind": "finding",
            "severity": "critical", "category": "finance-promise", "payload_json": "{}", "count": 1,
            "status": status, "attempts": attempts, "window_start": T0, "created_at": T0, "due_at": T0}


def _populate(engine: Engine) -> None:
    later, earlier = NOW + timedelta(hours=1), NOW - timedelta(hours=1)
    with write(engine) as conn:
        conn.execute(tables.events.insert(), [
            _event("lagging", later), _event("live", later), _event("done", earlier), _event("future", later),
            _event("missed", earlier), _event("gone", later, removed=True),
        ])
        conn.execute(tables.runs.insert(), [
            _run(1, "lagging", "recording"), _run(2, "live", "recording"), _run(3, "done", "failed"),
            _run(4, "done", "finished"), _run(5, "gone", "failed"),
        ])
        conn.execute(tables.segments.insert(), [
            *(_segment(1, "audio", seq, 320_044) for seq in range(5)),
            *(_segment(1, "media", seq, 1_000) for seq in range(5)),
            _segment(1, "media", 5, 10, status="corrupt"),
            *(_segment(2, "audio", seq, 320_044) for seq in range(2)),
            _segment(4, "audio", 0, 320_044, status="partial"),
        ])
        conn.execute(tables.transcription_progress.insert(), [
            {"run_id": 1, "stream": 0, "last_seq": 0, "committed_until": T0 + timedelta(seconds=12), "flushed": 0},
            {"run_id": 4, "stream": 0, "last_seq": 0, "committed_until": T0 + timedelta(seconds=10), "flushed": 1},
        ])
        conn.execute(tables.work_queue.insert(), [
            _item(1, 2, "claimed", 90), _item(1, 3, "pending", 60), _item(1, 4, "pending", 30),
            _item(2, 0, "pending", 10), _item(4, 0, "done", 900), _item(3, 0, "failed", 1000),
            _item(9, 0, "pending", 5, queue="other"),
        ])
        conn.execute(tables.findings.insert(), [
            _finding("a", "critical", "open"), _finding("b", "critical", "open"), _finding("c", "high", "dismissed"),
            _finding("d", "medium", "confirmed"),
        ])
        conn.execute(tables.alert_outbox.insert(), [
            _alert("k1", "duty desk", "sent", 1), _alert("k2", "duty desk", "sent", 2),
            _alert("k3", "duty desk", "failed", 5), _alert("k1", "compliance lead", "pending", 0),
        ])


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    db = Database.open(DataDir(tmp_path / "data"))
    try:
        yield db
    finally:
        db.close()


@pytest.fixture
def served(database: Database) -> Iterator[Samples]:
    """The metrics of the populated database, scraped over HTTP from a server on a free port."""
    _populate(database.engine)
    registry = metrics_registry(database.engine, alert_targets=["duty desk", "spare"], clock=lambda: NOW)
    with MetricsServer(registry, port=0) as server:
        assert server.port > 0
        assert server.url == f"http://127.0.0.1:{server.port}/metrics"
        yield _samples(_fetch(server.url))


# -- the collector -------------------------------------------------------------------------------------------


def test_events_by_state_follow_the_latest_run_and_leave_removed_events_out(served: Samples) -> None:
    states = {dict(labels)["state"]: value for labels, value in _series(served, "livewatch_events").items()}
    expected = dict.fromkeys(EVENT_STATES, 0.0)
    expected.update({"lagging": 1, "recording": 1, "finished": 1, "scheduled": 1, "not recorded": 1})
    assert states == expected


def test_segments_and_bytes_by_kind(served: Samples) -> None:
    assert _series(served, "livewatch_segments_total") == {
        frozenset({("kind", "audio"), ("status", "ok")}): 7,
        frozenset({("kind", "audio"), ("status", "partial")}): 1,
        frozenset({("kind", "media"), ("status", "ok")}): 5,
        frozenset({("kind", "media"), ("status", "corrupt")}): 1,
    }
    assert _value(served, "livewatch_captured_bytes_total", kind="audio") == 8 * 320_044
    assert _value(served, "livewatch_captured_bytes_total", kind="media") == 5 * 1_000 + 10


def test_transcription_lag_per_event_and_queue_depth(served: Samples) -> None:
    # lagging: audio recorded up to T0+50 s, committed up to T0+12 s. live: nothing committed, 20 s recorded.
    # done: flushed and nothing queued, so it is not being transcribed.
    assert _series(served, "livewatch_transcription_lag_seconds") == {
        frozenset({("event", "lagging")}): 38.0, frozenset({("event", "live")}): 20.0,
    }
    assert _series(served, "livewatch_queue_items") == {
        frozenset({("queue", "transcribe"), ("status", "pending")}): 3,
        frozenset({("queue", "transcribe"), ("status", "claimed")}): 1,
        frozenset({("queue", "transcribe"), ("status", "done")}): 1,
        frozenset({("queue", "transcribe"), ("status", "failed")}): 1,
        frozenset({("queue", "other"), ("status", "pending")}): 1,
    }
    assert _value(served, "livewatch_queue_oldest_seconds", queue="transcribe") == 90.0
    assert _value(served, "livewatch_queue_oldest_seconds", queue="other") == 5.0


def test_findings_by_severity_and_status(served: Samples) -> None:
    findings = _series(served, "livewatch_findings")
    assert findings[frozenset({("severity", "critical"), ("status", "open")})] == 2
    assert findings[frozenset({("severity", "high"), ("status", "dismissed")})] == 1
    assert findings[frozenset({("severity", "medium"), ("status", "confirmed")})] == 1
    assert findings[frozenset({("severity", "info"), ("status", "escalated")})] == 0  # zero-filled
    assert sum(findings.values()) == 4
    assert len(findings) == 5 * 4  # every severity by every status


def test_alerts_by_target_and_status_and_attempts(served: Samples) -> None:
    alerts = {(dict(k)["target"], dict(k)["status"]): v for k, v in _series(served, "livewatch_alerts").items()}
    assert alerts == {
        ("duty desk", "sent"): 2, ("duty desk", "failed"): 1, ("duty desk", "pending"): 0, ("duty desk", "sending"): 0,
        ("compliance lead", "pending"): 1, ("compliance lead", "sent"): 0, ("compliance lead", "failed"): 0,
        ("compliance lead", "sending"): 0,
        ("spare", "pending"): 0, ("spare", "sending"): 0, ("spare", "sent"): 0, ("spare", "failed"): 0,
    }
    assert _series(served, "livewatch_alert_attempts_total") == {
        frozenset({("target", "duty desk")}): 8, frozenset({("target", "compliance lead")}): 0,
        frozenset({("target", "spare")}): 0,
    }


def test_up_build_info_and_schema_version(served: Samples, database: Database) -> None:
    assert _value(served, "livewatch_up") == 1
    [(labels, value)] = _series(served, "livewatch_build_info").items()
    assert value == 1
    assert dict(labels)["version"] == __version__
    assert _value(served, "livewatch_database_schema_version") == database.schema_version()
    assert 0 <= _value(served, "livewatch_scrape_duration_seconds") < 10
    assert _value(served, "process_resident_memory_bytes") > 0  # the process collector is registered


def test_an_empty_database_exports_zeros(database: Database) -> None:
    samples = _samples(generate_latest(metrics_registry(database.engine)).decode("utf-8"))
    assert _value(samples, "livewatch_up") == 1
    assert set(_series(samples, "livewatch_events").values()) == {0}
    assert _series(samples, "livewatch_transcription_lag_seconds") == {}
    assert _value(samples, "livewatch_queue_oldest_seconds", queue="transcribe") == 0


def test_an_unreadable_database_reports_down_instead_of_failing_the_scrape(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'missing' / 'livewatch.db'}")
    samples = _samples(generate_latest(metrics_registry(engine)).decode("utf-8"))
    assert _value(samples, "livewatch_up") == 0
    assert _series(samples, "livewatch_events") == {}
    assert "cannot read the state database" in caplog.text


# -- the server ----------------------------------------------------------------------------------------------


def test_server_stops_cleanly_and_refuses_a_port_in_use(database: Database) -> None:
    registry = metrics_registry(database.engine)
    server = MetricsServer(registry).start()
    url = server.url
    try:
        with pytest.raises(StateError, match=f"cannot serve metrics on 127.0.0.1:{server.port}"):
            MetricsServer(registry, port=server.port).start()
    finally:
        server.stop()
    server.stop()  # twice is harmless
    with pytest.raises(urllib.error.URLError):
        _fetch(url)


# -- `livewatch run --metrics-port` ---------------------------------------------------------------------------


def test_run_serves_metrics_while_the_monitor_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[MetricsServer] = []
    scraped: list[str] = []

    class RecordingServer(MetricsServer):
        def start(self) -> MetricsServer:
            started.append(self)
            return super().start()

    original = Monitor.run_until_idle

    def scrape_then_run(monitor: Monitor) -> None:
        scraped.append(_fetch(started[0].url))
        original(monitor)

    monkeypatch.setattr(monitor_commands, "MetricsServer", RecordingServer)
    monkeypatch.setattr(Monitor, "run_until_idle", scrape_then_run)
    (tmp_path / "schedules").mkdir()
    config = tmp_path / "livewatch.toml"
    config.write_text('[transcriber]\nenabled = false\n\n[[alerts]]\nname = "desk"\ntype = "log"\n',
                      encoding="utf-8")
    result = CliRunner().invoke(cli, [
        "--config", str(config), "--data", str(tmp_path / "data"), "run", "--schedules", str(tmp_path / "schedules"),
        "--until-idle", "--reload-interval", "0.2", "--metrics-port", "0", "--log-format", "json",
    ])
    assert result.exit_code == 0, result.output
    [server] = started
    samples = _samples(scraped[0])
    assert _value(samples, "livewatch_up") == 1
    assert _value(samples, "livewatch_alerts", target="desk", status="failed") == 0
    logged = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert {"level": "INFO", "logger": "livewatch", "metrics_url": server.url}.items() <= next(
        entry for entry in logged if "metrics_url" in entry).items()
    with pytest.raises(urllib.error.URLError):
        _fetch(server.url)  # stopped with the monitor


def test_run_without_metrics_port_serves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[object] = []
    monkeypatch.setattr(monitor_commands, "MetricsServer", lambda *args: started.append(args))
    (tmp_path / "schedules").mkdir()
    config = tmp_path / "livewatch.toml"
    config.write_text("[transcriber]\nenabled = false\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["--config", str(config), "--data", str(tmp_path / "data"), "run",
                                      "--schedules", str(tmp_path / "schedules"), "--until-idle"])
    assert result.exit_code == 0, result.output
    assert started == []


def test_operations_guide_documents_every_metric(served: Samples, repo: Path) -> None:
    guide = (repo / "docs" / "operations.md").read_text(encoding="utf-8")
    table = guide.split("\n## Metrics", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `(livewatch_[a-z_]+)` \|", table, flags=re.MULTILINE))
    exported = {name for name, _labels in served if name.startswith("livewatch_")}
    assert exported == documented
