"""The rule interface: a rule type is one class with one abstract method, ``evaluate``, and a spec model
that says which keys its YAML may have. Built-in types are registered through the ``livewatch.rule_types``
entry point group, as capture sources and transcriber backends are.

What a rule sees (:class:`RuleInput`): the event's facts (registration, registered window, on-air spans,
gaps, audio measurements, black or frozen picture), each stream's transcript and what each stream showed on
screen. Text rules read the channels their spec names (``channels``: speech, screen). What it returns:
:class:`Hit` s; the engine turns them into findings (severity, category, pack, id, verdict), so rule types
know nothing of any of that.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field, model_validator

from livewatch.fields import SeverityName, SingleLine, StrictModel
from livewatch.pipeline.findings import DetailValue
from livewatch.pipeline.screen import Box, Channel, PictureSpell, ScreenItem, TextChannel
from livewatch.rules.screen_text import ScreenTranscript, frame_ref, screen_transcripts
from livewatch.rules.transcript import Transcript

if TYPE_CHECKING:
    from livewatch.rules.audio_facts import AudioFacts

RULE_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$"
ALL_TEXT_CHANNELS: tuple[TextChannel, ...] = ("speech", "screen")


class Examples(StrictModel):
    """Inputs on which the rule must fire, and inputs on which it must stay quiet."""

    fires: list[Any] = Field(default_factory=list)
    passes: list[Any] = Field(default_factory=list)


class Scope(StrictModel):
    """Time-window scoping, in minutes from the on-air start (or from the end, for ``last_minutes``)."""

    first_minutes: float | None = Field(None, gt=0)
    last_minutes: float | None = Field(None, gt=0)
    from_minutes: float | None = Field(None, ge=0)
    to_minutes: float | None = Field(None, gt=0)


class RuleSpec(StrictModel):
    """Keys every rule has; each rule type adds its own."""

    #: The text channels rules of this type can read; ``channels`` defaults to all of them. Types that read
    #: no text (schedule, audio, screen codes) have none, and a ``channels`` key is an error there.
    readable_channels: ClassVar[tuple[TextChannel, ...]] = ALL_TEXT_CHANNELS

    id: str = Field(pattern=RULE_ID, max_length=100)
    type: str
    category: str = Field(pattern=r"^[a-z][a-z0-9-]*$")
    severity: SeverityName
    title: SingleLine | None = None
    legal_basis: SingleLine | None = None
    scope: Scope | None = None
    cooldown_s: float = Field(0, ge=0, description="Hits of this rule closer than this become one finding.")
    examples: Examples = Field(default_factory=Examples)
    channels: list[TextChannel] = Field(default_factory=lambda: list(ALL_TEXT_CHANNELS), description=(
        "What the rule reads: speech (the transcript), screen (text read on screen), or both."))

    @model_validator(mode="before")
    @classmethod
    def _default_channels(cls, data: Any) -> Any:
        """Without ``channels``, every channel the type can read."""
        if isinstance(data, dict) and "channels" not in data:
            return {**data, "channels": list(cls.readable_channels)}
        return data

    @model_validator(mode="after")
    def _readable(self) -> RuleSpec:
        unreadable = [c for c in self.channels if c not in self.readable_channels]
        if unreadable and not self.readable_channels:
            raise ValueError(f"a {self.type} rule reads no text channel: leave out channels")
        if self.readable_channels and not self.channels:
            raise ValueError("channels must name at least one of " + ", ".join(self.readable_channels))
        if unreadable:
            raise ValueError(f"a {self.type} rule cannot read {', '.join(unreadable)}; it reads "
                             f"{', '.join(self.readable_channels)}")
        self.channels = list(dict.fromkeys(self.channels))
        return self


class FactSpec(RuleSpec):
    """The spec of a rule type that reads facts, not text: it has no ``channels``."""

    readable_channels: ClassVar[tuple[TextChannel, ...]] = ()


@dataclass(frozen=True)
class Gap:
    start_at: datetime
    end_at: datetime
    cause: str


@dataclass(frozen=True)
class EventFacts:
    """What is known about an event apart from its transcript."""

    event_id: str
    registered_start: datetime
    registered_end: datetime
    on_air: tuple[tuple[datetime, datetime], ...] = ()
    gaps: tuple[Gap, ...] = ()
    run_status: str | None = None  # None: no run yet; else the capture run's status (no-show, finished, ...)
    tolerances: Mapping[str, float] = field(default_factory=dict)  # minutes: early_start, late_start, overrun
    audio: AudioFacts | None = None
    registration: Any = None  # livewatch.registration.Event, when known
    blacklist: Any = None  # livewatch.registration.blacklist.Blacklist, when configured
    picture: tuple[PictureSpell, ...] = ()  # black or frozen picture, every stream

    @property
    def on_air_start(self) -> datetime:
        return self.on_air[0][0] if self.on_air else self.registered_start

    @property
    def on_air_end(self) -> datetime:
        return self.on_air[-1][1] if self.on_air else self.registered_end


@dataclass(frozen=True)
class RuleInput:
    facts: EventFacts
    transcripts: Mapping[int, Transcript] = field(default_factory=dict)
    #: What each stream showed (codes and text lines), by stream.
    screen: Mapping[int, Sequence[ScreenItem]] = field(default_factory=dict)

    @cached_property
    def screen_transcripts(self) -> dict[int, ScreenTranscript]:
        """Each stream's text lines as a transcript, built once for every rule that reads the screen."""
        return screen_transcripts(self.screen)

    def texts(self, channels: Sequence[TextChannel]) -> dict[int, list[Transcript]]:
        """By stream, the transcripts of ``channels`` (speech first), for streams that have any."""
        out: dict[int, list[Transcript]] = {}
        sources: list[Mapping[int, Transcript]] = []
        if "speech" in channels:
            sources.append(self.transcripts)
        if "screen" in channels:
            sources.append(self.screen_transcripts)
        for source in sources:
            for stream, transcript in source.items():
                out.setdefault(stream, []).append(transcript)
        return dict(sorted(out.items()))

    def each_text(self, channels: Sequence[TextChannel]) -> Iterator[tuple[int, Transcript]]:
        """Every (stream, transcript) of ``channels``, stream by stream."""
        for stream, transcripts in self.texts(channels).items():
            for transcript in transcripts:
                yield stream, transcript

    @property
    def text_length(self) -> int:
        """Characters of speech and screen text: what a rule's regular expressions may have to search."""
        return (sum(len(t.text) for t in self.transcripts.values())
                + sum(len(t.text) for t in self.screen_transcripts.values()))


@dataclass(frozen=True)
class Hit:
    """Where and why a rule fired. ``evidence`` is the original text with the match at
    ``[highlight_start, highlight_end)``; ``normalized`` is what the rule actually matched."""

    start_at: datetime
    end_at: datetime
    matched: str
    evidence: str = ""
    highlight_start: int = 0
    highlight_end: int = 0
    normalized: str = ""
    stream: int | None = None
    low_confidence: bool = False
    asr_confidence: float | None = None
    details: Mapping[str, DetailValue] = field(default_factory=dict)  # the finding's details
    #: Where the evidence comes from; None: the rule type's own :attr:`Rule.channel`.
    channel: Channel | None = None
    #: A screen hit's frame (relative to the event's folder) and the box in it.
    frame: str | None = None
    box: Box | None = None


class Rule(ABC):
    """One rule of a pack, built from its validated spec."""

    #: The ``type:`` value in a pack that selects this class.
    type_name: ClassVar[str]
    spec_model: ClassVar[type[RuleSpec]] = RuleSpec
    #: Examples are transcript text (True) or a mapping of facts the type reads itself (False).
    text_examples: ClassVar[bool] = True
    #: The type only adds what other rules miss (a semantic rule: wordings no lexicon lists). The engine
    #: drops its finding where another rule's finding of the same category and stream overlaps it: a
    #: reviewer should not read the same utterance twice.
    supplementary: ClassVar[bool] = False
    #: The channel of its findings when a hit names none: text types take it from the transcript a hit is
    #: in; fact types say what they read (schedule, registration, audio, stream, screen).
    channel: ClassVar[Channel] = "speech"

    def __init__(self, spec: RuleSpec) -> None:
        self.spec = spec

    @property
    def id(self) -> str:
        return self.spec.id

    @abstractmethod
    def evaluate(self, data: RuleInput) -> Iterator[Hit]:
        """Every place the rule fires."""

    def example_input(self, example: Any, base: EventFacts) -> RuleInput:
        """The input an example stands for; text rules read it as transcript lines (see :func:`example_lines`),
        or a mapping of what was said and shown (``{speech: ..., screen: [...]}``, see
        :mod:`livewatch.rules.screen_examples`)."""
        from livewatch.rules.screen_examples import example_keys, example_screen

        if isinstance(example, Mapping):
            example_keys(example, ("speech", "screen"))
            speech, shown = example.get("speech", ""), example.get("screen", [])
            if not isinstance(speech, str) or not isinstance(shown, list):
                raise TypeError(f"rule {self.id}: speech is text and screen a list of lines")
            said = {0: Transcript.of_lines(example_lines(speech, base.on_air_start))} if speech else {}
            return RuleInput(base, said, {0: example_screen(shown, base.on_air_start)} if shown else {})
        if not isinstance(example, str):
            raise TypeError(f"rule {self.id}: examples of a {self.type_name} rule are text, or a mapping of "
                            "speech and screen")
        return RuleInput(base, {0: Transcript.of_lines(example_lines(example, base.on_air_start))})

    #: Where a registration's ``add_terms``/``allowlist`` go: the name of a condition in the spec, "" for
    #: the spec itself (a lexicon), None when the type has no terms.
    extendable: ClassVar[str | None] = None

    def with_additions(self, add_terms: Sequence[str], allowlist: Sequence[str]) -> Rule:
        """This rule with a registration's extra terms and allowlist."""
        name = self.extendable
        if name is None or (not add_terms and not allowlist):
            return self
        target: Any = self.spec if name == "" else getattr(self.spec, name)  # a spec or condition with terms
        update: dict[str, list[str]] = {"allow": [*target.allow, *allowlist]}
        if "terms" in type(target).model_fields:
            update["terms"] = [*target.terms, *add_terms]
        extended = target.model_copy(update=update)
        return type(self)(extended if name == "" else self.spec.model_copy(update={name: extended}))


#: The latest time a transcript line may have, in seconds from its start: a month is longer than any broadcast,
#: and keeps date arithmetic on hostile times far from datetime's limits.
MAX_OFFSET_S = 31 * 86400.0

_AT = re.compile(r"^\[(?:(\d+):)?(\d+(?:\.\d+)?)\]\s*")


def example_lines(example: str, start: datetime) -> list[tuple[datetime, str]]:
    """Lines of an example; ``[mm:ss]`` or ``[s]`` at the start of a line says when it was said (seconds
    from the on-air start); lines without one follow 5 s after the line before."""
    lines: list[tuple[datetime, str]] = []
    at = 0.0
    for number, raw in enumerate(example.splitlines() or [example], start=1):
        found = _AT.match(raw)
        if found:
            at = float(found.group(1) or 0) * 60 + float(found.group(2))
            if not at <= MAX_OFFSET_S:  # [99999999999999999999:00] would overflow the date (inf too)
                raise ValueError(f"line {number}: [{found.group(1) or ''}{':' if found.group(1) else ''}"
                                 f"{found.group(2)[:20]}] is beyond {MAX_OFFSET_S // 86400:g} days from the start")
            raw = raw[found.end():]
        elif lines:
            at += 5.0
        if raw.strip():
            lines.append((start + timedelta(seconds=at), raw.strip()))
    return lines


def hit_for(transcript: Transcript, stream: int, start: int, end: int, matched: str,
            details: Mapping[str, DetailValue] | None = None) -> Hit:
    """A hit over original characters ``[start, end)`` of a transcript, with evidence and ASR confidence;
    on a screen transcript, with the line's frame and box, and its OCR confidence in the details."""
    start_at, end_at = transcript.times(start, end)
    evidence, low, high = transcript.evidence(start, end)
    utterances = transcript.utterances_in(start, end)
    confidences = [u.confidence for u in utterances if u.confidence is not None]
    seen = transcript.compact.text_within(start, end)  # what the rule saw, for the report
    hit = Hit(start_at, end_at, matched, evidence, low, high, seen, stream,
              any(u.low_confidence for u in utterances), min(confidences) if confidences else None,
              dict(details or {}), transcript.channel)
    if isinstance(transcript, ScreenTranscript):
        item = transcript.item_at(start)
        hit = replace(hit, asr_confidence=None, frame=frame_ref(item.frame), box=item.box,
                      details={**hit.details, "ocr_confidence": round(item.confidence, 3), "reader": item.reader,
                               "seconds_visible": round((item.end_at - item.start_at).total_seconds(), 1)})
    return hit
