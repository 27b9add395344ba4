"""Compliance checks on a registration itself, before anything is broadcast (rule type R24).

Each check answers a regulation cited in ``docs/registration.md``. They produce warnings; ``--strict``
turns them into errors.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from livewatch.issues import FieldPath, Issue, Severity
from livewatch.registration.blacklist import Blacklist
from livewatch.registration.loader import Registration
from livewatch.registration.models import CredentialField, Participant

#: Minimum host age (网络直播营销管理办法 art. 17); 16–17 need a guardian's consent.
MIN_HOST_AGE = 16
ADULT_AGE = 18


def _warning(reg: Registration, path: FieldPath, code: str, message: str) -> Issue:
    return Issue(
        reg.file, reg.line_of(*path), (*reg.field, *path), message, Severity.WARNING, code, reg.event.id
    )


def check_category(reg: Registration, blacklist: Blacklist) -> Iterator[Issue]:
    if reg.event.category is None:
        yield _warning(reg, ("category",), "no-category",
                       "no category tag; platforms must tag every live room, add e.g. `category: knowledge`")


def _participants(reg: Registration) -> Iterator[tuple[FieldPath, Participant]]:
    for index, person in enumerate(reg.event.participants):
        yield ("participants", index), person


def check_real_name(reg: Registration, blacklist: Blacklist) -> Iterator[Issue]:
    for path, person in _participants(reg):
        if person.real_name_verified is None:
            yield _warning(reg, path, "real-name-unknown",
                           f"real-name verification of '{person.name}' is not recorded; "
                           "confirm it with the platform and set `real_name_verified: true`")
        elif not person.real_name_verified:
            yield _warning(reg, (*path, "real_name_verified"), "real-name-missing",
                           f"'{person.name}' is not real-name verified; only verified people may appear")


def check_host_age(reg: Registration, blacklist: Blacklist) -> Iterator[Issue]:
    day = reg.event.start.date()
    for path, person in _participants(reg):
        if person.role != "host":
            continue
        if person.birth_year is None:
            yield _warning(reg, path, "host-age-unknown",
                           f"host '{person.name}' has no birth_year; hosts must be at least {MIN_HOST_AGE}, "
                           "record it as `birth_year: 1990`")
            continue
        # Only the year is known, so the host may not have had this year's birthday yet.
        youngest = day.year - person.birth_year - 1
        oldest = day.year - person.birth_year
        where = (*path, "birth_year")
        if youngest < MIN_HOST_AGE:
            age = f"{youngest} or {oldest}"
            yield _warning(reg, where, "host-under-16",
                           f"host '{person.name}' (born {person.birth_year}) is {age} on {day.isoformat()}; "
                           f"hosts must be at least {MIN_HOST_AGE}")
        elif youngest < ADULT_AGE and not person.guardian_consent:
            yield _warning(reg, where, "guardian-consent",
                           f"host '{person.name}' (born {person.birth_year}) may be {youngest} on "
                           f"{day.isoformat()}; hosts aged 16 or 17 need guardian consent, "
                           "record it as `guardian_consent: true`")


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


def check_blacklist(reg: Registration, blacklist: Blacklist) -> Iterator[Issue]:
    for path, person in _participants(reg):
        match = blacklist.match(person.name, person.handles.values())
        if match is not None:
            yield _warning(reg, path, "blacklisted",
                           f"participant {match.describe()}; barred people must not appear")


REGISTRATION_CHECKS: tuple[Callable[[Registration, Blacklist], Iterator[Issue]], ...] = (
    check_category,
    check_real_name,
    check_host_age,
    check_credentials,
    check_blacklist,
)


def check_registration(reg: Registration, blacklist: Blacklist) -> list[Issue]:
    return [issue for check in REGISTRATION_CHECKS for issue in check(reg, blacklist)]
