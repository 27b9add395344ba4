"""English views for matching: lemmas (inflections) and phonetic codes (mishearings).

* ``lemma_view`` — each English word as its lemma, the rest as in the compact view, so "guaranteed profits"
  is the term "guaranteed profit", "it cures diabetes" the term "cure diabetes" (simplemma's English
  dictionary, which ships inside the wheel). A lemma is taken only when it keeps the word's first three
  letters (simplemma maps "best" to "good" and "is" to "be") and never for a comparative or superlative
  ("lowest" is not "low", "cheaper" not "cheap"): an absolute term must stay itself.
* ``phonetic_view`` — each English word as its Metaphone code (jellyfish), so a phrase Whisper split or
  spelled by ear matches its term: "my we chat is" is "my wechat is" (M WXT IS either way). Only terms of two
  words or more with a code of at least :data:`PHONETIC_MIN_CODE` letters match here: one word's code is in
  too much speech ("whatsapp" and "what's up" are both WTSP).

Both keep the offset map of :class:`~livewatch.rules.normalize.NormalizedText`: every character of a word's
lemma or code maps to the whole word as said.
"""

from __future__ import annotations

import re
from functools import lru_cache

from livewatch.rules.normalize import NormalizedText, normalize

#: Fewest Metaphone letters a term's code must have to match phonetically.
PHONETIC_MIN_CODE = 6
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
_RUN = re.compile(r"(\d+)|[^\W\d_]+")  # digits, or a run of other letters (CJK); spaces and punctuation go
BARRIER = "#"


@lru_cache(maxsize=65536)
def lemma(word: str) -> str:
    import simplemma

    found = str(simplemma.lemmatize(word, lang="en"))
    if found == word or found[:3] != word[:3] or not found.isascii():
        return word
    return word if word.endswith(("er", "est")) and not found.endswith(("er", "est")) else found


@lru_cache(maxsize=65536)
def phonetic_code(word: str) -> str:
    import jellyfish

    return str(jellyfish.metaphone(word)).casefold()


def _words_view(light: NormalizedText, *, phonetic: bool = False) -> NormalizedText:
    text = light.text
    pieces: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    position = 0
    for match in _WORD.finditer(text):
        _between(text, position, match.start(), light, pieces, starts, ends)
        word = match.group()
        piece = phonetic_code(word) if phonetic else lemma(word)
        first, last = light.original_span(match.start(), match.end())
        pieces.append(piece)
        starts.extend([first] * len(piece))
        ends.extend([last] * len(piece))
        position = match.end()
    _between(text, position, len(text), light, pieces, starts, ends)
    return NormalizedText(light.original, "".join(pieces), starts, ends)


def _between(text: str, begin: int, end: int, light: NormalizedText, pieces: list[str], starts: list[int],
             ends: list[int]) -> None:
    """What stands between two words, as the compact view has it: spaces and punctuation go, digits stay, and
    any other run (Chinese text) becomes one ``#``, which no English term holds: the words on either side of it
    are not one phrase. One step per run, not per character: most of a Mandarin transcript is such runs."""
    for run in _RUN.finditer(text, begin, end):
        first, past = run.span()
        if run.group(1) is not None:
            pieces.append(run.group())
            starts.extend(light.starts[first:past])
            ends.extend(light.ends[first:past])
        else:
            pieces.append(BARRIER)
            starts.append(light.starts[first])
            ends.append(light.ends[past - 1])


def lemma_view(light: NormalizedText) -> NormalizedText:
    return _words_view(light)


def phonetic_view(light: NormalizedText) -> NormalizedText:
    return _words_view(light, phonetic=True)


def lemma_key(term: str) -> str:
    return lemma_view(normalize(term, "light")).text


def phonetic_key(term: str) -> str:
    """A term's phonetic code, or "" when it is one word, not English, or its code is too short to match."""
    light = normalize(term, "light")
    words = _WORD.findall(light.text)
    if len(words) < 2 or not light.text.isascii():
        return ""
    key = phonetic_view(light).text
    return key if len(key) >= PHONETIC_MIN_CODE else ""
