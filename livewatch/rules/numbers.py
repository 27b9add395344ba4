"""Spoken and written numbers as digits, with a map from every digit back to the words it was said as.

Contact details reach the transcript in many spellings: Chinese numerals (一三八, 幺 for one, 两 for two),
English digit words as Whisper writes a number read out in English ("one three nine, double eight"), and
digits. This step turns the spoken ones into digits before any rule looks at the text, so one regular
expression over digits finds a phone number however it was said. Separators between written digits
(``1-3-9``, ``138 1234``, ``138，1234``) are left in place: a decimal point, a date or a thousands separator
means something to other rules, and the contact rules allow them between digits themselves.

Every function takes the text with its ``starts``/``ends`` lists (for each character, the span of the
original it came from; see :mod:`livewatch.rules.normalize`) and returns the converted text with its lists.
"""

from __future__ import annotations

import re

Mapped = tuple[str, list[int], list[int]]

# --- Chinese numerals --------------------------------------------------------------------------------------

DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9,
          "幺": 1, **{str(d): d for d in range(10)}}
UNITS = {"十": 10, "百": 100, "千": 1000, "万": 10_000}
_DIGIT_CLASS = "".join(DIGITS)
_NUMBER_CLASS = _DIGIT_CLASS + "".join(UNITS)
#: A spoken number: an optional 百分之 (percent), a run of numerals, and an optional 点 with digits after it
#: (the decimal point: 三十五点五 = 35.5), unless a unit follows them (三点五十分 is a time, not 3.5).
_NUMBER = re.compile(f"(百分之)?([{_NUMBER_CLASS}]+)(?:点([{_DIGIT_CLASS}]+)(?![{''.join(UNITS)}]))?")
#: A group of a number read digit by digit, next to a lone 幺 (幺，三九 or 幺、三、九): a separator, then two
#: digits or a digit, a separator and a digit (not a count: 老幺，三个孩子).
_GAP = r"[\s,，、.·\-–—_/]{1,2}"
_GROUP_AFTER = re.compile(f"{_GAP}(?:[{_DIGIT_CLASS}]{{2}}|[{_DIGIT_CLASS}]{_GAP}[{_DIGIT_CLASS}])")
_GROUP_BEFORE = re.compile(f"(?:[{_DIGIT_CLASS}]{{2}}|[{_DIGIT_CLASS}]{_GAP}[{_DIGIT_CLASS}]){_GAP}$")


def _numeral_value(run: str) -> str | None:
    """Digits for a run of numerals, or None when the run is not one well-formed number."""
    if not any(ch in UNITS for ch in run):
        return "".join(str(DIGITS[ch]) for ch in run)
    if "幺" in run or any(ch.isascii() for ch in run):
        return None  # 幺 is 1 only in strings of digits (phone numbers); 3十 is not a numeral
    total, section, digit = 0, 0, None
    for ch in run:
        if ch in DIGITS:
            if digit is not None and digit != 0:
                return None  # 二三十 is not a number
            digit = DIGITS[ch]
        elif ch == "万":
            if digit is None and section == 0:
                return None
            total += (section + (digit or 0)) * 10_000
            section, digit = 0, None
        else:
            unit = UNITS[ch]
            if digit is None:
                if section != 0 or total != 0 or unit != 10:
                    return None
                digit = 1  # 十五 = 15
            section += digit * unit
            digit = None
    return str(total + section + (digit or 0))


def _lone_yao_is_a_digit(text: str, first: int, last: int) -> bool:
    """幺 on its own is a word (幺蛾子, 老幺) unless it is one group of a number read digit by digit: a
    separator and more digits come right before or right after it."""
    return bool(_GROUP_AFTER.match(text, last) or _GROUP_BEFORE.search(text[max(0, first - 8):first]))


def _spoken_number(match: re.Match[str]) -> str | None:
    """The digits (with ``.`` and ``%``) a spoken number stands for; None to leave it as it is."""
    percent, run, decimals = match.groups()
    if run == "幺" and not percent and not decimals:
        return "1" if _lone_yao_is_a_digit(match.string, *match.span(2)) else None
    value = "100" if percent and run == "百" else _numeral_value(run)  # 百分之百
    if value is None:
        if percent or decimals:
            return None
        # Leave the units alone, turn the digits into digits: a malformed run is no number.
        return "".join(str(DIGITS[ch]) if ch in DIGITS else ch for ch in run)
    if decimals:
        value += "." + "".join(str(DIGITS[ch]) for ch in decimals)
    return value + "%" if percent else value


def chinese_numerals(text: str, starts: list[int], ends: list[int]) -> Mapped:
    """Spoken numbers as digits: 一三八 → 138, 三十 → 30, 百分之三十五点五 → 35.5%, 幺三八 → 138."""
    if not any(ch in DIGITS or ch in UNITS for ch in set(text)):
        return text, starts, ends
    pieces: list[str] = []
    out_starts: list[int] = []
    out_ends: list[int] = []
    position = 0
    for match in _NUMBER.finditer(text):
        value = _spoken_number(match)
        if value is None and (match.group(1) or match.group(3)):
            # A percent or decimal that is no number: read the numeral run on its own.
            first, last = match.span(2)
            value = _spoken_number(_NUMBER.fullmatch(text, first, last))  # type: ignore[arg-type]
        else:
            first, last = match.span()
        if value is None or value == text[first:last]:
            continue
        pieces.append(text[position:first])
        out_starts.extend(starts[position:first])
        out_ends.extend(ends[position:first])
        # Every character of a number maps to the whole number as said: a part of it reads differently on
        # its own (三 十 of 二三十 is "3十" here but 30 alone; the % of 百分之三十 is 百分之), so only the
        # whole is evidence for it.
        pieces.append(value)
        out_starts.extend([starts[first]] * len(value))
        out_ends.extend([ends[last - 1]] * len(value))
        position = last
    pieces.append(text[position:])
    out_starts.extend(starts[position:])
    out_ends.extend(ends[position:])
    return "".join(pieces), out_starts, out_ends


# --- English digit words -----------------------------------------------------------------------------------

_WORD_DIGITS = {"zero": "0", "oh": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
                "seven": "7", "eight": "8", "nine": "9"}
_REPEATS = {"double": 2, "triple": 3}
#: A digit word or a repeat word as a whole word (the text is case-folded by now). Only ASCII letters bound
#: it, so 电话one three nine still reads as digits.
_ENGLISH_TOKEN = re.compile("(" + "|".join(f"{word}(?<![a-z]{word})" for word in (*_WORD_DIGITS, *_REPEATS))
                            + ")(?![a-z])")  # the look-behind after the word: a literal first is a fast scan
#: What may stand between the words of one number read out: spaces, a line break, hyphens, commas.
_WORD_GAP = re.compile(r"[\s,，、\-–—]{1,3}")
#: A run reads as a string of digits (a phone number, an id), not as prose ("one of the best", "at one
#: point", "I have two kids"), from this many digits on.
MIN_SPOKEN_DIGITS = 3


def _digit_runs(text: str) -> list[list[tuple[str, int, int]]]:
    """Runs of digits said as English words: for each digit, the digit and the span of the words that said
    it (both digits of "double eight" come from both words). "oh" is zero only after another digit word
    ("one oh one"; "oh one two" starts at "one"); double and triple only before a digit word."""
    tokens = list(_ENGLISH_TOKEN.finditer(text))
    runs: list[list[tuple[str, int, int]]] = []
    run: list[tuple[str, int, int]] = []
    previous_end = -1
    index = 0
    while index < len(tokens):
        token = tokens[index]
        word, start, end = token.group(1), token.start(), token.end()
        joined = bool(run) and _WORD_GAP.fullmatch(text, previous_end, start) is not None
        if not joined and run:
            runs.append(run)
            run = []
        if word in _REPEATS:
            following = tokens[index + 1] if index + 1 < len(tokens) else None
            if (following is not None and following.group(1) in _WORD_DIGITS
                    and _WORD_GAP.fullmatch(text, end, following.start()) is not None):
                run.extend([(_WORD_DIGITS[following.group(1)], start, following.end())] * _REPEATS[word])
                previous_end = following.end()
                index += 2
                continue
            if run:
                runs.append(run)
                run = []
        elif word == "oh" and not run:
            pass  # an interjection, not a zero
        else:
            run.append((_WORD_DIGITS[word], start, end))
        previous_end = end
        index += 1
    if run:
        runs.append(run)
    return runs


def english_digits(text: str, starts: list[int], ends: list[int]) -> Mapped:
    """Digit words read out as a number become the number: "one three nine one two three four five six seven
    eight" → 13912345678, "double eight" → 88, "triple six" → 666. The separators between the words go (the
    digits of one number said aloud are one number); each digit maps to the word or words that said it."""
    if not any(word in text for word in (*_WORD_DIGITS, *_REPEATS)):
        return text, starts, ends
    pieces: list[str] = []
    out_starts: list[int] = []
    out_ends: list[int] = []
    position = 0
    for run in _digit_runs(text):
        if len(run) < MIN_SPOKEN_DIGITS:
            continue
        first, last = run[0][1], run[-1][2]
        pieces.append(text[position:first])
        out_starts.extend(starts[position:first])
        out_ends.extend(ends[position:first])
        for digit, start, end in run:
            pieces.append(digit)
            out_starts.append(starts[start])
            out_ends.append(ends[end - 1])
        position = last
    pieces.append(text[position:])
    out_starts.extend(starts[position:])
    out_ends.extend(ends[position:])
    return "".join(pieces), out_starts, out_ends


def spoken_numbers(text: str, starts: list[int], ends: list[int]) -> Mapped:
    """English digit words, then Chinese numerals, as digits."""
    return chinese_numerals(*english_digits(text, starts, ends))
