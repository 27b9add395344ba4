"""Decoding defaults per language, chosen by measurement, and the hot words for an event.

The Mandarin figures behind these choices are from ``bench/cer.py`` (Whisper base, Kokoro voices) and are in
docs/transcription.md, "Mandarin". A caller starts from :func:`decoding_defaults` and applies it with
:meth:`DecodingDefaults.apply`; the event's hot words come from :func:`hotwords_for`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from transcribers.base import TranscribeOptions

#: Tells Whisper the script to write. Measured (bench/cer.py, base, three voices): it cuts the Traditional
#: characters base writes from 26 % to 1 %, but raises the character error rate from 0.117 to 0.156 (every prompt
#: tried did: 0.134–0.156), and the checking text is converted to Simplified anyway. So the defaults leave it out;
#: it is here for whoever wants Simplified raw transcripts and accepts the cost.
MANDARIN_PROMPT: Final = "以下是普通话的句子，使用简体中文。"
#: faster-whisper keeps at most 223 tokens of hot words (half its 448-token context, less one); a common Chinese
#: character is one or two tokens, so this many characters stay well inside it with the separating spaces.
HOTWORD_CHARS: Final = 120

_HAN = re.compile(r"[\u3400-\u9fff]")


@dataclass(frozen=True)
class DecodingDefaults:
    """What to decode a language with, unless an event or the configuration says otherwise."""

    beam_size: int
    #: The stable part of the prompt; the monitor's rolling context (the last trusted text) goes after it.
    initial_prompt: str | None
    vad: bool
    #: Whether the event's hot words (participants' names, rule terms) should be passed.
    use_hotwords: bool

    def apply(self, options: TranscribeOptions, hotwords: str | None = None,
              context: str | None = None) -> TranscribeOptions:
        """``options`` with these defaults; ``context`` (recent text) is appended to the prompt."""
        prompt = "".join(part for part in (self.initial_prompt, context) if part) or None
        return dataclasses.replace(options, beam_size=self.beam_size, initial_prompt=prompt, vad=self.vad,
                                   hotwords=hotwords if self.use_hotwords else None)


#: Mandarin, measured with Whisper base on the Kokoro forum (docs/transcription.md, "Mandarin"): beam 5 (CER
#: 0.117; greedy 0.127 at 0.8 of the time), no prompt (see MANDARIN_PROMPT), VAD on (off: the same CER, word
#: times 0.41 s off instead of 0.29 s, and no guard against text invented in silence), no hot words: names alone
#: raised the CER to 0.155, and the rule terms made Whisper say them where nobody did (28 invented terms in
#: 330 s of speech: false findings).
MANDARIN: Final = DecodingDefaults(beam_size=5, initial_prompt=None, vad=True, use_hotwords=False)
OTHER: Final = DecodingDefaults(beam_size=5, initial_prompt=None, vad=True, use_hotwords=False)


def decoding_defaults(language: str | None) -> DecodingDefaults:
    """The measured defaults for ``language`` (an ISO code such as ``zh``; None or ``auto`` when unknown)."""
    if language is not None and language.lower().split("-")[0] in ("zh", "cmn"):
        return MANDARIN
    return OTHER


def hotwords_for(names: Iterable[str], terms: Iterable[str], language: str | None,
                 limit: int = HOTWORD_CHARS) -> str | None:
    """Participants' names first, then the terms in the language's script (Chinese terms for ``zh``, others for
    the rest), each once, leaving out a term contained in another (the longer one biases both), space-separated,
    cut at ``limit`` characters on a whole word. None when there is nothing to say."""
    chinese = language is not None and language.lower().startswith(("zh", "cmn"))
    candidates: list[str] = []
    for word in (*names, *(t for t in terms if bool(_HAN.search(t)) == chinese or language is None)):
        word = " ".join(word.split())
        if word and word not in candidates:
            candidates.append(word)
    kept = [w for w in candidates if not any(w != other and w in other for other in candidates)]
    chosen: list[str] = []
    for word in kept:
        if len(" ".join([*chosen, word])) > limit:
            break
        chosen.append(word)
    return " ".join(chosen) or None
