"""A model that hears the event's language, by default: the per-language model map, English-only models
refused for events that are not in English (by validate, the monitor and the CLI), and an ``auto`` event
switching to its language's model once its first speech has told which language it is."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import ValidationError
from sqlalchemy import update

from livewatch.cli import cli
from livewatch.monitor.transcription import TranscriptionService
from livewatch.registration import validate_registrations
from livewatch.session import Session
from livewatch.settings import Settings, TranscriberSettings
from livewatch.state import Database, tables
from livewatch.transcription.choice import plan_for, settled_language
from livewatch.transcription.worker import read_wav
from tests.transcription.conftest import speak
from tests.transcription.test_worker import captured_run, queue_all, transcript
from transcribers.languages import english_only_name
from transcribers.store import ModelStore

REGISTRATION = """\
id: {id}
title: 星河年度论坛
kind: forum
organizer: {{name: 星河科技}}
start: 2026-12-10T09:00
end: 2026-12-10T11:00
streams: [{{url: "https://live.example.com/forum"}}]
{extra}
"""


def schedules(tmp_path: Path, **events: str) -> Path:
    folder = tmp_path / "schedules"
    folder.mkdir(exist_ok=True)
    for event_id, extra in events.items():
        (folder / f"{event_id}.yaml").write_text(REGISTRATION.format(id=event_id, extra=extra), encoding="utf-8")
    return folder


# -- the plan -----------------------------------------------------------------------------------------------

def test_each_language_gets_a_model_that_hears_it_by_default() -> None:
    config = TranscriberSettings()
    assert plan_for(config, "zh").model == "base"
    assert plan_for(config, "en").model == "tiny.en"
    auto = plan_for(config, "auto")
    assert (auto.model, auto.whisper_language) == ("base", None)  # base detects the language
    assert plan_for(config, "auto", detected="en").model == "tiny.en"
    assert plan_for(config, "auto", detected="zh").whisper_language == "zh"
    # A language without its own entry is heard by the auto model, forced to what was detected.
    assert (plan_for(config, "auto", detected="ja").model, plan_for(config, "auto", detected="ja").language) == (
        "base", "ja")


def test_the_registration_override_and_a_single_configured_model_take_precedence() -> None:
    config = TranscriberSettings(models={"zh": "small"})
    assert config.models == {"zh": "small", "en": "tiny.en", "auto": "base"}  # the rest keep their defaults
    plan = plan_for(config, "zh", {"model": "medium", "beam_size": 2})
    assert (plan.model, plan.beam_size, plan.model_source) == ("medium", 2, "the registration's transcriber.model")
    single = plan_for(TranscriberSettings(model="large-v3"), "en")
    assert (single.model, single.model_source) == ("large-v3", "the configuration's [transcriber] model")
    # The configuration's language fills in for events that say auto.
    assert plan_for(TranscriberSettings(language="zh"), "auto").language == "zh"


def test_a_language_settles_only_when_the_first_utterances_agree() -> None:
    assert settled_language([]) is None
    assert settled_language([("en", "Good evening everyone")] * 2) is None  # too little heard yet
    assert settled_language([("en", "Good evening everyone")] * 3) == "en"
    assert settled_language([("zh", "欢迎大家来到直播间"), ("en", "Hello there all"), ("zh", "今天我们聊聊")]) is None
    assert settled_language([("en", "Hi"), ("zh", "欢迎大家来到直播间"), ("zh", "今天我们聊聊"),
                             ("zh", "年度的新产品")]) == "zh"  # "Hi" says too little to count


def test_an_english_only_model_is_refused_for_other_languages_in_the_configuration() -> None:
    with pytest.raises(ValidationError, match=r"zh = 'tiny\.en' is an English-only model"):
        TranscriberSettings(models={"zh": "tiny.en"})
    with pytest.raises(ValidationError, match=r"auto = 'base\.en' is an English-only model"):
        TranscriberSettings(models={"auto": "base.en"})
    assert english_only_name("distil-small.en")
    assert not english_only_name("large-v3")


def test_languages_are_read_from_the_weights_vocabulary(tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "models")
    assert (store.languages("tiny.en").english_only, store.languages("tiny.en").known_from) == (True, "vocabulary")
    assert (store.languages("base").english_only, store.languages("base").known_from) == (False, "vocabulary")
    # A copy under a name that says nothing is still known by its vocabulary.
    imported = store.import_ct2([Path(str(p)) for p in _package_folder("tiny.en")], "house-model")
    assert store.languages(imported.name).english_only
    assert store.languages("small").known_from == "name"
    assert not store.languages("small").english_only


def _package_folder(name: str) -> list[Path]:
    from transcribers.store import installed_packages

    return installed_packages()[name]


# -- validate, the monitor's loading, the CLI ------------------------------------------------------------------

def test_validate_accepts_a_chinese_event_that_says_only_its_language(tmp_path: Path) -> None:
    folder = schedules(tmp_path, forum="language: zh")
    result = validate_registrations([folder], Settings(data_dir=tmp_path / "data"))
    assert result.ok
    assert [r.event.id for r in result.registrations] == ["forum"]


def test_validate_refuses_an_english_only_model_forced_on_a_chinese_event(tmp_path: Path) -> None:
    folder = schedules(tmp_path, forced="language: zh\ntranscriber: {model: tiny.en}", english="language: en",
                       detected="transcriber: {model: tiny.en}")
    result = validate_registrations([folder], Settings(data_dir=tmp_path / "data"))
    rendered = [issue.render() for issue in result.issues if issue.is_error]
    assert [r.event.id for r in result.registrations] == ["english"]  # the others are not monitored
    assert any(line.startswith(f"{folder.name}/forced.yaml:9: transcriber.model: 'tiny.en' (the registration's "
                               "transcriber.model) is an English-only Whisper model, but this event is spoken in "
                               "Mandarin (zh)") and "remove transcriber.model to use the configured 'base'" in line
               for line in [_relative(r, tmp_path) for r in rendered]), rendered
    assert any("detected.yaml:8: transcriber.model" in r and "a language to be detected (auto)" in r
               for r in rendered), rendered


def _relative(rendered: str, root: Path) -> str:
    return rendered.replace(f"{root}/", "")


def test_validate_names_the_configuration_fix_when_its_single_model_is_english_only(tmp_path: Path) -> None:
    folder = schedules(tmp_path, forum="language: zh")
    (tmp_path / "livewatch.toml").write_text('[transcriber]\nmodel = "tiny.en"\n', encoding="utf-8")
    result = CliRunner().invoke(cli, ["--config", str(tmp_path / "livewatch.toml"), "validate", str(folder)])
    assert result.exit_code == 1, result.output
    assert "forum.yaml:8: language: 'tiny.en' (the configuration's [transcriber] model)" in result.output
    assert "remove `model` from [transcriber] and name a model per language under [transcriber.models]" in (
        result.output)


def test_models_list_says_which_languages_each_model_serves(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--data", str(tmp_path / "data"), "models", "list"],
                                env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    rows = {line.split("│")[1].strip(): line for line in result.output.splitlines() if line.count("│") > 3}
    assert "English only" in rows["tiny.en"]
    assert "│ en " in rows["tiny.en"]
    assert "multilingual" in rows["base"]
    assert "zh, auto" in rows["base"]


def test_transcribe_refuses_an_english_only_model_for_chinese(tmp_path: Path) -> None:
    audio = tmp_path / "a.wav"
    speak("hello", audio)
    result = CliRunner().invoke(cli, ["--data", str(tmp_path / "data"), "transcribe", str(audio),
                                       "--model", "tiny.en", "--language", "zh"])
    assert result.exit_code != 0
    assert "tiny.en is an English-only Whisper model and cannot transcribe zh speech" in result.output


# -- an auto event, transcribed -------------------------------------------------------------------------------

SPEECH = ("Good evening and welcome to our annual forum. Tonight we look back on a remarkable year. "
          "Our first guest will talk about community work. Then we will take questions from the audience. "
          "Thank you all for being here with us tonight. After the break our second guest will speak about "
          "local libraries. She has worked with young readers for many years.")


def test_an_auto_event_switches_to_its_languages_model_once_the_language_is_known(
        tmp_path: Path, model_store: ModelStore) -> None:
    audio = read_wav(speak(SPEECH, tmp_path / "speech.wav"))
    seconds = len(audio) / 16000
    data, run_id, payloads = captured_run(tmp_path, audio, [float(s) for s in range(5, int(seconds), 5)])
    with Database(data.database) as db:
        with db.engine.begin() as conn:
            conn.execute(update(tables.events).values(registration_json=json.dumps({"language": "auto"})))
        settings = Settings(data_dir=data.root, transcriber={"device": "cpu", "model_store": model_store.root})
        service = TranscriptionService(Session(settings, data, db))
        assert service.choose("forum").transcriber.model.name == "base"
        for payload in payloads:  # live: each segment is transcribed as it closes
            queue_all(data, [payload])
            while service.worker.process_one():
                pass
        service.worker.flush("forum", run_id, 0)
        choice = service.choose("forum")
    rows = transcript(data, run_id)
    models = [row.model for row in rows]
    assert models[:3] == ["base"] * 3, models
    assert models[-1] == "tiny.en", models
    assert (choice.transcriber.model.name, choice.options.language) == ("tiny.en", "en")
    assert all(row.language == "en" for row in rows)
    assert "welcome" in " ".join(row.text for row in rows).lower()
