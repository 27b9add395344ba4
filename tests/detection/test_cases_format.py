"""Format checks for the labelled detection cases (cases_zh.tsv, cases_en.tsv).

The cases measure recall and precision of the rule packs, so a malformed row would silently skew the numbers:
a stray tab shifts the text into the note, an unknown label is never counted, a duplicate counts one sentence
twice. These checks keep the files loadable by any plain TSV reader.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

HERE = Path(__file__).parent
HEADER = ("label", "text", "note")
LABELS = frozenset(
    {
        "finance-promise",
        "medical-claim",
        "absolute-terms",
        "ad-disclosure",
        "traffic-diversion",
        "tipping-inducement",
        "minors",
        "gambling-fraud",
        "rumor",
        "vulgarity",
        "insult-doxxing",
        "superstition",
        "clean",
    }
)
MIN_ZH_ROWS = 300


def _rows(path: Path) -> list[tuple[str, str, str]]:
    lines = path.read_text(encoding="utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    assert lines, f"{path.name} is empty"
    assert tuple(lines[0].split("\t")) == HEADER, f"{path.name}: header must be {HEADER}"
    rows: list[tuple[str, str, str]] = []
    for number, line in enumerate(lines[1:], start=2):
        fields = line.split("\t")
        assert len(fields) == 3, f"{path.name}:{number}: expected 3 tab-separated fields, got {len(fields)}"
        rows.append((fields[0], fields[1], fields[2]))
    return rows


def _case_files() -> list[Path]:
    return [path for path in (HERE / "cases_zh.tsv", HERE / "cases_en.tsv") if path.exists()]


@pytest.mark.parametrize("path", _case_files(), ids=lambda path: path.name)
def test_rows_are_well_formed(path: Path) -> None:
    rows = _rows(path)
    unknown = sorted({label for label, _, _ in rows} - LABELS)
    assert not unknown, f"{path.name}: unknown labels {unknown}"
    texts = [text.strip() for _, text, _ in rows]
    assert all(texts), f"{path.name}: empty text"
    duplicates = sorted(text for text, count in Counter(texts).items() if count > 1)
    assert not duplicates, f"{path.name}: duplicate texts {duplicates[:5]}"


def test_zh_is_large_and_covers_every_label() -> None:
    rows = _rows(HERE / "cases_zh.tsv")
    assert len(rows) >= MIN_ZH_ROWS
    # Every category needs violations and clean look-alikes, or its precision and recall are undefined.
    assert {label for label, _, _ in rows} == LABELS
