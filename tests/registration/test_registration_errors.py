"""Mistakes a registration officer makes, and the exact line livewatch prints for each.

Every case writes a small file into a fresh folder, validates the folder (or the paths the case names) with
the working directory inside it, and compares every rendered issue: file, line, field path and message.
The base event is valid and draws no warnings, so the only issues are the ones the mistake causes.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from livewatch.issues import Severity
from livewatch.registration import LoadResult, validate_registrations
from livewatch.registration.models import Event, Participant
from livewatch.rules.packs import PackLibrary
from livewatch.settings import Settings

#: A valid event, one field per key. Values starting with a newline are blocks written under the key.
#: Lines: 1 id, 2 title, 3 kind, 4 category, 5 organizer, 6 name, 7 timezone, 8 start, 9 end, 10 streams,
#: 11 url, 12 participants, 13 "- name", 14 role, 15 real_name_verified, 16 birth_year.
BASE_EVENT: dict[str, str] = {
    "id": "demo-event",
    "title": "Demo event",
    "kind": "forum",
    "category": "knowledge",
    "organizer": "\n  name: Demo Org",
    "timezone": "Asia/Shanghai",
    "start": "2026-12-01T09:00",
    "end": "2026-12-01T11:00",
    "streams": "\n  - url: https://live.example.com/room/1",
    "participants": "\n  - name: Li Hua\n    role: host\n    real_name_verified: true\n    birth_year: 1990",
}

#: The same kind of event in TOML. Lines: 1 id, 2 title, 3 kind, 4 category, 5 timezone, 6 start, 7 end,
#: 9 [organizer], 10 name, 12 [[streams]], 13 url, 15 [[participants]] (host): 16 name, 17 role,
#: 18 real_name_verified, 19 birth_year, 21 [[participants]] (moderator): 22 name, 23 role,
#: 24 real_name_verified, 25 birth_year.
BASE_TOML = """\
id = "demo-lecture"
title = "Demo lecture"
kind = "lecture"
category = "knowledge"
timezone = "Asia/Hong_Kong"
start = 2026-12-14T19:30:00
end = 2026-12-14T21:00:00

[organizer]
name = "Demo Society"

[[streams]]
url = "https://live.bilibili.com/1"

[[participants]]
name = "Dr. Wong"
role = "host"
real_name_verified = true
birth_year = 1975

[[participants]]
name = "Leung"
role = "moderator"
real_name_verified = true
birth_year = 1992
"""


def valid_event(**changes: str | None) -> str:
    """The base event as YAML; a change replaces a key in place (None drops it), new keys go at the end."""
    fields = {**BASE_EVENT, **changes}
    return "".join(
        f"{key}:{value}\n" if value.startswith("\n") else f"{key}: {value}\n"
        for key, value in fields.items()
        if value is not None
    )


def swap(text: str, old: str, new: str) -> str:
    """Replace the one occurrence of ``old``; a helper that silently changes nothing would test nothing."""
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
    return text.replace(old, new)


def events_file(*events: str, extra: str = "") -> str:
    """Events under an ``events:`` list; each event's first line shares the '- ' line."""
    out = "events:\n"
    for event in events:
        first, *rest = event.splitlines()
        out += f"  - {first}\n" + "".join(f"    {line}\n" for line in rest)
    return out + extra


def validate_in(folder: Path, files: Mapping[str, str | bytes], paths: list[str] | None = None) -> LoadResult:
    for name, content in files.items():
        target = folder / name
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content, encoding="utf-8")
    targets = [Path(p) for p in paths] if paths is not None else [folder]
    return validate_registrations(targets, Settings())


def rendered(result: LoadResult) -> list[str]:
    return [issue.render() for issue in result.issues]


BASE = valid_event()

# The "allowed fields" lists grow with the format; the rest of those messages is pinned.
EVENT_FIELDS = ", ".join(sorted(Event.model_fields))
PARTICIPANT_FIELDS = ", ".join(sorted(Participant.model_fields))
# The default pack's version moves with its wording; the rest of the rule messages is pinned.
DEFAULT_PACK = PackLibrary().get("default")
PACKS = ", ".join(pack.ref for pack in PackLibrary().packs())
RULES_LIST = "(`livewatch rules list` shows every rule id)"

CASES = [
    # --- unknown keys -------------------------------------------------------------------------------------
    pytest.param(
        {"x.yaml": events_file(swap(BASE, "start:", "strat:"))},
        None,
        [
            "x.yaml:9: events[0].strat: unknown field 'strat' (did you mean 'start'? 'start' is required and "
            "missing: rename this key)",
        ],
        id="unknown-key-strat-did-you-mean",
    ),
    pytest.param(
        {"x.yaml": valid_event(colour="red")},
        None,
        [
            f"x.yaml:17: colour: unknown field 'colour'; allowed fields here: {EVENT_FIELDS}",
        ],
        id="unknown-key-no-close-match-lists-allowed",
    ),
    pytest.param(
        {"x.yaml": valid_event(tolerances="{overun: 30}")},
        None,
        ["x.yaml:17: tolerances.overun: unknown field 'overun' (did you mean 'overrun'?)"],
        id="unknown-key-nested-in-tolerances",
    ),
    # --- missing fields -----------------------------------------------------------------------------------
    pytest.param(
        {"x.yaml": valid_event(title=None)},
        None,
        ["x.yaml:1: title: required field 'title' is missing; add it, e.g. `title: ACME annual meeting 2026`"],
        id="missing-title",
    ),
    pytest.param(
        {"x.yaml": "# Demo registration\n\n" + valid_event(start=None)},
        None,
        ["x.yaml:3: start: required field 'start' is missing; add it, e.g. `start: 2026-12-01T09:00`"],
        id="missing-start-points-at-event-not-comment",
    ),
    pytest.param(
        {"x.yaml": swap(BASE, "  - name: Li Hua\n    role: host", "  - role: host")},
        None,
        ["x.yaml:13: participants[0].name: required field 'name' is missing; add it, e.g. `name: Li Hua`"],
        id="missing-participant-name",
    ),
    # One typo, one error: the unknown key says it is the missing field (not "missing title" besides).
    pytest.param(
        {"x.yaml": swap(BASE, "title: Demo event", "titel: Demo event")},
        None,
        ["x.yaml:2: titel: unknown field 'titel' (did you mean 'title'? 'title' is required and missing: "
         "rename this key)"],
        id="typo-of-a-required-field-is-one-error",
    ),
    pytest.param(
        {"x.yaml": swap(BASE, "    role: host", "    rol: host")},
        None,
        ["x.yaml:14: participants[0].rol: unknown field 'rol' (did you mean 'role'? 'role' is required and missing: "
         "rename this key)"],
        id="typo-of-a-required-participant-field-is-one-error",
    ),
    # --- dates and times ----------------------------------------------------------------------------------
    pytest.param(
        {"x.yaml": valid_event(end="2026-12-01T08:00")},
        None,
        [
            "x.yaml:9: end: end 2026-12-01T08:00:00+08:00 is not after start 2026-12-01T09:00:00+08:00; "
            "check the date (an event that ends past midnight ends on the next day)",
        ],
        id="end-before-start",
    ),
    pytest.param(
        {"x.yaml": valid_event(end="2026-12-01T09:00")},
        None,
        [
            "x.yaml:9: end: end 2026-12-01T09:00:00+08:00 is not after start 2026-12-01T09:00:00+08:00; "
            "check the date (an event that ends past midnight ends on the next day)",
        ],
        id="end-equal-to-start",
    ),
    pytest.param(
        {"x.yaml": valid_event(start="2026-12-01")},
        None,
        ["x.yaml:8: start: '2026-12-01' has no time of day; write it like 2026-12-01T09:00"],
        id="date-without-time",
    ),
    pytest.param(
        {"x.yaml": valid_event(start="1st December 9am")},
        None,
        [
            "x.yaml:8: start: '1st December 9am' is not an ISO 8601 date and time; write it like "
            "2026-12-01T09:00 or 2026-12-01T09:00+08:00",
        ],
        id="unparseable-datetime",
    ),
    pytest.param(
        {"x.yaml": valid_event(start="2026-13-01T09:00")},
        None,
        [
            "x.yaml:8: start: '2026-13-01T09:00' is not an ISO 8601 date and time; write it like "
            "2026-12-01T09:00 or 2026-12-01T09:00+08:00",
        ],
        id="impossible-month",
    ),
    pytest.param(
        {"x.yaml": valid_event(timezone="Asia/Shangai")},
        None,
        [
            "x.yaml:7: timezone: unknown time zone 'Asia/Shangai' (did you mean 'Asia/Shanghai'?); "
            "use an IANA name such as Asia/Shanghai, Europe/London or UTC",
        ],
        id="bad-timezone-with-suggestion",
    ),
    # Names officers say aloud come from the alias table (livewatch/timezone_hints.py), not a spelling check
    # (which sent Asia/Beijing to Asia/Brunei and UTC+8 to UTC).
    *(
        pytest.param(
            {"x.yaml": valid_event(timezone=written)},
            None,
            [f"x.yaml:7: timezone: unknown time zone '{shown}' (did you mean 'Asia/Shanghai'?{also}); "
             "use an IANA name such as Asia/Shanghai, Europe/London or UTC"],
            id=f"timezone-alias-{written}",
        )
        for written, shown, also in [
            ("Beijing", "Beijing", ""),
            ("Asia/Beijing", "Asia/Beijing", ""),
            ("北京时间", "北京时间", ""),
            ("CST", "CST", " 'CST' can also mean US Central Time (America/Chicago) or Cuba (America/Havana)"),
            ("UTC+8", "UTC+8", " 'UTC+8' can also mean Asia/Hong_Kong, Asia/Taipei, Asia/Singapore or "
             "Australia/Perth"),
            # YAML reads an unquoted +08:00 as the base-60 number 480; the message shows what was written.
            ("+08:00", "+08:00", " '+08:00' can also mean Asia/Hong_Kong, Asia/Taipei, Asia/Singapore or "
             "Australia/Perth"),
        ]
    ),
    # --- choices and patterns -----------------------------------------------------------------------------
    pytest.param(
        {"x.yaml": valid_event(kind="fourm")},
        None,
        [
            "x.yaml:3: kind: 'fourm' is not allowed (did you mean 'forum'?); "
            "use one of: forum, annual-meeting, lecture, seminar, summit, launch, other or inspection",
        ],
        id="bad-kind-with-suggestion",
    ),
    pytest.param(
        {"x.yaml": valid_event(category="Knowledge")},
        None,
        ["x.yaml:4: category: 'Knowledge' is not valid here; write a lowercase tag such as knowledge, commerce or "
         "entertainment"],
        id="category-not-lowercase",
    ),
    pytest.param(
        {"x.yaml": valid_event(title="yes")},
        None,
        ["x.yaml:2: title: must be text, got true"],
        id="title-yaml-boolean",
    ),
    # --- ids ----------------------------------------------------------------------------------------------
    pytest.param(
        {"x.yaml": valid_event(id="Demo Event")},
        None,
        [
            "x.yaml:1: id: 'Demo Event' is not a valid id: use lowercase letters, digits, '-' and '_', starting "
            "with a letter or digit (for example 'demo-event')",
        ],
        id="id-uppercase-and-space",
    ),
    pytest.param(
        {"x.yaml": valid_event(id="../etc")},
        None,
        [
            "x.yaml:1: id: '../etc' could escape the data directory (ids name folders there); "
            "use only lowercase letters, digits, '-' and '_'",
        ],
        id="id-path-traversal",
    ),
    pytest.param(
        {"x.yaml": valid_event(id="a" * 65)},
        None,
        ["x.yaml:1: id: id is 65 characters long; keep it to 64"],
        id="id-too-long",
    ),
    pytest.param(
        {"a.yaml": BASE, "b.yaml": "# copied from a.yaml\n" + valid_event(title="Copy")},
        None,
        [
            "b.yaml:2: id: id 'demo-event' is already used by a.yaml:1; ids must be unique across all files",
        ],
        id="duplicate-id-across-files",
    ),
    pytest.param(
        {"x.yaml": events_file(BASE, valid_event(title="Second"))},
        None,
        [
            "x.yaml:18: events[1].id: id 'demo-event' is already used by x.yaml:2; ids must be unique across "
            "all files",
        ],
        id="duplicate-id-in-one-file",
    ),
    # --- streams ------------------------------------------------------------------------------------------
    pytest.param(
        {"x.yaml": swap(BASE, "https://live.example.com/room/1", "ftp://live.example.com/room/1")},
        None,
        [
            "x.yaml:11: streams[0].url: URL scheme 'ftp' is not allowed; use one of http, https, rtmp, rtmps "
            "(the global configuration's allowed_url_schemes can add more)",
        ],
        id="url-scheme-ftp",
    ),
    pytest.param(
        {"x.yaml": swap(BASE, "https://live.example.com/room/1", "live.example.com/room/1")},
        None,
        [
            "x.yaml:11: streams[0].url: 'live.example.com/room/1' has no scheme; write the full URL, e.g. "
            "https://live.example.com/room/1",
        ],
        id="url-without-scheme",
    ),
    pytest.param(
        {"x.yaml": swap(BASE, "https://live.example.com/room/1", "https://live.example.com/main hall")},
        None,
        ["x.yaml:11: streams[0].url: URL contains spaces or control characters; percent-encode them"],
        id="url-with-space",
    ),
    pytest.param(
        {"x.yaml": swap(BASE, "https://live.example.com/room/1", "https://")},
        None,
        ["x.yaml:11: streams[0].url: 'https://' has no host name; write the full URL, e.g. https://example.com/live"],
        id="url-without-host",
    ),
    pytest.param(
        {"x.yaml": valid_event(streams="[]")},
        None,
        ["x.yaml:10: streams: at least one stream is needed; add `- url: https://live.example.com/room/1`"],
        id="streams-empty",
    ),
    pytest.param(
        {"x.yaml": valid_event(streams="https://live.example.com/room/1")},
        None,
        [
            "x.yaml:10: streams: must be a list, got 'https://live.example.com/room/1'; write each item on its "
            "own line starting with '- '",
        ],
        id="streams-not-a-list",
    ),
    pytest.param(
        {"x.yaml": valid_event(organizer="Demo Org")},
        None,
        ["x.yaml:5: organizer: must be a mapping of fields (key: value lines), got 'Demo Org'"],
        id="organizer-not-a-mapping",
    ),
    # --- participants -------------------------------------------------------------------------------------
    pytest.param(
        {"x.yaml": swap(BASE, "role: host", "role: presenter")},
        None,
        ["x.yaml:14: participants[0].role: 'presenter' is not allowed; use one of: host, guest or moderator"],
        id="bad-role",
    ),
    pytest.param(
        {"x.yaml": swap(BASE, "role: host", "role: Host")},
        None,
        [
            "x.yaml:14: participants[0].role: 'Host' is not allowed (did you mean 'host'?); "
            "use one of: host, guest or moderator",
        ],
        id="role-capitalised",
    ),
    pytest.param(
        {"x.yaml": swap(BASE, "birth_year: 1990", "birth_year: nineteen ninety")},
        None,
        ["x.yaml:16: participants[0].birth_year: must be a whole number, got 'nineteen ninety'"],
        id="birth-year-not-a-number",
    ),
    pytest.param(
        {"x.yaml": swap(BASE, "birth_year: 1990", "birth_year: 1890")},
        None,
        ["x.yaml:16: participants[0].birth_year: must be at least 1900, got 1890"],
        id="birth-year-too-early",
    ),
    pytest.param(
        {"x.yaml": swap(BASE, "birth_year: 1990", "birth_year: 2190")},
        None,
        ["x.yaml:16: participants[0].birth_year: must be at most 2100, got 2190"],
        id="birth-year-too-late",
    ),
    pytest.param(
        {"x.yaml": swap(BASE, "birth_year: 1990", "birth_year: 1990\n    credentials: [{field: medicine, id: X1}]")},
        None,
        [
            "x.yaml:17: participants[0].credentials[0].field: 'medicine' is not allowed (did you mean 'medical'?); "
            "use one of: finance, medical, law or education",
        ],
        id="bad-credential-field",
    ),
    # --- text ---------------------------------------------------------------------------------------------
    pytest.param(
        {"x.yaml": valid_event(title='"Demo\\a event"')},
        None,
        ["x.yaml:2: title: contains line breaks or control characters; write it on one line as plain text"],
        id="control-character-in-title",
    ),
    pytest.param(
        {"x.yaml": valid_event(title="|\n  Demo\n  event")},
        None,
        ["x.yaml:2: title: contains line breaks or control characters; write it on one line as plain text"],
        id="title-block-over-two-lines",
    ),
    # --- YAML structure and syntax ------------------------------------------------------------------------
    pytest.param(
        {"x.yaml": swap(BASE, "title: Demo event\n", "title: Demo event\ntitle: Demo event again\n")},
        None,
        ["x.yaml:3: title: 'title' is written twice (first on line 2); keep one"],
        id="duplicate-yaml-key",
    ),
    pytest.param(
        {"x.yaml": valid_event(kind="forum: annual")},
        None,
        ["x.yaml:3: (top level): YAML syntax: mapping values are not allowed here"],
        id="yaml-syntax-error",
    ),
    pytest.param(
        {"x.yaml": swap(BASE, "  name: Demo Org", "\tname: Demo Org")},
        None,
        ["x.yaml:6: (top level): YAML syntax: while scanning for the next token, found character '\\t' that "
         "cannot start any token"],
        id="yaml-tab-indentation",
    ),
    pytest.param(
        # The scanner gives up at the end of the file; the error points at the quote that was never closed.
        {"x.yaml": swap(BASE, "title: Demo event", 'title: "Demo event')},
        None,
        ['x.yaml:2: (top level): YAML syntax: the " opened at column 8 of this line is never closed; end the '
         'text with the same "'],
        id="yaml-unterminated-quote-points-at-its-line",
    ),
    pytest.param(
        # Left open, the quote swallows the lines up to the next quote, where the parser gets lost (line 7).
        {"x.yaml": swap(BASE, "title: Demo event", 'title: "Demo event').replace("timezone: Asia/Shanghai",
                                                                                  'timezone: "Asia/Shanghai"')},
        None,
        ['x.yaml:2: (top level): YAML syntax: the " opened at column 8 of this line is closed only on line 7; '
         'end the text with " on this line'],
        id="yaml-quote-closed-lines-later-points-at-its-line",
    ),
    pytest.param(
        {"x.yaml": BASE + "---\n" + valid_event(id="demo-event-2")},
        None,
        ["x.yaml:17: (top level): YAML syntax: expected a single document in the stream, but found another "
         "document"],
        id="yaml-two-documents",
    ),
    pytest.param(
        {"x.yaml": ""},
        None,
        ["x.yaml:1: (top level): file is empty; write one event, or `events:` with a list"],
        id="empty-file",
    ),
    pytest.param(
        {"x.yaml": "# TODO: fill in the December forum\n"},
        None,
        ["x.yaml:1: (top level): file is empty; write one event, or `events:` with a list"],
        id="only-a-comment",
    ),
    pytest.param(
        {"x.yaml": "demo-event\n"},
        None,
        ["x.yaml:1: (top level): expected an event (key: value lines) or a list of events"],
        id="top-level-scalar",
    ),
    pytest.param(
        {"x.yaml": events_file(BASE, extra="version: 2\n")},
        None,
        ["x.yaml:18: version: a file with `events:` holds nothing else; move this key into an event"],
        id="events-file-with-extra-key",
    ),
    pytest.param(
        {"x.yaml": "events: demo-event\n"},
        None,
        ["x.yaml:1: events: `events` must be a list of events (lines starting with '- ')"],
        id="events-not-a-list",
    ),
    pytest.param(
        {"x.yaml": "events:\n  - demo-event\n"},
        None,
        ["x.yaml:2: events[0]: an event must be a mapping of fields (key: value lines)"],
        id="events-item-not-a-mapping",
    ),
    pytest.param(
        {"x.yaml": swap(BASE, "title: Demo event", "title: 年度论坛").encode("gbk")},
        None,
        ["x.yaml:2: (top level): file is not UTF-8 text; save it as UTF-8"],
        id="file-saved-as-gbk",
    ),
    # --- TOML ---------------------------------------------------------------------------------------------
    pytest.param(
        {"x.toml": swap(BASE_TOML, 'role = "moderator"', 'role = "moderater"')},
        None,
        [
            "x.toml:23: participants[1].role: 'moderater' is not allowed (did you mean 'moderator'?); "
            "use one of: host, guest or moderator",
        ],
        id="toml-mistake-in-second-participants-table",
    ),
    pytest.param(
        {"x.toml": swap(BASE_TOML, "birth_year = 1975", "birth_yaer = 1975")},
        None,
        ["x.toml:19: participants[0].birth_yaer: unknown field 'birth_yaer' (did you mean 'birth_year'?)"],
        id="toml-unknown-key-in-first-participants-table",
    ),
    pytest.param(
        {"x.toml": swap(BASE_TOML, "start = 2026-12-14T19:30:00", "start = 2026-12-14")},
        None,
        ["x.toml:6: start: needs both a date and a time, e.g. 2026-12-01T09:00 (the time zone is optional)"],
        id="toml-date-without-time",
    ),
    pytest.param(
        {"x.toml": BASE_TOML + 'notes = "Q&A at the end"\n'},
        None,
        [
            f"x.toml:26: participants[1].notes: unknown field 'notes'; allowed fields here: {PARTICIPANT_FIELDS}",
        ],
        id="toml-top-level-key-after-tables",
    ),
    pytest.param(
        {"x.toml": swap(BASE_TOML, 'kind = "lecture"', "kind = lecture")},
        None,
        ["x.toml:3: kind: TOML syntax: Invalid value (at line 3, column 8)"],
        id="toml-unquoted-string",
    ),
    pytest.param(
        # YAML and the docs write times without seconds; TOML 1.0 refuses them, so the error gives the fix.
        {"x.toml": swap(BASE_TOML, "start = 2026-12-14T19:30:00", "start = 2026-12-14T19:30")},
        None,
        ["x.toml:6: start: TOML syntax: Expected newline or end of document after a statement (at line 6, "
         'column 19); TOML needs the seconds in a time: write 2026-12-14T19:30:00 (or quote it, '
         '"2026-12-14T19:30", as in YAML)'],
        id="toml-time-without-seconds",
    ),
    pytest.param(
        {"x.yaml": valid_event(transcriber="\n  backend: whisperx\n  beam_size: 0")},
        None,
        [
            "x.yaml:18: transcriber.backend: no transcription backend named 'whisperx' is installed (did you mean "
            "'openai-whisper'?); installed: faster-whisper, openai-whisper",
            "x.yaml:19: transcriber.beam_size: must be at least 1, got 0",
        ],
        id="transcriber-override",
    ),
    # --- rule packs and rule overrides --------------------------------------------------------------------
    pytest.param(
        {"x.yaml": valid_event(rule_overrides="\n  - rule: P14.guaranteed-returns\n    severity: critical"
                                              "\n  - rule: P05.absolute-terms\n    allowlist: [第一季度]")},
        None,
        [
            f"x.yaml:18: rule_overrides[0].rule: no rule 'P14.guaranteed-returns' in the selected rule packs "
            f"(searched: {DEFAULT_PACK.ref}); did you mean 'finance-promise.guaranteed-returns'? {RULES_LIST}",
            f"x.yaml:20: rule_overrides[1].rule: no rule 'P05.absolute-terms' in the selected rule packs "
            f"(searched: {DEFAULT_PACK.ref}); did you mean one of 'absolute-terms.superlatives', "
            f"'absolute-terms.near-promotion'? {RULES_LIST}",
        ],
        id="unknown-rule-id-did-you-mean",
    ),
    pytest.param(
        {"x.yaml": valid_event(rule_overrides="\n  - rule: finance-promise.guaranted-return\n    enabled: false"
                                              "\n  - rule: quiet-hours")},
        None,
        [
            f"x.yaml:18: rule_overrides[0].rule: no rule 'finance-promise.guaranted-return' in the selected "
            f"rule packs (searched: {DEFAULT_PACK.ref}); did you mean 'finance-promise.guaranteed-returns'? "
            f"{RULES_LIST}",
            f"x.yaml:20: rule_overrides[1].rule: no rule 'quiet-hours' in the selected rule packs "
            f"(searched: {DEFAULT_PACK.ref}); {RULES_LIST}",
        ],
        id="unknown-rule-id-typo-and-no-match",
    ),
    pytest.param(
        {"x.yaml": valid_event(rule_overrides="\n  - rule: schedule.late-start\n    add_terms: [迟到]"
                                              "\n    allowlist: [稍后开始]"
                                              "\n  - rule: traffic-diversion.phone-number\n    add_terms: [热线]"
                                              "\n    allowlist: [热线电话]")},
        None,
        [
            "x.yaml:19: rule_overrides[0].add_terms: rule 'schedule.late-start' is a schedule rule: it judges "
            "facts about the broadcast, not words, so it has no terms; remove add_terms (enabled and severity "
            "still apply)",
            "x.yaml:20: rule_overrides[0].allowlist: rule 'schedule.late-start' is a schedule rule: it judges "
            "facts about the broadcast, not words, so there are no phrases to allow; remove allowlist (enabled "
            "and severity still apply)",
            "x.yaml:22: rule_overrides[1].add_terms: rule 'traffic-diversion.phone-number' is a regex rule: it "
            "matches a pattern, not a list of terms, so there is nothing to add terms to; remove add_terms "
            "(allowlist, enabled and severity still apply)",
        ],
        id="terms-for-a-rule-without-terms",
    ),
    pytest.param(
        {"x.yaml": valid_event(rule_overrides="\n  - rule: absolute-terms.superlatives\n    severity: low"
                                              "\n  - rule: absolute-terms.superlatives\n    allowlist: [第一季度]")},
        None,
        [
            "x.yaml:20: rule_overrides[1].rule: rule 'absolute-terms.superlatives' is already overridden by "
            "rule_overrides[0] (line 18); only one entry per rule takes effect, so merge the two",
        ],
        id="one-rule-overridden-twice",
    ),
    pytest.param(
        {"x.yaml": valid_event(rule_packs="[defualt]", rule_overrides="\n  - rule: P14.guaranteed-returns")},
        None,
        [
            f"x.yaml:17: rule_packs[0]: no rule pack 'defualt'; did you mean 'default'? available: {PACKS} "
            "('default' is cn-live-events; user packs go in the configuration's rule_packs_dir)",
        ],
        id="unknown-rule-pack",
    ),
    pytest.param(
        {"x.toml": swap(BASE_TOML, 'category = "knowledge"\n',
                        'category = "knowledge"\nrule_packs = ["default@0.1"]\n')},
        None,
        [
            f"x.toml:5: rule_packs[0]: rule pack 'cn-live-events' has no version 0.1; available: "
            f"{DEFAULT_PACK.version} (or write 'default' alone for the newest)",
        ],
        id="unknown-rule-pack-version",
    ),
    # --- paths --------------------------------------------------------------------------------------------
    pytest.param(
        {"notes.txt": BASE},
        ["notes.txt"],
        ["notes.txt:1: (top level): not a registration file; use a .yaml, .yml or .toml file"],
        id="txt-file-passed-explicitly",
    ),
    pytest.param(
        {},
        ["schedules/missing.yaml"],
        ["schedules/missing.yaml:1: (top level): no such file or folder"],
        id="nonexistent-path",
    ),
]


@pytest.mark.parametrize(("files", "paths", "expected"), CASES)
def test_registration_mistake(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    files: dict[str, str | bytes],
    paths: list[str] | None,
    expected: list[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    result = validate_in(tmp_path, files, paths)
    assert rendered(result) == expected
    assert not result.ok
    assert all(issue.severity is Severity.ERROR for issue in result.issues)


def test_toml_time_without_seconds_is_valid_when_quoted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    text = swap(BASE_TOML, "start = 2026-12-14T19:30:00", 'start = "2026-12-14T19:30"')
    result = validate_in(tmp_path, {"x.toml": text})
    assert (rendered(result), result.ok) == ([], True)
    assert result.registrations[0].event.start.isoformat() == "2026-12-14T19:30:00+08:00"


def test_base_event_is_valid_and_draws_no_warnings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name, text in {"x.yaml": BASE, "y.toml": BASE_TOML, "z.yaml": events_file(valid_event(id="other"))}.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    result = validate_registrations([tmp_path], Settings(), strict=True)
    assert rendered(result) == []
    assert sorted(reg.event.id for reg in result.registrations) == ["demo-event", "demo-lecture", "other"]


def test_every_error_in_every_file_comes_out_in_one_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    files = {
        # A good event next to a broken one: the good one still loads.
        "a-forum.yaml": events_file(
            valid_event(id="forum-day1"),
            valid_event(id="forum-day2", kind="fourm", end="2026-12-01T08:00"),
        ),
        "b-lecture.toml": swap(BASE_TOML, 'role = "moderator"', 'role = "moderater"'),
        "c-broken.yaml": valid_event(kind="forum: annual"),
        "d-good.yaml": valid_event(id="launch-2026", kind="launch"),
        "e-copy.yaml": valid_event(id="forum-day1", title="Copied"),
        "notes.txt": "not a registration",  # ignored inside a folder
    }
    result = validate_in(tmp_path, files, [str(tmp_path), "missing.yaml"])
    assert rendered(result) == [
        "a-forum.yaml:20: events[1].kind: 'fourm' is not allowed (did you mean 'forum'?); "
        "use one of: forum, annual-meeting, lecture, seminar, summit, launch, other or inspection",
        "a-forum.yaml:26: events[1].end: end 2026-12-01T08:00:00+08:00 is not after start "
        "2026-12-01T09:00:00+08:00; check the date (an event that ends past midnight ends on the next day)",
        "b-lecture.toml:23: participants[1].role: 'moderater' is not allowed (did you mean 'moderator'?); "
        "use one of: host, guest or moderator",
        "c-broken.yaml:3: (top level): YAML syntax: mapping values are not allowed here",
        "e-copy.yaml:1: id: id 'forum-day1' is already used by a-forum.yaml:2; ids must be unique across all "
        "files",
        "missing.yaml:1: (top level): no such file or folder",
    ]
    assert not result.ok
    assert [reg.event.id for reg in result.registrations] == ["forum-day1", "launch-2026"]
    assert [path.name for path in result.files] == [
        "a-forum.yaml", "b-lecture.toml", "c-broken.yaml", "d-good.yaml", "e-copy.yaml",
    ]
    day1 = result.by_id()["forum-day1"]
    assert (day1.line, day1.line_of("kind"), day1.field) == (2, 4, ("events", 0))
    # Issues of a broken event carry its id, so a report can group them.
    assert {issue.event_id for issue in result.issues if issue.file.name == "a-forum.yaml"} == {"forum-day2"}


# --- once bugs: the behaviour an officer gets -----------------------------------------------------------


def test_bad_handle_platform_gets_the_handles_hint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    text = swap(BASE, "    real_name_verified: true", "    handles: {Douyin: '@li'}\n    real_name_verified: true")
    [issue] = validate_in(tmp_path, {"x.yaml": text}).issues
    assert issue.message == "'Douyin' is not valid here; write a lowercase platform tag such as douyin or weibo"


def test_url_with_port_but_no_scheme_says_no_scheme(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    text = swap(BASE, "https://live.example.com/room/1", "live.douyin.com:443/123")
    [issue] = validate_in(tmp_path, {"x.yaml": text}).issues
    assert "has no scheme" in issue.message


def test_boolean_yaml_key_points_at_its_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    [issue] = validate_in(tmp_path, {"x.yaml": BASE + "on: true\n"}).issues
    assert issue.line == 17
    assert issue.render().startswith("x.yaml:17: on: ")


def test_same_file_named_twice_is_read_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = validate_in(tmp_path, {"x.yaml": BASE}, [".", "x.yaml"])
    assert rendered(result) == []
