"""Event registrations: the files officers write under ``schedules/``, validated and checked."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from livewatch.issues import Issue, sort_issues
from livewatch.registration.blacklist import Blacklist, load_blacklist
from livewatch.registration.loader import LoadResult, Registration, load_registrations, promote_warnings
from livewatch.registration.models import Event, RegistrationContext
from livewatch.registration.registration_checks import check_registration, check_rejected
from livewatch.registration.transcriber_check import check_transcriber_language
from livewatch.rules.packs import PackLibrary

if TYPE_CHECKING:
    from livewatch.settings import Settings


def validate_registrations(
    paths: Sequence[Path], settings: Settings, *, strict: bool = False, blacklist: Blacklist | None = None,
    library: PackLibrary | None = None,
) -> LoadResult:
    """Load every registration under ``paths`` and run the registration checks on the valid ones.

    Rule packs and rule overrides are checked against ``library`` (default: the configured packs, read once
    for the whole run). Raises :class:`~livewatch.errors.ConfigError` only when the blacklist or a rule pack
    itself is unusable; problems in registration files are returned as issues, never raised.
    """
    if blacklist is None:
        blacklist = load_blacklist(settings.blacklist)
    if library is None:
        library = PackLibrary(settings.rule_packs_dir)
    result = load_registrations(paths, settings.registration_context(), library)
    for reg in list(result.registrations):
        try:
            unheard = list(check_transcriber_language(reg, settings))
            if unheard:  # transcribed in the wrong language it would pass unchecked: invalid, as a bad field is
                result.issues.extend(unheard)
                result.registrations.remove(reg)
                continue
            result.issues.extend(check_registration(reg, blacklist))
        except Exception as err:  # a check that trips over one event must not stop the others being armed
            result.issues.append(Issue(reg.file, reg.line, reg.field,
                                       f"cannot check this event: {str(err)[:200] or type(err).__name__}",
                                       code="invalid", event_id=reg.event.id))
            result.registrations.remove(reg)
    for rejected in result.rejected:
        try:
            result.issues.extend(check_rejected(rejected, blacklist))
        except Exception as err:  # only a best effort on an event already reported invalid; never stop the run
            result.issues.append(Issue(rejected.file, rejected.lines.line_of(rejected.field), rejected.field,
                                       "cannot check this event's participants: "
                                       f"{str(err)[:200] or type(err).__name__}",
                                       code="invalid", event_id=rejected.event_id))
    result.issues = sort_issues(promote_warnings(result.issues) if strict else result.issues)
    return result


__all__ = [
    "Blacklist",
    "Event",
    "LoadResult",
    "Registration",
    "RegistrationContext",
    "load_blacklist",
    "load_registrations",
    "validate_registrations",
]
