"""Regular expressions from rule packs, run so that none can hang a check.

A pack's patterns come from whoever wrote the pack, and the text they run over comes from the party under
watch. A pattern that backtracks catastrophically (``(a|a)*$``, ``(\\d+)+x`` under Python's ``re``) on a crafted
transcript line would take minutes or years, and since ``re`` holds the GIL the whole monitor would stop with
it. So:

- patterns run on the ``regex`` engine, which stops a search after a time limit and releases the GIL while it
  searches (other events' threads keep running);
- the shapes that backtrack catastrophically are refused when a pack is loaded (:func:`catastrophic`): a
  quantifier over a quantified piece with nothing that must separate one repetition from the next, and a
  quantified alternation whose branches can start with the same character;
- every search made while a rule evaluates shares that rule's time limit (:func:`time_limit`); the engine
  turns :class:`RegexTimeout` into a ``rule-error`` finding.
"""

from __future__ import annotations

import importlib
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import regex

from livewatch.errors import LivewatchError

# How re itself reads a pattern: its parse tree and opcodes (private modules, stable across 3.11-3.13).
sre_parse: Any = importlib.import_module("re._parser")
sre: Any = importlib.import_module("re._constants")

#: Seconds of regular-expression work one rule may spend on one event (all its patterns, all streams). The
#: ``regex`` engine checks its clock every few thousand steps, so a search overruns by a fraction of this.
RULE_TIME_LIMIT_S = 1.0
#: Characters of transcript that earn a rule one more second: healthy patterns search about a microsecond
#: a character, so a long event (a 39-hour news corpus ran the default pack's patterns past a flat second)
#: never times out, while a catastrophic pattern, which grows faster than the text, is still cut off.
CHARACTERS_PER_EXTRA_SECOND = 100_000


def rule_time_limit(characters: int) -> float:
    """Seconds of searching one rule may spend on a text of ``characters`` (all streams together)."""
    return RULE_TIME_LIMIT_S + characters / CHARACTERS_PER_EXTRA_SECOND
#: A quantifier that may repeat more often than this counts as unbounded for :func:`catastrophic`.
_UNBOUNDED = 10


class RegexTimeout(LivewatchError):
    """A rule's regular expression ran past its time limit on this input."""

    def __init__(self, pattern: str, limit: float) -> None:
        shown = pattern if len(pattern) <= 80 else pattern[:77] + "..."
        super().__init__(f"regular expression {shown!r} ran past its {limit:g} s time limit")


#: A compiled ``regex`` pattern (the package ships no type hints).
Pattern = Any

@dataclass  # not frozen: the searches of one block spend it
class _Budget:
    """Seconds of searching left to the rules evaluated in a :func:`time_limit` block. Only time spent in
    searches counts: a rule's other work (segmenting, pinyin, loading a dictionary the first time) must not
    make its regular expressions time out."""

    limit: float
    left: float


_budget: ContextVar[_Budget | None] = ContextVar("livewatch_regex_budget", default=None)


@contextmanager
def time_limit(seconds: float = RULE_TIME_LIMIT_S) -> Iterator[None]:
    """Every search in this block (in this thread) shares ``seconds`` of searching; an enclosing block's
    budget still applies, and the searches here are taken from it too."""
    outer = _budget.get()
    budget = _Budget(seconds, seconds if outer is None else min(seconds, outer.left))
    token = _budget.set(budget)
    try:
        yield
    finally:
        _budget.reset(token)
        if outer is not None:
            outer.left -= min(seconds, outer.left) - budget.left


def spans(pattern: Pattern, text: str) -> list[tuple[int, int, str]]:
    """Every non-empty match of ``pattern`` in ``text`` as ``(start, end, matched)``, within the current
    budget (:data:`RULE_TIME_LIMIT_S` for this search alone when no :func:`time_limit` block is open)."""
    budget = _budget.get() or _Budget(RULE_TIME_LIMIT_S, RULE_TIME_LIMIT_S)
    if budget.left <= 0:
        raise RegexTimeout(pattern.pattern, budget.limit)
    started = time.monotonic()
    try:
        return [(m.start(), m.end(), m.group()) for m in pattern.finditer(text, timeout=budget.left)
                if m.end() > m.start()]
    except TimeoutError:
        budget.left = 0.0
        raise RegexTimeout(pattern.pattern, budget.limit) from None
    finally:
        budget.left = max(0.0, budget.left - (time.monotonic() - started))


@lru_cache(maxsize=1024)
def compiled(pattern: str) -> Pattern:
    """``pattern`` for the ``regex`` engine (in its ``re``-compatible mode); a pack's patterns passed
    :func:`check_pattern` when it was loaded."""
    return regex.compile(pattern, flags=regex.VERSION0)


def check_pattern(pattern: str) -> None:
    """Raise ``ValueError`` (for a pack's validation message) when ``pattern`` is not a valid regular
    expression or is one that can backtrack catastrophically."""
    try:
        tree = sre_parse.parse(pattern)
        regex.compile(pattern, flags=regex.VERSION0)
    except (re.error, regex.error, RecursionError, OverflowError) as err:
        raise ValueError(f"not a valid regular expression: {err}") from None
    problem = catastrophic(tree)
    if problem:
        raise ValueError(f"this regular expression can backtrack catastrophically: {problem}")


# --- static analysis over re's parse tree ---------------------------------------------------------------
# Character sets are compared over a probe alphabet (ASCII, the punctuation and Chinese characters transcripts
# hold): two pieces "overlap" when some probe character matches both. That misses exotic overlaps, which the
# time limit still catches.

_PROBES = ("".join(chr(c) for c in range(9, 127))
           + "\u3000、，。：；！？·–—（）一二三四五六七八九十零百千万元块号中文微信幺两Ａ１é")

_CATEGORIES: dict[Any, Callable[[str], bool]] = {
    sre.CATEGORY_DIGIT: str.isdecimal,
    sre.CATEGORY_NOT_DIGIT: lambda c: not c.isdecimal(),
    sre.CATEGORY_SPACE: str.isspace,
    sre.CATEGORY_NOT_SPACE: lambda c: not c.isspace(),
    sre.CATEGORY_WORD: lambda c: c.isalnum() or c == "_",
    sre.CATEGORY_NOT_WORD: lambda c: not (c.isalnum() or c == "_"),
    sre.CATEGORY_LINEBREAK: lambda c: c == "\n",
    sre.CATEGORY_NOT_LINEBREAK: lambda c: c != "\n",
}
_REPEATS = {sre.MAX_REPEAT, sre.MIN_REPEAT, getattr(sre, "POSSESSIVE_REPEAT", sre.MAX_REPEAT)}
_ZERO_WIDTH = {sre.AT, sre.ASSERT, sre.ASSERT_NOT}
_Item = tuple[Any, Any]


def _one(op: Any, av: Any, ch: str) -> bool:
    """Whether a single-character item matches ``ch``."""
    if op is sre.LITERAL:
        return bool(ord(ch) == av or ch.casefold() == chr(av).casefold())
    if op is sre.NOT_LITERAL:
        return bool(ord(ch) != av)
    if op is sre.ANY:
        return True
    if op is sre.RANGE:
        return bool(av[0] <= ord(ch) <= av[1])
    if op is sre.CATEGORY:
        test = _CATEGORIES.get(av)
        return test is None or test(ch)
    if op is sre.IN:
        negate = bool(av) and av[0][0] is sre.NEGATE
        return any(_one(o, a, ch) for o, a in av if o is not sre.NEGATE) != negate
    return True  # anything else: assume it may match


def _single(op: Any) -> bool:
    return op in (sre.LITERAL, sre.NOT_LITERAL, sre.ANY, sre.IN, sre.RANGE, sre.CATEGORY)


def _chars(op: Any, av: Any) -> frozenset[str]:
    return frozenset(ch for ch in _PROBES if _one(op, av, ch))


def _children(op: Any, av: Any) -> list[list[_Item]]:
    """The sub-sequences of a compound item."""
    if op in _REPEATS:
        return [list(av[2])]
    if op is sre.SUBPATTERN:
        return [list(av[3])]
    if op is sre.BRANCH:
        return [list(b) for b in av[1]]
    if op in (sre.ASSERT, sre.ASSERT_NOT):
        return [list(av[1])]
    if op is getattr(sre, "ATOMIC_GROUP", None):
        return [list(av)]
    if op is sre.GROUPREF_EXISTS:
        return [list(b) for b in av[1:] if b is not None]
    return []


def _all_chars(seq: list[_Item]) -> frozenset[str]:
    """Every probe character some part of ``seq`` can consume."""
    found: set[str] = set()
    for op, av in seq:
        if _single(op):
            found |= _chars(op, av)
        elif op is sre.GROUPREF:
            return frozenset(_PROBES)
        elif op not in _ZERO_WIDTH:
            for child in _children(op, av):
                found |= _all_chars(child)
    return frozenset(found)


def _nullable(seq: list[_Item]) -> bool:
    for op, av in seq:
        if _single(op):
            return False
        if op in _REPEATS:
            if av[0] > 0 and not _nullable(list(av[2])):
                return False
        elif op is sre.BRANCH:
            if not any(_nullable(list(b)) for b in av[1]):
                return False
        elif op is sre.SUBPATTERN:
            if not _nullable(list(av[3])):
                return False
        elif op is sre.GROUPREF:
            continue
    return True


def _first(seq: list[_Item]) -> frozenset[str]:
    """The probe characters a match of ``seq`` can start with."""
    found: set[str] = set()
    for op, av in seq:
        if op in _ZERO_WIDTH:
            continue
        if _single(op):
            return frozenset(found | _chars(op, av))
        if op is sre.GROUPREF:
            return frozenset(_PROBES)
        for child in _children(op, av):
            found |= _first(child)
        if not _nullable([(op, av)]):
            break
    return frozenset(found)


def _flat(seq: list[_Item]) -> list[_Item]:
    """``seq`` with plain groups opened: ``(a)(b+)`` is the sequence a, b+."""
    out: list[_Item] = []
    for op, av in seq:
        if op is sre.SUBPATTERN:
            out += _flat(list(av[3]))
        else:
            out.append((op, av))
    return out


def _inner_repeats(seq: list[_Item]) -> Iterator[_Item]:
    for op, av in seq:
        if op in _REPEATS and av[1] > 1:
            yield op, av
        if op not in (sre.ASSERT, sre.ASSERT_NOT):
            for child in _children(op, av):
                yield from _inner_repeats(child)


def _separator(op: Any, av: Any) -> frozenset[str] | None:
    """The characters of a piece every repetition must consume one of, or None when it can be skipped."""
    if _single(op):
        return _chars(op, av)
    if op in _REPEATS and av[0] >= 1 and len(av[2]) == 1 and _single(av[2][0][0]):
        return _chars(*av[2][0])
    return None


def catastrophic(tree: Any) -> str:
    """Why the parsed pattern can backtrack catastrophically, or ``""``."""
    return _walk(list(tree))


def _walk(seq: list[_Item]) -> str:
    for op, av in seq:
        if op in _REPEATS and av[1] > _UNBOUNDED:
            body = _flat(list(av[2]))
            separators = [s for s in (_separator(o, a) for o, a in body) if s is not None]
            for inner in _inner_repeats(body):
                chars = _all_chars(list(inner[1][2]))
                if not any(s and not (s & chars) for s in separators):
                    return ("a quantifier over a quantified piece, with nothing between repetitions that the "
                            "piece cannot match (write (\\d+)+ as \\d+, (?:\\d+\\s?)+ as [\\d\\s]+)")
            for item_op, item_av in body:
                if item_op is sre.BRANCH:
                    branches = [list(b) for b in item_av[1]]
                    if any(_nullable(b) for b in branches):
                        return ("a quantified alternation one of whose branches can match nothing (the "
                                "branches of (a|a)* and (a|ab)* share their start; factor it out)")
                    firsts = [_first(b) for b in branches]
                    for i, a in enumerate(firsts):
                        for b in firsts[i + 1:]:
                            common = a & b
                            if common:
                                shown = "".join(sorted(common))[:10]
                                return (f"a quantified alternation whose branches can start with the same "
                                        f"character ({shown!r}); factor the common start out ((a|ab)* as "
                                        f"(ab?)*)")
        for child in _children(op, av):
            problem = _walk(child)
            if problem:
                return problem
    return ""

