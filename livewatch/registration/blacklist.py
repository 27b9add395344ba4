"""The blacklist of barred people, and name matching that survives width, case and script differences.

Officers copy names from many sources: full-width letters, Traditional characters (張三 for 张三), a
middle dot in transliterated names (迪丽热巴·迪力木拉提), handles with or without '@'. Every name and
handle is normalised the same way before comparison.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field

from livewatch.chinese import to_simplified
from livewatch.errors import ConfigError
from livewatch.fields import SingleLine, StrictModel
from livewatch.validation import read_model_file

_SEPARATORS = re.compile(r"[\s·•・\.\-_'’\u00b7\u2027\u30fb]+")


def normalize_name(text: str) -> str:
    """Width-fold (NFKC), case-fold, convert Traditional to Simplified, drop spaces and dots."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    simplified = to_simplified(folded)
    return _SEPARATORS.sub("", simplified)


def normalize_handle(text: str) -> str:
    """Width- and case-fold a handle and drop a leading '@'; '_', '.' and '-' stay (wang_wu ≠ wangwu)."""
    folded = unicodedata.normalize("NFKC", text).casefold().strip()
    return to_simplified(folded.lstrip("@"))


class BarredPerson(StrictModel):
    """One barred person: a name, other names, known handles, and why."""

    name: SingleLine
    aliases: list[SingleLine] = Field(default_factory=list)
    handles: list[SingleLine] = Field(default_factory=list)
    reason: SingleLine | None = None
    listed: SingleLine | None = Field(None, description="When or by whom the person was listed.")


class BlacklistFile(StrictModel):
    people: list[BarredPerson] = Field(default_factory=list)


@dataclass(frozen=True)
class BlacklistMatch:
    person: BarredPerson
    matched: str  # what in the registration matched: a name or a handle

    def describe(self) -> str:
        why = f" ({self.person.reason})" if self.person.reason else ""
        return f"{self.matched} matches barred person '{self.person.name}'{why}"


@dataclass(frozen=True)
class Blacklist:
    people: tuple[BarredPerson, ...] = ()

    def match(self, name: str, handles: Iterable[str] = ()) -> BlacklistMatch | None:
        wanted_name = normalize_name(name)
        wanted_handles = {normalize_handle(h): h for h in handles}
        for person in self.people:
            names = {normalize_name(n) for n in (person.name, *person.aliases)}
            if wanted_name in names:
                return BlacklistMatch(person, f"name '{name}'")
            for handle in person.handles:
                original = wanted_handles.get(normalize_handle(handle))
                if original is not None:
                    return BlacklistMatch(person, f"handle '{original}'")
        return None


def load_blacklist(path: Path | None) -> Blacklist:
    """Read the blacklist named by the global configuration; no file means nobody is barred."""
    if path is None:
        return Blacklist()
    parsed, _ = read_model_file(path, BlacklistFile, ConfigError, "blacklist")
    return Blacklist(tuple(parsed.people))
