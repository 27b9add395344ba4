"""Small validated types shared by the registration files and the global configuration."""

from __future__ import annotations

import difflib
import re
import zoneinfo
from collections.abc import Iterable
from functools import cache
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from livewatch.timezone_hints import offset_text, timezone_hint

#: What an event id may look like. Ids name folders in the data directory, so nothing else is allowed.
EVENT_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"
EVENT_ID_MAX = 64
_EVENT_ID_RE = re.compile(EVENT_ID_PATTERN)

DEFAULT_URL_SCHEMES = ("http", "https", "rtmp", "rtmps")

SeverityName = Literal["critical", "high", "medium", "low", "info"]
Language = Literal["zh", "en", "auto"]

_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u202a-\u202e\u2066-\u2069]")


class StrictModel(BaseModel):
    """Unknown keys are errors: a typo must never silently drop a setting."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The choice closest to ``word`` when one is close enough to be what was meant."""
    ordered = sorted(choices)
    close = difflib.get_close_matches(word, ordered, n=1, cutoff=0.6)
    if not close:
        close = difflib.get_close_matches(word.lower(), ordered, n=1, cutoff=0.6)
    return close[0] if close else None


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'start'?)`` when a choice is close to ``word``, else an empty string."""
    close = closest(word, choices)
    return f" (did you mean '{close}'?)" if close else ""


def check_event_id(value: str) -> str:
    """Raise ``ValueError`` with the fix when ``value`` is not a safe event id."""
    if "/" in value or "\\" in value or ".." in value or value.startswith("."):
        raise ValueError(
            f"'{value}' could escape the data directory (ids name folders there); "
            "use only lowercase letters, digits, '-' and '_'"
        )
    if len(value) > EVENT_ID_MAX:
        raise ValueError(f"id is {len(value)} characters long; keep it to {EVENT_ID_MAX}")
    if not _EVENT_ID_RE.fullmatch(value):
        suggestion = re.sub(r"[^a-z0-9_-]+", "-", value.lower()).strip("-_") or "my-event"
        raise ValueError(
            f"'{value}' is not a valid id: use lowercase letters, digits, '-' and '_', starting with a "
            f"letter or digit (for example '{suggestion}')"
        )
    return value


def check_single_line(value: str) -> str:
    if _CONTROL_CHARS.search(value) or "\n" in value:
        raise ValueError("contains line breaks or control characters; write it on one line as plain text")
    return value


def check_text(value: str) -> str:
    if _CONTROL_CHARS.search(value):
        raise ValueError("contains control characters; remove them")
    return value


@cache
def _known_timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def check_timezone(value: str) -> str:
    if value in _known_timezones() or value == "UTC":
        return value
    # The alias table first: a spelling check alone sends Asia/Beijing to Asia/Brunei and UTC+8 to UTC.
    hint = timezone_hint(value)
    raise ValueError(
        f"unknown time zone '{value}'{hint if hint is not None else did_you_mean(value, _known_timezones())}; "
        "use an IANA name such as Asia/Shanghai, Europe/London or UTC"
    )


def timezone_from_number(value: object) -> object:
    """YAML 1.1 reads ``+08:00`` as the base-60 number 480: turn it back into the text that was written,
    so that the time-zone check can say what to write instead."""
    if isinstance(value, int) and not isinstance(value, bool):
        return offset_text(value) if value % 15 == 0 else str(value)  # offsets are whole quarter hours
    return value


EventId = Annotated[str, AfterValidator(check_event_id)]
SingleLine = Annotated[str, Field(min_length=1, max_length=300), AfterValidator(check_single_line)]
Text = Annotated[str, Field(max_length=20_000), AfterValidator(check_text)]
TimezoneName = Annotated[str, BeforeValidator(timezone_from_number), AfterValidator(check_timezone)]
Minutes = Annotated[float, Field(ge=0, le=24 * 60)]

#: A finding category (a rule's ``category``, or ``schedule``/``capture`` for the monitor's own alerts).
Category = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]*$", max_length=40)]


class Tolerances(StrictModel):
    """How far, in minutes, the actual broadcast may stray from the registered window before a finding."""

    early_start: Minutes = Field(5, description="Minutes a stream may go on air before the registered start.")
    late_start: Minutes = Field(10, description="Minutes a stream may go on air after the registered start.")
    overrun: Minutes = Field(15, description="Minutes a stream may run past the registered end.")


Seconds = Annotated[float, Field(gt=0, le=24 * 3600)]


class CaptureSettings(StrictModel):
    """How streams are awaited and recorded. Global defaults in ``[capture]``; each event may override
    any of them under ``capture:``."""

    pre_roll_minutes: Minutes = Field(10, description="Minutes before the start at which a capture is armed.")
    poll_interval_s: Seconds = Field(15, description="Seconds between checks for a stream that is not live yet.")
    poll_jitter_s: Annotated[float, Field(ge=0, le=600)] = Field(
        3, description="Random extra seconds added to each poll, so many rooms are not probed in step."
    )
    segment_seconds: Annotated[float, Field(ge=1, le=600)] = Field(10, description="Length of each segment.")
    stall_timeout_s: Seconds = Field(20, description="No new media for this long restarts ffmpeg.")
    rw_timeout_s: Seconds = Field(15, description="ffmpeg's network read/write timeout.")
    backoff_base_s: Seconds = Field(2, description="First reconnect delay; doubles each failure (2 s·2ⁿ).")
    backoff_max_s: Seconds = Field(60, description="Longest reconnect delay.")
    reconnect_grace_s: Annotated[float, Field(ge=0, le=24 * 3600)] = Field(
        300, description="A stream that returns within this many seconds continues the same session."
    )
    end_grace_s: Annotated[float, Field(ge=0, le=24 * 3600)] = Field(
        30, description="After the origin says the broadcast is over (EXT-X-ENDLIST, no one publishing "
        "on the RTMP server), the session ends this many seconds later (never before the registered end) instead of "
        "after reconnect_grace_s."
    )
    probe_live: bool = Field(
        False, description="Check a stream that has no playlist (RTMP, HTTP-FLV) with ffprobe before recording. "
        "Off by default: the recorder's own connection is the check, so it records from the first packet (an RTMP "
        "server keeps it waiting until someone publishes) and a source that serves one connection is not used up."
    )
    overrun_cap_minutes: Minutes = Field(30, description="Hard stop this many minutes after the registered end.")
    max_lookback_s: Annotated[float, Field(ge=0, le=3600)] = Field(
        60, description="On connecting to HLS, how far behind the live edge recording may begin."
    )
    stop_timeout_s: Seconds = Field(10, description="Seconds ffmpeg gets to finish after `q` before it is killed.")
    frames: bool = Field(
        True, description="Also write a low-rate stream of still frames (JPEG) and picture-health metadata (black, "
        "frozen) from the same ffmpeg, for the screen readers. Streams without video record audio only."
    )
    frames_per_second: Annotated[float, Field(ge=0.1, le=5)] = Field(
        1.0, description="Frames per second written for the screen readers (0.1 to 5)."
    )
    frame_max_width: Annotated[int, Field(ge=160, le=1920)] = Field(
        960, description="Widest a frame is stored, in pixels (narrower pictures are kept at their own width)."
    )
