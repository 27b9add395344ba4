"""The global configuration, livewatch.toml: lookup, defaults, paths, errors and what reaches registrations."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from livewatch.alerts.channels.email import EmailTarget
from livewatch.alerts.channels.webhook import WebhookTarget
from livewatch.errors import ConfigError
from livewatch.fields import DEFAULT_URL_SCHEMES, CaptureSettings, Tolerances
from livewatch.registration.loader import LoadResult, load_registrations
from livewatch.settings import (
    CONFIG_ENV,
    DATA_ENV,
    AlertTarget,
    ConcurrencySettings,
    Settings,
    TranscriberSettings,
    find_config,
    load_settings,
)
from transcribers.base import WhisperOptions

FULL_CONFIG = """\
# every section of livewatch.toml
data_dir = "state"
database_url = "postgresql+psycopg://livewatch@db.example:5432/livewatch"
private_files = false
schedules_dir = "plans"
timezone = "Asia/Shanghai"
ui_language = "zh-CN"
allowed_url_schemes = ["HTTPS", "rtmp", "srt"]
blacklist = "/etc/livewatch/barred.yaml"
rule_packs_dir = "packs"

[concurrency]
captures = 25
transcriptions = 3

[transcriber]
backend = "openai-whisper"
model = "small"
device = "cpu"
compute_type = "float32"
beam_size = 3
language = "zh"

[tolerances]
early_start = 1
late_start = 2.5
overrun = 30

[capture]
pre_roll_minutes = 20
poll_interval_s = 5
segment_seconds = 6
backoff_max_s = 120

[[alerts]]
name = "compliance-desk"
type = "webhook"
url = "https://hooks.example.org/livewatch"
min_severity = "medium"

[[alerts]]
name = "reviewers"
type = "email"
to = ["reviewer@example.org", "lead@example.org"]

[[alerts]]
name = "journal"
type = "log"
min_severity = "info"

[alerting]
cooldown_s = 60
gap_alert_s = 30

[screen]
readers = ["qr"]
workers = 2
keep_frames = "all"

[distributed]
standby_poll_s = 5

[review]
trusted_header = "X-Remote-User"
session_hours = 8

[[review.accounts]]
name = "王审核"
password_hash = "scrypt$32768$8$1$c2FsdHNhbHRzYWx0c2FsdA==$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g="

[[review.accounts]]
name = "viewer"
password_hash = "scrypt$32768$8$1$c2FsdHNhbHRzYWx0c2FsdA==$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g="
role = "viewer"
"""

EVENT_WITHOUT_TIMEZONE = """\
id: srt-talk
title: Talk over SRT
kind: lecture
organizer: {name: Example Org}
start: 2026-12-01T09:00
end: 2026-12-01T10:30
streams:
  - url: srt://ingest.example.org:9000?streamid=talk
tolerances: {overrun: 7}
"""


def _write(folder: Path, text: str, name: str = "livewatch.toml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def _config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> ConfigError:
    """Load ``text`` as ./livewatch.toml (so issues render with the bare file name) and return the error."""
    _write(tmp_path, text)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        load_settings()
    return info.value


@pytest.fixture
def empty_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cwd"
    folder.mkdir()
    monkeypatch.chdir(folder)
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    monkeypatch.delenv(DATA_ENV, raising=False)
    return folder


# -- lookup and defaults ------------------------------------------------------------------------------------


def test_defaults_without_a_file(empty_cwd: Path) -> None:
    assert find_config(None) is None
    settings = load_settings()
    assert settings == Settings()
    assert settings.data_dir == Path("data")
    assert settings.schedules_dir == Path("schedules")
    assert settings.timezone == "UTC"
    assert settings.allowed_url_schemes == list(DEFAULT_URL_SCHEMES)
    assert settings.blacklist is None
    assert settings.concurrency == ConcurrencySettings()
    assert settings.concurrency.captures == 10
    assert settings.concurrency.transcriptions == 2
    assert settings.transcriber == TranscriberSettings()
    assert settings.transcriber.backend == "faster-whisper"
    assert settings.transcriber.model is None
    assert settings.transcriber.models == {"zh": "base", "en": "tiny.en", "auto": "base"}
    assert [settings.transcriber.model_for(lang) for lang in ("zh", "en", "auto")] == ["base", "tiny.en", "base"]
    assert settings.tolerances == Tolerances()
    assert settings.alerts == []
    assert list(empty_cwd.iterdir()) == []  # nothing was created


def test_full_config_parses(tmp_path: Path, empty_cwd: Path) -> None:
    config = _write(tmp_path / "etc", FULL_CONFIG)
    settings = load_settings(config)
    covered = {"data_dir", "database_url", "private_files", "schedules_dir", "timezone", "allowed_url_schemes",
               "blacklist", "concurrency", "transcriber", "tolerances", "capture", "alerts", "alerting",
               "rule_packs_dir", "screen", "review", "ui_language", "distributed"}
    assert set(Settings.model_fields) == covered, "FULL_CONFIG must exercise every section"

    assert settings.data_dir == tmp_path / "etc" / "state"
    assert settings.database_url == "postgresql+psycopg://livewatch@db.example:5432/livewatch"
    assert settings.private_files is False
    assert settings.schedules_dir == tmp_path / "etc" / "plans"
    assert settings.blacklist == Path("/etc/livewatch/barred.yaml")  # absolute paths stay as written
    assert settings.rule_packs_dir == tmp_path / "etc" / "packs"
    assert settings.ui_language == "zh-CN"
    assert settings.distributed.standby_poll_s == 5
    assert settings.timezone == "Asia/Shanghai"
    assert settings.allowed_url_schemes == ["https", "rtmp", "srt"]
    assert settings.concurrency == ConcurrencySettings(captures=25, transcriptions=3)
    assert settings.transcriber == TranscriberSettings.model_validate({
        "backend": "openai-whisper", "model": "small", "device": "cpu", "compute_type": "float32", "beam_size": 3,
        "language": "zh",
    })
    assert settings.transcriber.options == WhisperOptions(device="cpu", compute_type="float32")
    assert settings.tolerances == Tolerances(early_start=1, late_start=2.5, overrun=30)
    assert settings.capture.pre_roll_minutes == 20
    assert settings.capture.poll_interval_s == 5
    assert settings.capture.segment_seconds == 6
    assert settings.capture.backoff_max_s == 120
    assert settings.capture.stall_timeout_s == CaptureSettings().stall_timeout_s  # untouched keys keep defaults
    assert settings.alerts == [
        WebhookTarget(name="compliance-desk", type="webhook", url="https://hooks.example.org/livewatch",
                      min_severity="medium"),
        EmailTarget(name="reviewers", type="email", to=["reviewer@example.org", "lead@example.org"]),
        AlertTarget(name="journal", type="log", min_severity="info"),
    ]
    assert settings.alerts[1].min_severity == "high"  # the default
    assert (settings.alerting.cooldown_s, settings.alerting.gap_alert_s) == (60, 30)
    assert (settings.screen.readers, settings.screen.workers, settings.screen.keep_frames) == (["qr"], 2, "all")
    assert (settings.screen.enabled, settings.screen.ocr_min_confidence) == (True, 0.5)
    assert [(a.name, a.role) for a in settings.review.accounts] == [("王审核", "reviewer"), ("viewer", "viewer")]
    assert (settings.review.trusted_header, settings.review.session_hours) == ("X-Remote-User", 8)


def test_relative_paths_resolve_against_config_folder(tmp_path: Path, empty_cwd: Path) -> None:
    folder = tmp_path / "deploy" / "conf"
    config = _write(folder, 'data_dir = "../data"\nschedules_dir = "sched"\nblacklist = "lists/barred.toml"\n')
    settings = load_settings(config)
    assert settings.data_dir == folder / ".." / "data"
    assert settings.data_dir.resolve() == (tmp_path / "deploy" / "data").resolve()
    assert settings.schedules_dir == folder / "sched"
    assert settings.blacklist == folder / "lists" / "barred.toml"


def test_defaults_in_a_config_file_also_resolve_against_its_folder(tmp_path: Path, empty_cwd: Path) -> None:
    config = _write(tmp_path / "elsewhere", 'timezone = "Europe/London"\n')
    settings = load_settings(config)
    assert settings.data_dir == tmp_path / "elsewhere" / "data"
    assert settings.schedules_dir == tmp_path / "elsewhere" / "schedules"
    assert settings.blacklist is None


def test_config_in_working_directory_is_found(empty_cwd: Path) -> None:
    _write(empty_cwd, 'timezone = "Asia/Tokyo"\n')
    assert find_config(None) == Path("livewatch.toml")
    settings = load_settings()
    assert settings.timezone == "Asia/Tokyo"
    assert settings.data_dir == Path("data")  # relative to "." == the config's folder


def test_livewatch_config_env_is_used(tmp_path: Path, empty_cwd: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(empty_cwd, 'timezone = "Asia/Tokyo"\n')  # ./livewatch.toml loses to the environment
    config = _write(tmp_path / "from-env", 'timezone = "Europe/Paris"\n', name="custom.toml")
    monkeypatch.setenv(CONFIG_ENV, str(config))
    assert find_config(None) == config
    settings = load_settings()
    assert settings.timezone == "Europe/Paris"
    assert settings.data_dir == tmp_path / "from-env" / "data"


def test_explicit_config_beats_env(tmp_path: Path, empty_cwd: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CONFIG_ENV, str(_write(tmp_path / "env", 'timezone = "Europe/Paris"\n')))
    explicit = _write(tmp_path / "cli", 'timezone = "America/Chicago"\n')
    assert load_settings(explicit).timezone == "America/Chicago"


def test_livewatch_config_env_pointing_nowhere(tmp_path: Path, empty_cwd: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "missing.toml"
    monkeypatch.setenv(CONFIG_ENV, str(missing))
    with pytest.raises(ConfigError, match=r"cannot read configuration .*missing\.toml: No such file or directory"):
        load_settings()


def test_livewatch_data_overrides_data_dir(tmp_path: Path, empty_cwd: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "override"
    monkeypatch.setenv(DATA_ENV, str(target))
    assert load_settings().data_dir == target
    config = _write(tmp_path / "etc", FULL_CONFIG)
    settings = load_settings(config)
    assert settings.data_dir == target
    assert settings.schedules_dir == tmp_path / "etc" / "plans"  # only data_dir moves


def test_empty_livewatch_data_is_ignored(empty_cwd: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DATA_ENV, "")
    assert load_settings().data_dir == Path("data")


def test_empty_config_file_gives_defaults(empty_cwd: Path) -> None:
    _write(empty_cwd, "# nothing set yet\n")
    assert load_settings() == Settings()


# -- errors: every one names the file, the line and the field ---------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "field", "rendered"),
    [
        pytest.param(
            'data_dir = "d"\ntimezon = "UTC"\n', 2, ("timezon",),
            "livewatch.toml:2: timezon: unknown field 'timezon' (did you mean 'timezone'?)",
            id="unknown-key",
        ),
        pytest.param(
            "[concurrency]\ncaptures = 2\nfoo = 1\n", 3, ("concurrency", "foo"),
            "livewatch.toml:3: concurrency.foo: unknown field 'foo'; allowed fields here: captures, transcriptions",
            id="unknown-nested-key",
        ),
        pytest.param(
            "\n[concurrency]\ncaptures = 0\n", 3, ("concurrency", "captures"),
            "livewatch.toml:3: concurrency.captures: must be at least 1, got 0",
            id="bad-value",
        ),
        pytest.param(
            '[transcriber]\nmodel = "tiny"\nbackend = "whisperx"\n', 3, ("transcriber", "backend"),
            "livewatch.toml:3: transcriber.backend: no transcription backend named 'whisperx' is installed (did you "
            "mean 'openai-whisper'?); installed: faster-whisper, openai-whisper (got 'whisperx')",
            id="bad-choice",
        ),
        pytest.param(
            '[tolerances]\noverrun = "long"\n', 2, ("tolerances", "overrun"),
            "livewatch.toml:2: tolerances.overrun: must be a number, got 'long'",
            id="bad-type",
        ),
        pytest.param(
            'data_dir = "d"\ntimezone = "Asia/Shanghia"\n', 2, ("timezone",),
            "livewatch.toml:2: timezone: unknown time zone 'Asia/Shanghia' (did you mean 'Asia/Shanghai'?); "
            "use an IANA name such as Asia/Shanghai, Europe/London or UTC",
            id="bad-timezone",
        ),
        pytest.param(
            'allowed_url_schemes = ["https", "s r t"]\n', 1, ("allowed_url_schemes",),
            "livewatch.toml:1: allowed_url_schemes: 's r t' is not a URL scheme; write names such as https or rtmp",
            id="bad-scheme",
        ),
        pytest.param(
            '[[alerts]]\nname = "ops"\ntype = "log"\n\n[[alerts]]\nname = "hook"\ntype = "webhook"\n',
            5, ("alerts", 1),
            "livewatch.toml:5: alerts[1]: a webhook target needs `url: https://...`",
            id="webhook-without-url",
        ),
        pytest.param(
            '[[alerts]]\nname = "hook"\ntype = "webhook"\nurl = "ftp://files.example.org/"\n',
            1, ("alerts", 0),
            "livewatch.toml:1: alerts[0]: a webhook target needs `url: https://...`",
            id="webhook-with-bad-url",
        ),
        pytest.param(
            '[[alerts]]\nname = "desk"\ntype = "email"\n', 1, ("alerts", 0),
            "livewatch.toml:1: alerts[0]: an email target needs `to: [reviewer@example.org]`",
            id="email-without-recipients",
        ),
        pytest.param(
            '[[alerts]]\ntype = "log"\n', 1, ("alerts", 0, "name"),
            "livewatch.toml:1: alerts[0].name: required field 'name' is missing; add it, e.g. `name: Li Hua`",
            id="missing-field",
        ),
        pytest.param(
            "[capture]\nsegment_seconds = 0.5\n", 2, ("capture", "segment_seconds"),
            "livewatch.toml:2: capture.segment_seconds: must be at least 1, got 0.5",
            id="bad-capture-value",
        ),
        pytest.param(
            "[capture]\npoll_interval_s = 0\n", 2, ("capture", "poll_interval_s"),
            "livewatch.toml:2: capture.poll_interval_s: must be more than 0, got 0",
            id="exclusive-minimum",
        ),
    ],
)
def test_invalid_config_issue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, line: int, field: tuple[str | int, ...],
    rendered: str,
) -> None:
    err = _config_error(tmp_path, monkeypatch, text)
    assert str(err).startswith("configuration livewatch.toml is invalid\n  ")
    assert len(err.issues) == 1
    issue = err.issues[0]
    assert issue.file == Path("livewatch.toml")
    assert (issue.line, issue.field) == (line, field)
    assert issue.render() == rendered
    assert issue.is_error
    assert rendered in str(err)


@pytest.mark.parametrize(
    ("text", "rendered"),
    [
        pytest.param(
            'timezone = "UTC"\ndata_dir = \n',
            "livewatch.toml:2: data_dir: TOML syntax: Invalid value (at line 2, column 12)",
            id="missing-value",
        ),
        pytest.param(
            'timezone = "UTC"\n\n[concurrency\ncaptures = 2\n',
            "livewatch.toml:3: (top level): TOML syntax: Expected ']' at the end of a table declaration "
            "(at line 3, column 13)",
            id="unclosed-header",
        ),
        pytest.param(
            'timezone = "UTC"\ntimezone = "UTC"\n',
            "livewatch.toml:2: (top level): TOML syntax: Cannot overwrite a value (at line 2, column 17)",
            id="duplicate-key",
        ),
    ],
)
def test_toml_syntax_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, rendered: str) -> None:
    err = _config_error(tmp_path, monkeypatch, text)
    assert str(err).startswith("configuration livewatch.toml cannot be parsed\n  ")
    assert [issue.render() for issue in err.issues] == [rendered]
    assert err.issues[0].code == "syntax"


def test_every_problem_is_reported_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = 'timezone = "Mars/Base"\n\n[concurrency]\ncaptures = 0\ntranscriptions = 999\n'
    err = _config_error(tmp_path, monkeypatch, text)
    assert sorted((issue.line, issue.field) for issue in err.issues) == [
        (1, ("timezone",)),
        (4, ("concurrency", "captures")),
        (5, ("concurrency", "transcriptions")),
    ]


def test_issues_name_the_config_path_as_given(tmp_path: Path, empty_cwd: Path) -> None:
    config = _write(tmp_path / "etc", "[concurrency]\ncaptures = -1\n")
    with pytest.raises(ConfigError) as info:
        load_settings(config)
    assert str(info.value).startswith(f"configuration {config} is invalid")
    assert info.value.issues[0].file == config
    assert info.value.issues[0].render() == f"{config}:2: concurrency.captures: must be at least 1, got -1"


# -- what reaches registration loading ----------------------------------------------------------------------


def _load_event(tmp_path: Path, settings: Settings) -> LoadResult:
    schedules = tmp_path / "schedules"
    _write(schedules, EVENT_WITHOUT_TIMEZONE, name="talk.yaml")
    return load_registrations([schedules], settings.registration_context())


def test_registration_context_carries_settings(tmp_path: Path, empty_cwd: Path) -> None:
    config = _write(
        tmp_path / "etc",
        'timezone = "Asia/Shanghai"\nallowed_url_schemes = ["https", "SRT"]\n\n'
        "[tolerances]\nearly_start = 1\nlate_start = 2\noverrun = 42\n",
    )
    settings = load_settings(config)
    context = settings.registration_context()
    assert context.default_timezone == "Asia/Shanghai"
    assert context.allowed_url_schemes == ("https", "srt")
    assert context.tolerances == Tolerances(early_start=1, late_start=2, overrun=42)
    assert context.capture == settings.capture

    result = _load_event(tmp_path, settings)
    assert result.ok, [issue.render() for issue in result.issues]
    (reg,) = result.registrations
    event = reg.event
    assert event.timezone == "Asia/Shanghai"
    assert event.start == datetime(2026, 12, 1, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert event.start.utcoffset() == timedelta(hours=8)
    assert event.end - event.start == timedelta(minutes=90)
    assert event.streams[0].url == "srt://ingest.example.org:9000?streamid=talk"
    # Keys the event leaves out come from the configuration; the ones it writes win.
    assert event.tolerances == Tolerances(early_start=1, late_start=2, overrun=7)


def test_default_context_rejects_srt_and_reads_utc(tmp_path: Path, empty_cwd: Path) -> None:
    result = _load_event(tmp_path, load_settings())
    assert not result.ok
    assert [issue.field for issue in result.issues] == [("streams", 0, "url")]
    assert "URL scheme 'srt' is not allowed; use one of http, https, rtmp, rtmps" in result.issues[0].message


def test_default_context_reads_times_in_utc(tmp_path: Path, empty_cwd: Path) -> None:
    config = _write(tmp_path / "etc", 'allowed_url_schemes = ["srt"]\n')
    result = _load_event(tmp_path, load_settings(config))
    (reg,) = result.registrations
    assert reg.event.timezone == "UTC"
    assert reg.event.start.utcoffset() == timedelta(0)
    assert reg.event.start.hour == 9


def test_configured_tolerances_apply_to_event_without_tolerances(tmp_path: Path, empty_cwd: Path) -> None:
    config = _write(
        tmp_path / "etc",
        'allowed_url_schemes = ["srt"]\n\n[tolerances]\noverrun = 42\n\n[capture]\npre_roll_minutes = 3\n',
    )
    schedules = tmp_path / "schedules"
    _write(schedules, EVENT_WITHOUT_TIMEZONE.replace("tolerances: {overrun: 7}\n", ""), name="talk.yaml")
    result = load_registrations([schedules], load_settings(config).registration_context())
    (reg,) = result.registrations
    assert reg.event.tolerances.overrun == 42
    assert reg.event.capture.pre_roll_minutes == 3
