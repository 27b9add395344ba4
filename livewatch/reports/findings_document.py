"""The findings document: what one check of an event says, typed. ``findings.json`` is its JSON form, a
stable contract for other tools (docs/findings-json.md).

The report stage builds it once per check (:func:`livewatch.reports.findings_files.findings_document`, from
the check and the stores); the exports and the report read its fields; :func:`findings_json` is the one
place it becomes text. Each class's fields are the JSON object's keys, in the order written, and every time
is already in the event's own zone, as the JSON writes it: the document holds what the file says.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, fields, is_dataclass
from datetime import datetime
from typing import Literal, get_args

from livewatch.fields import SeverityName
from livewatch.pipeline.findings import DetailValue, Status, Verdict
from livewatch.pipeline.screen import Box, Channel

#: Bumped only when a field changes meaning or goes away; new fields may appear without a bump (issue 18's
#: ``channel``, ``frame`` and ``box`` were added to version 1).
FINDINGS_SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class EventInfo:
    """The event as registered."""

    id: str
    title: str
    kind: str
    timezone: str
    registered_start: datetime
    registered_end: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class OnAir:
    """First and last moment of recorded media (both None when the stream never went live)."""

    start: datetime | None
    end: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class GapEntry:
    """Time the stream was not recorded, and why (``end`` None: still open)."""

    start: datetime
    end: datetime | None
    cause: str


@dataclass(frozen=True, slots=True, kw_only=True)
class FindingEntry:
    """One finding as the document lists it: the :class:`~livewatch.pipeline.findings.Finding` without the
    event id and the pack's hash (both said once, above), its times in the event's zone."""

    id: str
    rule: str
    pack: str
    category: str
    severity: SeverityName
    status: Status
    start: datetime
    end: datetime
    offset_s: float
    evidence: str
    highlight: tuple[int, int]
    matched: str
    normalized: str
    legal_basis: str | None
    asr_confidence: float | None
    low_confidence: bool
    rule_severity: SeverityName
    count: int
    stream: int | None
    title: str | None
    details: Mapping[str, DetailValue]
    #: Where the evidence comes from: speech, screen, audio, schedule, registration or stream.
    channel: Channel = "speech"
    #: A screen finding's evidence frame, relative to the report's folder (``frames/<id>.jpg``); None for
    #: other channels and for a frame that was not kept.
    frame: str | None = None
    #: Where the code or text is in ``frame``, in its pixels; None for other channels.
    box: Box | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SilenceEntry:
    start: datetime
    end: datetime
    seconds: float  # to a tenth


@dataclass(frozen=True, slots=True, kw_only=True)
class Technical:
    """The audio measurements of the final check (each level None when the audio was silent)."""

    measured_s: float  # to a tenth
    integrated_lufs: float | None
    loudness_range_lu: float | None
    true_peak_dbtp: float | None
    silences: tuple[SilenceEntry, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class PackEntry:
    pack: str  # id@version
    sha256: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TranscriberEntry:
    backend: str
    model: str
    sha256: str | None  # of the weights, from the model store's manifest (None: the store does not hold it)


@dataclass(frozen=True, slots=True, kw_only=True)
class Provenance:
    """What made the findings: packs, transcriber, livewatch, the registration file."""

    packs: tuple[PackEntry, ...]
    transcriber: tuple[TranscriberEntry, ...]
    livewatch_version: str
    registration_file: str
    registration_sha256: str
    generated_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class FindingsDocument:
    """Everything one check of an event says (docs/findings-json.md)."""

    schema_version: int = FINDINGS_SCHEMA_VERSION
    event: EventInfo
    verdict: Verdict
    run_status: str | None  # None before any run
    on_air: OnAir
    gaps: tuple[GapEntry, ...]  # in time order
    findings: tuple[FindingEntry, ...]
    technical: Technical | None  # None until the final check has measured the audio
    provenance: Provenance


def findings_json(document: FindingsDocument) -> str:
    """The text of ``findings.json``: UTF-8 as it is (no \\u escapes), indented by two, one final newline."""
    # default=str: ``details`` come from rule types, plugins among them; a value that is no JSON (which
    # its type forbids) is written as its text rather than losing the whole file.
    return json.dumps(_plain(document), ensure_ascii=False, indent=2, default=str) + "\n"


def json_fields(entry: FindingEntry) -> dict[str, object]:
    """One finding's fields as JSON values (what ``findings.json`` says of it; the CSV takes its columns)."""
    plain = _plain(entry)
    assert isinstance(plain, dict)
    return plain


def _plain(value: object) -> object:
    """A document part as JSON values: objects in field order, times as ISO 8601 (already in the event's
    zone), tuples as lists. ``details`` mappings are left to :func:`json.dumps` as they are."""
    if isinstance(value, datetime):
        return value.isoformat()
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    if isinstance(value, Mapping):
        return dict(value)
    return value


_VERDICTS: tuple[str, ...] = get_args(Verdict)


def read_verdict(raw: bytes) -> Verdict | Literal[""]:
    """The verdict of a ``findings.json`` read back from disk ('' when it has none). Raises ValueError for
    a file that is no findings document or names a verdict there is not."""
    try:
        document = json.loads(raw)
    except ValueError as err:  # not UTF-8, or not JSON
        raise ValueError(f"findings.json is no JSON: {err}") from err
    if not isinstance(document, dict):
        raise ValueError("findings.json holds no JSON object")
    verdict = document.get("verdict", "")
    if verdict == "":
        return ""
    if verdict not in _VERDICTS:
        raise ValueError(f"findings.json: unknown verdict {verdict!r}")
    value: Verdict = verdict
    return value
