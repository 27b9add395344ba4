"""Registration checks (rule type R24): warnings by default, errors under ``strict=True``.

Each test writes one event whose only weakness is the one under test; the base event draws no warnings.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from livewatch.errors import ConfigError
from livewatch.issues import Issue, Severity
from livewatch.registration import LoadResult, validate_registrations
from livewatch.registration.blacklist import Blacklist, load_blacklist, normalize_handle, normalize_name
from livewatch.settings import Settings

SCHEDULES = Path(__file__).resolve().parents[2] / "schedules"

BLACKLIST = """\
people:
  - name: 張三
    reason: listed 2025-03 for fraud
  - name: ＪＯＨＮ　ｓｍｉｔｈ
  - name: Wang Wu
    aliases: [王五]
    handles: ["@wangwu_live"]
    reason: false advertising
"""

WIDE_HANDLE = "＠ｗａｎｇｗｕ_ｌｉｖｅ"  # a full-width '@' and letters, as typed with a Chinese input method


def person(
    name: str = "Li Hua",
    role: str = "host",
    *,
    birth_year: int | None = 1990,
    verified: str | None = "true",
    extra: str = "",
) -> str:
    """One participant as YAML list-item lines (under ``participants:``)."""
    lines = [f"  - name: {name}", f"    role: {role}"]
    if verified is not None:
        lines.append(f"    real_name_verified: {verified}")
    if birth_year is not None:
        lines.append(f"    birth_year: {birth_year}")
    lines += [f"    {line}" for line in extra.splitlines()]
    return "".join(f"{line}\n" for line in lines)


def event(*people: str, topics: str | None = None, category: str | None = "knowledge") -> str:
    """An event; without ``category`` the lines after it move up by one.

    Lines: 1 id, 2 title, 3 kind, 4 category, 5-6 organizer, 7 timezone, 8 start, 9 end, 10-11 streams,
    12 participants, 13 the first participant's '- name' line.
    """
    head = "id: demo-event\ntitle: Demo event\nkind: forum\n"
    if category is not None:
        head += f"category: {category}\n"
    head += (
        "organizer:\n  name: Demo Org\n"
        "timezone: Asia/Shanghai\n"
        "start: 2026-12-01T09:00\n"
        "end: 2026-12-01T11:00\n"
        "streams:\n  - url: https://live.example.com/room/1\n"
    )
    body = "participants:\n" + "".join(people) if people else ""
    tail = f"topics: {topics}\n" if topics is not None else ""
    return head + body + tail


def check(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    text: str,
    *,
    strict: bool = False,
    blacklist: Blacklist | None = None,
) -> LoadResult:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.yaml").write_text(text, encoding="utf-8")
    result = validate_registrations([Path("x.yaml")], Settings(), strict=strict, blacklist=blacklist)
    assert [reg.event.id for reg in result.registrations] == ["demo-event"]
    return result


def codes(issues: list[Issue]) -> list[str]:
    return [issue.code for issue in issues]


def write_blacklist(folder: Path, text: str = BLACKLIST) -> Blacklist:
    path = folder / "blacklist.yaml"
    path.write_text(text, encoding="utf-8")
    return load_blacklist(path)


def test_base_event_draws_no_warnings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = check(tmp_path, monkeypatch, event(person()), strict=True, blacklist=write_blacklist(tmp_path))
    assert result.issues == []
    assert result.ok


# --- regulated topics and credentials -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("topics", "needed"),
    [
        pytest.param("[finance]", "finance", id="finance"),
        pytest.param("[investment]", "finance", id="investment-needs-finance"),
        pytest.param("[health]", "medical", id="health-needs-medical"),
        pytest.param("[medicine]", "medical", id="medicine-needs-medical"),
        pytest.param("[legal]", "law", id="legal-needs-law"),
        pytest.param("[education]", "education", id="education"),
    ],
)
def test_regulated_topic_without_credential_warns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, topics: str, needed: str
) -> None:
    result = check(tmp_path, monkeypatch, event(person(), topics=topics))
    [issue] = result.issues
    assert (issue.severity, issue.code, issue.line, issue.event_id) == (
        Severity.WARNING, "credential-missing", 13, "demo-event"
    )
    assert f"holds no {needed} credential" in issue.message
    assert result.ok  # warnings alone do not fail a registration


def test_credential_warning_exact_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = check(tmp_path, monkeypatch, event(person(), person("Zhao Lei", "guest"), topics="[health]"))
    assert [issue.render() for issue in result.issues] == [
        "x.yaml:13: participants[0]: warning: 'Li Hua' speaks at an event on health but holds no medical "
        "credential; add `credentials: [{field: medical, id: ...}]` or remove the topic",
        "x.yaml:17: participants[1]: warning: 'Zhao Lei' speaks at an event on health but holds no medical "
        "credential; add `credentials: [{field: medical, id: ...}]` or remove the topic",
    ]


def test_topics_for_the_same_field_give_one_warning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = check(tmp_path, monkeypatch, event(person(), topics="[finance, investment, technology]"))
    assert [issue.render() for issue in result.issues] == [
        "x.yaml:13: participants[0]: warning: 'Li Hua' speaks at an event on finance, investment but holds no "
        "finance credential; add `credentials: [{field: finance, id: ...}]` or remove the topic",
    ]


def test_two_fields_give_one_warning_each(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = check(tmp_path, monkeypatch, event(person(), topics="[health, finance, medicine]"))
    messages = [issue.message for issue in result.issues]
    assert len(messages) == 2
    assert "on finance but holds no finance credential" in messages[0]
    assert "on health, medicine but holds no medical credential" in messages[1]


def test_moderator_needs_no_credential(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = check(tmp_path, monkeypatch, event(person("Chen Xiao", "moderator"), topics="[finance, health]"))
    assert result.issues == []


def test_matching_credential_silences_only_its_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    finance = "credentials: [{field: finance, id: S0150123070008}]"
    text = event(person(extra=finance), person("Zhao Lei", "guest", extra=finance), topics="[finance, law]")
    result = check(tmp_path, monkeypatch, text)
    assert [(issue.line, issue.code) for issue in result.issues] == [
        (13, "credential-missing"),
        (18, "credential-missing"),
    ]
    assert all("holds no law credential" in issue.message for issue in result.issues)


def test_unregulated_topics_need_no_credential(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = check(tmp_path, monkeypatch, event(person(), topics="[technology, marketing]"))
    assert result.issues == []


# --- host age -------------------------------------------------------------------------------------------------


def test_host_under_16_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = check(tmp_path, monkeypatch, event(person(birth_year=2011)))
    assert [issue.render() for issue in result.issues] == [
        "x.yaml:16: participants[0].birth_year: host 'Li Hua' (born 2011) is 14 or 15 on 2026-12-01; "
        "hosts must be at least 16 (网络直播营销管理办法（试行） art. 17), even with a guardian's consent",
    ]
    assert not result.ok  # `validate` exits 1; the event is still monitored, so the broadcast is on record


def test_host_who_may_still_be_15(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Born 2010: 16 after this year's birthday, 15 before it; only the year is known, so warn.
    result = check(tmp_path, monkeypatch, event(person(birth_year=2010)))
    [issue] = result.issues
    assert issue.code == "host-under-16"
    assert issue.severity is Severity.ERROR
    assert issue.message.startswith("host 'Li Hua' (born 2010) is 15 or 16 on 2026-12-01; hosts must be at least 16")


@pytest.mark.parametrize(("birth_year", "age"), [(2009, 16), (2008, 17)])
def test_host_aged_16_or_17_needs_guardian_consent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, birth_year: int, age: int
) -> None:
    result = check(tmp_path, monkeypatch, event(person(birth_year=birth_year)))
    assert [issue.render() for issue in result.issues] == [
        f"x.yaml:16: participants[0].birth_year: warning: host 'Li Hua' (born {birth_year}) may be {age} on "
        "2026-12-01; hosts aged 16 or 17 need guardian consent, record it as `guardian_consent: true`",
    ]


@pytest.mark.parametrize("birth_year", [2009, 2008])
def test_guardian_consent_silences_the_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, birth_year: int
) -> None:
    result = check(tmp_path, monkeypatch, event(person(birth_year=birth_year, extra="guardian_consent: true")))
    assert result.issues == []


def test_guardian_consent_does_not_cover_under_16(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = check(tmp_path, monkeypatch, event(person(birth_year=2011, extra="guardian_consent: true")))
    assert codes(result.issues) == ["host-under-16"]


def test_adult_host_and_16_year_old_guest_draw_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Born 2007: at least 18 on 2026-12-01. Guardian consent is asked of hosts only.
    result = check(tmp_path, monkeypatch, event(person(birth_year=2007), person("Xiao Ming", "guest", birth_year=2009)))
    assert result.issues == []


@pytest.mark.parametrize("role", ["guest", "moderator"])
def test_guest_under_16_is_warned_citing_the_rule(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, role: str
) -> None:
    result = check(tmp_path, monkeypatch, event(person(birth_year=1990), person("Xiao Ming", role, birth_year=2012)))
    assert [issue.render() for issue in result.issues] == [
        f"x.yaml:20: participants[1].birth_year: warning: {role} 'Xiao Ming' (born 2012) is 13 or 14 on "
        "2026-12-01; people under 16 may not present a live broadcast (网络直播营销管理办法（试行） art. 17): "
        "make sure this is not a presenting role, and that a guardian has agreed",
    ]
    assert result.ok


def test_participants_are_checked_when_the_event_has_other_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A bad stream URL makes the event invalid; its 14-year-old host, blacklisted guest and unverified
    # participant must still be reported, at their own lines.
    text = event(person(birth_year=2011), person("王五", "guest", verified="false"),
                 person("Broken", "guest", birth_year=1800)).replace("https://live.example", "ftp://live.example")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.yaml").write_text(text, encoding="utf-8")
    result = validate_registrations([Path("x.yaml")], Settings(), blacklist=write_blacklist(tmp_path))
    assert result.registrations == []
    assert [(issue.line, issue.severity.value, issue.code) for issue in result.issues] == [
        (11, "error", "value_error"),  # the URL
        (16, "error", "host-under-16"),
        (17, "warning", "blacklisted"),  # 王五
        (19, "warning", "real-name-missing"),  # 王五's `real_name_verified: false`
        (24, "error", "greater_than_equal"),  # birth_year 1800: its own error; not checked further
    ]


def test_host_without_birth_year(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = check(tmp_path, monkeypatch, event(person(birth_year=None), person("Zhao Lei", "guest", birth_year=None)))
    assert [issue.render() for issue in result.issues] == [
        "x.yaml:13: participants[0]: warning: host 'Li Hua' has no birth_year; hosts must be at least 16, "
        "record it as `birth_year: 1990`",
    ]


# --- blacklist ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "extra", "matched", "barred"),
    [
        pytest.param("张三", "", "name '张三'", "張三", id="simplified-vs-traditional"),
        pytest.param("John Smith", "", "name 'John Smith'", "ＪＯＨＮ　ｓｍｉｔｈ", id="full-width-and-case"),
        pytest.param("JOHN·SMITH", "", "name 'JOHN·SMITH'", "ＪＯＨＮ　ｓｍｉｔｈ", id="middle-dot"),
        pytest.param("王五", "", "name '王五'", "Wang Wu", id="alias"),
        pytest.param("Li Hua", "handles: {douyin: wangwu_live}", "handle 'wangwu_live'", "Wang Wu",
                     id="handle-without-at"),
        pytest.param("Li Hua", "handles: {douyin: '@WangWu_Live'}", "handle '@WangWu_Live'", "Wang Wu",
                     id="handle-with-at-other-case"),
        pytest.param("Li Hua", f"handles: {{weibo: '{WIDE_HANDLE}'}}", f"handle '{WIDE_HANDLE}'", "Wang Wu",
                     id="handle-full-width-at"),
    ],
)
def test_blacklisted_participant(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, extra: str, matched: str, barred: str
) -> None:
    blacklist = write_blacklist(tmp_path)
    result = check(tmp_path, monkeypatch, event(person(name, "guest", extra=extra)), blacklist=blacklist)
    [issue] = result.issues
    assert (issue.severity, issue.code, issue.line, issue.field) == (
        Severity.WARNING, "blacklisted", 13, ("participants", 0)
    )
    assert issue.message.startswith(f"participant {matched} matches barred person '{barred}'")


def test_blacklist_exact_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blacklist = write_blacklist(tmp_path)
    text = event(person(), person("張三", "guest"), person("Amy", "guest", extra="handles: {douyin: '@wangwu_live'}"))
    result = check(tmp_path, monkeypatch, text, blacklist=blacklist)
    assert [issue.render() for issue in result.issues] == [
        "x.yaml:17: participants[1]: warning: participant name '張三' matches barred person '張三' "
        "(listed 2025-03 for fraud); barred people must not appear",
        "x.yaml:21: participants[2]: warning: participant handle '@wangwu_live' matches barred person "
        "'Wang Wu' (false advertising); barred people must not appear",
    ]


def test_traditional_registration_matches_simplified_blacklist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blacklist = write_blacklist(tmp_path, "people:\n  - name: 张三\n")
    result = check(tmp_path, monkeypatch, event(person(), person("張三", "guest")), blacklist=blacklist)
    assert [issue.render() for issue in result.issues] == [
        "x.yaml:17: participants[1]: warning: participant name '張三' matches barred person '张三'; "
        "barred people must not appear",
    ]


def test_blacklist_from_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "barred.yaml").write_text(BLACKLIST, encoding="utf-8")
    (tmp_path / "events").mkdir()
    (tmp_path / "events" / "x.yaml").write_text(event(person("张三")), encoding="utf-8")
    result = validate_registrations([Path("events")], Settings(blacklist=Path("barred.yaml")))
    assert codes(result.issues) == ["blacklisted"]
    assert result.issues[0].location == "events/x.yaml:13"


@pytest.mark.parametrize(
    ("name", "handle"),
    [
        pytest.param("张四", "", id="other-name"),
        pytest.param("Wang", "", id="part-of-a-name"),
        pytest.param("John Smyth", "", id="similar-name"),
        pytest.param("Li Hua", "handles: {douyin: '@wangwu_live2'}", id="longer-handle"),
    ],
)
def test_no_false_blacklist_match(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, handle: str
) -> None:
    blacklist = write_blacklist(tmp_path)
    result = check(tmp_path, monkeypatch, event(person(name, "guest", extra=handle)), blacklist=blacklist)
    assert result.issues == []


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("張三", "张三"),
        ("ＪＯＨＮ　ｓｍｉｔｈ", "John Smith"),
        ("迪丽热巴·迪力木拉提", "迪丽热巴迪力木拉提"),
        ("Anne-Marie O'Neil", "annemarie oneil"),
    ],
)
def test_normalize_name(left: str, right: str) -> None:
    assert normalize_name(left) == normalize_name(right)


@pytest.mark.parametrize("handle", ["@wangwu_live", "wangwu_live", "  @WangWu_Live ", "＠ｗａｎｇｗｕ_ｌｉｖｅ"])
def test_normalize_handle(handle: str) -> None:
    assert normalize_handle(handle) == normalize_handle("wangwu_live")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "people:\n  - name: A\n    reson: typo\n",
            "blacklist.yaml:3: people[0].reson: unknown field 'reson' (did you mean 'reason'?)",
            id="unknown-key",
        ),
        pytest.param(
            "people:\n  - name: A\n  - aliases: [B]\n",
            "blacklist.yaml:3: people[1].name: required field 'name' is missing; add it, e.g. `name: Li Hua`",
            id="missing-name",
        ),
        pytest.param(
            "people:\n  - name: A\n    handles: '@a'\n",
            "blacklist.yaml:3: people[0].handles: must be a list, got '@a'; write each item on its own line "
            "starting with '- '",
            id="handles-not-a-list",
        ),
        pytest.param(
            "people:\n  - name: A\n    reason: [fraud\n",
            "blacklist.yaml:4: (top level): YAML syntax: while parsing a flow sequence, expected ',' or ']', "
            "but got '<stream end>'",
            id="yaml-syntax",
        ),
        pytest.param(
            "- name: A\n",
            "blacklist.yaml:1: (top level): must be a mapping of fields (key: value lines), got a list",
            id="list-without-people-key",
        ),
    ],
)
def test_broken_blacklist_raises_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, expected: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "blacklist.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_blacklist(Path("blacklist.yaml"))
    assert [issue.render() for issue in caught.value.issues] == [expected]
    assert str(caught.value).startswith("blacklist blacklist.yaml ")
    assert str(caught.value).endswith(f"\n  {expected}")


def test_broken_blacklist_stops_validation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "barred.toml").write_text('[[people]]\nname = "A"\nhandle = "@a"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        validate_registrations([SCHEDULES], Settings(blacklist=Path("barred.toml")))
    assert [issue.render() for issue in caught.value.issues] == [
        "barred.toml:3: people[0].handle: unknown field 'handle' (did you mean 'handles'?)",
    ]


def test_missing_blacklist_file_raises_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"^cannot read blacklist nowhere\.yaml: No such file or directory$"):
        load_blacklist(Path("nowhere.yaml"))


def test_no_blacklist_file_bars_nobody(tmp_path: Path) -> None:
    assert load_blacklist(None) == Blacklist()
    (tmp_path / "empty.yaml").write_text("# nobody yet\n", encoding="utf-8")
    assert load_blacklist(tmp_path / "empty.yaml").people == ()


# --- real-name verification and category ----------------------------------------------------------------------


def test_real_name_verification_not_recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = check(tmp_path, monkeypatch, event(person(verified=None)))
    assert [issue.render() for issue in result.issues] == [
        "x.yaml:13: participants[0]: warning: real-name verification of 'Li Hua' is not recorded; confirm it "
        "with the platform and set `real_name_verified: true`",
    ]


def test_real_name_not_verified(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = check(tmp_path, monkeypatch, event(person(verified="false")))
    assert [issue.render() for issue in result.issues] == [
        "x.yaml:15: participants[0].real_name_verified: warning: 'Li Hua' is not real-name verified; only "
        "verified people may appear",
    ]


def test_missing_category(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = check(tmp_path, monkeypatch, event(person(), category=None))
    assert [issue.render() for issue in result.issues] == [
        "x.yaml:1: category: warning: no category tag; platforms must tag every live room, add e.g. "
        "`category: knowledge`",
    ]
    assert result.issues[0].code == "no-category"


# --- strict ---------------------------------------------------------------------------------------------------


def test_strict_turns_every_warning_into_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = event(
        person(birth_year=2011, verified="false"),
        person("张三", "guest", birth_year=None, verified=None),
        topics="[finance]",
        category=None,
    )
    blacklist = write_blacklist(tmp_path)
    relaxed = check(tmp_path, monkeypatch, text, blacklist=blacklist)
    strict = check(tmp_path, monkeypatch, text, strict=True, blacklist=blacklist)
    expected_codes = [
        "no-category",
        "real-name-unknown",
        "credential-missing",
        "blacklisted",
        "credential-missing",
        "real-name-missing",
        "host-under-16",
    ]
    assert sorted(codes(relaxed.issues)) == sorted(expected_codes)
    # All warnings but the host under 16, which is an error without --strict too.
    assert {issue.code for issue in relaxed.issues if issue.is_error} == {"host-under-16"}
    assert not relaxed.ok
    assert {issue.severity for issue in strict.issues} == {Severity.ERROR}
    assert not strict.ok
    # Same issues, same order; only the marker goes.
    assert [issue.render() for issue in strict.issues] == [
        issue.render().replace(": warning: ", ": ", 1) for issue in relaxed.issues
    ]
    assert strict.issues[0].render() == (
        "x.yaml:1: category: no category tag; platforms must tag every live room, add e.g. `category: knowledge`"
    )


def test_strict_keeps_event_id_and_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = check(tmp_path, monkeypatch, event(person(birth_year=2009)), strict=True)
    [issue] = result.issues
    assert (issue.severity, issue.code, issue.event_id, issue.line) == (
        Severity.ERROR, "guardian-consent", "demo-event", 16
    )


# --- the samples ----------------------------------------------------------------------------------------------


def test_samples_draw_no_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(SCHEDULES.parent)
    result = validate_registrations([SCHEDULES], Settings(), strict=True)
    assert [issue.render() for issue in result.issues] == []
    assert result.ok
    assert sorted(reg.event.id for reg in result.registrations) == [
        "creator-economy-forum-day1",
        "creator-economy-forum-day2",
        "public-health-lecture-2026-12",
        "xinghe-annual-meeting-2026",
    ]
