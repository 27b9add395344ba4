"""What each kind of event promises, and therefore what is checked against it.

A registered event (a forum, a launch...) is the organizer's declaration: its window is a promise (airing
early, late, past the end or not at all is a finding), and its participants' credentials, ages and real
names are on file (a missing one is a finding). An *inspection* (``kind: inspection``, written by
``livewatch watch``) is the other way round: an inspector points livewatch at a broadcast that is on the
air now, often one nobody registered, after a tip from the public or while patrolling. Its window is only
how long to watch, and nothing is known about who runs it or who speaks: only what is said and shown is
checked (and the blacklist against any participant the inspector did name).

The rule types, the registration checks and the schedule alerts ask :func:`kind_policy`; nothing else
tests the kind by name.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The kind ``livewatch watch`` writes.
INSPECTION = "inspection"

#: Schedule checks about the registered window (``type: schedule`` rules; see :mod:`livewatch.rules.types.facts`).
WINDOW_CHECKS = frozenset({"early_start", "late_start", "overrun", "no_show", "gaps"})
#: Registration checks whose data only an organizer's registration can hold (issue codes, see
#: :mod:`livewatch.registration.registration_checks`).
DECLARED_DATA_CHECKS = frozenset({"no-category", "real-name-unknown", "real-name-missing", "host-age-unknown",
                                  "credential-missing"})


@dataclass(frozen=True)
class KindPolicy:
    """What a kind of event is held to."""

    #: The registered window is the organizer's promise: the schedule rules and alerts apply.
    window_promised: bool = True
    #: Schedule checks that do not apply (``type: schedule`` ``check`` values).
    waived_schedule_checks: frozenset[str] = frozenset()
    #: Registration checks that need data this kind of registration cannot have (issue codes): not findings.
    waived_registration_checks: frozenset[str] = frozenset()
    #: An organizer must be named.
    organizer_required: bool = True
    #: The registration must say who asked for it (the ``inspection`` block); else it must not have one.
    requested: bool = False

    def applies(self, check: str) -> bool:
        """Whether a schedule check or a registration check (by its code) applies to this kind."""
        return check not in self.waived_schedule_checks and check not in self.waived_registration_checks


REGISTERED = KindPolicy()
INSPECTED = KindPolicy(window_promised=False, waived_schedule_checks=WINDOW_CHECKS,
                       waived_registration_checks=DECLARED_DATA_CHECKS, organizer_required=False, requested=True)

_POLICIES: dict[str, KindPolicy] = {INSPECTION: INSPECTED}


def kind_policy(kind: str | None) -> KindPolicy:
    """The policy of an event kind (a registered event's when the kind is unknown or None)."""
    return _POLICIES.get(kind or "", REGISTERED)

