"""The data directory under attack (issue 15, items 8 and 9 and the low ones about files): a link planted
in it never makes `livewatch report` write elsewhere, a damaged or edited audit log is reported line by
line and never breaks the report, a finding decided twice is an error naming both lines, findings.csv is
safe in a spreadsheet without mangling numbers, and files are private unless configured otherwise."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from livewatch.capture.recovery import repair_wav_header
from livewatch.cli import cli
from livewatch.reports.findings_document import FindingEntry
from livewatch.reports.findings_files import findings_csv
from livewatch.reports.reviews import GENESIS, ReviewError, apply_reviews, audit_trail, read_reviews
from livewatch.state import Database, DataDir, tables
from livewatch.state.findings import FindingStore
from tests.rules.test_event_check import T0, add_run, registered


def report(data: DataDir, *extra: str) -> Result:
    return CliRunner().invoke(cli, ["--data", str(data.root), *extra, "report", "--no-clips", "forum"])


@pytest.fixture(scope="module")
def reported_once(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A finished event with one finding, reported once; (data directory, the finding's id). Made once and
    copied for each test: every `livewatch report` loads the rule packs, which takes a while."""
    data = DataDir(tmp_path_factory.mktemp("reported") / "data")
    with registered(data) as db:
        add_run(db, T0, [(0, "大家好", ""), (30, "这个理财保本保息", "")])
    first = report(data)
    assert first.exit_code == 0, first.output
    document = json.loads((data.report_dir("forum") / "findings.json").read_text(encoding="utf-8"))
    [finding] = [f["id"] for f in document["findings"] if f["category"] == "finance-promise"]
    return data.root, finding


@pytest.fixture
def event(reported_once: tuple[Path, str], tmp_path: Path) -> tuple[DataDir, str]:
    root, finding = reported_once
    shutil.copytree(root, tmp_path / "data", symlinks=True)
    return DataDir(tmp_path / "data"), finding


def review(data: DataDir, finding: str, status: str, reviewer: str = "王审核") -> None:
    data.review_file("forum").write_text(f"{finding}:\n  status: {status}\n  reviewer: {reviewer}\n", encoding="utf-8")


# -- links ------------------------------------------------------------------------------------------------


def test_a_linked_audit_log_is_refused_and_the_file_it_points_at_is_untouched(event: tuple[DataDir, str],
                                                                              tmp_path: Path) -> None:
    data, finding = event
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n", encoding="utf-8")
    log = data.reviews / "forum.audit.jsonl"
    log.symlink_to(victim)
    review(data, finding, "dismissed")
    result = report(data)
    assert victim.read_text(encoding="utf-8") == "precious\n"
    assert result.exit_code == 1, result.output
    assert f"error: forum: refusing to use {log}: it is a symbolic link" in result.output
    assert "Traceback" not in result.output
    # Nothing changed without its audit entry: the dismissal waits until the log can be written.
    with Database.open(data) as db, db.engine.connect() as conn:
        assert conn.execute(select(tables.findings.c.status).where(tables.findings.c.id == finding)).scalar() == "open"


PLANTED = ["reports/forum/findings.csv.tmp", "reports/forum/findings.csv", "reports/forum/report.html",
           "reports/index.html.tmp", "reports/forum/transcript.srt"]


def test_a_link_in_the_report_folder_is_replaced_never_written_through(event: tuple[DataDir, str],
                                                                       tmp_path: Path) -> None:
    data, _ = event
    data.transcripts_dir("forum").mkdir(parents=True, exist_ok=True)
    (data.transcripts_dir("forum") / "transcript.srt").write_text("1\n00:00:00,000 --> 00:00:04,000\n大家好\n\n",
                                                                  encoding="utf-8")
    victims = []
    for number, planted in enumerate(PLANTED):
        victim = tmp_path / f"victim-{number}.txt"
        victim.write_text("precious\n", encoding="utf-8")
        link = data.root / planted
        link.unlink(missing_ok=True)
        link.symlink_to(victim)
        victims.append(victim)
    result = report(data)
    assert result.exit_code == 0, result.output
    assert [v.read_text(encoding="utf-8") for v in victims] == ["precious\n"] * len(PLANTED)
    for planted in PLANTED:
        path = data.root / planted
        assert not path.is_symlink() or planted.endswith(".tmp"), planted  # replaced by the real file
    assert [p.name for p in data.reports.rglob("*.tmp") if not p.is_symlink()] == []
    assert "大家好" in (data.report_dir("forum") / "transcript.srt").read_text(encoding="utf-8")


def test_a_linked_folder_inside_the_data_directory_is_refused(event: tuple[DataDir, str], tmp_path: Path) -> None:
    data, _ = event
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    clips = data.report_dir("forum") / "clips"
    clips.symlink_to(elsewhere, target_is_directory=True)
    result = CliRunner().invoke(cli, ["--data", str(data.root), "report", "forum"])  # with clips
    assert result.exit_code == 1, result.output
    assert f"refusing to use {clips}: it is a symbolic link" in result.output
    assert list(elsewhere.iterdir()) == []


def test_a_transcript_linked_to_a_secret_is_not_copied_into_the_report(event: tuple[DataDir, str],
                                                                       tmp_path: Path) -> None:
    data, _ = event
    secret = tmp_path / "secret.txt"
    secret.write_text("password\n", encoding="utf-8")
    data.transcripts_dir("forum").mkdir(parents=True, exist_ok=True)
    (data.transcripts_dir("forum") / "transcript.vtt").symlink_to(secret)
    result = report(data)
    assert result.exit_code == 1, result.output
    assert "transcript.vtt: it is a symbolic link" in result.output
    assert not (data.report_dir("forum") / "transcript.vtt").exists()


# -- the audit log ----------------------------------------------------------------------------------------


def test_bad_audit_lines_are_reported_by_number_and_skipped(event: tuple[DataDir, str]) -> None:
    data, finding = event
    good = {"at": "2026-12-01T02:00:00+00:00", "event": "forum", "finding": finding, "from": "open",
            "to": "confirmed", "reviewer": "老张", "note": None}
    log = data.reviews / "forum.audit.jsonl"
    log.write_bytes(b"".join([
        json.dumps(good, ensure_ascii=False).encode() + b"\n",
        b"{not json\n",
        "审核".encode("gbk") + b"\n",
        b"[1, 2]\n",
        b'{"at": 5, "finding": "x"}\n',
        b'{"at": "2026-12-01T03:00:00+00:00", "event": "forum", "finding": "ab',  # cut off by a crash
    ]))
    review(data, finding, "dismissed")
    result = report(data)
    assert result.exit_code == 0, result.output
    for line, why in [(2, "not JSON"), (3, "not UTF-8"), (4, "not an audit entry"),
                      (5, "not an audit entry (missing or wrong: at, event, from, to)"), (6, "not JSON")]:
        assert f"forum.audit.jsonl line {line}: {why}" in result.output
    trail = audit_trail(data, "forum")
    assert [e["reviewer"] for e in trail.entries] == ["老张", "王审核"]
    assert trail.unchained == (1,)
    assert trail.breaks == ()
    page = (data.report_dir("forum") / "report.html").read_text(encoding="utf-8")
    assert "line 3: not UTF-8" in page
    assert "老张" in page


def test_the_audit_log_is_hash_chained_and_an_edit_shows_where(event: tuple[DataDir, str]) -> None:
    data, finding = event
    with Database.open(data) as db:
        for status, who in [("dismissed", "王审核"), ("escalated", "李主管"), ("confirmed", "赵组长")]:
            review(data, finding, status, who)
            assert len(apply_reviews(FindingStore(db.engine), data, "forum").changes) == 1
    log = data.reviews / "forum.audit.jsonl"
    lines = log.read_bytes().splitlines(keepends=True)
    assert json.loads(lines[0])["prev"] == GENESIS
    intact = audit_trail(data, "forum")
    assert (len(intact.entries), intact.breaks, intact.bad_lines, intact.unchained) == (3, (), (), ())

    log.write_bytes(lines[0] + lines[1].replace("李主管".encode(), "王审核".encode()) + lines[2])  # history rewritten
    result = report(data)
    assert result.exit_code == 0, result.output
    assert "forum.audit.jsonl line 3: the hash chain breaks here" in result.output
    assert "hash chain BROKEN" in (data.report_dir("forum") / "report.html").read_text(encoding="utf-8")

    log.write_bytes(lines[0] + lines[2])  # a decision removed
    assert [line for line, _ in audit_trail(data, "forum").breaks] == [2]
    log.write_bytes(lines[1] + lines[2])  # the first decision removed
    assert [line for line, _ in audit_trail(data, "forum").breaks] == [1]


def test_an_old_log_without_hashes_keeps_working_and_is_reported_unchained(event: tuple[DataDir, str]) -> None:
    data, finding = event
    old = {"at": "2026-01-01T00:00:00+00:00", "event": "forum", "finding": finding, "from": "open",
           "to": "confirmed", "reviewer": "老张", "note": None}
    log = data.reviews / "forum.audit.jsonl"
    log.write_text(json.dumps(old, ensure_ascii=False) + "\n" + json.dumps(old, ensure_ascii=False) + "\n",
                   encoding="utf-8")
    review(data, finding, "dismissed")
    result = report(data)
    assert result.exit_code == 0, result.output
    assert "forum.audit.jsonl lines 1–2: written before the log was hash-chained" in result.output
    trail = audit_trail(data, "forum")
    assert (len(trail.entries), trail.unchained, trail.breaks) == (3, (1, 2), ())
    # What the command wrote is private (the log itself was made by this test with the umask's mode).
    for path in [data.report_dir("forum") / "report.html", data.report_dir("forum") / "findings.csv"]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(data.report_dir("forum").stat().st_mode) == 0o700


# -- review files -----------------------------------------------------------------------------------------


def test_a_finding_decided_twice_is_an_error_naming_both_lines(tmp_path: Path) -> None:
    path = tmp_path / "forum.yaml"
    path.write_text("abc:\n  status: confirmed\n  reviewer: a\n"
                    "def:\n  status: confirmed\n  reviewer: b\n"
                    "abc:\n  status: dismissed\n  reviewer: c\n", encoding="utf-8")
    with pytest.raises(ReviewError) as caught:
        read_reviews(path)
    [issue] = caught.value.issues
    assert issue.line == 7
    assert "abc is decided twice, on lines 1 and 7" in str(caught.value)


# -- findings.csv -----------------------------------------------------------------------------------------


def _entry(index: int, evidence: str, matched: str = "x") -> FindingEntry:
    return FindingEntry(id=str(index), rule="x", pack="x", category="x", severity="low", status="open", start=T0,
                        end=T0, offset_s=0.0, evidence=evidence, highlight=(0, 0), matched=matched, normalized="x",
                        legal_basis="x", asr_confidence=None, low_confidence=False, rule_severity="low", count=1,
                        stream=None, title=None, details={})


def _csv_rows(evidences: list[str]) -> list[dict[str, str]]:
    text = findings_csv(_entry(i, e) for i, e in enumerate(evidences))
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_csv_quotes_a_bare_carriage_return_so_no_new_row_starts_there() -> None:
    text = findings_csv([_entry(1, "说了\r=1+2", matched="a\nb")])
    assert "\r=1+2" not in text.replace('"说了\r=1+2"', "")  # the CR only ever inside a quoted field
    [row] = _csv_rows(["说了\r=1+2"])
    assert row["evidence"] == "说了\r=1+2"
    # A spreadsheet splits rows at any CR or LF outside quotes: none is left there.
    outside = "".join(part for i, part in enumerate(text.split('"')) if i % 2 == 0)
    assert outside.count("\r\n") == outside.count("\r") == outside.count("\n") == 2


@pytest.mark.parametrize(("value", "written"), [
    ("-21.7 LUFS", "-21.7 LUFS"), ("-21.7", "-21.7"), ("+3", "+3"), ("-1e-5", "-1e-5"), ("-3 %", "-3 %"),
    ("=1+2", "'=1+2"), ("+1+2", "'+1+2"), ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
    ("@SUM(A1)", "'@SUM(A1)"), ("\t=1", "'\t=1"), ("\r=1", "'\r=1"), ("-1 A1", "'-1 A1"),
    ("+86 138 0000 0000", "'+86 138 0000 0000"), ("-", "'-"), ("加我微信", "加我微信"),
])
def test_csv_guards_text_a_spreadsheet_would_evaluate_and_leaves_numbers_alone(value: str, written: str) -> None:
    [row] = _csv_rows([value])
    assert row["evidence"] == written


# -- permissions ------------------------------------------------------------------------------------------


def _modes(root: Path) -> tuple[set[str], set[str]]:
    paths = [root, *root.rglob("*")]
    return ({oct(stat.S_IMODE(p.stat().st_mode)) for p in paths if p.is_file()},
            {oct(stat.S_IMODE(p.stat().st_mode)) for p in paths if p.is_dir()})


def test_data_files_are_private_by_default(tmp_path: Path) -> None:
    os.umask(0o022)
    data = DataDir(tmp_path / "data")
    result = CliRunner().invoke(cli, ["--data", str(data.root), "report"])
    assert result.exit_code == 0, result.output
    assert (data.root / "livewatch.db").is_file()
    assert (data.reports / "index.html").is_file()
    assert _modes(data.root) == ({"0o600"}, {"0o700"})


def test_private_files_false_leaves_modes_to_the_umask(tmp_path: Path) -> None:
    os.umask(0o022)
    config = tmp_path / "livewatch.toml"
    config.write_text("private_files = false\n", encoding="utf-8")
    data = DataDir(tmp_path / "data")
    result = CliRunner().invoke(cli, ["--config", str(config), "--data", str(data.root), "report"])
    assert result.exit_code == 0, result.output
    files, folders = _modes(data.root)
    assert "0o644" in files
    assert "0o600" not in files
    assert folders == {"0o755"}


def test_recovery_never_repairs_a_wav_header_through_a_link(tmp_path: Path) -> None:
    victim = tmp_path / "victim.wav"
    original = b"RIFF" + b"\0" * 32 + b"data" + b"\0" * 4 + b"\1" * 100
    victim.write_bytes(original)
    link = tmp_path / "s0-000001.wav"
    link.symlink_to(victim)
    repair_wav_header(link)
    assert victim.read_bytes() == original
