"""Compliance checks on a registration itself, before anything is broadcast (rule type R24).

Each check answers a regulation cited in ``docs/registration.md``. Most produce warnings (``--strict`` turns
them into errors); a host under 16 is an error, since no consent or paperwork can make it lawful.

The checks on participants (age, real name, blacklist) also run on an event that failed validation, on every
participant that validates on its own: a typo in a stream URL must not hide that the host is 14.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from pydantic import ValidationError

from livewatch.issues import FieldPath, Issue, Severity
from livewatch.registration.blacklist import Blacklist
from livewatch.registration.kinds import kind_policy
from livewatch.registration.loader import Registration, RejectedEvent
from livewatch.registration.models import CredentialField, Participant, parse_local_datetime

#: Minimum age of a live-streaming host (网络直播营销管理办法（试行） art. 17); 16–17 need a guardian's consent.
MIN_HOST_AGE = 16
ADULT_AGE = 18
AGE_RULE = "网络直播营销管理办法（试行） art. 17"
#: Where a start without an offset is read when only its year is wanted.
ZONE_FOR_YEAR = UTC


@dataclass(frozen=True)
class ParticipantProblem:
    """A problem with one participant, its field relative to the event (``participants[2].birth_year``)."""

    field: FieldPath
    severity: Severity
    code: str
    message: str


Participants = Sequence[tuple[FieldPath, Participant]]


def _warning(reg: Registration, path: FieldPath, code: str, message: str) -> Issue:
    return Issue(
        reg.file, reg.line_of(*path), (*reg.field, *path), message, Severity.WARNING, code, reg.event.id
    )


def check_category(reg: Registration, blacklist: Blacklist) -> Iterator[Issue]:
    if reg.event.category is None:
        yield _warning(reg, ("category",), "no-category",
                       "no category tag; platforms must tag every live room, add e.g. `category: knowledge`")


def _participants(reg: Registration) -> list[tuple[FieldPath, Participant]]:
    return [(("participants", index), person) for index, person in enumerate(reg.event.participants)]


def real_name_problems(people: Participants) -> Iterator[ParticipantProblem]:
    for path, person in people:
        if person.real_name_verified is None:
            yield ParticipantProblem(path, Severity.WARNING, "real-name-unknown",
                                     f"real-name verification of '{person.name}' is not recorded; "
                                     "confirm it with the platform and set `real_name_verified: true`")
        elif not person.real_name_verified:
            yield ParticipantProblem((*path, "real_name_verified"), Severity.WARNING, "real-name-missing",
                                     f"'{person.name}' is not real-name verified; only verified people may appear")


def age_problems(people: Participants, year: int, day: str) -> Iterator[ParticipantProblem]:
    """Every participant with a birth year is checked; ``year`` and ``day`` are the event's (``day`` as
    shown in messages: the event's date, or just its year when only that is known)."""
    for path, person in people:
        if person.birth_year is None:
            if person.role == "host":
                yield ParticipantProblem(path, Severity.WARNING, "host-age-unknown",
                                         f"host '{person.name}' has no birth_year; hosts must be at least "
                                         f"{MIN_HOST_AGE}, record it as `birth_year: 1990`")
            continue
        # Only the year is known, so the person may not have had this year's birthday yet.
        youngest = year - person.birth_year - 1
        oldest = year - person.birth_year
        where = (*path, "birth_year")
        born = f"'{person.name}' (born {person.birth_year})"
        if youngest < MIN_HOST_AGE and person.role == "host":
            yield ParticipantProblem(where, Severity.ERROR, "host-under-16",
                                     f"host {born} is {youngest} or {oldest} on {day}; hosts must be at least "
                                     f"{MIN_HOST_AGE} ({AGE_RULE}), even with a guardian's consent")
        elif youngest < MIN_HOST_AGE:
            yield ParticipantProblem(where, Severity.WARNING, "guest-under-16",
                                     f"{person.role} {born} is {youngest} or {oldest} on {day}; people under "
                                     f"{MIN_HOST_AGE} may not present a live broadcast ({AGE_RULE}): make sure "
                                     "this is not a presenting role, and that a guardian has agreed")
        elif youngest < ADULT_AGE and person.role == "host" and not person.guardian_consent:
            yield ParticipantProblem(where, Severity.WARNING, "guardian-consent",
                                     f"host {born} may be {youngest} on {day}; hosts aged 16 or 17 need "
                                     "guardian consent, record it as `guardian_consent: true`")


def blacklist_problems(people: Participants, blacklist: Blacklist) -> Iterator[ParticipantProblem]:
    for path, person in people:
        match = blacklist.match(person.name, person.handles.values())
        if match is not None:
            yield ParticipantProblem(path, Severity.WARNING, "blacklisted",
                                     f"participant {match.describe()}; barred people must not appear")


def participant_problems(people: Participants, year: int | None, day: str,
                         blacklist: Blacklist) -> Iterator[ParticipantProblem]:
    """All participant checks, in the order they are documented; ages only when the year is known."""
    yield from real_name_problems(people)
    if year is not None:
        yield from age_problems(people, year, day)
    yield from blacklist_problems(people, blacklist)


def check_credentials(reg: Registration, blacklist: Blacklist) -> Iterator[Issue]:
    topics_by_field: dict[CredentialField, list[str]] = {}
    for topic, credential_field in reg.event.regulated_fields().items():
        topics_by_field.setdefault(credential_field, []).append(topic)
    if not topics_by_field:
        return
    for path, person in _participants(reg):
        # Moderators run the session; the duty to hold a credential falls on whoever gives the advice.
        if person.role == "moderator":
            continue
        held = {credential.field for credential in person.credentials}
        for credential_field, topics in sorted(topics_by_field.items()):
            if credential_field not in held:
                yield _warning(reg, path, "credential-missing",
                               f"'{person.name}' speaks at an event on {', '.join(topics)} but holds no "
                               f"{credential_field} "
                               f"credential; add `credentials: [{{field: {credential_field}, id: ...}}]` "
                               "or remove the topic")


def check_participants(reg: Registration, blacklist: Blacklist) -> Iterator[Issue]:
    day = reg.event.start.date()
    for problem in participant_problems(_participants(reg), day.year, day.isoformat(), blacklist):
        yield Issue(reg.file, reg.line_of(*problem.field), (*reg.field, *problem.field), problem.message,
                    problem.severity, problem.code, reg.event.id)


REGISTRATION_CHECKS: tuple[Callable[[Registration, Blacklist], Iterator[Issue]], ...] = (
    check_category,
    check_participants,
    check_credentials,
)


def check_registration(reg: Registration, blacklist: Blacklist) -> list[Issue]:
    """Every check's issues that apply to the event's kind: an inspection's registration cannot hold what
    only an organizer declares (see :mod:`livewatch.registration.kinds`)."""
    policy = kind_policy(reg.event.kind)
    return [issue for check in REGISTRATION_CHECKS for issue in check(reg, blacklist)
            if policy.applies(str(issue.code))]


def _salvaged_participants(node: dict[str, Any]) -> list[tuple[FieldPath, Participant]]:
    people = node.get("participants")
    if not isinstance(people, list):
        return []
    salvaged: list[tuple[FieldPath, Participant]] = []
    for index, item in enumerate(people):
        try:
            salvaged.append((("participants", index), Participant.model_validate(item)))
        except (ValidationError, ValueError, TypeError):
            continue  # this participant's own problems are already reported by the event's validation
    return salvaged


def _event_year(node: dict[str, Any]) -> int | None:
    """The year of the event's start as written; the time zone cannot move it by more than the New Year's
    Eve hours, which an age known only by birth year cannot tell apart anyway."""
    try:
        return parse_local_datetime(node.get("start"), ZONE_FOR_YEAR).year
    except (ValueError, TypeError, OverflowError):
        return None


def check_rejected(rejected: RejectedEvent, blacklist: Blacklist) -> list[Issue]:
    """The participant checks on an event that failed validation (see the module's docstring)."""
    year = _event_year(rejected.node)
    issues = []
    for problem in participant_problems(_salvaged_participants(rejected.node), year, str(year), blacklist):
        path = (*rejected.field, *problem.field)
        issues.append(Issue(rejected.file, rejected.lines.line_of(path), path, problem.message,
                            problem.severity, problem.code, rejected.event_id))
    return issues
