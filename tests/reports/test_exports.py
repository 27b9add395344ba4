"""findings.json is a documented contract; findings.csv is safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from pathlib import Path

from livewatch.checking import check_event
from livewatch.reports.findings_files import write_exports
from livewatch.state import DataDir
from tests.rules.test_event_check import T0, add_run, registered, session_for


def test_findings_json_contract_and_csv(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "data")
    with registered(data, timezone="Asia/Shanghai") as db:
        add_run(db, T0, [(0, "=1+1 这个理财保本保息", ""), (30, "大家好", "")])
        session = session_for(data, db)
        check = check_event(session, "forum")
        written = write_exports(session, check)
    folder = data.report_dir("forum")
    assert {p.name for p in written} == {"findings.json", "findings.csv"}
    document = json.loads((folder / "findings.json").read_text(encoding="utf-8"))
    assert set(document) >= {"event", "verdict", "on_air", "gaps", "findings", "provenance"}
    assert set(document["event"]) == {"id", "title", "kind", "timezone", "registered_start", "registered_end"}
    assert document["event"]["timezone"] == "Asia/Shanghai"
    assert document["event"]["registered_start"].endswith("+08:00")
    assert document["verdict"] == "fail"
    assert document["on_air"]["start"].endswith("+08:00")
    [promise] = [f for f in document["findings"] if f["category"] == "finance-promise"]
    assert set(promise) >= {"id", "rule", "pack", "category", "severity", "status", "start", "end", "offset_s",
                            "evidence", "matched"}
    assert promise["status"] == "open"
    assert datetime.fromisoformat(promise["start"]).utcoffset() is not None
    low, high = promise["highlight"]
    assert promise["evidence"][low:high] == "保本保息"
    assert document["provenance"]["packs"] == [{"pack": "cn-live-events@1.4.1", "sha256": check.packs[0].sha256}]
    assert document["provenance"]["transcriber"] == [{"backend": "faster-whisper", "model": "base", "sha256": None}]
    # A UTF-8 byte order mark first, so that a spreadsheet program reads the Chinese evidence as UTF-8.
    assert (folder / "findings.csv").read_bytes().startswith(b"\xef\xbb\xbfid,")
    rows = list(csv.DictReader(io.StringIO((folder / "findings.csv").read_text(encoding="utf-8-sig"))))
    assert [r["id"] for r in rows] == [f["id"] for f in document["findings"]]
    [csv_promise] = [r for r in rows if r["id"] == promise["id"]]
    assert csv_promise["evidence"].startswith("'=1+1")  # never a spreadsheet formula
