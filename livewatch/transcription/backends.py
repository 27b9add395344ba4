"""The transcription backends livewatch can run, by name (entry-point group ``livewatch.transcribers``; the
built-in Whisper backends are registered there too), and the one place where livewatch calls into the
standalone ``transcribers`` package: its errors become livewatch's here."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from livewatch.errors import ConfigError, LivewatchError, ModelError
from livewatch.plugins import Registry
from transcribers.base import BackendOptions, ModelInfo, Transcriber
from transcribers.errors import BackendError, TranscriberError

ENTRY_POINT_GROUP = "livewatch.transcribers"
#: Transcription backends by the name ``[transcriber] backend`` and a registration's ``transcriber.backend`` use.
BACKENDS: Registry[Transcriber] = Registry(ENTRY_POINT_GROUP, Transcriber, "transcription backend")


def livewatch_error(err: TranscriberError) -> LivewatchError:
    """The livewatch error for one the transcribers package raised: a backend that cannot run as configured is
    a configuration error, a model that cannot be found, imported or converted a model error."""
    if isinstance(err, BackendError):
        return ConfigError(str(err))
    return ModelError(str(err))


@contextmanager
def translated() -> Iterator[None]:
    """Run a call into ``transcribers`` (a backend, the model store) raising livewatch errors only."""
    try:
        yield
    except TranscriberError as err:
        raise livewatch_error(err) from err


def options_for(name: str, values: Mapping[str, Any]) -> BackendOptions:
    """``values`` validated by backend ``name``'s own options model."""
    backend = BACKENDS.get(name)
    try:
        return backend.options_model.model_validate(dict(values))
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or name}: {e['msg']}" for e in err.errors())
        raise ConfigError(f"[transcriber] options for the {name} backend: {problems}") from None


def create(name: str, model: ModelInfo, options: BackendOptions | None = None, *, workers: int = 1,
           **values: Any) -> Transcriber:
    """Load backend ``name`` on ``model``, configured by ``options`` (its own options model), or by ``values``
    validated by that model (``device="cpu", compute_type="int8"`` for the Whisper backends)."""
    backend = BACKENDS.get(name)
    chosen = options if options is not None else options_for(name, values)
    with translated():
        return backend.load(model, chosen, workers=workers)


def resolve_model(model_store: Path, spec: str, backend: str) -> ModelInfo:
    """The weights ``backend`` loads for ``spec`` (a store name, a folder, a checkpoint or a model package)."""
    from transcribers.store import ModelStore

    with translated():
        return ModelStore(model_store).resolve(spec, backend)
