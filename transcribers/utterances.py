"""Cutting a long decoded segment into utterances by its word times.

faster-whisper's batched pipeline decodes a recording in speech chunks of up to 30 s cut by voice-activity
detection, and without timestamp tokens each chunk comes back as one segment: half a minute of several speakers'
sentences. The monitor's transcripts are utterances (a sentence, or what was said between two pauses), which the
rules, the report and the subtitles work with; so a chunk is cut again after each word that ends a sentence and
at each pause between words.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

from transcribers.base import Segment, Word

#: Words that end a sentence, in English and Chinese.
SENTENCE_END = (".", "?", "!", "。", "？", "！", "…")
#: A silence between two words at least this long ends an utterance (the voice-activity detector cut the
#: chunk's speech there, or a speaker paused).
PAUSE_S = 1.0


def utterances(segment: Segment, pause_s: float = PAUSE_S) -> Iterator[Segment]:
    """``segment`` cut after every sentence-ending word and at every pause of ``pause_s`` or more between words;
    each piece keeps the segment's scores and language. A segment without word times is yielded whole."""
    words = segment.words
    if not words:
        yield segment
        return
    start = 0
    for index, word in enumerate(words):
        last = index == len(words) - 1
        if last or word.word.strip().endswith(SENTENCE_END) or words[index + 1].start - word.end >= pause_s:
            yield _piece(segment, words[start:index + 1])
            start = index + 1


def _piece(segment: Segment, words: tuple[Word, ...]) -> Segment:
    return dataclasses.replace(segment, start=words[0].start, end=words[-1].end,
                               text="".join(word.word for word in words).strip(), words=words)
