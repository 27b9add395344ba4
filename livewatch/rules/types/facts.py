"""Rule types over the capture facts: schedule adherence, the registration itself, and the audio.

Their examples are mappings of facts rather than text (times in minutes from the registered start of a
two-hour example event; see each ``example_input``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import Field

from livewatch.pipeline.run_status import FINAL, UNRESOLVED
from livewatch.registration.kinds import kind_policy
from livewatch.rules.base import EventFacts, FactSpec, Gap, Hit, Rule, RuleInput

ScheduleCheck = Literal["early_start", "late_start", "overrun", "no_show", "gaps", "unresolved"]


def _minutes(base: datetime, value: Any) -> datetime:
    return base + timedelta(minutes=float(value))


class ScheduleSpec(FactSpec):
    """``type: schedule`` — the broadcast against its registered window. ``early_start``, ``late_start`` and
    ``overrun`` use the event's tolerances (minutes); ``gaps`` fires when more than ``max_gap_percent`` of the
    registered window was lost to gaps; ``no_show`` when the stream never went live; ``unresolved`` when
    livewatch found no stream in the registered page (its own capture failure: never a no-show)."""

    check: ScheduleCheck
    max_gap_percent: float = Field(5, ge=0, le=100)


class ScheduleRule(Rule):
    type_name = "schedule"
    spec_model = ScheduleSpec
    spec: ScheduleSpec
    text_examples = False
    #: The stream's own health (no stream found, gaps) is the "stream" channel; see each hit.
    channel = "schedule"

    def evaluate(self, data: RuleInput) -> Iterator[Hit]:
        facts = data.facts
        check = self.spec.check
        if not kind_policy(getattr(facts.registration, "kind", None)).applies(check):
            return  # an inspection's window is how long to watch, not an organizer's promise
        tolerance = timedelta(minutes=float(facts.tolerances.get(check, 0)))
        start, end = facts.registered_start, facts.registered_end
        if check == "unresolved":
            if facts.run_status == UNRESOLVED and not facts.on_air:
                yield Hit(start, facts.registered_end, "no stream found in the page",
                          "livewatch found no stream in the registered page, so the window was not monitored "
                          "(a capture failure, not the organizer's no-show)",
                          details={"registered_start": start.isoformat()}, channel="stream")
            return
        if check == "no_show":
            if facts.run_status == "no-show" or (facts.run_status in FINAL and facts.run_status != UNRESOLVED
                                                 and not facts.on_air):
                yield Hit(start, start, "no stream", f"no live stream from {start.isoformat()}",
                          details={"registered_start": start.isoformat()})
            return
        if not facts.on_air:
            return
        began, ended = facts.on_air_start, facts.on_air_end
        if check == "early_start" and began < start - tolerance:
            yield self._hit(began, start, f"live {_mins(start - began)} min before the registered start",
                            tolerance)
        elif check == "late_start" and began > start + tolerance:
            yield self._hit(start, began, f"live {_mins(began - start)} min after the registered start",
                            tolerance)
        elif check == "overrun" and ended > end + tolerance:
            yield self._hit(end, ended, f"on air {_mins(ended - end)} min past the registered end", tolerance)
        elif check == "gaps":
            window = (end - start).total_seconds()
            lost = sum(max(0.0, (min(g.end_at, end) - max(g.start_at, start)).total_seconds()) for g in facts.gaps)
            if window > 0 and lost / window * 100 > self.spec.max_gap_percent:
                first = min(g.start_at for g in facts.gaps)
                last = max(g.end_at for g in facts.gaps)
                yield Hit(first, last, f"{lost / window:.0%} lost",
                          f"{lost:.0f} s of the {window:.0f} s registered window lost to {len(facts.gaps)} gap(s)",
                          details={"lost_s": lost, "percent": round(lost / window * 100, 2),
                                   "causes": sorted({g.cause for g in facts.gaps})}, channel="stream")

    @staticmethod
    def _hit(start_at: datetime, end_at: datetime, text: str, tolerance: timedelta) -> Hit:
        return Hit(start_at, end_at, text, f"{text} (tolerance {_mins(tolerance)} min)",
                   details={"minutes": round((end_at - start_at).total_seconds() / 60, 1)})

    def example_input(self, example: Any, base: EventFacts) -> RuleInput:
        """``{on_air: [start_min, end_min], gaps: [[from_min, to_min], ...], status: finished}``."""
        start = base.registered_start
        on_air = example.get("on_air")
        spans = ((_minutes(start, on_air[0]), _minutes(start, on_air[1])),) if on_air else ()
        gaps = tuple(Gap(_minutes(start, a), _minutes(start, b), "dropped") for a, b in example.get("gaps", []))
        return RuleInput(replace(base, on_air=spans, gaps=gaps, run_status=example.get("status", "finished")))


def _mins(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 60:.0f}"


class RegistrationSpec(FactSpec):
    """``type: registration`` — the registration checks (real name, host age and guardian consent,
    credentials for regulated topics, blacklist, category tag) as findings on the event."""

    checks: list[str] = Field(default_factory=list, description="Check codes to report; empty: all of them.")


class RegistrationRule(Rule):
    type_name = "registration"
    spec_model = RegistrationSpec
    spec: RegistrationSpec
    text_examples = False
    channel = "registration"

    def evaluate(self, data: RuleInput) -> Iterator[Hit]:
        from pathlib import Path

        from livewatch.registration.blacklist import Blacklist
        from livewatch.registration.loader import Registration
        from livewatch.registration.registration_checks import check_registration
        from livewatch.sourcemap import LineMap

        event = data.facts.registration
        if event is None:
            return
        registration = Registration(event, Path("registration"), (), 1, "", LineMap())
        blacklist = data.facts.blacklist if data.facts.blacklist is not None else Blacklist()
        at = data.facts.registered_start
        issues = [(str(issue.code), ".".join(str(part) for part in issue.field), issue.message)
                  for issue in check_registration(registration, blacklist)
                  if not self.spec.checks or issue.code in self.spec.checks]
        if issues:
            # One hit for all of them: every issue is at the registered start, and the engine keeps one
            # finding (one id) per rule and moment, so separate hits would be merged and all but one lost.
            yield Hit(at, at, ", ".join(dict.fromkeys(code for code, _, _ in issues)),
                      "; ".join(f"{where}: {message}" for _, where, message in issues),
                      details={"field": ", ".join(where for _, where, _ in issues),
                               "issues": [{"code": code, "field": where, "message": message}
                                          for code, where, message in issues]})

    def example_input(self, example: Any, base: EventFacts) -> RuleInput:
        """A partial registration merged over a valid two-hour example event."""
        from livewatch.registration.models import Event

        event = Event.model_validate({
            "id": "example", "title": "Example", "kind": "forum", "category": "knowledge",
            "organizer": {"name": "Example Org"}, "start": base.registered_start.isoformat(),
            "end": base.registered_end.isoformat(), "streams": [{"url": "https://live.example.com/1"}],
            **example,
        })
        return RuleInput(replace(base, registration=event))


class SilenceSpec(FactSpec):
    """``type: silence`` — audio silent (below ``noise_db``) for ``min_duration_s`` or longer."""

    min_duration_s: float = Field(30, gt=0)
    noise_db: float = Field(-50, le=0)


class SilenceRule(Rule):
    type_name = "silence"
    spec_model = SilenceSpec
    spec: SilenceSpec
    text_examples = False
    channel = "audio"

    def evaluate(self, data: RuleInput) -> Iterator[Hit]:
        audio = data.facts.audio
        for silence in audio.silences if audio else ():
            if silence.seconds >= self.spec.min_duration_s:
                yield Hit(silence.start_at, silence.end_at, f"{silence.seconds:.0f} s of silence",
                          f"silent for {silence.seconds:.0f} s (below {self.spec.noise_db:g} dB)",
                          details={"seconds": round(silence.seconds, 1)})

    def example_input(self, example: Any, base: EventFacts) -> RuleInput:
        """``{silences: [[from_s, to_s], ...]}`` in seconds from the on-air start."""
        from livewatch.rules.audio_facts import AudioFacts, Silence

        at = base.on_air_start
        silences = tuple(Silence(at + timedelta(seconds=a), at + timedelta(seconds=b))
                         for a, b in example.get("silences", []))
        return RuleInput(replace(base, audio=AudioFacts(silences, None, 7200.0)))


class LoudnessSpec(FactSpec):
    """``type: loudness`` — EBU R128: integrated loudness outside ``target_lufs`` ± ``tolerance_lu``, or a
    true peak above ``max_true_peak_dbtp``."""

    target_lufs: float = -23.0
    tolerance_lu: float = Field(1.0, ge=0)
    max_true_peak_dbtp: float = -1.0


class LoudnessRule(Rule):
    type_name = "loudness"
    spec_model = LoudnessSpec
    spec: LoudnessSpec
    text_examples = False
    channel = "audio"

    def evaluate(self, data: RuleInput) -> Iterator[Hit]:
        audio = data.facts.audio
        loudness = audio.loudness if audio else None
        if loudness is None:
            return
        start, end = data.facts.on_air_start, data.facts.on_air_end
        s = self.spec
        # Both problems span the whole broadcast, so they are one hit (the engine keeps one finding per
        # rule and moment: two hits here would be merged and the second lost).
        problems: list[tuple[str, str, dict[str, float]]] = []
        integrated = loudness.integrated_lufs
        if integrated is not None and abs(integrated - s.target_lufs) > s.tolerance_lu:
            problems.append((f"{integrated:.1f} LUFS",
                             f"integrated loudness {integrated:.1f} LUFS, outside {s.target_lufs:g} ± "
                             f"{s.tolerance_lu:g} LU", {"integrated_lufs": integrated}))
        peak = loudness.true_peak_dbtp
        if peak is not None and peak > s.max_true_peak_dbtp:
            problems.append((f"{peak:.1f} dBTP", f"true peak {peak:.1f} dBTP, above {s.max_true_peak_dbtp:g} dBTP",
                             {"true_peak_dbtp": peak}))
        if problems:
            yield Hit(start, end, ", ".join(p[0] for p in problems), "; ".join(p[1] for p in problems),
                      details={key: value for p in problems for key, value in p[2].items()})

    def example_input(self, example: Any, base: EventFacts) -> RuleInput:
        """``{integrated_lufs: -23, true_peak_dbtp: -3}``."""
        from livewatch.rules.audio_facts import AudioFacts, Loudness

        loudness = Loudness(example.get("integrated_lufs"), None, example.get("true_peak_dbtp"))
        return RuleInput(replace(base, audio=AudioFacts((), loudness, 7200.0)))
