"""What officers write for a time zone instead of its IANA name, and the name they mean.

Officers write the name they say aloud (``Beijing``, ``CST``, ``UTC+8``, ``+08:00``), and a spelling check
against the IANA list gets these wrong: ``Asia/Beijing`` comes closest to ``Asia/Brunei`` and ``UTC+8`` to
``UTC``, 8 hours off. This table is the one place such names are known; ``docs/registration.md`` lists it.
The names are hints in an error message, never accepted silently: a time zone decides when monitoring
starts, and an abbreviation such as CST means more than one place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class TimezoneAlias:
    """The IANA name an alias stands for, and what else it could mean (empty when nothing else)."""

    zone: str
    also: str = ""


#: Keys are folded by :func:`fold_alias` (lowercase; spaces, ``_`` and ``-`` dropped; offsets as ``utc+08:00``).
TIMEZONE_ALIASES: dict[str, TimezoneAlias] = {
    "beijing": TimezoneAlias("Asia/Shanghai"),
    "beijingtime": TimezoneAlias("Asia/Shanghai"),
    "asia/beijing": TimezoneAlias("Asia/Shanghai"),
    "peking": TimezoneAlias("Asia/Shanghai"),
    "shanghai": TimezoneAlias("Asia/Shanghai"),
    "china": TimezoneAlias("Asia/Shanghai"),
    "chinastandardtime": TimezoneAlias("Asia/Shanghai"),
    "北京": TimezoneAlias("Asia/Shanghai"),
    "北京时间": TimezoneAlias("Asia/Shanghai"),
    "cst": TimezoneAlias("Asia/Shanghai", "US Central Time (America/Chicago) or Cuba (America/Havana)"),
    "utc+08:00": TimezoneAlias("Asia/Shanghai", "Asia/Hong_Kong, Asia/Taipei, Asia/Singapore or Australia/Perth"),
    "hongkong": TimezoneAlias("Asia/Hong_Kong"),
    "hkt": TimezoneAlias("Asia/Hong_Kong"),
    "taipei": TimezoneAlias("Asia/Taipei"),
    "singapore": TimezoneAlias("Asia/Singapore"),
    "tokyo": TimezoneAlias("Asia/Tokyo"),
    "jst": TimezoneAlias("Asia/Tokyo"),
    "utc+09:00": TimezoneAlias("Asia/Tokyo", "Asia/Seoul"),
    "ist": TimezoneAlias("Asia/Kolkata", "Irish (Europe/Dublin) or Israel (Asia/Jerusalem) time"),
    "kst": TimezoneAlias("Asia/Seoul"),
    "seoul": TimezoneAlias("Asia/Seoul"),
    "utc+00:00": TimezoneAlias("UTC"),
}

#: ``UTC+8``, ``GMT+08:00``, ``+0800``, ``+08``: an offset, as a sign, hours and optional minutes.
_OFFSET = re.compile(r"(?:utc|gmt)?([+-])(\d{1,2})(?::?(\d{2}))?")


def fold_alias(value: str) -> str:
    """The table's key for ``value``: case, spaces, ``_`` and ``-`` do not matter; an offset is written
    ``utc+08:00`` however it was spelled."""
    folded = re.sub(r"[\s_]+", "", value.strip().lower())
    offset = _OFFSET.fullmatch(folded)
    if offset:
        sign, hours, minutes = offset.groups()
        return f"utc{sign}{int(hours):02d}:{minutes or '00'}"
    return folded.replace("-", "")


def offset_text(minutes: int) -> str:
    """``480`` → ``+08:00``: what YAML made of ``timezone: +08:00`` (it reads ``08:00`` as base 60)."""
    sign = "-" if minutes < 0 else "+"
    hours, rest = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{rest:02d}"


def timezone_hint(value: str) -> str | None:
    """`` (did you mean 'Asia/Shanghai'? ...)`` for a known alias, with what else it could mean; None when
    the table does not know ``value``."""
    alias = TIMEZONE_ALIASES.get(fold_alias(value))
    if alias is None:
        return None
    if alias.also:
        return f" (did you mean '{alias.zone}'? '{value}' can also mean {alias.also})"
    return f" (did you mean '{alias.zone}'?)"
