"""``livewatch rules``: list the rule packs, run their examples, and check text against them."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from livewatch.cli.invocation import CliState, pass_state
from livewatch.errors import LivewatchError
from livewatch.rules.base import MAX_OFFSET_S, RuleInput, example_lines
from livewatch.rules.engine import RULE_ERROR_CATEGORY, RuleEngine
from livewatch.rules.examples import EXAMPLE_FACTS, EXAMPLE_START, run_examples
from livewatch.rules.packs import PackLibrary
from livewatch.rules.transcript import Transcript, Utterance, Word
from livewatch.subtitles import read_cues, subtitle_format
from livewatch.terminal import json_printable, printable

#: Absolute times a transcript.jsonl may hold: anything else is a forged or corrupt file, and would push date
#: arithmetic (windows, tolerances) past datetime's limits.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2999, 12, 31, tzinfo=UTC)


class TranscriptFileError(LivewatchError):
    """A transcript given to ``rules check`` cannot be read."""


@click.group()
def rules() -> None:
    """Rule packs: list them, test them against their own examples, check text against them."""


def _library(state: CliState) -> PackLibrary:
    return PackLibrary(state.settings.rule_packs_dir)


#: ``--format`` of the listing commands: text for people, JSON for scripts.
FORMAT_OPTION = click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
                             show_default=True, help="json: one JSON document on stdout.")


@rules.command("list")
@FORMAT_OPTION
@pass_state
def rules_list(state: CliState, fmt: str) -> None:
    """Every pack with its version, hash and rules (one line each, for grep)."""
    if fmt == "json":
        click.echo(json_printable(json.dumps([{
            "pack": pack.id, "version": pack.version, "sha256": pack.sha256, "title": pack.title,
            "path": str(pack.path),
            "rules": [{"id": rule.id, "type": rule.type_name, "category": rule.spec.category,
                       "severity": rule.spec.severity, "examples_fire": len(rule.spec.examples.fires),
                       "examples_pass": len(rule.spec.examples.passes)} for rule in pack.rules],
        } for pack in _library(state).packs()], ensure_ascii=False, indent=2)))
        return
    for pack in _library(state).packs():
        click.echo(printable(f"{pack.ref}  sha256:{pack.sha256}  {pack.title}  ({pack.path})"))
        width = max((len(rule.id) for rule in pack.rules), default=0)
        for rule in pack.rules:
            examples = rule.spec.examples
            click.echo(f"  {rule.id:<{width}}  {rule.type_name:<18} {rule.spec.category:<18} "
                       f"{rule.spec.severity:<8}  examples: {len(examples.fires)} fire, {len(examples.passes)} pass")


@rules.command("test")
@click.argument("packs", nargs=-1)
@click.option("-v", "--verbose", is_flag=True, help="Show every example, not only the failures.")
@pass_state
def rules_test(state: CliState, packs: tuple[str, ...], verbose: bool) -> None:
    """Run every rule's examples (all packs, or the PACKS named); exit 1 when any fails."""
    library = _library(state)
    selected = library.select(packs) if packs else library.packs()
    failed = total = 0
    for pack in selected:
        for result in run_examples(pack):
            total += 1
            failed += not result.ok
            if verbose or not result.ok:
                click.echo(printable(f"{result.pack}  {result.describe()}"))
    click.echo(f"{total - failed}/{total} examples behave as written in {len(selected)} pack(s)")
    if failed:
        raise click.exceptions.Exit(1)


@rules.command("check")
@click.option("--pack", "packs", multiple=True, help="Pack id or id@version (repeatable); default: default.")
@click.option("--text", help="Text to check; lines may start with [mm:ss].")
@click.option("--transcript", "transcript_file", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="transcript.jsonl (from the monitor), JSON from `livewatch transcribe`, SRT or WebVTT "
                   "subtitles, or a .txt file.")
@FORMAT_OPTION
@click.option("--json", "as_json", is_flag=True, help="Same as --format json (kept for scripts that use it).")
@pass_state
def rules_check(state: CliState, packs: tuple[str, ...], text: str | None, transcript_file: Path | None,
                fmt: str, as_json: bool) -> None:
    """Check a text or a transcript file against rule packs and print the findings."""
    as_json = as_json or fmt == "json"
    if (text is None) == (transcript_file is None):
        raise click.UsageError("give exactly one of --text and --transcript")
    selected = _library(state).select(packs or ("default",))
    if text is not None:
        try:
            transcript = Transcript.of_lines(example_lines(text, EXAMPLE_START))
        except ValueError as err:
            raise click.BadParameter(str(err), param_hint="--text") from None
    else:
        transcript = read_transcript(transcript_file)  # type: ignore[arg-type]
    facts = EXAMPLE_FACTS
    if transcript.utterances:
        first = transcript.utterances[0].start_at
        last = transcript.utterances[-1].end_at
        facts = replace(facts, event_id="check", registered_start=first, registered_end=last,
                        on_air=((first, last),))
    text_types = {rule.type_name for pack in selected for rule in pack.rules if rule.text_examples}
    # Schedule, registration and audio rules need facts a text does not have.
    text_only = [pack.with_rules(r for r in pack.rules if r.type_name in text_types) for pack in selected]
    findings = RuleEngine(text_only).evaluate(RuleInput(facts, {0: transcript}))
    if as_json:
        click.echo(json_printable(json.dumps({"findings": [
            {"rule": f.rule, "category": f.category, "severity": f.severity, "matched": f.matched,
             "evidence": f.evidence, "start": f.start_at.isoformat(), "end": f.end_at.isoformat()}
            for f in findings]}, ensure_ascii=False, indent=2)))
        return
    for f in findings:
        low, high = f.highlight
        # The transcript's text is the watched party's: printed escaped, it cannot drive the terminal.
        shown = printable(f"{f.evidence[:low]}[{f.evidence[low:high]}]{f.evidence[high:]}")
        flag = " (low ASR confidence: review)" if f.low_confidence else ""
        click.echo(f"{f.start_at.isoformat()}  {f.severity:<8} {f.rule}  {shown}{flag}")
    errors = sum(f.category == RULE_ERROR_CATEGORY for f in findings)
    note = f", {errors} of them rule error(s): the text was not fully checked" if errors else ""
    click.echo(f"{len(findings)} finding(s){note}")


def read_transcript(path: Path) -> Transcript:
    """transcript.jsonl (absolute times), ``livewatch transcribe --format json`` output (seconds), SRT or
    WebVTT subtitles (cue times from the event's start), or text. A file that cannot be read as a whole is
    refused with the line or item at fault: a transcript may come from the party under watch."""
    try:
        content = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise TranscriptFileError(f"cannot read transcript {path}: {err}") from err
    if path.suffix == ".jsonl":
        return Transcript([_utterance(_json(line, f"{path}, line {number}"), None, f"{path}, line {number}")
                           for number, line in enumerate(content.splitlines(), start=1) if line.strip()])
    if path.suffix == ".json":
        items = _json(content, str(path))
        if not isinstance(items, list):
            raise TranscriptFileError(f"{path}: not a livewatch transcript (expected a JSON list of segments, "
                                      f"got {_kind(items)})")
        return Transcript([_utterance(item, EXAMPLE_START, f"{path}, item {index}")
                           for index, item in enumerate(items, start=1)])
    kind = subtitle_format(path, content)
    if kind is not None:
        return Transcript([Utterance(EXAMPLE_START + timedelta(seconds=cue.start),
                                     EXAMPLE_START + timedelta(seconds=cue.end), cue.text)
                           for cue in read_cues(path, content, kind)])
    try:
        return Transcript.of_lines(example_lines(content, EXAMPLE_START))
    except ValueError as err:
        raise TranscriptFileError(f"{path}, {err}") from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number livewatch accepts")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:20]} is out of range")
    return value


def _json(text: str, where: str) -> Any:
    try:
        return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite)
    except (ValueError, RecursionError) as err:  # RecursionError: [[[[... nested past the parser's depth
        reason = "nested too deeply" if isinstance(err, RecursionError) else str(err)
        raise TranscriptFileError(f"{where}: not valid JSON ({reason})") from None


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number")


def _utterance(item: Any, origin: datetime | None, where: str) -> Utterance:
    """One segment: a mapping with ``start``, ``end`` (ISO times, or seconds after ``origin``) and ``text``."""
    def fail(reason: str) -> TranscriptFileError:
        return TranscriptFileError(f"{where}: {reason}")

    def mapping(value: Any, what: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise fail(f"{what} must be a mapping with start, end and text, got {_kind(value)}")
        missing = [key for key in ("start", "end", "text" if what == "the segment" else "word") if key not in value]
        if missing:
            raise fail(f"{what} has no {missing[0]!r}")
        return value

    def at(value: Any, field: str) -> datetime:
        if origin is None:
            try:
                parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
            except ValueError:
                parsed = None
            if parsed is None:
                raise fail(f"{field} must be an ISO date-time, got {_shown(value)}")
            parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
            if not EARLIEST <= parsed <= LATEST:
                raise fail(f"{field} {value[:40]!r} is not between {EARLIEST.year} and {LATEST.year}")
            return parsed
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= MAX_OFFSET_S:
            raise fail(f"{field} must be seconds from 0 to {MAX_OFFSET_S:.0f}, got {_shown(value)}")
        return origin + timedelta(seconds=float(value))

    def span(value: dict[str, Any], what: str) -> tuple[datetime, datetime]:
        start, end = at(value["start"], f"{what}'s start"), at(value["end"], f"{what}'s end")
        if end < start:
            raise fail(f"{what} ends before it starts")
        return start, end

    segment = mapping(item, "the segment")
    if not isinstance(segment["text"], str):
        raise fail(f"text must be a string, got {_kind(segment['text'])}")
    raw_words = segment.get("words") or []
    raw_flags = segment.get("flags") or []
    if not isinstance(raw_words, list) or not isinstance(raw_flags, list):
        raise fail("words and flags must be lists")
    words = tuple(Word(*span(w, f"word {n}"), str(w["word"]))
                  for n, w in enumerate((mapping(w, f"word {n}") for n, w in enumerate(raw_words, 1)), 1))
    flags = tuple(str(f) for f in raw_flags)
    logprob = segment.get("avg_logprob")
    if logprob is not None and (isinstance(logprob, bool) or not isinstance(logprob, (int, float))):
        raise fail(f"avg_logprob must be a number, got {_shown(logprob)}")
    confidence = None if logprob is None else math.exp(min(float(logprob), 0.0))
    start, end = span(segment, "the segment")
    return Utterance(start, end, segment["text"].strip(), words, bool(flags), confidence, flags)


def _shown(value: Any) -> str:
    text = repr(value)
    return printable(text if len(text) <= 40 else text[:37] + "...")
