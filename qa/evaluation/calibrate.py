"""Calibrating the faithfulness threshold (the share of a sentence's character bigrams found in its cited chunks).

Labelled pairs from the seeds, none of them tuned on:
  supported     gold answer sentences (written by people, paraphrased) with the chunks holding their gold
                evidence; and the pipeline's own answer sentences with the chunks they cite.
  unsupported   the same gold sentences with the two best BM25 chunks for the question from *other* documents
                (on topic, wrong source); and answer sentences with the citations of a different question.
For each threshold: accuracy, and precision/recall of the "supported" verdict, for the bigram test alone and for
the full test (numbers and named items too). The threshold kept maximises balanced accuracy of the full test (ties: the highest).

    .venv/bin/python -m qa.evaluation.calibrate [--gold eval/gold.jsonl]
"""
from __future__ import annotations

import argparse
import random
import sys

from . import metrics as M
from .gold import load_gold, resolve_evidence
from .runner import quotes_of
from .systems import Ours

THRESHOLDS = [round(0.05 * i, 2) for i in range(1, 20)]


def pairs(index, items) -> list[tuple[str, list[M.ChunkRef], bool, str]]:
    from ..lexical import tokenize
    from ..verify import split_sentences

    ours = Ours(index)

    all_chunks = [ours._ref(c, d) for d in index.catalog.documents() for c in index.catalog.chunks(doc_id=d.doc_id)]
    by_id = {c.chunk_id: c for c in all_chunks}
    lexical = index.lexical()
    out = []
    answered = []
    for item in items:
        quotes = quotes_of(item)
        if not quotes:
            continue
        holding = [c for c in all_chunks if any(M.quote_in_chunk(q, c) for q in quotes)]
        if not holding:
            continue  # evidence outside every chunk (e.g. a title or a date line): nothing to label
        gold_docs = {(c.source, c.meta) for c in holding}
        # On topic, wrong source: the best BM25 chunks for the question (no region filter) from other documents.
        scores = lexical.scores(tokenize(item.question))
        ranked = sorted(range(len(lexical.ids)), key=lambda i: -scores[i])
        others = [by_id[lexical.ids[i]] for i in ranked[:60] if lexical.ids[i] in by_id
                  and (by_id[lexical.ids[i]].source, by_id[lexical.ids[i]].meta) not in gold_docs][:2]
        for s in split_sentences(item.answer):
            out.append((s, holding, True, "gold/evidence"))
            if others:
                out.append((s, others, False, "gold/other-doc"))
        a = ours.answer(item.question)
        if not a.refused:
            answered.append(a)
    rng = random.Random(0)
    for i, a in enumerate(answered):
        other = answered[(i + 1 + rng.randrange(len(answered) - 1)) % len(answered)] if len(answered) > 1 else None
        for s in split_sentences(a.text):
            refs = [int(n) for n in M.MARKER.findall(s)]
            cited = [a.citations[n] for n in refs if n in a.citations]
            if not cited:
                continue
            out.append((s, cited, True, "answer/own-citations"))
            if other and other.citations:
                wrong = [c for c in other.citations.values() if c.chunk_id not in {x.chunk_id for x in cited}]
                if wrong:
                    out.append((s, wrong[:2], False, "answer/other-question"))
    return out


def table(labelled) -> list[dict]:
    rows = []
    for t in THRESHOLDS:
        row = {"threshold": t}
        for name, verdict in (("bigram", lambda s, c: M.bigram_overlap(M.strip_markers(s), "\n".join(x.text + "\n" + x.meta for x in c)) >= t),
                              ("full", lambda s, c: M.support(s, c, t).supported)):
            tp = fp = tn = fn = 0
            for s, cited, label, _ in labelled:
                v = verdict(s, cited)
                tp += v and label
                fp += v and not label
                tn += (not v) and (not label)
                fn += (not v) and label
            pos, neg = tp + fn, tn + fp
            row[name] = {"accuracy": (tp + tn) / max(1, pos + neg), "balanced": 0.5 * (tp / max(1, pos) + tn / max(1, neg)),
                         "precision": tp / max(1, tp + fp), "recall": tp / max(1, pos)}
        rows.append(row)
    return rows


def main(argv=None) -> int:
    from ..settings import Settings
    from .run import DEFAULT_GOLD, seed_index

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gold", default=str(DEFAULT_GOLD))
    args = ap.parse_args(argv)
    index = seed_index(Settings())
    items = load_gold(args.gold)
    resolve_evidence(items, index.catalog.sources(), index.catalog.file_text)
    labelled = pairs(index, items)
    counts = {}
    for *_, label, kind in labelled:
        counts[kind] = counts.get(kind, 0) + 1
    print("pairs:", counts)
    overlaps = {}
    for s, cited, label, kind in labelled:
        overlaps.setdefault(kind, []).append(M.bigram_overlap(M.strip_markers(s), "\n".join(x.text + "\n" + x.meta for x in cited)))
    for kind, vals in overlaps.items():
        q = [M.percentile(vals, p) for p in (5, 25, 50, 75, 95)]
        print(f"overlap {kind:24s} p5/p25/p50/p75/p95 = " + " / ".join(f"{v:.2f}" for v in q))
    rows = table(labelled)
    print(f"{'t':>5} | {'bigram acc':>10} {'bal':>5} {'prec':>5} {'rec':>5} | {'full acc':>8} {'bal':>5} {'prec':>5} {'rec':>5}")
    for r in rows:
        b, f = r["bigram"], r["full"]
        print(f"{r['threshold']:5.2f} | {b['accuracy']:10.3f} {b['balanced']:5.3f} {b['precision']:5.3f} {b['recall']:5.3f} | "
              f"{f['accuracy']:8.3f} {f['balanced']:5.3f} {f['precision']:5.3f} {f['recall']:5.3f}")
    best = max(rows, key=lambda r: (round(r["full"]["balanced"], 3), r["threshold"]))  # ties: the strictest
    print(f"best balanced accuracy (full test): threshold {best['threshold']} ({best['full']['balanced']:.3f}); in use: {M.SUPPORT_THRESHOLD}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
