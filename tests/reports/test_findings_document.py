"""The typed findings document turns into exactly the findings.json text of before it was typed: a golden
file made by the dict-building code (docs/findings-json.md is a stable contract), compared byte for byte;
the index reads a verdict back only from a findings document."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from livewatch.checking import check_event
from livewatch.reports.findings_document import read_verdict
from livewatch.reports.findings_files import write_exports
from livewatch.rules.audio_facts import AudioFacts, Loudness, Silence
from livewatch.state import DataDir
from livewatch.state.runs import RunStore
from tests.reports.screen_evidence import frame_jpeg, put_frame, screen_finding
from tests.rules.test_event_check import T0, add_run, registered, session_for

GOLDEN = Path(__file__).with_name("findings_golden.json")
#: What differs between runs or machines: when, which livewatch, the pack files' and registration's hashes
#: and the registration's path. Every other byte is compared.
_VOLATILE = re.compile(r'("(?:generated_at|livewatch_version|registration_file|registration_sha256|sha256)": )'
                       r'"[^"\n]*"')


def demo_like_findings_json(folder: Path) -> str:
    """findings.json of a checked event with every part filled: a late start, speech findings on the
    transcript, a registration problem (its issues a list of mappings in ``details``), a gap, audio, and a
    QR code on screen (its frame kept beside the report, its box)."""
    data = DataDir(folder / "data")
    host = {"name": "王小明", "role": "host", "real_name_verified": False, "birth_year": 2014}
    with registered(data, timezone="Asia/Shanghai", participants=[host]) as db:
        on_air = T0 + timedelta(minutes=20)
        run_id = add_run(db, on_air, [(0, "=1+1 大家好", ""), (30, "这个理财保本保息", "low-confidence"),
                                      (60, "加我V信聊", ""), (90, "这是全网最低价", "")])
        RunStore(db.engine).add_gap(run_id, 0, on_air + timedelta(minutes=5), on_air + timedelta(minutes=12),
                                    "dropped")
        session = session_for(data, db)
        check = check_event(session, "forum")
        audio = AudioFacts((Silence(on_air + timedelta(minutes=10), on_air + timedelta(minutes=11, seconds=2.46)),),
                           Loudness(-14.25, 6.5, None), 3000.04)
        payload = "https://u.wechat.com/EJxYz0personal"
        frame = put_frame(data, "forum", "s0-000075.jpg", frame_jpeg(payload))
        shown = screen_finding("forum", on_air + timedelta(seconds=75), frame, payload=payload, on_air=on_air)
        findings = sorted([*check.findings, shown], key=lambda f: f.start_at)
        write_exports(session, replace(check, audio=audio, findings=findings))
    return (data.report_dir("forum") / "findings.json").read_text(encoding="utf-8")


def test_findings_json_is_byte_for_byte_the_documented_format(tmp_path: Path) -> None:
    written = _VOLATILE.sub(r'\1"…"', demo_like_findings_json(tmp_path))
    assert written == GOLDEN.read_text(encoding="utf-8")


@pytest.mark.parametrize(("text", "verdict"), [(b'{"verdict": "review", "findings": []}', "review"), (b"{}", "")])
def test_the_index_reads_the_verdict_back(text: bytes, verdict: str) -> None:
    assert read_verdict(text) == verdict


@pytest.mark.parametrize("text", [b"[]", b'{"verdict": "maybe"}', b'{"verdict": 1}', b"{", b"\xff"])
def test_a_findings_file_that_is_no_document_is_refused(text: bytes) -> None:
    with pytest.raises(ValueError, match=r"^findings\.json\b"):
        read_verdict(text)
