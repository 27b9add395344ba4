"""Checking an event from the database: registration, run, gaps and transcripts in; findings persisted
with stable ids, reviewer statuses kept, withdrawn open findings removed; `rules` commands."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select, update

from livewatch.checking import check_event
from livewatch.cli import cli
from livewatch.pipeline.run_status import FINISHED, RECORDING
from livewatch.registration.models import Event
from livewatch.session import Session
from livewatch.settings import Settings
from livewatch.state import Database, DataDir, tables
from livewatch.state.runs import RunStore

T0 = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)


def registered(data: DataDir, **changes: object) -> Database:
    event = Event.model_validate({
        "id": "forum", "title": "Forum", "kind": "forum", "category": "knowledge", "organizer": {"name": "Org"},
        "start": T0.isoformat(), "end": (T0 + timedelta(hours=1)).isoformat(),
        "streams": [{"url": "https://live.example.com/1"}],
        "participants": [{"name": "李华", "role": "host", "real_name_verified": True, "birth_year": 1990}],
        **changes,
    })
    db = Database.open(data)
    with db.engine.begin() as conn:
        conn.execute(tables.events.insert().values(
            id="forum", title="Forum", kind="forum", timezone=event.timezone, registered_start=event.start,
            registered_end=event.end, source_file="x.yaml", source_sha256="0",
            registration_json=event.model_dump_json(), updated_at=T0))
    return db


def add_run(db: Database, on_air: datetime, lines: list[tuple[float, str, str]]) -> int:
    """A finished run on air from ``on_air``, with transcript rows (offset s, text, flags)."""
    store = RunStore(db.engine)
    run = store.open_run("forum", T0, T0 + timedelta(hours=1))
    assert run is not None
    store.note_on_air(run.id, on_air, on_air + timedelta(minutes=50))
    with db.engine.begin() as conn:
        for offset, text, flags in lines:
            start = on_air + timedelta(seconds=offset)
            conn.execute(tables.transcripts.insert().values(
                run_id=run.id, stream=0, start_at=start, end_at=start + timedelta(seconds=4), text=text,
                text_check=text, language="zh", avg_logprob=-0.2, no_speech_prob=0.01, compression_ratio=1.2,
                flags=flags, words_json="[]", backend="faster-whisper", model="base"))
    store.finish_run(run.id, FINISHED, "test")
    return run.id


def settings_for(data: DataDir) -> Settings:
    return Settings.model_validate({"data_dir": str(data.root)})


def session_for(data: DataDir, db: Database) -> Session:
    """A session over a test's own database, as the commands open one."""
    return Session(settings_for(data), data, db)


def test_findings_are_persisted_with_stable_ids_and_keep_reviewer_status(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "data")
    with registered(data) as db:
        add_run(db, T0 + timedelta(minutes=20), [(0, "大家好", ""), (30, "这个理财保本保息", ""),
                                                 (60, "加我V信聊", "")])
        first = check_event(session_for(data, db), "forum")
        assert first.verdict == "fail"
        by_rule = {f.rule: f for f in first.findings}
        assert {"finance-promise.guaranteed-returns", "traffic-diversion.contact-apps",
                "schedule.late-start"} <= set(by_rule)
        promise = by_rule["finance-promise.guaranteed-returns"]
        assert promise.pack == "cn-live-events@1.4.1"
        assert promise.start_at.tzinfo is not None
        # No word times in these rows: characters are spread evenly over the 4 s utterance, and 保本保息 starts
        # at the fifth of eight characters.
        assert promise.offset_s == pytest.approx(32, abs=0.01)
        assert promise.evidence[promise.highlight[0]:promise.highlight[1]] == "保本保息"
        late = by_rule["schedule.late-start"]
        assert late.category == "schedule"
        # A reviewer dismisses the promise; a re-check keeps the id and the decision.
        with db.engine.begin() as conn:
            conn.execute(update(tables.findings).where(tables.findings.c.id == promise.id)
                         .values(status="dismissed"))
        second = check_event(session_for(data, db), "forum")
        assert [f.id for f in second.findings] == [f.id for f in first.findings]
        assert {f.id: f.status for f in second.findings}[promise.id] == "dismissed"
        with db.engine.connect() as conn:
            rows = list(conn.execute(select(tables.findings)))
        assert len(rows) == len(first.findings)
        stored = {r.id: r for r in rows}[promise.id]
        details = json.loads(stored.details_json)
        assert details["pack_sha256"] == first.packs[0].sha256
        assert details["legal_basis"]


def test_low_confidence_span_caps_a_critical_hit_at_review(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "data")
    with registered(data) as db:
        add_run(db, T0, [(0, "这个理财保本保息", "low-confidence")])
        result = check_event(session_for(data, db), "forum")
    [finding] = [f for f in result.findings if f.category == "finance-promise"]
    assert (finding.severity, finding.rule_severity, finding.low_confidence) == ("medium", "critical", True)
    assert result.verdict == "review"


def test_registration_overrides_apply_per_event(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "data")
    overrides = [{"rule": "finance-promise.guaranteed-returns", "enabled": False},
                 {"rule": "traffic-diversion.contact-apps", "severity": "low", "add_terms": ["私聊小号"]},
                 {"rule": "absolute-terms.superlatives", "allowlist": ["最好的时代"]}]
    with registered(data, rule_overrides=overrides) as db:
        add_run(db, T0, [(0, "这个理财保本保息", ""), (20, "来私聊小号", ""), (40, "这是最好的时代", "")])
        result = check_event(session_for(data, db), "forum")
    rules = {f.rule: f for f in result.findings}
    assert "finance-promise.guaranteed-returns" not in rules
    assert rules["traffic-diversion.contact-apps"].severity == "low"
    assert rules["traffic-diversion.contact-apps"].matched == "私聊小号"
    assert "absolute-terms.superlatives" not in rules
    assert result.verdict == "pass"


def test_no_show_is_a_finding(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "data")
    with registered(data) as db:
        store = RunStore(db.engine)
        run = store.open_run("forum", T0, T0 + timedelta(hours=1))
        assert run is not None
        store.finish_run(run.id, "no-show", "never went live")
        result = check_event(session_for(data, db), "forum")
    assert [f.rule for f in result.findings] == ["schedule.no-show"]
    assert result.verdict == "fail"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_rules_list_and_test_cover_the_default_pack(runner: CliRunner) -> None:
    listed = runner.invoke(cli, ["rules", "list"])
    assert listed.exit_code == 0, listed.output
    assert "cn-live-events@1.4.1" in listed.output
    assert "finance-promise.guaranteed-returns" in listed.output
    tested = runner.invoke(cli, ["rules", "test", "default"])
    assert tested.exit_code == 0, tested.output
    assert tested.output.strip().endswith("examples behave as written in 1 pack(s)")


def test_rules_test_exits_1_when_an_example_misbehaves(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "packs").mkdir()
    (tmp_path / "packs" / "mine.yaml").write_text(
        "id: mine\nversion: '0.1'\ntitle: Mine\nrules:\n"
        "  - {id: r1, type: lexicon, category: misc, severity: low, terms: [苹果],\n"
        "     examples: {fires: [我爱香蕉], passes: [我爱苹果]}}\n", encoding="utf-8")
    (tmp_path / "livewatch.toml").write_text(f"rule_packs_dir = '{tmp_path / 'packs'}'\n", encoding="utf-8")
    result = runner.invoke(cli, ["--config", str(tmp_path / "livewatch.toml"), "rules", "test", "mine"])
    assert result.exit_code == 1
    assert "FAILED  r1  should fire: 我爱香蕉" in result.output
    assert "FAILED  r1  should pass: 我爱苹果  (fired on: '苹果')" in result.output
    assert "0/2 examples" in result.output


def test_rules_check_json_contract(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["rules", "check", "--json", "--text", "[00:10] 大家加*我*微*信\n[01:00] 谢谢"])
    assert result.exit_code == 0, result.output
    [finding] = json.loads(result.output)["findings"]
    assert set(finding) == {"rule", "category", "severity", "matched", "evidence", "start", "end"}
    assert finding["category"] == "traffic-diversion"
    assert finding["evidence"].startswith("大家加*我*微*信")
    assert datetime.fromisoformat(finding["start"]).tzinfo is not None
    # The monitor's transcript.jsonl works the same way, with its absolute times.
    jsonl = tmp_path / "transcript.jsonl"
    jsonl.write_text(json.dumps({"stream": 0, "start": "2026-12-01T09:00:05+08:00", "end": "2026-12-01T09:00:09+08:00",
                                 "text": "This stock will double, guaranteed returns!", "flags": [],
                                 "avg_logprob": -0.3, "words": []}) + "\n", encoding="utf-8")
    checked = runner.invoke(cli, ["rules", "check", "--json", "--transcript", str(jsonl)])
    assert checked.exit_code == 0, checked.output
    found = json.loads(checked.output)["findings"]
    assert {f["rule"] for f in found} == {"finance-promise.guaranteed-returns", "finance-promise.stock-tips"}
    assert all(f["start"].endswith("+08:00") for f in found)


def test_rules_check_needs_exactly_one_input(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["rules", "check"])
    assert result.exit_code == 2
    assert "exactly one of --text and --transcript" in result.output


def test_an_open_finding_no_longer_produced_is_withdrawn(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "data")
    with registered(data) as db:
        run_id = add_run(db, T0, [(0, "大家点击下方链接下单", "")])
        first = check_event(session_for(data, db), "forum")
        assert "ad-disclosure.missing" in {f.rule for f in first.findings}
        # The transcript of the disclosure arrives later (say after a restart): the finding goes away.
        with db.engine.begin() as conn:
            conn.execute(tables.transcripts.insert().values(
                run_id=run_id, stream=0, start_at=T0 + timedelta(seconds=20), end_at=T0 + timedelta(seconds=24),
                text="本环节为合作推广", text_check="本环节为合作推广", language="zh", avg_logprob=-0.2,
                no_speech_prob=0.01, compression_ratio=1.2, flags="", words_json="[]", backend="faster-whisper",
                model="base"))
        second = check_event(session_for(data, db), "forum")
        assert "ad-disclosure.missing" not in {f.rule for f in second.findings}
        with db.engine.connect() as conn:
            stored = {row.rule for row in conn.execute(select(tables.findings))}
        assert "ad-disclosure.missing" not in stored


def test_a_missing_disclosure_is_found_while_live_once_the_window_is_transcribed(tmp_path: Path) -> None:
    # The promotion is followed by silence, so no later utterance shows that the window was heard; the
    # transcription's progress does, and the finding comes while the event is on air, not at the end.
    data = DataDir(tmp_path / "data")
    with registered(data) as db:
        on_air = T0 + timedelta(minutes=1)
        run_id = add_run(db, on_air, [(0, "大家点击下方链接下单", "")])
        with db.engine.begin() as conn:
            conn.execute(update(tables.runs).where(tables.runs.c.id == run_id).values(status=RECORDING))
            conn.execute(tables.transcription_progress.insert().values(
                run_id=run_id, stream=0, last_seq=3, committed_until=on_air + timedelta(seconds=40), flushed=0))
        early = check_event(session_for(data, db), "forum", save=False)
        assert "ad-disclosure.missing" not in {f.rule for f in early.findings}  # it may still be said
        with db.engine.begin() as conn:
            conn.execute(update(tables.transcription_progress).values(committed_until=on_air + timedelta(seconds=70)))
        heard = check_event(session_for(data, db), "forum", save=False)
        assert "ad-disclosure.missing" in {f.rule for f in heard.findings}


def test_unreadable_audio_loses_the_technical_check_only(tmp_path: Path) -> None:
    from livewatch.state.runs import SegmentRecord

    data = DataDir(tmp_path / "data")
    with registered(data) as db:
        run_id = add_run(db, T0, [(0, "这个理财保本保息", "")])
        garbage = tmp_path / "s0-000000.wav"
        garbage.write_bytes(b"not a wav file at all")
        RunStore(db.engine).add_segment(SegmentRecord(run_id, 0, None, "audio", 0, garbage, T0,
                                                      T0 + timedelta(seconds=10), garbage.stat().st_size, "ok"))
        result = check_event(session_for(data, db), "forum", audio=True)
    assert "finance-promise.guaranteed-returns" in {f.rule for f in result.findings}
    assert not any(f.category == "technical" for f in result.findings)
