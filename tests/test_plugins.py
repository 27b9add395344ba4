"""Third-party plugins, installed for real: a distribution (a dist-info with entry_points.txt) in a folder put on
sys.path provides an alert channel, a transcription backend and broken plugins of each kind. They are
configured from livewatch.toml and a registration, validated by their own models, and used by the commands."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from livewatch.cli import cli
from livewatch.errors import ConfigError
from livewatch.rules.packs import RulePackError, load_pack
from livewatch.settings import load_settings
from livewatch.transcription import backends
from transcribers.base import ModelInfo

FRONT_CENTER = "/usr/share/sounds/alsa/Front_Center.wav"

PLUGIN_FILES = {
    "lwplug_demo/__init__.py": '"""A third-party livewatch plugin package, for the tests."""\n',
    "lwplug_demo/channel.py": '''
        """An alert channel appending each alert to a JSON-lines file."""

        import json
        from pathlib import Path
        from typing import ClassVar

        from pydantic import Field

        from livewatch.alerts.base import Channel, Delivery
        from livewatch.settings import AlertTarget


        class JsonLinesTarget(AlertTarget):
            path: Path = Field(description="File the alerts are appended to.")
            indent: int | None = Field(None, ge=0, le=8)


        class JsonLinesChannel(Channel[JsonLinesTarget]):
            target_model: ClassVar[type[AlertTarget]] = JsonLinesTarget
            type: ClassVar[str] = "jsonl"

            def send(self, delivery: Delivery) -> None:
                with self.target.path.open("a", encoding="utf-8") as out:
                    out.write(json.dumps({"target": delivery.target, **delivery.payload}) + "\\n")
        ''',
    "lwplug_demo/backend.py": '''
        """A transcription backend that hears what its configuration says (a stand-in for a remote service)."""

        from collections.abc import Iterator

        from pydantic import Field

        from transcribers.base import Audio, BackendOptions, ModelInfo, Segment, TranscribeOptions, Transcriber


        class CannedOptions(BackendOptions):
            text: str = Field(min_length=1)
            seconds: float = Field(1.0, gt=0)


        class CannedTranscriber(Transcriber):
            name = "canned"
            options_model = CannedOptions

            @classmethod
            def load(cls, model: ModelInfo, options: BackendOptions, *, workers: int = 1) -> "CannedTranscriber":
                assert isinstance(options, CannedOptions)
                engine = cls(model, workers=workers)
                engine.options = options
                return engine

            def transcribe(self, audio: Audio, options: TranscribeOptions) -> Iterator[Segment]:
                yield Segment(0.0, self.options.seconds, self.options.text, language=options.language)
        ''',
    "lwplug_demo/broken.py": 'raise ImportError("lwplug_demo needs libfrobnicate, which is not installed")\n',
    "lwplug_demo-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: lwplug-demo\nVersion: 1.0\n",
    "lwplug_demo-1.0.dist-info/entry_points.txt": """
        [livewatch.alert_channels]
        jsonl = lwplug_demo.channel:JsonLinesChannel
        pager = lwplug_demo.broken:PagerChannel

        [livewatch.transcribers]
        canned = lwplug_demo.backend:CannedTranscriber
        remote-whisper = lwplug_demo.broken:RemoteWhisper

        [livewatch.rule_types]
        sentiment = lwplug_demo.broken:SentimentRule
        """,
}


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("site")
    for relative, text in PLUGIN_FILES.items():
        path = site / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return site


@pytest.fixture
def installed(plugin_site: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.syspath_prepend(str(plugin_site))  # undone after the test: the plugins are gone again
    return plugin_site


def _config(folder: Path, text: str) -> Path:
    path = folder / "livewatch.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def _registration(folder: Path, transcriber: str) -> Path:
    path = folder / "event.yaml"
    path.write_text(textwrap.dedent(f"""\
        id: plugin-forum
        title: Plugin Forum
        kind: forum
        organizer: {{name: Northbridge Media Group}}
        timezone: Asia/Shanghai
        start: 2026-12-09T09:30
        end: 2026-12-09T12:00
        language: en
        streams: [{{url: "https://live.example.com/forum.m3u8"}}]
        transcriber: {transcriber}
        """), encoding="utf-8")
    return path


def test_a_third_party_channel_and_backend_are_configured_and_used(installed: Path, tmp_path: Path) -> None:
    alerts_file = tmp_path / "alerts.jsonl"
    config = _config(tmp_path, f"""\
        data_dir = "data"
        [transcriber]
        backend = "canned"
        text = "hello from the plugin"
        seconds = 2.5
        [[alerts]]
        name = "journal"
        type = "jsonl"
        path = "{alerts_file}"
        min_severity = "info"
        """)
    settings = load_settings(config)
    assert type(settings.alerts[0]).__name__ == "JsonLinesTarget"
    assert settings.transcriber.options.model_dump() == {"text": "hello from the plugin", "seconds": 2.5}

    runner = CliRunner()
    sent = runner.invoke(cli, ["--config", str(config), "alerts", "test"])
    assert sent.exit_code == 0, sent.output
    [line] = alerts_file.read_text(encoding="utf-8").splitlines()
    assert json.loads(line)["target"] == "journal"
    assert json.loads(line)["kind"] == "test"

    heard = runner.invoke(cli, ["--config", str(config), "transcribe", FRONT_CENTER, "--model", "plugin-model",
                                "--language", "en", "--format", "json"])
    assert heard.exit_code == 0, heard.output
    [segment] = json.loads(heard.output)
    assert (segment["text"], segment["end"]) == ("hello from the plugin", 2.5)

    # A registration picks the backend; validate checks the [transcriber] keys suit the backend it picks.
    chosen = _registration(tmp_path, "{backend: canned}")
    picked = runner.invoke(cli, ["--config", str(config), "validate", str(chosen)])
    assert picked.exit_code == 0, picked.output
    other = _registration(tmp_path, "{backend: openai-whisper}")
    refused = runner.invoke(cli, ["--config", str(config), "validate", str(other)])
    assert refused.exit_code == 1
    assert "event.yaml:10: transcriber.backend: [transcriber] options for the openai-whisper backend" in refused.output
    assert "text: Extra inputs are not permitted" in refused.output


def test_plugin_options_are_checked_by_the_plugin_model(installed: Path, tmp_path: Path) -> None:
    config = _config(tmp_path, """\
        [transcriber]
        backend = "canned"
        seconds = -1
        [[alerts]]
        name = "journal"
        type = "jsonl"
        indent = 99
        """)
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    message = str(caught.value)
    assert "livewatch.toml:3: transcriber.seconds" in message
    assert "livewatch.toml:7: alerts[0].indent: must be at most 8, got 99" in message  # the plugin's own field
    assert "alerts[0].path" in message  # required by the plugin's model


def test_unknown_and_broken_plugins_are_told_apart(installed: Path, tmp_path: Path) -> None:
    unknown = _config(tmp_path, '[[alerts]]\nname = "desk"\ntype = "jsonll"\n')
    with pytest.raises(ConfigError, match=r"livewatch.toml:3: alerts\[0\]\.type: no alert channel named 'jsonll' "
                                          r"is installed \(did you mean 'jsonl'\?\); installed: email, jsonl, log, "
                                          r"pager, webhook"):
        load_settings(unknown)
    broken = _config(tmp_path, '[[alerts]]\nname = "desk"\ntype = "pager"\n')
    with pytest.raises(ConfigError, match=r"alerts\[0\]\.type: the alert channel 'pager' is installed "
                                          r"\(lwplug_demo.broken:PagerChannel\) but cannot be loaded: ImportError: "
                                          r"lwplug_demo needs libfrobnicate"):
        load_settings(broken)
    backend = _config(tmp_path, '[transcriber]\nbackend = "remote-whisper"\n')
    with pytest.raises(ConfigError, match=r"transcriber\.backend: the transcription backend 'remote-whisper' is "
                                          r"installed .* but cannot be loaded: ImportError"):
        load_settings(backend)
    with pytest.raises(ConfigError, match="cannot be loaded: ImportError"):
        backends.create("remote-whisper", ModelInfo("x", None))


def test_a_rule_type_that_fails_to_import_is_not_called_unknown(installed: Path, tmp_path: Path) -> None:
    pack = tmp_path / "mood.yaml"
    pack.write_text(textwrap.dedent("""\
        id: mood
        version: "1"
        title: Mood
        rules:
          - id: mood.angry
            type: sentiment
            category: mood
            severity: low
        """), encoding="utf-8")
    with pytest.raises(RulePackError) as caught:
        load_pack(pack)
    message = str(caught.value)
    assert "mood.yaml:6: rules[0].type: the rule type 'sentiment' is installed" in message
    assert "cannot be loaded: ImportError: lwplug_demo needs libfrobnicate" in message
    assert "unknown" not in message


def test_every_plugin_kind_is_one_registry_with_the_built_ins_registered_as_entry_points() -> None:
    from livewatch.alerts.registry import CHANNELS
    from livewatch.capture.registry import SOURCES
    from livewatch.plugins import PluginError
    from livewatch.queue.base import QUEUE_BACKENDS
    from livewatch.rules.packs import RULE_TYPES
    from livewatch.screen.base import screen_readers

    assert SOURCES.names() == ["direct", "page-player", "yt-dlp"]
    assert backends.BACKENDS.names() == ["faster-whisper", "openai-whisper"]
    assert CHANNELS.names() == ["email", "log", "webhook"]
    assert QUEUE_BACKENDS.names() == ["postgresql", "sqlite"]
    assert screen_readers.names() == ["ocr", "qr"]
    assert {"lexicon", "regex", "semantic"} <= set(RULE_TYPES.names())
    with pytest.raises(PluginError, match=r"no work-queue back-end named 'oracle' is installed; installed: "
                                          r"postgresql, sqlite"):
        QUEUE_BACKENDS.get("oracle")
    log_channel = CHANNELS.get("log")
    CHANNELS.register("journal", log_channel)  # a program embedding livewatch may add one without a package
    try:
        assert CHANNELS.get("journal") is log_channel
        assert "journal" in CHANNELS.names()
    finally:
        CHANNELS.unregister("journal")
    assert "journal" not in CHANNELS
    with pytest.raises(PluginError, match="does not name a Channel class"):
        CHANNELS.register("odd", dict)  # type: ignore[arg-type]  # what a careless caller might pass
