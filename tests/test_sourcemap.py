"""Reading YAML and TOML with the line of every key and item (livewatch.sourcemap)."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from livewatch.issues import FieldPath
from livewatch.registration.loader import load_file
from livewatch.registration.models import RegistrationContext
from livewatch.sourcemap import (
    MAX_DOCUMENT_BYTES,
    DocumentSyntaxError,
    LineMap,
    parse_toml,
    parse_yaml,
    read_document,
)


def _write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def _syntax_error(path: Path) -> DocumentSyntaxError:
    with pytest.raises(DocumentSyntaxError) as info:
        read_document(path)
    return info.value


def _lines(lines: LineMap) -> dict[FieldPath, int]:
    return dict(lines.lines)


def _alias_bomb(levels: int = 9, width: int = 9) -> str:
    """The "billion laughs" document: each level lists the previous one ``width`` times (width**levels leaves)."""
    out = ["lol: &l0 [" + ", ".join(['"lol"'] * width) + "]"]
    for level in range(1, levels):
        out.append(f"l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * width) + "]")
    return "\n".join(out) + "\n"


# -- YAML ---------------------------------------------------------------------------------------------------


def test_yaml_timestamps_stay_strings() -> None:
    data, _ = parse_yaml(
        "start: 2026-12-01 09:00\n"
        "end: 2026-12-01T11:30:00+08:00\n"
        "utc: 2026-12-01T03:30:00Z\n"
        "frac: 2026-12-01t09:00:00.5\n"
        "day: 2026-12-01\n"
        "quoted: '2026-12-01T09:00'\n"
    )
    assert data == {
        "start": "2026-12-01 09:00",
        "end": "2026-12-01T11:30:00+08:00",
        "utc": "2026-12-01T03:30:00Z",
        "frac": "2026-12-01t09:00:00.5",
        "day": "2026-12-01",
        "quoted": "2026-12-01T09:00",
    }
    assert all(isinstance(value, str) for value in data.values())


def test_yaml_other_scalars_keep_their_types() -> None:
    data, _ = parse_yaml("n: 42\nf: 1.5\nb: true\nnothing: null\ns: hello\nlist: [1, two]\n")
    assert data == {"n": 42, "f": 1.5, "b": True, "nothing": None, "s": "hello", "list": [1, "two"]}


def test_yaml_lines_for_nested_mappings_and_list_items() -> None:
    text = (
        "# a comment first\n"  # 1
        "id: demo\n"  # 2
        "organizer:\n"  # 3
        "  name: Org\n"  # 4
        "  contact:\n"  # 5
        "    email: a@b.example\n"  # 6
        "streams:\n"  # 7
        "  - url: https://a.example/1\n"  # 8
        "    label: main\n"  # 9
        "\n"  # 10
        "  - url: https://a.example/2\n"  # 11
        "topics:\n"  # 12
        "  - finance\n"  # 13
        "  - health\n"  # 14
        "handles: {douyin: '@x', weibo: y}\n"  # 15
        "packs: [default, extra]\n"  # 16
    )
    data, lines = parse_yaml(text)
    assert data["streams"][1]["url"] == "https://a.example/2"
    assert _lines(lines) == {
        (): 2,
        ("id",): 2,
        ("organizer",): 3,
        ("organizer", "name"): 4,
        ("organizer", "contact"): 5,
        ("organizer", "contact", "email"): 6,
        ("streams",): 7,
        ("streams", 0): 8,
        ("streams", 0, "url"): 8,
        ("streams", 0, "label"): 9,
        ("streams", 1): 11,
        ("streams", 1, "url"): 11,
        ("topics",): 12,
        ("topics", 0): 13,
        ("topics", 1): 14,
        ("handles",): 15,
        ("handles", "douyin"): 15,
        ("handles", "weibo"): 15,
        ("packs",): 16,
        ("packs", 0): 16,
        ("packs", 1): 16,
    }
    assert lines.duplicates == []


def test_line_of_falls_back_to_nearest_written_ancestor() -> None:
    _, lines = parse_yaml("\n\nevents:\n  - id: a\n    organizer:\n      name: x\n")
    assert lines.line_of(("events", 0, "organizer", "name")) == 6
    assert lines.line_of(("events", 0, "organizer", "contact")) == 5
    assert lines.line_of(("events", 0, "streams", 0, "url")) == 4
    assert lines.line_of(("events", 3)) == 3
    assert lines.line_of(("nowhere",)) == 3  # the root node starts at its first key
    assert LineMap().line_of(("anything", 1)) == 1


def test_yaml_top_level_list() -> None:
    data, lines = parse_yaml("- id: a\n- id: b\n  title: B\n")
    assert data == [{"id": "a"}, {"id": "b", "title": "B"}]
    assert lines.line_of((1, "title")) == 3
    assert lines.line_of((1,)) == 2


def test_yaml_duplicate_keys_are_recorded() -> None:
    text = (
        "id: first\n"  # 1
        "organizer:\n"  # 2
        "  name: A\n"  # 3
        "  name: B\n"  # 4
        "title: T\n"  # 5
        "id: second\n"  # 6
        "streams:\n"  # 7
        "  - url: https://a.example\n"  # 8
        "  - url: https://b.example\n"  # 9
    )
    data, lines = parse_yaml(text)
    assert lines.duplicates == [(("organizer", "name"), 3, 4), (("id",), 1, 6)]
    # The first occurrence keeps its line; YAML itself keeps the last value, which is why we must say so.
    assert lines.line_of(("id",)) == 1
    assert data["id"] == "second"
    assert data["organizer"] == {"name": "B"}
    # The same key in two list items is no duplicate.
    assert lines.line_of(("streams", 1, "url")) == 9


def test_yaml_duplicate_key_reaches_the_loader(tmp_path: Path) -> None:
    path = _write(tmp_path, "dup.yaml", "id: a\ntitle: T\ntitle: U\n")
    registrations, issues = load_file(path, RegistrationContext())
    assert registrations == []
    dup = [issue for issue in issues if issue.code == "duplicate-key"]
    assert len(dup) == 1
    assert (dup[0].line, dup[0].field) == (3, ("title",))
    assert "'title' is written twice (first on line 2)" in dup[0].message


def test_yaml_merge_key_overrides_are_not_duplicates() -> None:
    data, lines = parse_yaml("base: &b\n  a: 1\n  c: 2\nx:\n  <<: *b\n  a: 5\n")
    assert data["x"] == {"a": 5, "c": 2}
    assert lines.duplicates == []
    assert lines.line_of(("x", "a")) == 6


def test_billion_laughs_parses_fast() -> None:
    started = time.perf_counter()
    data, lines = parse_yaml(_alias_bomb())
    elapsed = time.perf_counter() - started
    assert elapsed < 2.0
    # Aliases are shared, not copied, and the line map walks each node once.
    assert data["l8"][0] is data["l7"]
    assert len(lines.lines) < 200
    assert lines.line_of(("l8", 3, 2, 1)) == 9  # inside an alias: the line of the nearest walked node


def test_billion_laughs_through_the_loader(tmp_path: Path) -> None:
    path = _write(tmp_path, "bomb.yaml", _alias_bomb())
    started = time.perf_counter()
    registrations, issues = load_file(path, RegistrationContext())
    assert time.perf_counter() - started < 2.0
    assert registrations == []
    assert issues  # rejected as an invalid event, not by exhausting memory


def test_yaml_syntax_error_has_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "bad.yaml", "id: a\ntitle: T\n  kind: forum\n")
    err = _syntax_error(path)
    assert err.line == 3
    assert err.message.startswith("YAML syntax: ")
    assert str(err) == err.message


def test_yaml_unclosed_flow_sequence(tmp_path: Path) -> None:
    err = _syntax_error(_write(tmp_path, "bad.yaml", "id: a\ntopics: [finance,\n\nnotes: x\n"))
    assert err.line >= 2
    assert "YAML syntax" in err.message


def test_yaml_several_documents_are_refused(tmp_path: Path) -> None:
    err = _syntax_error(_write(tmp_path, "two.yaml", "id: a\n---\nid: b\n"))
    assert err.line == 2
    assert "expected a single document" in err.message


def test_yaml_python_tags_are_refused(tmp_path: Path) -> None:
    err = _syntax_error(_write(tmp_path, "evil.yaml", "id: !!python/object/apply:os.system ['true']\n"))
    assert err.line == 1
    assert "python/object/apply" in err.message


def test_empty_yaml_document() -> None:
    data, lines = parse_yaml("# only a comment\n")
    assert data is None
    assert lines.lines == {}


def test_non_utf8_input_has_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "latin1.yaml", "id: a\ntitle: ok\nnotes: caf\u00e9\n".encode("latin-1"))
    err = _syntax_error(path)
    assert err.line == 3
    assert err.message == "file is not UTF-8 text; save it as UTF-8"


def test_gbk_input_has_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "gbk.toml", 'id = "a"\n\ntitle = "星河科技"\n'.encode("gbk"))
    assert _syntax_error(path).line == 3


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = _write(tmp_path, "bom.yaml", b"\xef\xbb\xbfid: a\ntitle: \xe6\x98\x9f\n")
    document = read_document(path)
    assert document.data == {"id": "a", "title": "星"}
    assert document.lines.line_of(("title",)) == 2
    assert document.raw.startswith(b"\xef\xbb\xbf")


def test_non_utf8_after_bom_has_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "bom-bad.yaml", b"\xef\xbb\xbfa\n\n\xff\n")
    assert _syntax_error(path).line == 3


def test_oversized_file_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "big.yaml", b"#" * MAX_DOCUMENT_BYTES + b"\n")
    err = _syntax_error(path)
    assert err.line == 1
    assert err.message == f"file is larger than {MAX_DOCUMENT_BYTES} bytes; split it"


def test_file_at_the_limit_is_read(tmp_path: Path) -> None:
    path = _write(tmp_path, "edge.yaml", b"a: 1\n#" + b"x" * (MAX_DOCUMENT_BYTES - 7) + b"\n")
    assert path.stat().st_size == MAX_DOCUMENT_BYTES
    assert read_document(path).data == {"a": 1}


@pytest.mark.parametrize(
    ("name", "text"), [("deep.yaml", "a: " + "[" * 100_000), ("deep.toml", "a = " + "[" * 100_000)]
)
def test_deep_nesting_is_a_syntax_error(tmp_path: Path, name: str, text: str) -> None:
    err = _syntax_error(_write(tmp_path, name, text))
    assert err.line == 1


def test_missing_file_is_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_document(tmp_path / "missing.yaml")


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("a.yaml", "x: 1\n", {"x": 1}),
        ("a.yml", "x: 1\n", {"x": 1}),
        ("a.YAML", "x: 1\n", {"x": 1}),
        ("a.toml", "x = 1\n", {"x": 1}),
        ("a.TOML", "x = 1\n", {"x": 1}),
    ],
)
def test_read_document_picks_parser_by_suffix(tmp_path: Path, name: str, content: str, expected: Any) -> None:
    document = read_document(_write(tmp_path, name, content))
    assert document.data == expected
    assert document.path == tmp_path / name
    assert document.raw == content.encode()


# -- TOML ---------------------------------------------------------------------------------------------------

TOML_DOC = '''\
title = "x"
a.b.c = 1
"quoted key" = 2
'single.quoted' = 3
inline = { x = 1, y = { z = 2 } }
notes = """
fake = 1
[fake]
[[fake]]
"""
lit = \'\'\'
also = 2
\'\'\'
one_line = """not = multi"""
after = true

[server]
host = "h"
  [ server . tls ]  # comment
on = true

[[events]]
id = "one"
[[events.participants]]
name = "p0"
[[events.participants]]
name = "p1"
[events.organizer]
name = "o"

[[events]]
id = "two"
[[events.participants]]
name = "q0"
[ "we ird" . 'k.dot' ]
v = 1
'''


def test_toml_line_map() -> None:
    data, lines = parse_toml(TOML_DOC)
    assert data["notes"] == "fake = 1\n[fake]\n[[fake]]\n"
    assert data["events"][1]["participants"][0]["name"] == "q0"
    assert data["we ird"] == {"k.dot": {"v": 1}}
    assert _lines(lines) == {
        ("title",): 1,
        ("a",): 2,
        ("a", "b"): 2,
        ("a", "b", "c"): 2,
        ("quoted key",): 3,
        ("single.quoted",): 4,
        ("inline",): 5,
        ("notes",): 6,
        ("lit",): 11,
        ("one_line",): 14,
        ("after",): 15,
        ("server",): 17,
        ("server", "host"): 18,
        ("server", "tls"): 19,
        ("server", "tls", "on"): 20,
        ("events",): 22,
        ("events", 0): 22,
        ("events", 0, "id"): 23,
        ("events", 0, "participants"): 24,
        ("events", 0, "participants", 0): 24,
        ("events", 0, "participants", 0, "name"): 25,
        ("events", 0, "participants", 1): 26,
        ("events", 0, "participants", 1, "name"): 27,
        ("events", 0, "organizer"): 28,
        ("events", 0, "organizer", "name"): 29,
        ("events", 1): 31,
        ("events", 1, "id"): 32,
        ("events", 1, "participants"): 33,
        ("events", 1, "participants", 0): 33,
        ("events", 1, "participants", 0, "name"): 34,
        ("we ird", "k.dot"): 35,
        ("we ird", "k.dot", "v"): 36,
    }


def test_toml_inline_table_children_point_at_their_key() -> None:
    _, lines = parse_toml(TOML_DOC)
    assert lines.line_of(("inline", "y", "z")) == 5
    assert lines.line_of(("events", 1, "participants", 0, "handles", "douyin")) == 33
    assert lines.line_of(("events", 0, "streams")) == 22


def test_toml_array_of_tables_counts_per_parent() -> None:
    text = (
        "[[a]]\n"  # 1
        "[[a.b]]\n"  # 2
        "[[a.b]]\n"  # 3
        "[[a.b]]\n"  # 4
        "[[a]]\n"  # 5
        "[[a.b]]\n"  # 6
        "[[c.d]]\n"  # 7  (no [[c]]: c is a plain table)
        "[[c.d]]\n"  # 8
    )
    data, lines = parse_toml(text)
    assert [len(item["b"]) for item in data["a"]] == [3, 1]
    assert lines.line_of(("a", 0, "b", 2)) == 4
    assert lines.line_of(("a", 1)) == 5
    assert lines.line_of(("a", 1, "b", 0)) == 6
    assert ("a", 1, "b", 1) not in lines.lines
    assert lines.line_of(("c", "d", 1)) == 8


def test_toml_dotted_keys_inside_array_tables() -> None:
    text = '[[streams]]\nurl = "https://a.example"\nextra.label = "x"\n\n[[streams]]\nurl = "https://b.example"\n'
    data, lines = parse_toml(text)
    assert data["streams"][0]["extra"] == {"label": "x"}
    assert lines.line_of(("streams", 0, "extra", "label")) == 3
    assert lines.line_of(("streams", 1, "url")) == 6


def test_toml_multiline_literal_string_with_header_text() -> None:
    text = "a = '''\n[[events]]\nid = \"fake\"\n'''\nb = 1\n"
    data, lines = parse_toml(text)
    assert data == {"a": '[[events]]\nid = "fake"\n', "b": 1}
    assert _lines(lines) == {("a",): 1, ("b",): 5}


def test_toml_multiline_string_inside_array() -> None:
    text = 'terms = [\n  """\nb = 9\n""",\n]\nb = 1\n'
    data, lines = parse_toml(text)
    assert data == {"terms": ["b = 9\n"], "b": 1}
    assert lines.line_of(("b",)) == 6


def test_toml_triple_quote_inside_single_line_string() -> None:
    text = "a = 'say \"\"\" hi'\nb = 1\n"
    _, lines = parse_toml(text)
    assert lines.line_of(("b",)) == 2


def test_toml_syntax_error_has_line(tmp_path: Path) -> None:
    err = _syntax_error(_write(tmp_path, "bad.toml", 'id = "a"\n\ntitle = \n'))
    assert err.line == 3
    assert err.message.startswith("TOML syntax: ")


def test_toml_datetimes_are_values() -> None:
    data, _ = parse_toml("start = 2026-12-14T19:30:00\n")
    assert data["start"] == datetime(2026, 12, 14, 19, 30)  # noqa: DTZ001 - a TOML local date-time is naive
