"""Which spoken languages a Whisper model serves: English only (``tiny.en``, ``base.en`` …) or all of
Whisper's languages (``tiny``, ``base``, ``small`` … ``large-v3``).

An English-only model given Mandarin writes fluent English that was never said ("Thank you for watching"),
so a Chinese event transcribed by one is checked against nothing and passes. The settings and the
registration checks ask this module before any such model is used for an event that is not in English.

The answer comes from the weights when they are on this machine (an English-only Whisper vocabulary has
51,864 tokens, a multilingual one 51,865 or more: the language tokens), otherwise from the name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

#: Smallest vocabulary of a multilingual Whisper model (large-v3 has one more token, for Cantonese).
MULTILINGUAL_VOCABULARY = 51_865
#: What Whisper's multilingual models hear among the languages events are registered in.
EVENT_LANGUAGES = ("zh", "en")

KnownFrom = Literal["vocabulary", "name"]


@dataclass(frozen=True)
class ModelLanguages:
    """What one model can transcribe, and how that is known."""

    model: str
    english_only: bool
    known_from: KnownFrom

    def serves(self, language: str) -> bool:
        """Whether the model can transcribe speech in ``language`` (``auto``: whatever is spoken)."""
        return not self.english_only or language == "en"

    def describe(self) -> str:
        return "English only" if self.english_only else "multilingual (zh, en and 97 more; detects the language)"


def english_only_name(name: str) -> bool:
    """Whisper's English-only checkpoints are named ``<size>.en`` (``distil-*.en`` too)."""
    stem = Path(name).name.lower()
    return stem.endswith((".en", "-en", "_en")) or stem.endswith((".en.pt", ".en.bin"))


def vocabulary_size(folder: Path) -> int | None:
    """Tokens in a CTranslate2 Whisper model's vocabulary file, or None when the folder has none. Every
    validation of a non-English registration asks, so a file is read once until it changes."""
    for name in ("vocabulary.txt", "vocabulary.json"):
        path = folder / name
        if path.is_file():
            stat = path.stat()
            return _vocabulary_size(path, stat.st_mtime_ns, stat.st_size)
    return None


@lru_cache(maxsize=64)
def _vocabulary_size(path: Path, _mtime_ns: int, _size: int) -> int | None:
    if path.suffix == ".txt":
        with path.open("rb") as handle:
            return sum(1 for _ in handle)
    loaded = json.loads(path.read_text(encoding="utf-8"))
    return len(loaded) if isinstance(loaded, list | dict) else None


def languages_of_folder(name: str, folders: list[Path]) -> ModelLanguages:
    """A model whose CTranslate2 files lie in ``folders`` (a split model may use several)."""
    for folder in folders:
        size = vocabulary_size(folder)
        if size is not None:
            return ModelLanguages(name, size < MULTILINGUAL_VOCABULARY, "vocabulary")
    return ModelLanguages(name, english_only_name(name), "name")
