"""The event-registration format: what an officer writes in ``schedules/*.yaml``.

Models are strict (unknown keys are errors) and carry descriptions that become the JSON Schema and the
field reference in ``docs/registration.md``. Values that depend on the global configuration (default time
zone, allowed URL schemes, default tolerances) come through the validation context; see
:class:`RegistrationContext`.
"""

from __future__ import annotations

import re
import unicodedata
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timezone, tzinfo
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import Field, ValidationInfo, WithJsonSchema, field_validator
from pydantic_core import PydanticCustomError

from livewatch.fields import (
    DEFAULT_URL_SCHEMES,
    CaptureSettings,
    Category,
    EventId,
    Language,
    SeverityName,
    SingleLine,
    StrictModel,
    Text,
    Tolerances,
    check_timezone,
    timezone_from_number,
)
from livewatch.registration.kinds import kind_policy

EventKind = Literal["forum", "annual-meeting", "lecture", "seminar", "summit", "launch", "other", "inspection"]
Role = Literal["host", "guest", "moderator"]
CredentialField = Literal["finance", "medical", "law", "education"]

#: Declared topics that need a professional credential, by the field of the credential they need.
REGULATED_TOPICS: dict[str, CredentialField] = {
    "finance": "finance",
    "investment": "finance",
    "medical": "medical",
    "medicine": "medical",
    "health": "medical",
    "law": "law",
    "legal": "law",
    "education": "education",
}

_SLUG = r"^[a-z0-9][a-z0-9_.-]*$"
#: Refused in URLs: C0 controls, DEL, C1 controls, bidi marks and overrides, zero-width characters, BOM.
_URL_HIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff]")
#: Registered events fall in these years; anything else is a typo (and year 1 or 9999 overflows the
#: arithmetic around the window: pre-roll, overrun cap).
MIN_YEAR, MAX_YEAR = 2000, 2199
_ISO_PATTERN = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$"


@dataclass(frozen=True)
class RegistrationContext:
    """What the global configuration decides for every registration (passed as pydantic context)."""

    default_timezone: str = "UTC"
    allowed_url_schemes: tuple[str, ...] = DEFAULT_URL_SCHEMES
    tolerances: Tolerances = field(default_factory=Tolerances)
    capture: CaptureSettings = field(default_factory=CaptureSettings)
    #: Names of the configured alert targets; None: not known here, so names are not checked.
    alert_targets: tuple[str, ...] | None = None


def _context(info: ValidationInfo) -> RegistrationContext:
    context = info.context
    if isinstance(context, RegistrationContext):
        return context
    return RegistrationContext()


def parse_local_datetime(value: Any, zone: tzinfo) -> datetime:
    """Read ISO 8601 text (or a TOML datetime); a time without an offset is read in ``zone``."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date | time):
        raise ValueError("needs both a date and a time, e.g. 2026-12-01T09:00 (the time zone is optional)")
    elif isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            raise ValueError(f"'{text}' has no time of day; write it like {text}T09:00")
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(
                f"'{text}' is not an ISO 8601 date and time; write it like 2026-12-01T09:00 "
                "or 2026-12-01T09:00+08:00"
            ) from None
    else:
        raise ValueError("must be a date and time such as 2026-12-01T09:00")
    if not MIN_YEAR <= parsed.year <= MAX_YEAR:
        raise ValueError(f"year {parsed.year} is out of range; an event is registered for a year from "
                         f"{MIN_YEAR} to {MAX_YEAR}")
    if parsed.tzinfo is None:
        parsed = _local_instant(parsed, zone)
    # Held as an instant with a fixed offset: arithmetic and comparisons on a datetime that carries a
    # ZoneInfo work on the wall clock, so across a DST change `start - 10 min` or `end <= start` went wrong.
    offset = parsed.utcoffset()
    return parsed.replace(tzinfo=timezone(offset) if offset is not None else UTC)


def _instant(moment: datetime, zone: tzinfo | None = None) -> str:
    shown = f"{moment.isoformat(timespec='minutes')} = {moment.astimezone(UTC):%Y-%m-%dT%H:%M} UTC"
    if zone is not None:
        shown += f", when local clocks show {moment.astimezone(zone):%H:%M}"
    return shown


def _local_instant(naive: datetime, zone: tzinfo) -> datetime:
    """``naive`` read on the wall clock of ``zone``. A time the clocks skip (spring forward) or show twice
    (autumn back) is an error that shows the instants it could mean; the officer picks one by writing it
    with its offset."""
    earlier, later = naive.replace(tzinfo=zone, fold=0), naive.replace(tzinfo=zone, fold=1)
    before, after = earlier.utcoffset(), later.utcoffset()
    if before is None or after is None or before == after:
        return earlier
    candidates = [naive.replace(tzinfo=timezone(offset)) for offset in (before, after)]
    written = naive.isoformat(timespec="minutes")
    if earlier.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != naive:
        raise ValueError(
            f"{written} does not exist in {zone}: the clocks skip it when they go forward. With the offset "
            f"before the change it is {_instant(candidates[0], zone)}; with the offset after, "
            f"{_instant(candidates[1], zone)}. Write a time that exists, or the offset you mean")
    raise ValueError(
        f"{written} is ambiguous in {zone}: the clocks go back and show it twice, at "
        f"{_instant(candidates[0])} and at {_instant(candidates[1])}. Write the offset of the one you mean, "
        f"e.g. {candidates[0].isoformat(timespec='minutes')}")


LocalDateTime = Annotated[
    datetime,
    WithJsonSchema(
        {
            "type": "string",
            "pattern": _ISO_PATTERN,
            "description": "ISO 8601 date and time; without an offset it is read in the event's timezone.",
            "examples": ["2026-12-01T09:00", "2026-12-01T09:00+08:00"],
        }
    ),
]


class Organizer(StrictModel):
    """Who runs the event and answers for it."""

    name: SingleLine = Field(description="Organizer's registered name.")
    contact: SingleLine | None = Field(None, description="Phone or e-mail of the responsible person.")


class Stream(StrictModel):
    """One place the event is broadcast."""

    url: str = Field(description="Platform page or direct media URL (http, https, rtmp, rtmps).")
    platform: Annotated[str, Field(pattern=_SLUG, max_length=40)] | None = Field(
        None, description="Platform tag, e.g. douyin, bilibili, weibo, youtube."
    )
    label: SingleLine | None = Field(None, description="Which feed this is, e.g. main hall, English.")

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str, info: ValidationInfo) -> str:
        allowed = _context(info).allowed_url_schemes
        hidden = _URL_HIDDEN.search(value)
        if hidden:
            # These change how the URL reads (or what a terminal does) without changing what it fetches, so
            # an officer checking the URL by eye could be shown a different one than livewatch records.
            char = hidden.group()
            raise ValueError(f"URL contains an invisible or control character, U+{ord(char):04X} "
                             f"{unicodedata.name(char, '(a control character)')}, at position "
                             f"{hidden.start() + 1}; remove it, or percent-encode it if the address needs it")
        if any(ch.isspace() for ch in value):
            raise ValueError("URL contains spaces or control characters; percent-encode them")
        parts = urllib.parse.urlsplit(value)
        # urlsplit reads "live.douyin.com:443/123" as scheme "live.douyin.com"; a URL needs "://".
        scheme = parts.scheme.lower() if "://" in value else ""
        if not scheme:
            raise ValueError(f"'{value}' has no scheme; write the full URL, e.g. https://{value}")
        if scheme not in allowed:
            raise ValueError(
                f"URL scheme '{scheme}' is not allowed; use one of {', '.join(allowed)} "
                "(the global configuration's allowed_url_schemes can add more)"
            )
        if not parts.hostname:
            raise ValueError(f"'{value}' has no host name; write the full URL, e.g. {scheme}://example.com/live")
        return value


class Inspection(StrictModel):
    """Who asked for an inspection (``kind: inspection``, written by ``livewatch watch``) and why."""

    inspector: SingleLine = Field(description="The inspector who started it (their user name).")
    tip_from: SingleLine | None = Field(None, description="Who reported the broadcast (a tip from the public).")
    note: Text | None = Field(None, description="Why it is inspected: the tip's words or the inspector's reason.")
    requested_at: LocalDateTime = Field(description="When it was started (ISO 8601).")

    @field_validator("requested_at", mode="before")
    @classmethod
    def _read_time(cls, value: Any) -> datetime:
        return parse_local_datetime(value, UTC)


class Credential(StrictModel):
    """A professional qualification on file for a participant."""

    field: CredentialField = Field(description="Regulated field: finance, medical, law or education.")
    id: SingleLine = Field(description="Certificate or licence number.")
    issuer: SingleLine | None = Field(None, description="Who issued it.")


class Participant(StrictModel):
    """A host, guest or moderator who appears in the broadcast."""

    name: SingleLine = Field(description="Real name as verified.")
    role: Role = Field(description="host, guest or moderator.")
    handles: dict[Annotated[str, Field(pattern=_SLUG)], SingleLine] = Field(
        default_factory=dict, description="Platform handles by platform, e.g. {douyin: '@name'}."
    )
    real_name_verified: bool | None = Field(None, description="Whether the platform verified the real name.")
    birth_year: Annotated[int, Field(ge=1900, le=2100)] | None = Field(
        None, description="Year of birth (hosts must be at least 16)."
    )
    guardian_consent: bool = Field(False, description="Guardian consent recorded (hosts aged 16 or 17).")
    credentials: list[Credential] = Field(
        default_factory=list, description="Professional credentials: [{field, id}]."
    )


class RuleOverride(StrictModel):
    """A per-event change to one rule of the selected packs."""

    rule: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$", max_length=100)] = Field(
        description="Rule id in the selected packs, e.g. finance-promise.guaranteed-returns."
    )
    enabled: bool = Field(True, description="false turns the rule off for this event.")
    severity: SeverityName | None = Field(None, description="New severity for the rule's findings.")
    add_terms: list[SingleLine] = Field(default_factory=list, description="Extra terms the rule matches.")
    allowlist: list[SingleLine] = Field(default_factory=list, description="Phrases that must not fire.")


class TranscriberOverride(StrictModel):
    """This event's Whisper choices, where they differ from the global ``[transcriber]`` configuration
    (for example the multilingual ``base`` model for an event held in Chinese)."""

    backend: SingleLine | None = Field(
        None, description="Transcription backend: faster-whisper, openai-whisper, or an installed plugin's name.",
        json_schema_extra={"examples": ["faster-whisper", "openai-whisper"]},
    )
    model: SingleLine | None = Field(
        None, description="Model name in the store, local path, or installed model package, e.g. base."
    )
    beam_size: Annotated[int, Field(ge=1, le=20)] | None = Field(None, description="Beam width, 1 to 20.")

    @field_validator("backend")
    @classmethod
    def _backend_installed(cls, value: str | None) -> str | None:
        """An installed backend that loads: an unknown name lists the installed ones, a broken one says why."""
        from livewatch.plugins import PluginError
        from livewatch.transcription.backends import BACKENDS

        if value is not None:
            try:
                BACKENDS.get(value)
            except PluginError as err:
                raise ValueError(str(err)) from None
        return value


class EventAlerts(StrictModel):
    """This event's alert routing, where it differs from the targets' own (``[[alerts]]``)."""

    enabled: bool = Field(True, description="false: no alerts for this event (findings still recorded).")
    targets: list[Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=60)]] | None = Field(
        None, description="Names of the configured targets to use; default: all of them."
    )
    min_severity: SeverityName | None = Field(None, description="Replaces each target's min_severity.")
    categories: list[Category] | None = Field(None, description="Only these categories; replaces the targets'.")
    cooldown_s: Annotated[float, Field(ge=0, le=24 * 3600)] | None = Field(
        None, description="Seconds within which the same rule firing again is folded into one alert."
    )
    gap_alert_s: Annotated[float, Field(gt=0, le=24 * 3600)] | None = Field(
        None, description="A capture gap longer than this raises an alert."
    )

    @field_validator("targets")
    @classmethod
    def _targets_configured(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        known = _context(info).alert_targets
        if value is None or known is None:
            return value
        unknown = [name for name in value if name not in known]
        if unknown:
            configured = ", ".join(known) or "none"
            raise ValueError(f"no alert target named {', '.join(unknown)} in the configuration "
                             f"(configured: {configured})")
        return value


class Event(StrictModel):
    """One registered event and everything needed to monitor it."""

    id: EventId = Field(description="Unique slug across all files: [a-z0-9][a-z0-9_-]*; names its data folder.")
    title: SingleLine = Field(description="Event title as announced.")
    kind: EventKind = Field(description="forum, annual-meeting, lecture, seminar, summit, launch or other; "
                            "inspection for a broadcast inspected without a registration (livewatch watch).")
    category: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]*$", max_length=40)] | None = Field(
        None, description="Platform category tag, e.g. knowledge, commerce, entertainment."
    )
    organizer: Annotated[Organizer | None, Field(validate_default=True)] = Field(
        None, description="Who runs the event (required, except for an inspection).")
    timezone: Annotated[str | None, Field(validate_default=True)] = Field(
        None, description="IANA time zone of the event; default from the global configuration."
    )
    start: LocalDateTime = Field(description="Registered start (ISO 8601).")
    end: LocalDateTime = Field(description="Registered end (ISO 8601), after start.")
    streams: list[Stream] = Field(min_length=1, description="Where the event is broadcast (one or more).")
    participants: list[Participant] = Field(default_factory=list, description="Hosts, guests, moderators.")
    topics: list[Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]*$")]] = Field(
        default_factory=list, description="Declared subjects, e.g. finance, health, technology."
    )
    language: Language = Field("auto", description="Spoken language: zh, en, or auto (detect).")
    rule_packs: list[Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]*(@[0-9A-Za-z.+-]+)?$")]] = Field(
        default_factory=lambda: ["default"], description="Rule packs to check against, e.g. [default]."
    )
    # The default is None so that the validator below can tell "not written" from a value and fill in the
    # global configuration's defaults.
    tolerances: Annotated[Tolerances, Field(validate_default=True)] = Field(
        None,  # type: ignore[assignment]
        description="Minutes allowed for early_start, late_start and overrun; defaults from the global config.",
    )
    rule_overrides: list[RuleOverride] = Field(default_factory=list, description="Per-event rule changes.")
    transcriber: TranscriberOverride | None = Field(
        None, description="Whisper backend, model or beam size for this event; defaults from the global "
        "configuration's [transcriber]."
    )
    capture: Annotated[CaptureSettings, Field(validate_default=True)] = Field(
        None,  # type: ignore[assignment]
        description="Capture settings for this event (pre-roll, polling, segments, watchdog, reconnects, cap); "
        "defaults from the global configuration's [capture].",
    )
    alerts: EventAlerts = Field(
        default_factory=EventAlerts, description="Alert routing for this event: targets, min_severity, "
        "categories, cooldown_s, gap_alert_s; defaults from the configured targets and [alerting]."
    )
    notes: Text | None = Field(None, description="Free text for reviewers.")
    inspection: Annotated[Inspection | None, Field(validate_default=True)] = Field(
        None, description="kind: inspection only: who asked for it (inspector, tip_from), why (note) and when.")

    @field_validator("organizer")
    @classmethod
    def _organizer_named(cls, value: Organizer | None, info: ValidationInfo) -> Organizer | None:
        if value is None and kind_policy(info.data.get("kind")).organizer_required:
            # Reported as pydantic's own "missing", so it reads (and finds typos such as `organiser`) as before.
            raise PydanticCustomError("missing", "Field required")
        return value

    @field_validator("inspection")
    @classmethod
    def _inspection_for_inspections(cls, value: Inspection | None, info: ValidationInfo) -> Inspection | None:
        kind = info.data.get("kind")
        if kind is None:
            return value  # the kind is wrong itself, and reported as such
        requested = kind_policy(kind).requested
        if requested and value is None:
            raise PydanticCustomError("missing", "Field required")
        if not requested and value is not None:
            raise ValueError(f"only an event of kind inspection has this block (this one is kind {kind})")
        return value

    @field_validator("timezone", mode="before")
    @classmethod
    def _timezone_as_written(cls, value: Any) -> Any:
        return timezone_from_number(value)

    @field_validator("timezone")
    @classmethod
    def _timezone_or_default(cls, value: str | None, info: ValidationInfo) -> str:
        return check_timezone(value if value is not None else _context(info).default_timezone)

    @field_validator("start", "end", mode="before")
    @classmethod
    def _read_local_time(cls, value: Any, info: ValidationInfo) -> datetime:
        name = info.data.get("timezone") or _context(info).default_timezone
        return parse_local_datetime(value, ZoneInfo(name))

    @field_validator("end")
    @classmethod
    def _end_after_start(cls, value: datetime, info: ValidationInfo) -> datetime:
        start = info.data.get("start")
        if isinstance(start, datetime) and value <= start:
            raise ValueError(
                f"end {value.isoformat()} is not after start {start.isoformat()}; "
                "check the date (an event that ends past midnight ends on the next day)"
            )
        return value

    @field_validator("tolerances", "capture", mode="before")
    @classmethod
    def _fill_from_global_defaults(cls, value: Any, info: ValidationInfo) -> Any:
        # Fields the officer left out (or wrote as null) take the global configuration's value; everything
        # else, unknown keys included, is still validated by the model itself.
        if value is None:
            value = {}
        if not isinstance(value, dict):
            return value
        defaults: StrictModel = getattr(_context(info), str(info.field_name))
        given = {key: item for key, item in value.items() if item is not None}
        return {**defaults.model_dump(), **given}

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone or "UTC")

    def regulated_fields(self) -> dict[str, CredentialField]:
        """Declared topics that need a credential, mapped to the credential field they need."""
        return {topic: REGULATED_TOPICS[topic] for topic in self.topics if topic in REGULATED_TOPICS}
