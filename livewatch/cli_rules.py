"""``livewatch rules``: list the rule packs, run their examples, and check text against them."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from livewatch.cli_state import CliState, pass_state
from livewatch.errors import LivewatchError
from livewatch.rules.base import RuleInput, example_lines
from livewatch.rules.engine import RuleEngine
from livewatch.rules.examples import EXAMPLE_FACTS, EXAMPLE_START, run_examples
from livewatch.rules.packs import PackLibrary
from livewatch.rules.transcript import Transcript, Utterance, Word
from livewatch.subtitles import read_cues, subtitle_format


class TranscriptFileError(LivewatchError):
    """A transcript given to ``rules check`` cannot be read."""


@click.group()
def rules() -> None:
    """Rule packs: list them, test them against their own examples, check text against them."""


def _library(state: CliState) -> PackLibrary:
    return PackLibrary(state.settings.rule_packs_dir)


@rules.command("list")
@pass_state
def rules_list(state: CliState) -> None:
    """Every pack with its version, hash and rules (one line each, for grep)."""
    for pack in _library(state).packs():
        click.echo(f"{pack.ref}  sha256:{pack.sha256}  {pack.title}  ({pack.path})")
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
                click.echo(f"{result.pack}  {result.describe()}")
    click.echo(f"{total - failed}/{total} examples behave as written in {len(selected)} pack(s)")
    if failed:
        raise click.exceptions.Exit(1)


@rules.command("check")
@click.option("--pack", "packs", multiple=True, help="Pack id or id@version (repeatable); default: default.")
@click.option("--text", help="Text to check; lines may start with [mm:ss].")
@click.option("--transcript", "transcript_file", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="transcript.jsonl (from the monitor), JSON from `livewatch transcribe`, SRT or WebVTT "
                   "subtitles, or a .txt file.")
@click.option("--json", "as_json", is_flag=True, help="Print findings as JSON.")
@pass_state
def rules_check(state: CliState, packs: tuple[str, ...], text: str | None, transcript_file: Path | None,
                as_json: bool) -> None:
    """Check a text or a transcript file against rule packs and print the findings."""
    if (text is None) == (transcript_file is None):
        raise click.UsageError("give exactly one of --text and --transcript")
    selected = _library(state).select(packs or ("default",))
    transcript = (Transcript.of_lines(example_lines(text, EXAMPLE_START)) if text is not None
                  else read_transcript(transcript_file))  # type: ignore[arg-type]
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
        click.echo(json.dumps({"findings": [
            {"rule": f.rule, "category": f.category, "severity": f.severity, "matched": f.matched,
             "evidence": f.evidence, "start": f.start_at.isoformat(), "end": f.end_at.isoformat()}
            for f in findings]}, ensure_ascii=False, indent=2))
        return
    for f in findings:
        low, high = f.highlight
        shown = f"{f.evidence[:low]}[{f.evidence[low:high]}]{f.evidence[high:]}"
        flag = " (low ASR confidence: review)" if f.low_confidence else ""
        click.echo(f"{f.start_at.isoformat()}  {f.severity:<8} {f.rule}  {shown}{flag}")
    click.echo(f"{len(findings)} finding(s)")


def read_transcript(path: Path) -> Transcript:
    """transcript.jsonl (absolute times), ``livewatch transcribe --format json`` output (seconds), SRT or
    WebVTT subtitles (cue times from the event's start), or text."""
    try:
        content = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise TranscriptFileError(f"cannot read transcript {path}: {err}") from err
    try:
        if path.suffix == ".jsonl":
            return Transcript([_utterance(json.loads(line), None) for line in content.splitlines() if line.strip()])
        if path.suffix == ".json":
            return Transcript([_utterance(item, EXAMPLE_START) for item in json.loads(content)])
    except (ValueError, KeyError, TypeError) as err:
        raise TranscriptFileError(f"{path}: not a livewatch transcript ({err})") from err
    kind = subtitle_format(path, content)
    if kind is not None:
        return Transcript([Utterance(EXAMPLE_START + timedelta(seconds=cue.start),
                                     EXAMPLE_START + timedelta(seconds=cue.end), cue.text)
                           for cue in read_cues(path, content, kind)])
    return Transcript.of_lines(example_lines(content, EXAMPLE_START))


def _utterance(item: dict[str, Any], origin: datetime | None) -> Utterance:
    def at(value: Any) -> datetime:
        if origin is None:
            parsed = datetime.fromisoformat(str(value))
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        return origin + timedelta(seconds=float(value))

    words = tuple(Word(at(w["start"]), at(w["end"]), str(w["word"])) for w in item.get("words") or [])
    flags = tuple(str(f) for f in item.get("flags") or [])
    logprob = item.get("avg_logprob")
    confidence = None if logprob is None else math.exp(float(logprob))
    return Utterance(at(item["start"]), at(item["end"]), str(item["text"]).strip(), words, bool(flags),
                     confidence, flags)

