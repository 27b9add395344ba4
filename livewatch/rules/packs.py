"""Rule packs: versioned YAML files of rules. Built-in packs ship inside the package
(``livewatch/rules/packs/``); user packs live in the configured ``rule_packs_dir``.

A pack is identified in every finding as ``id@version`` plus the sha256 of its file, so a reviewer can tell
exactly which wording of a rule fired. Registrations select packs by id (``default`` is
``cn-live-events``), optionally pinned to a version, and may change single rules per event.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError

from livewatch.errors import ConfigError
from livewatch.fields import SeverityName, SingleLine, StrictModel
from livewatch.issues import Issue
from livewatch.plugins import PluginError, Registry
from livewatch.rules.base import Rule
from livewatch.sourcemap import LineMap
from livewatch.validation import issues_from_validation_error, read_model_file

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "livewatch.rule_types"
#: Rule types by their ``type:`` name (built-ins are registered in the entry-point group too).
RULE_TYPES: Registry[Rule] = Registry(ENTRY_POINT_GROUP, Rule, "rule type")
DEFAULT_PACK = "cn-live-events"
PACK_ALIASES = {"default": DEFAULT_PACK}


class RulePackError(ConfigError):
    """A rule pack cannot be read, or a registration asks for one that does not exist."""


#: The languages a category may be titled in: the pages' languages (``livewatch.i18n.LANGUAGES``; named here
#: because the rules import nothing of the pages, and a test keeps the two equal).
TitleLanguage = Literal["zh-CN", "en"]


class Category(StrictModel):
    title: SingleLine
    titles: dict[TitleLanguage, SingleLine] = Field(default_factory=dict, description=(
        "The title in a page language (zh-CN, en): a report in that language shows it instead of title."))
    legal_basis: SingleLine | None = None


class PackFile(StrictModel):
    """The top level of a pack file; each entry of ``rules`` is validated by its rule type's own model."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$", max_length=64)
    version: str = Field(pattern=r"^[0-9A-Za-z.+-]+$", max_length=32)
    title: SingleLine
    description: str | None = None
    categories: dict[str, Category] = Field(default_factory=dict)
    rules: list[dict[str, Any]] = Field(default_factory=list)
    replaces: str | None = Field(None, pattern=r"^[a-z0-9][a-z0-9_.-]*@[0-9A-Za-z.+-]+$", description=(
        "id@version of a built-in pack this user pack deliberately stands in for (its own id and version)."))


@dataclass(frozen=True)
class RulePack:
    id: str
    version: str
    title: str
    sha256: str
    path: Path
    categories: Mapping[str, Category]
    rules: tuple[Rule, ...]
    description: str | None = None
    replaces: str | None = None

    @property
    def ref(self) -> str:
        return f"{self.id}@{self.version}"

    def with_rules(self, rules: Iterable[Rule]) -> RulePack:
        """The same pack (id, version, hash) holding only ``rules``."""
        return replace(self, rules=tuple(rules))

    def legal_basis(self, rule: Rule) -> str | None:
        category = self.categories.get(rule.spec.category)
        return rule.spec.legal_basis or (category.legal_basis if category else None)


def load_pack(path: Path, types: Mapping[str, type[Rule]] | None = None) -> RulePack:
    """Read and validate one pack; every problem in it is reported at once, with its line. ``types`` replaces
    the installed rule types (tests); without it each type is loaded from the registry when a rule names it."""
    pack, document = read_model_file(path, PackFile, RulePackError, "rule pack")
    rules, issues = _rules(pack, types, path, document.lines)
    if pack.replaces is not None and pack.replaces != f"{pack.id}@{pack.version}":
        issues.append(Issue(path, document.lines.line_of(("replaces",)), ("replaces",),
                            f"replaces names {pack.replaces!r}, but a pack can only stand in for its own id and "
                            f"version ({pack.id}@{pack.version})"))
    if issues:
        raise RulePackError(f"rule pack {path} is invalid", issues)
    return RulePack(pack.id, pack.version, pack.title, hashlib.sha256(document.raw).hexdigest(), path,
                    pack.categories, tuple(rules), pack.description, pack.replaces)


def _rule_type(kind: object, types: Mapping[str, type[Rule]] | None) -> type[Rule] | str:
    """The rule type ``kind`` names, or what is wrong: none named, none installed under that name, or one
    installed that cannot be imported (reported as that, not as an unknown type)."""
    if kind is None:
        known = sorted(types) if types is not None else RULE_TYPES.names()
        return f"no rule type; use one of: {', '.join(known)}"
    if types is not None:
        found = types.get(str(kind))
        return found if found is not None else f"unknown rule type {kind!r}; use one of: {', '.join(sorted(types))}"
    try:
        return RULE_TYPES.get(str(kind))
    except PluginError as err:
        return str(err)


def _rules(pack: PackFile, types: Mapping[str, type[Rule]] | None, path: Path,
           lines: LineMap) -> tuple[list[Rule], list[Issue]]:
    rules: list[Rule] = []
    issues: list[Issue] = []
    seen: set[str] = set()
    for index, raw in enumerate(pack.rules):
        where = ("rules", index)
        rule_type = _rule_type(raw.get("type"), types)
        if isinstance(rule_type, str):
            issues.append(Issue(path, lines.line_of((*where, "type")), (*where, "type"), rule_type))
            continue
        try:
            spec = rule_type.spec_model.model_validate(raw)
        except ValidationError as err:
            issues += issues_from_validation_error(err, root=rule_type.spec_model, file=path, lines=lines,
                                                   prefix=where)
            continue
        if spec.id in seen:
            issues.append(Issue(path, lines.line_of((*where, "id")), (*where, "id"), f"rule id {spec.id!r} repeats"))
        if pack.categories and spec.category not in pack.categories:
            issues.append(Issue(path, lines.line_of((*where, "category")), (*where, "category"),
                                f"category {spec.category!r} is not among the pack's categories"))
        seen.add(spec.id)
        rules.append(rule_type(spec))
    return rules, issues


def builtin_pack_paths() -> list[Path]:
    folder = files("livewatch.rules").joinpath("packs")
    return sorted(Path(str(entry)) for entry in folder.iterdir() if entry.name.endswith((".yaml", ".yml")))


@dataclass
class PackLibrary:
    """Every pack livewatch can use: built-in ones and those in the user's folder (which may add
    versions, or a newer version of a built-in pack)."""

    user_dir: Path | None = None
    _packs: dict[tuple[str, str], RulePack] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for path in builtin_pack_paths():
            self._add(load_pack(path), builtin=True)
        if self.user_dir is not None and self.user_dir.is_dir():
            for path in sorted(p for p in self.user_dir.iterdir() if p.suffix in (".yaml", ".yml", ".toml")):
                self._add(load_pack(path), builtin=False)

    def _add(self, pack: RulePack, *, builtin: bool) -> None:
        """Add a pack; a user pack with a built-in pack's id and version replaces it only when it says so
        (``replaces:``), since an empty or weakened copy would otherwise silence every check that selects it."""
        key = (pack.id, pack.version)
        other = self._packs.get(key)
        if other is not None:
            if builtin or pack.replaces != pack.ref or other.path.parent == pack.path.parent:
                hint = "" if builtin or other.path.parent == pack.path.parent else (
                    f"; give it another id or version, or add 'replaces: {pack.ref}' to {pack.path} to stand in "
                    f"for the built-in pack on purpose")
                raise RulePackError(f"rule packs {other.path} and {pack.path} are both {pack.ref}{hint}")
            log.warning("rule pack %s (%s) replaces the built-in %s (%s), as its 'replaces:' says", pack.ref,
                        pack.path, other.ref, other.path)
        self._packs[key] = pack

    def packs(self) -> list[RulePack]:
        return sorted(self._packs.values(), key=lambda p: (p.id, _version_key(p.version)))

    def get(self, ref: str) -> RulePack:
        """A pack by ``id`` (newest version) or ``id@version``; ``default`` is :data:`DEFAULT_PACK`."""
        pack_id, _, version = ref.partition("@")
        pack_id = PACK_ALIASES.get(pack_id, pack_id)
        candidates = [p for p in self.packs() if p.id == pack_id and (not version or p.version == version)]
        if not candidates:
            have = ", ".join(p.ref for p in self.packs()) or "none"
            raise RulePackError(f"no rule pack {ref!r}; available: {have}")
        return candidates[-1]

    def select(self, refs: Iterable[str]) -> list[RulePack]:
        return [self.get(ref) for ref in refs]


def _version_key(version: str) -> tuple[tuple[int, str], ...]:
    return tuple((int(part), "") if part.isdigit() else (-1, part) for part in version.split("."))


@dataclass(frozen=True)
class Override:
    """A registration's change to one rule (``rule_overrides`` entry)."""

    rule: str
    enabled: bool = True
    severity: SeverityName | None = None
    add_terms: Sequence[str] = ()
    allowlist: Sequence[str] = ()
