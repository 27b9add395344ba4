"""The whole path: a live origin → capture → queue → Whisper → transcript rows and files, in one monitor."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from livewatch.queue import TRANSCRIBE
from livewatch.settings import Settings
from livewatch.state import Database, DataDir, tables
from livewatch.state.work_queue import SqliteWorkQueue
from tests.capture.conftest import now, run_monitor_until_idle, write_event
from tests.support.origin import LiveOrigin, wait_for_playlist
from tests.support.webhook import WebhookReceiver
from transcribers.store import ModelStore

pytestmark = pytest.mark.slow


def test_live_event_is_transcribed_as_it_is_recorded(tmp_path: Path, model_store: ModelStore,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    schedules = tmp_path / "schedules"
    schedules.mkdir()
    data = DataDir(tmp_path / "data")
    monkeypatch.setenv("LIVEWATCH_WEBHOOK_SECRET", "live-secret")
    receiver = WebhookReceiver(b"live-secret")
    settings = Settings(data_dir=data.root, transcriber={"model_store": model_store.root,
                                                         "compute_type": "int8", "language": "en"},
                        screen={"enabled": False},  # its own tests; OCR would compete with Whisper for the CPU
                        alerts=[{"name": "hook", "type": "webhook", "url": receiver.url, "min_severity": "medium"}])
    with LiveOrigin(tmp_path / "origin", speech="Welcome to the forum. Add me on WeChat for the gift.") as live:
        live.start()
        wait_for_playlist(live.url, min_segments=2)
        t0 = now()
        write_event(schedules, "spoken", live.url, t0 + timedelta(seconds=1), t0 + timedelta(seconds=16),
                    segment_seconds=5)
        try:
            run_monitor_until_idle(settings, schedules, timeout=150)
        finally:
            receiver.stop()
    with Database(data.database) as db, db.engine.connect() as conn:
        run = conn.execute(select(tables.runs)).one()
        rows = list(conn.execute(select(tables.transcripts).order_by(tables.transcripts.c.start_at)))
        progress = conn.execute(select(tables.transcription_progress)).one()
        findings = list(conn.execute(select(tables.findings)))
        assert SqliteWorkQueue(db.engine).backlog(TRANSCRIBE) == 0
    assert run.status == "finished"
    assert progress.flushed == 1
    text = " ".join(r.text for r in rows).lower()
    # The origin loops its 4 s of speech; 15+ s of it come out as several clean repetitions.
    assert text.count("welcome to the forum") >= 3
    assert "for the gift" in text  # tiny.en writes "add me on we chat": the rules join the words
    assert all(run.on_air_at - timedelta(seconds=1) <= r.start_at <= run.off_air_at for r in rows)
    lines = (data.transcripts_dir("spoken") / "transcript.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["text"] for line in lines] == [r.text for r in rows]
    assert (data.transcripts_dir("spoken") / "transcript.srt").read_text(encoding="utf-8").startswith("1\n")
    # The monitor checked the transcript as it came: the WeChat diversion is a finding.
    diversions = [f for f in findings if f.rule == "traffic-diversion.contact-apps"]
    assert diversions
    assert all(run.on_air_at <= f.start_at <= run.off_air_at for f in diversions)
    assert {f.pack for f in findings} == {"cn-live-events@1.4.1"}
    exported = json.loads((data.report_dir("spoken") / "findings.json").read_text(encoding="utf-8"))
    assert {f["id"] for f in exported["findings"]} == {f.id for f in findings}
    assert exported["run_status"] == "finished"
    report = (data.report_dir("spoken") / "report.html").read_text(encoding="utf-8")
    assert all(f'id="finding-{f.id}"' in report for f in findings)
    assert 'href="spoken/report.html"' in (data.reports / "index.html").read_text(encoding="utf-8")
    # The first diversion was alerted, signed; the repeats within the cooldown wait for one follow-up alert
    # at the end of it. (How fast: bench/latency.py.)
    first = min(diversions, key=lambda f: f.start_at)
    alerts = [got for got in receiver.received if got.payload.get("rule") == first.rule]
    assert [got.payload["idempotency_key"] for got in alerts] == [f"finding|{first.id}"]
    assert alerts[0].signature_ok
    assert alerts[0].payload["event"]["id"] == "spoken"
