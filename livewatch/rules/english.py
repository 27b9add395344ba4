"""English views for matching: lemmas (inflections) and phonetic codes (mishearings).

* ``lemma_view`` — each English word as its lemma, the rest as in the compact view, so "guaranteed profits"
  is the term "guaranteed profit", "it cures diabetes" the term "cure diabetes" (simplemma's English
  dictionary, which ships inside the wheel). A lemma is taken only when it keeps the word's first three
  letters (simplemma maps "best" to "good" and "is" to "be") and never for a comparative or superlative
  ("lowest" is not "low", "cheaper" not "cheap"): an absolute term must stay itself.
  A one-word term that names an activity by its ``-ing`` form ("betting", "tipping", "aging") is not matched on
  lemmas (:func:`has_gerund`): its lemma is the verb, and the verb is everyday talk ("I bet he's late",
  "tip me off", "at my age"). It matches as written, in the compact view.
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
#: An English word, a number, or a run of other letters (Chinese); spaces and punctuation are not tokens.
_TOKEN = re.compile(r"([a-z]+(?:'[a-z]+)?)|(\d+)|[^\W\d_a-z]+")
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
    """Each English word as its lemma or code; between words what the compact view has: spaces and
    punctuation go, digits stay, and any other run (Chinese text) becomes one ``#``, which no English term
    holds, so the words on either side of it are not one phrase. One step per word or run, not per
    character: most of a Mandarin transcript is such runs."""
    convert = phonetic_code if phonetic else lemma
    light_starts, light_ends = light.starts, light.ends
    pieces: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    for token in _TOKEN.finditer(light.text):
        first, past = token.span()
        word, digits = token.group(1), token.group(2)
        if digits is not None:
            pieces.append(digits)
            starts.extend(light_starts[first:past])
            ends.extend(light_ends[first:past])
            continue
        piece = convert(word) if word is not None else BARRIER
        pieces.append(piece)
        starts.extend([light_starts[first]] * len(piece))
        ends.extend([light_ends[past - 1]] * len(piece))
    return NormalizedText(light.original, "".join(pieces), starts, ends)


def lemma_view(light: NormalizedText) -> NormalizedText:
    return _words_view(light)


def phonetic_view(light: NormalizedText) -> NormalizedText:
    return _words_view(light, phonetic=True)


def has_gerund(term: str) -> bool:
    """Whether ``term`` is one English word in an ``-ing`` form that its lemma would turn into another word
    (in a phrase the other words keep the sense: "tracking chips" is still "tracking chip")."""
    words = _WORD.findall(normalize(term, "light").text)
    return len(words) == 1 and words[0].endswith("ing") and lemma(words[0]) != words[0]


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
