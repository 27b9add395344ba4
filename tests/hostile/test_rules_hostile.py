"""Hostile rule packs and hostile transcripts (issue 15, items 6 and 7 and the `rules check` low items).

A pack's regular expression that backtracks catastrophically must neither hang a check nor pass silently; a
user pack must not silently replace a built-in one; a transcript file must not crash `rules check` or drive
the reviewer's terminal.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import regex
from click.testing import CliRunner

from livewatch.cli import cli
from livewatch.rules import engine as engine_module
from livewatch.rules.base import Hit, Rule, RuleInput, RuleSpec
from livewatch.rules.engine import RULE_ERROR_CATEGORY, RuleEngine, verdict
from livewatch.rules.examples import EXAMPLE_FACTS, run_examples
from livewatch.rules.packs import PackLibrary, RulePack, RulePackError, builtin_pack_paths, load_pack
from livewatch.rules.regexes import RULE_TIME_LIMIT_S, RegexTimeout, rule_time_limit, spans, time_limit
from livewatch.rules.transcript import Transcript
from livewatch.rules.types.text import RegexRule, RegexSpec
from livewatch.subtitles import read_cues
from livewatch.terminal import printable, rich_safe

BUILTIN = load_pack(next(p for p in builtin_pack_paths() if p.name == "cn-live-events.yaml"))

#: The issue's pattern: nested quantifiers that Python's re took 0.8 s for on 20 digits, > 20 s on 28.
ISSUE_PATTERN = r"(\d+)+$"
#: What a 0.3 s limit may take at most in wall time: the engine checks its clock every few thousand steps, and
#: on a loaded machine those steps take longer (measured 0.4-1.3 s on two busy cores). Unlimited: minutes.
OVERRUN_S = 5.0
#: One that also defeats the regex engine's own safeguards: only its time limit stops it.
EXPONENTIAL = r"(a|a)*$"


def pack_text(pattern: str, *, key: str = "pattern", pack_id: str = "mine", version: str = "0.1",
              extra: str = "") -> str:
    if key == "pattern":
        rule = f"  - {{id: r1, type: regex, category: misc, severity: high, pattern: '{pattern}'}}\n"
    else:
        rule = (f"  - {{id: r1, type: lexicon, category: misc, severity: high, terms: [微信],"
                f" {key}: '{pattern}'}}\n")
    return f"id: {pack_id}\nversion: '{version}'\ntitle: Mine\n{extra}rules:\n{rule}"


def configured(tmp_path: Path, **packs: str) -> Path:
    folder = tmp_path / "packs"
    folder.mkdir(exist_ok=True)
    for name, text in packs.items():
        (folder / f"{name}.yaml").write_text(text, encoding="utf-8")
    config = tmp_path / "livewatch.toml"
    config.write_text(f"rule_packs_dir = '{folder}'\n", encoding="utf-8")
    return config


def unchecked_regex_rule(pattern: str) -> RegexRule:
    """A regex rule whose pattern skipped the load-time check: what the time limit alone must stop."""
    spec = RegexSpec.model_construct(id="bad", type="regex", category="misc", severity="high", pattern=pattern,
                                     allow=[], title=None, legal_basis=None, scope=None, cooldown_s=0,
                                     examples=RegexSpec.model_fields["examples"].get_default(call_default_factory=True))
    return RegexRule(spec)


def with_rules(*rules: Rule) -> RulePack:
    return BUILTIN.with_rules(rules)


def text_input(text: str) -> RuleInput:
    return RuleInput(EXAMPLE_FACTS, {0: Transcript.of_lines([(EXAMPLE_FACTS.on_air_start, text)])})


@pytest.fixture
def short_limit(monkeypatch: pytest.MonkeyPatch) -> float:
    monkeypatch.setattr(engine_module, "rule_time_limit", lambda characters: 0.3)
    return 0.3


# --- item 6: catastrophic regular expressions ---------------------------------------------------------------

@pytest.mark.parametrize("pattern", [ISSUE_PATTERN, EXPONENTIAL, r"(?:\d+\s?)+元", r"(a|ab)*c", r"(\d*)*y",
                                     r"(?:a+|b)+x"])
@pytest.mark.parametrize("key", ["pattern", "allow_pattern"])
def test_a_catastrophic_pattern_is_refused_when_the_pack_is_loaded(tmp_path: Path, pattern: str, key: str) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(pack_text(pattern, key=key), encoding="utf-8")
    with pytest.raises(RulePackError, match="backtrack catastrophically") as caught:
        load_pack(path)
    assert f"{path}:5" in str(caught.value)  # the file and the rule's line


@pytest.mark.parametrize("pattern", [r"(?:\w+\s+)+x", r"(?:\d+[-])+\d", r"胸(?:是不是|真|好|很|这么)+大", r"\d{11}"])
def test_ordinary_patterns_still_load(tmp_path: Path, pattern: str) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(pack_text(pattern), encoding="utf-8")
    assert load_pack(path).rules


def test_rules_test_refuses_a_pack_with_a_catastrophic_pattern(tmp_path: Path) -> None:
    config = configured(tmp_path, mine=pack_text(ISSUE_PATTERN))
    result = CliRunner().invoke(cli, ["--config", str(config), "rules", "test", "mine"])
    assert result.exit_code == 2, result.output
    assert "backtrack catastrophically" in result.output
    assert "mine.yaml:5" in result.output


def test_the_issue_pattern_is_bounded() -> None:
    """Measured: under re, 0.85 s on 20 digits, 11 s on 24, > 20 s on 28. On the regex engine it is quick, and a
    pattern that is exponential even there stops at its limit, whatever the length."""
    assert re.compile(ISSUE_PATTERN).search("1" * 12 + "x") is None  # re's answer, to compare
    for digits in (20, 28, 40):
        started = time.monotonic()
        with time_limit(1.0):
            spans(regex.compile(ISSUE_PATTERN), "1" * digits + "x")
        assert time.monotonic() - started < 1.0
    started = time.monotonic()  # 10,000 digits: quadratic even here, so the limit is what ends it
    with time_limit(0.3), pytest.raises(RegexTimeout):
        spans(regex.compile(ISSUE_PATTERN), "1" * 10_000 + "x")
    assert time.monotonic() - started < OVERRUN_S
    exponential = regex.compile(EXPONENTIAL)
    for length in (28, 40, 1000):
        started = time.monotonic()
        with time_limit(0.3), pytest.raises(RegexTimeout, match="time limit"):
            spans(exponential, "a" * length + "!")
        assert time.monotonic() - started < OVERRUN_S


def test_only_searching_counts_against_the_limit() -> None:
    """A rule's other work (the first check loads the segmenter's dictionary: seconds) must not make its
    regular expressions time out; the searches of one block share the budget."""
    with time_limit(0.2):
        time.sleep(0.3)
        assert spans(regex.compile(r"\d+"), "电话 138") == [(3, 6, "138")]
        with pytest.raises(RegexTimeout):
            spans(regex.compile(EXPONENTIAL), "a" * 40 + "!")
        with pytest.raises(RegexTimeout):  # the budget is spent
            spans(regex.compile(r"\d+"), "138")


def test_a_rule_that_times_out_is_a_rule_error_and_the_verdict_is_not_pass(short_limit: float) -> None:
    phone = next(r for r in BUILTIN.rules if r.id == "traffic-diversion.phone-number")
    data = text_input("a" * 40 + "! 打我电话13812345678")
    started = time.monotonic()
    findings = RuleEngine([with_rules(unchecked_regex_rule(EXPONENTIAL), phone)]).evaluate(data)
    assert time.monotonic() - started < short_limit + OVERRUN_S
    errors = [f for f in findings if f.category == RULE_ERROR_CATEGORY]
    assert [(f.rule, f.severity) for f in errors] == [("bad", "medium")]
    assert "time limit" in errors[0].evidence
    assert any(f.rule == phone.id for f in findings)  # the other rules still ran
    assert verdict(errors) == "review"


class Broken(Rule):
    type_name = "broken"

    def evaluate(self, data: RuleInput) -> Iterator[Hit]:
        raise RuntimeError("boom")


def test_a_rule_that_raises_is_a_rule_error_not_a_silent_pass() -> None:
    rule = Broken(RuleSpec.model_construct(id="broken", type="broken", category="misc", severity="low"))
    findings = RuleEngine([with_rules(rule)]).evaluate(text_input("hello"))
    assert [(f.rule, f.category) for f in findings] == [("broken", RULE_ERROR_CATEGORY)]
    assert "RuntimeError: boom" in findings[0].evidence
    assert verdict(findings) == "review"


def test_rules_test_fails_an_example_the_rule_cannot_evaluate(short_limit: float) -> None:
    rule = unchecked_regex_rule(EXPONENTIAL)
    spec = rule.spec.model_copy(update={"examples": type(rule.spec.examples)(fires=["a" * 40 + "!"])})
    results = list(run_examples(with_rules(RegexRule(spec))))
    assert results
    assert not any(r.ok for r in results)
    assert {r.expected for r in results} == {"fires", "limits"}
    assert all("time limit" in r.detail for r in results)


def test_one_events_catastrophic_check_does_not_hold_up_another(monkeypatch: pytest.MonkeyPatch) -> None:
    """The regex engine lets other threads run while it searches; under re the other check waited."""
    monkeypatch.setattr(engine_module, "rule_time_limit", lambda characters: 2.0)
    phone = next(r for r in BUILTIN.rules if r.id == "traffic-diversion.phone-number")
    RuleEngine([with_rules(phone)]).evaluate(text_input("warm up the segmenter"))
    slow_done = threading.Event()

    def slow() -> None:
        RuleEngine([with_rules(unchecked_regex_rule(EXPONENTIAL))]).evaluate(text_input("a" * 60 + "!"))
        slow_done.set()

    thread = threading.Thread(target=slow)
    thread.start()
    time.sleep(0.1)
    findings = RuleEngine([with_rules(phone)]).evaluate(text_input("打我电话13812345678"))
    other_finished_first = not slow_done.is_set()
    thread.join(10)
    assert [f.rule for f in findings] == [phone.id]
    assert other_finished_first


# --- item 7: a user pack must not silently replace a built-in one ---------------------------------------------

def test_a_user_pack_with_a_builtin_id_and_version_is_refused(tmp_path: Path) -> None:
    empty = f"id: cn-live-events\nversion: '{BUILTIN.version}'\ntitle: Empty\nrules: []\n"
    config = configured(tmp_path, shadow=empty)
    with pytest.raises(RulePackError) as caught:
        PackLibrary(tmp_path / "packs")
    message = str(caught.value)
    assert str(BUILTIN.path) in message
    assert str(tmp_path / "packs" / "shadow.yaml") in message
    assert f"replaces: {BUILTIN.ref}" in message
    for command in (["rules", "check", "--text", "加我微信"], ["rules", "test"]):
        result = CliRunner().invoke(cli, ["--config", str(config), *command])
        assert result.exit_code == 2, result.output
        assert "shadow.yaml" in result.output
        assert "0/0" not in result.output


def test_a_declared_replacement_is_used_and_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    text = (f"id: cn-live-events\nversion: '{BUILTIN.version}'\ntitle: Ours\nreplaces: {BUILTIN.ref}\n"
            f"rules:\n  - {{id: r1, type: lexicon, category: misc, severity: high, terms: [苹果]}}\n")
    configured(tmp_path, ours=text)
    with caplog.at_level(logging.WARNING, logger="livewatch.rules.packs"):
        library = PackLibrary(tmp_path / "packs")
    assert library.get("default").path == tmp_path / "packs" / "ours.yaml"
    assert any("replaces the built-in" in r.getMessage() and "ours.yaml" in r.getMessage() for r in caplog.records)


def test_replaces_must_name_the_pack_itself_and_two_user_copies_clash(tmp_path: Path) -> None:
    wrong = f"id: mine\nversion: '1'\ntitle: Mine\nreplaces: {BUILTIN.ref}\nrules: []\n"
    configured(tmp_path, wrong=wrong)
    with pytest.raises(RulePackError, match="can only stand in for its own id"):
        PackLibrary(tmp_path / "packs")
    (tmp_path / "packs" / "wrong.yaml").unlink()
    twin = "id: mine\nversion: '1'\ntitle: Mine\nrules: []\n"
    configured(tmp_path, a=twin, b=twin)
    with pytest.raises(RulePackError, match=r"a\.yaml and .*b\.yaml are both mine@1"):
        PackLibrary(tmp_path / "packs")


# --- rules check --transcript on hostile files ---------------------------------------------------------------

SEGMENT = '{"start": 0, "end": 2, "text": "加我微信"}'
HUGE = "1" * 5000


@pytest.mark.parametrize(("name", "content", "where"), [
    ("t.json", "[1, 2]", "item 1"),
    ("t.json", '["加我微信"]', "item 1"),
    ("t.json", "[[0, 2, \"x\"]]", "item 1"),
    ("t.json", '{"start": 0}', "expected a JSON list"),
    ("t.json", '[{"start": 1e999, "end": 2, "text": "x"}]', "t.json"),
    ("t.json", f'[{{"start": {HUGE}, "end": 2, "text": "x"}}]', "t.json"),
    ("t.json", '[{"start": NaN, "end": 2, "text": "x"}]', "t.json"),
    ("t.json", '[{"start": -5, "end": 2, "text": "x"}]', "item 1"),
    ("t.json", '[{"start": 1e300, "end": 1e301, "text": "x"}]', "item 1"),
    ("t.json", '[{"start": 5, "end": 2, "text": "x"}]', "item 1"),
    ("t.json", f'[{SEGMENT}, {{"start": "0", "end": 2, "text": "x"}}]', "item 2"),
    ("t.json", '[{"start": 0, "end": 2, "text": {"a": 1}}]', "item 1"),
    ("t.json", '[{"start": 0, "end": 2, "text": "x", "words": [7]}]', "item 1"),
    ("t.json", '[{"start": 0, "end": 2, "text": "x", "words": {"a": 1}}]', "item 1"),
    ("t.json", '[{"start": 0, "end": 2, "text": "x", "avg_logprob": "high"}]', "item 1"),
    ("t.json", '[{"end": 2, "text": "x"}]', "item 1"),
    ("t.json", "[" * 100_000 + "]" * 100_000, "t.json"),
    ("t.jsonl", "[1]", "line 1"),
    ("t.jsonl", '"加我微信"', "line 1"),
    ("t.jsonl", '{"start": "9999-12-31T23:59:59", "end": "9999-12-31T23:59:59", "text": "x"}', "line 1"),
    ("t.jsonl", '{"start": "0001-01-01T00:00:00", "end": "0001-01-01T00:00:01", "text": "x"}', "line 1"),
    ("t.jsonl", '{"start": 12, "end": 13, "text": "x"}', "line 1"),
    ("t.jsonl", '{"start": "2026-12-01T09:00:00+08:00", "end": "2026-12-01T09:00:01+08:00", "text": "x"}\n'
                '{"start": "yesterday", "end": "2026-12-01T09:00:01+08:00", "text": "x"}', "line 2"),
    ("t.txt", "[99999999999999999999999:00] 加我微信", "line 1"),
    ("t.txt", f"ok\n[{HUGE}] 加我微信", "line 2"),
])
def test_a_hostile_transcript_is_a_one_line_error(tmp_path: Path, name: str, content: str, where: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    result = CliRunner().invoke(cli, ["rules", "check", "--transcript", str(path)])
    assert result.exit_code in (1, 2), result.output
    assert isinstance(result.exception, SystemExit), result.exception  # no traceback
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error:"), result.output
    assert str(path) in lines[0]
    assert where in lines[0]
    assert len(lines[0]) < 400


def test_a_hostile_text_option_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["rules", "check", "--text", "[99999999999999999999:00] 加我微信"])
    assert result.exit_code == 2
    assert isinstance(result.exception, SystemExit)
    assert "line 1" in result.output


def test_unclosed_ruby_tags_in_a_subtitle_cost_linear_time() -> None:
    """A line of 100,000 unclosed "<rt " took minutes to read (each one scanned to the end of the line)."""
    content = "WEBVTT\n\n00:00.000 --> 00:01.000\n" + "<rt " * 100_000 + "加我微信\n"
    started = time.monotonic()
    [cue] = read_cues(Path("t.vtt"), content, "vtt")
    assert time.monotonic() - started < 2
    assert cue.text.endswith("加我微信")


def test_an_honest_json_transcript_still_works(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text(f'[{SEGMENT}, {{"start": 3.5, "end": 6, "text": "打我电话13812345678", "avg_logprob": -0.1,'
                    f' "words": [{{"start": 3.5, "end": 4, "word": "打"}}]}}]', encoding="utf-8")
    result = CliRunner().invoke(cli, ["rules", "check", "--json", "--transcript", str(path)])
    assert result.exit_code == 0, result.output
    assert {f["category"] for f in json.loads(result.output)["findings"]} == {"traffic-diversion"}


# --- terminal escapes from transcript text ---------------------------------------------------------------------

HOSTILE_TEXT = ("\x1b]0;owned\x07\x1b[2K\x1b[1A打我电话13812345678\x9b31m\u202e[bold]red[/bold]\x1b]8;;http://x\x1b\\"
                "link\x7f\x00")
RAW = ("\x1b", "\x07", "\x9b", "\u202e", "\x7f", "\x00")


def test_rules_check_prints_escape_sequences_escaped(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text(json.dumps([{"start": 0, "end": 3, "text": HOSTILE_TEXT}], ensure_ascii=False),
                    encoding="utf-8")
    result = CliRunner().invoke(cli, ["rules", "check", "--transcript", str(path)])
    assert result.exit_code == 0, result.output
    assert not any(ch in result.output for ch in RAW), repr(result.output)
    assert "\\x1b]0;owned\\x07" in result.output
    assert "\\x9b31m" in result.output
    assert "\\u202e" in result.output
    assert "打我电话[13812345678]" in result.output  # Chinese and the highlight are untouched
    assert "[bold]red[/bold]" in result.output  # printed as written, never read as markup
    as_json = CliRunner().invoke(cli, ["rules", "check", "--json", "--transcript", str(path)])
    assert as_json.exit_code == 0, as_json.output
    assert not any(ch in as_json.output for ch in RAW), repr(as_json.output)
    [finding] = json.loads(as_json.output)["findings"]
    assert finding["evidence"].startswith(HOSTILE_TEXT[:-2])  # the data itself is whole


def test_rich_safe_text_is_neither_markup_nor_control() -> None:
    import io

    from rich.console import Console
    from rich.table import Table

    table = Table()
    table.add_column("detail")
    table.add_row(rich_safe("origin said [/x] \x1b]0;owned\x07 [bold]loud[/bold] 你好\x9b31m"))
    console = Console(file=io.StringIO(), force_terminal=True, width=200)
    console.print(table)  # an unmatched [/x] raised MarkupError before
    shown = console.file.getvalue()  # type: ignore[attr-defined]
    assert "[/x]" in shown
    assert "[bold]loud[/bold]" in shown
    assert "你好" in shown
    assert "\x1b]" not in shown
    assert "\x9b" not in shown


def test_printable_keeps_ordinary_text() -> None:
    ordinary = "大家好，今天 Live！ 100% — «ok» 😀 é\tend"
    assert printable(ordinary) == ordinary.replace("\t", "\\x09")
    assert printable("a\nb\rc") == "a\\x0ab\\x0dc"



def test_the_time_limit_grows_with_the_text() -> None:
    """A flat second was spent by two built-in rules on a 39-hour news corpus: a long event earns more time,
    while a short one keeps the base limit."""
    assert rule_time_limit(0) == RULE_TIME_LIMIT_S
    assert rule_time_limit(1_000_000) == RULE_TIME_LIMIT_S + 10
