"""Rule packs are tested artifacts: every example of every shipped pack behaves as written; a pack is named by
its sha256; a broken pack is reported with the file line of every problem."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import get_args

import pytest
from click.testing import CliRunner

from livewatch.cli import cli
from livewatch.i18n import LANGUAGES, CategoryTitles
from livewatch.issues import Issue, format_field_path
from livewatch.reports.render import category_titles
from livewatch.rules.base import RuleInput
from livewatch.rules.engine import RuleEngine
from livewatch.rules.examples import EXAMPLE_FACTS, run_examples
from livewatch.rules.packs import DEFAULT_PACK, PackLibrary, RulePackError, TitleLanguage, builtin_pack_paths, load_pack
from livewatch.rules.transcript import Transcript

SHIPPED = builtin_pack_paths()


def test_the_default_pack_ships() -> None:
    assert [path.name for path in SHIPPED if path.stem == DEFAULT_PACK] == [f"{DEFAULT_PACK}.yaml"]
    library = PackLibrary()
    assert {pack.path for pack in library.packs()} == set(SHIPPED)
    assert library.get("default").id == DEFAULT_PACK


def _term_lists(spec: object) -> list[list[str]]:
    """Every list of terms in a rule's spec: its own and its conditions'."""
    lists = [getattr(spec, "terms", None)]
    conditions = ("a", "b", "cue", "disclosure", "condition")
    lists += [getattr(getattr(spec, name, None), "terms", None) for name in conditions]
    lists += [c.terms for name in ("all_of", "any_of", "none_of") for c in getattr(spec, name, None) or []]
    return [terms for terms in lists if terms]


@pytest.mark.parametrize("path", SHIPPED, ids=[path.name for path in SHIPPED])
def test_no_term_is_another_written_differently(path: Path) -> None:
    """Terms that normalize alike (won't tell you, wont tell you) are one term: the second adds nothing, and
    findings would name either."""
    from livewatch.rules.normalize import normalize_term

    twins = []
    for rule in load_pack(path).rules:
        for terms in _term_lists(rule.spec):
            seen: dict[str, str] = {}
            for term in terms:
                if (other := seen.setdefault(normalize_term(term), term)) != term:
                    twins.append(f"{rule.id}: {other!r} and {term!r}")
    assert twins == []


@pytest.mark.parametrize("path", SHIPPED, ids=[path.name for path in SHIPPED])
def test_every_example_of_a_shipped_pack_behaves_as_written(path: Path) -> None:
    pack = load_pack(path)
    results = list(run_examples(pack))
    failures = [result.describe() for result in results if not result.ok]
    assert failures == []
    # Every rule is exercised: each has examples, and each that can fire has one it must fire on.
    tried = {(result.rule, result.expected) for result in results}
    for rule in pack.rules:
        assert (rule.id, "passes") in tried or (rule.id, "fires") in tried, f"{rule.id} has no examples"
        if getattr(rule.spec, "terms", None) != []:
            assert (rule.id, "fires") in tried, f"{rule.id} has no example it must fire on"


def test_every_shipped_pack_is_in_the_library_and_named_by_its_hash() -> None:
    for pack in PackLibrary().packs():
        assert pack.sha256 == hashlib.sha256(pack.path.read_bytes()).hexdigest()
        assert pack.ref == f"{pack.id}@{pack.version}"
        assert pack.rules


def test_rules_test_command_passes_on_every_shipped_pack() -> None:
    result = CliRunner().invoke(cli, ["rules", "test"])
    assert result.exit_code == 0, result.output
    total = sum(len(list(run_examples(load_pack(path)))) for path in SHIPPED)
    assert result.output.strip().endswith(f"{total}/{total} examples behave as written in {len(SHIPPED)} pack(s)")


# --- examples that misbehave ----------------------------------------------------------------------------

MINE = """\
id: mine
version: "0.1"
title: Mine
categories:
  misc: {title: Miscellaneous}
rules:
  - id: fruit
    type: lexicon
    category: misc
    severity: low
    terms: [苹果]
    examples:
      fires: [我爱香蕉, 我爱蘋果]
      passes: [我爱苹果, 我爱梨]
  - id: late
    type: schedule
    category: misc
    severity: low
    check: late_start
    examples:
      fires: [{on_air: [30, 120]}, "not a mapping"]
"""


def test_run_examples_reports_each_example(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(MINE, encoding="utf-8")
    results = list(run_examples(load_pack(path)))
    assert [(r.rule, r.expected, r.example, r.ok) for r in results] == [
        ("fruit", "fires", "我爱香蕉", False),
        ("fruit", "fires", "我爱蘋果", True),
        ("fruit", "passes", "我爱苹果", False),
        ("fruit", "passes", "我爱梨", True),
        ("late", "fires", {"on_air": [30, 120]}, True),
        ("late", "fires", "not a mapping", False),
    ]
    assert all(r.pack == "mine@0.1" for r in results)
    assert results[0].describe() == "FAILED  fruit  should fire: 我爱香蕉"
    assert results[2].describe() == "FAILED  fruit  should pass: 我爱苹果  (fired on: '苹果')"
    assert results[1].describe() == "ok  fruit  should fire: 我爱蘋果"
    assert "cannot read example" in results[5].detail


# --- pack identity ----------------------------------------------------------------------------------------

def test_pack_hash_is_the_sha256_of_the_file_and_findings_carry_it(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(MINE, encoding="utf-8")
    pack = load_pack(path)
    assert pack.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    data = RuleInput(EXAMPLE_FACTS, {0: Transcript.of_lines([(EXAMPLE_FACTS.on_air_start, "苹果")])})
    (finding,) = RuleEngine([pack]).evaluate(data)
    assert (finding.pack, finding.pack_sha256) == ("mine@0.1", pack.sha256)
    # A comment changes no rule but does change the file: the hash tells the two wordings apart.
    path.write_text(MINE + "# reviewed\n", encoding="utf-8")
    changed = load_pack(path)
    assert changed.sha256 != pack.sha256
    assert changed.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_user_packs_add_versions(tmp_path: Path) -> None:
    shipped = next(path for path in SHIPPED if path.stem == DEFAULT_PACK)
    text = shipped.read_text(encoding="utf-8")
    original = load_pack(shipped)
    newer = text.replace(f'version: "{original.version}"', 'version: "99.0.0"', 1)
    assert newer != text
    (tmp_path / "newer.yaml").write_text(newer, encoding="utf-8")
    (tmp_path / "mine.yaml").write_text(MINE, encoding="utf-8")
    library = PackLibrary(tmp_path)
    assert library.get("default").version == "99.0.0"
    assert library.get(DEFAULT_PACK).version == "99.0.0"
    assert library.get(f"{DEFAULT_PACK}@{original.version}").sha256 == original.sha256
    assert library.get("mine").ref == "mine@0.1"
    assert [p.ref for p in library.select(["mine", "default"])] == ["mine@0.1", f"{DEFAULT_PACK}@99.0.0"]
    with pytest.raises(RulePackError, match=r"no rule pack 'nope'; available: "):
        library.get("nope")
    with pytest.raises(RulePackError, match=r"no rule pack 'mine@2\.0'"):
        library.get("mine@2.0")


# --- errors in packs --------------------------------------------------------------------------------------

HEADER = """\
id: bad-pack
version: "1.0"
title: Bad
categories:
  ok: {title: OK}
rules:
  - id: fine
    type: lexicon
    category: ok
    severity: high
    terms: [a]
"""
FIRST_CASE_LINE = HEADER.count("\n") + 1  # the rule under test starts here


def _broken(tmp_path: Path, rule: str) -> tuple[Path, list[Issue]]:
    path = tmp_path / "bad.yaml"
    path.write_text(HEADER + rule, encoding="utf-8")
    with pytest.raises(RulePackError) as caught:
        load_pack(path)
    issues = list(caught.value.issues)
    for issue in issues:
        assert issue.render() in str(caught.value)  # the message the user sees lists every issue
    return path, issues


@pytest.mark.parametrize(("rule", "line", "field", "message"), [
    pytest.param("""\
  - id: broken
    type: lexicion
    category: ok
    severity: high
""", 1, "rules[1].type", "no rule type named 'lexicion' is installed (did you mean 'lexicon'?); installed: "
        "blacklisted-person, composite, count,", id="unknown-type"),
    pytest.param("""\
  - id: broken
    category: ok
    severity: high
""", 0, "rules[1].type", "no rule type; use one of", id="no-type"),
    pytest.param("""\
  - id: broken
    type: regex
    category: ok
    severity: high
    pattern: "(unclosed"
""", 4, "rules[1].pattern", "not a valid regular expression: missing ), unterminated subpattern", id="bad-regex"),
    pytest.param("""\
  - id: broken
    type: composite
    category: ok
    severity: high
    all_of:
      - terms: [x]
      - pattern: "[unclosed"
""", 6, "rules[1].all_of[1].pattern", "not a valid regular expression", id="bad-regex-in-a-condition"),
    pytest.param("""\
  - id: fine
    type: lexicon
    category: ok
    severity: high
    terms: [b]
""", 0, "rules[1].id", "rule id 'fine' repeats", id="duplicate-id"),
    pytest.param("""\
  - id: broken
    type: lexicon
    category: nope
    severity: high
    terms: [c]
""", 2, "rules[1].category", "category 'nope' is not among the pack's categories", id="unknown-category"),
    pytest.param("""\
  - id: broken
    type: lexicon
    category: ok
    severity: high
    terms: [d]
    fuzy: true
""", 5, "rules[1].fuzy", "unknown field 'fuzy' (did you mean 'fuzzy'?)", id="unknown-key"),
    pytest.param("""\
  - id: broken
    type: proximity
    category: ok
    severity: high
    a: {terms: [x], pinyn: true}
    b: {terms: [y]}
""", 4, "rules[1].a.pinyn", "unknown field 'pinyn' (did you mean 'pinyin'?)", id="unknown-key-in-a-condition"),
    pytest.param("""\
  - id: broken
    type: regex
    category: ok
    severity: high
""", 0, "rules[1].pattern", "required field 'pattern' is missing", id="missing-key"),
    pytest.param("""\
  - id: broken
    type: lexicon
    category: ok
    severity: severe
""", 3, "rules[1].severity", "'severe' is not allowed", id="bad-severity"),
    pytest.param("""\
  - id: broken
    type: count
    category: ok
    severity: high
    condition: {terms: [x]}
    threshold: 1
    window_s: 10
""", 5, "rules[1].threshold", "must be at least 2", id="bad-threshold"),
])
def test_pack_errors_point_at_the_line(tmp_path: Path, rule: str, line: int, field: str, message: str) -> None:
    path, issues = _broken(tmp_path, rule)
    (issue,) = issues
    assert issue.file == path
    assert issue.line == FIRST_CASE_LINE + line
    rendered = issue.render()
    assert rendered.startswith(f"{path}:{FIRST_CASE_LINE + line}: {field}: "), rendered
    assert message in rendered


def test_every_problem_of_a_pack_is_reported_at_once(tmp_path: Path) -> None:
    _, issues = _broken(tmp_path, """\
  - id: two
    type: lexicion
    category: ok
    severity: high
  - id: three
    type: regex
    category: ok
    severity: high
    pattern: "(unclosed"
  - id: fine
    type: lexicon
    category: ok
    severity: high
    terms: [b]
  - id: four
    type: lexicon
    category: nope
    severity: high
    terms: [c]
  - id: five
    type: lexicon
    category: ok
    severity: high
    terms: [d]
    fuzy: true
""")
    start = FIRST_CASE_LINE
    assert [(issue.line, issue.render().split(": ", 2)[1]) for issue in issues] == [
        (start + 1, "rules[1].type"),
        (start + 8, "rules[2].pattern"),
        (start + 9, "rules[3].id"),
        (start + 16, "rules[4].category"),
        (start + 24, "rules[5].fuzy"),
    ]


def test_pack_level_errors(tmp_path: Path) -> None:
    path = tmp_path / "top.yaml"
    path.write_text(HEADER.replace("title: Bad\n", "title: Bad\nauthor: me\n"), encoding="utf-8")
    with pytest.raises(RulePackError) as caught:
        load_pack(path)
    (issue,) = caught.value.issues
    assert issue.render() == f"{path}:4: author: unknown field 'author'; allowed fields here: " \
                             "categories, description, id, replaces, rules, title, version"

    path.write_text(HEADER + "  - id: broken\n    terms: [a, b\n    category: ok\n", encoding="utf-8")
    with pytest.raises(RulePackError, match="cannot be parsed") as caught:
        load_pack(path)
    (issue,) = caught.value.issues
    assert issue.line == FIRST_CASE_LINE + 2
    assert "YAML syntax" in issue.render()

    with pytest.raises(RulePackError, match="cannot read rule pack"):
        load_pack(tmp_path / "missing.yaml")


def test_a_category_titles_itself_per_page_language(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(MINE.replace("misc: {title: Miscellaneous}",
                                 "misc: {title: Miscellaneous, titles: {zh-CN: 杂项}}"), encoding="utf-8")
    assert category_titles([load_pack(path)])["misc"] == CategoryTitles("Miscellaneous", {"zh-CN": "杂项"})
    assert get_args(TitleLanguage) == LANGUAGES  # a pack titles its categories in the pages' languages
    assert category_titles([load_pack(SHIPPED[0])])["finance-promise"].by_language == {"zh-CN": "金融投资承诺"}
    path.write_text(MINE.replace("misc: {title: Miscellaneous}", "misc: {title: Miscellaneous, titles: {fr: Divers}}"),
                    encoding="utf-8")
    with pytest.raises(RulePackError) as raised:
        load_pack(path)
    [issue] = raised.value.issues
    assert (issue.line, format_field_path(issue.field)) == (5, "categories.misc.titles.fr"), issue.render()
