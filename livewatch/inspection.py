"""Inspections: a live broadcast watched now, without a registration (``livewatch watch URL``).

An inspector (after a tip from the public, or while patrolling) points livewatch at a broadcast on the air
now. It becomes an ordinary registration file of kind ``inspection`` under ``schedules/adhoc/``, so that
it is validated by the same loader (the URL refused exactly as a registration's would be), kept, listed
and reviewed like any other event, and picked up by a running monitor within its reload interval. What an
inspection is held to is its kind's policy (:mod:`livewatch.registration.kinds`).
"""

from __future__ import annotations

import re
import secrets
import urllib.parse
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from pydantic import ValidationError

from livewatch.errors import LivewatchError, RegistrationError
from livewatch.issues import Issue
from livewatch.registration import validate_registrations
from livewatch.registration.kinds import INSPECTION
from livewatch.registration.models import Event
from livewatch.registration.rule_selection import rule_selection_issues
from livewatch.rules.packs import PackLibrary
from livewatch.settings import Settings
from livewatch.sourcemap import LineMap
from livewatch.state import files
from livewatch.validation import issues_from_validation_error

#: The folder under the schedules folder that inspections are written to.
ADHOC_FOLDER = "adhoc"
#: The longest inspection one command starts; a broadcast watched longer is registered.
MAX_DURATION = timedelta(hours=24)
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([hms])")
_TITLE_MAX = 300


@dataclass(frozen=True)
class InspectionRequest:
    """What the inspector asked for (``livewatch watch`` or the review server's form)."""

    url: str
    duration: timedelta
    inspector: str
    title: str | None = None
    language: str = "auto"
    packs: tuple[str, ...] = ()
    tip_from: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class WrittenInspection:
    """The inspection's registration, as validated and where it was written."""

    event: Event
    path: Path


def parse_duration(text: str) -> timedelta:
    """``30m``, ``90s``, ``1h30m`` or a bare number of minutes, from 1 s to :data:`MAX_DURATION`."""
    cleaned = text.strip().lower().replace(" ", "")
    if re.fullmatch(r"\d+(\.\d+)?", cleaned):
        seconds = float(cleaned) * 60
    elif cleaned and _DURATION.sub("", cleaned) == "":
        units = {"h": 3600.0, "m": 60.0, "s": 1.0}
        seconds = sum(float(number) * units[unit] for number, unit in _DURATION.findall(cleaned))
    else:
        raise LivewatchError(f"'{text}' is not a duration; write it like 30m, 90s or 1h30m")
    duration = timedelta(seconds=seconds)
    if not timedelta(seconds=1) <= duration <= MAX_DURATION:
        raise LivewatchError(f"'{text}' is out of range: an inspection lasts from 1 s to 24 h "
                             "(register a longer broadcast as an event)")
    return duration


def new_inspection_id(now: datetime) -> str:
    """``inspect-<UTC date and time>-<4 random hex digits>``: sorts by time, unique without a lookup."""
    return f"inspect-{now.astimezone(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def _title(request: InspectionRequest) -> str:
    if request.title:
        return request.title
    parts = urllib.parse.urlsplit(request.url)
    where = f"{parts.hostname or ''}{parts.path}" if "://" in request.url else request.url
    return f"Inspection of {where}"[:_TITLE_MAX]


def inspection_document(request: InspectionRequest, event_id: str, now: datetime, zone: str) -> dict[str, Any]:
    """The registration of an inspection as written to its file: a window from ``now`` (whole seconds, in
    the configured time zone), armed at once and stopped at its end."""
    start = now.astimezone(ZoneInfo(zone)).replace(microsecond=0)
    document: dict[str, Any] = {
        "id": event_id,
        "title": _title(request),
        "kind": INSPECTION,
        "timezone": zone,
        "start": start.isoformat(),
        "end": (start + request.duration).isoformat(),
        "streams": [{"url": request.url}],
        "language": request.language,
        "rule_packs": list(request.packs) or ["default"],
        # Armed at once; recorded up to the end of the window and not past it (it is how long to watch).
        "capture": {"pre_roll_minutes": 0, "overrun_cap_minutes": 0},
        "inspection": {"inspector": request.inspector, "requested_at": start.isoformat()},
    }
    if request.tip_from:
        document["inspection"]["tip_from"] = request.tip_from
    if request.note:
        document["inspection"]["note"] = request.note
    return document


def adhoc_path(schedules: Path, event_id: str) -> Path:
    return schedules / ADHOC_FOLDER / f"{event_id}.yaml"


def write_inspection(settings: Settings, request: InspectionRequest, schedules: Path,
                     now: datetime | None = None) -> WrittenInspection:
    """Validate the inspection as a registration and write it to ``schedules/adhoc/<id>.yaml`` (at once,
    never through a link). Raises :class:`RegistrationError` with the loader's own messages when it would
    be refused (a URL scheme not allowed, a hidden character, a rule pack that does not exist...)."""
    now = now or datetime.now(UTC)
    event_id = new_inspection_id(now)
    path = adhoc_path(schedules, event_id)
    document = inspection_document(request, event_id, now, settings.timezone)
    try:
        event = Event.model_validate(document, context=settings.registration_context())
    except ValidationError as err:
        raise RegistrationError(issues_from_validation_error(
            err, root=Event, file=path, lines=LineMap(), event_id=event_id)) from None
    problems = rule_selection_issues(event, PackLibrary(settings.rule_packs_dir), file=path, lines=LineMap())
    if problems:
        raise RegistrationError(problems)
    text = (f"# An inspection started by livewatch watch ({request.inspector}); kept like any registration.\n"
            + yaml.safe_dump(document, allow_unicode=True, sort_keys=False))
    files.write_whole(schedules, path, text)
    # The whole loader over the written file (transcriber languages too): what the monitor will read.
    result = validate_registrations([path], settings)
    errors = [issue for issue in result.issues if issue.is_error]
    if errors or not result.registrations:
        path.unlink(missing_ok=True)
        raise RegistrationError(errors or [Issue(path, 1, (), "the inspection was not read back", code="invalid")])
    return WrittenInspection(result.registrations[0].event, path)
