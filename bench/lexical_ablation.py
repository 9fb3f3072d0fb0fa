"""Lexical-only NCPQA ablations that need no embeddings: jieba vs character-bigram BM25, window size, the
document field and the region filter, over the product's own segmentation and chunking.

    python bench/lexical_ablation.py [--split dev] [--targets 120,300]

The dense half and the fusion are measured by bench/retrieval_ablation.py on the real index.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qa.evaluation import metrics as M  # noqa: E402
from qa.evaluation import ncpqa  # noqa: E402
from qa.index import Index, parent_key  # noqa: E402
from qa.ingest import build  # noqa: E402
from qa.lexical import LexicalIndex, char_bigrams, tokenize  # noqa: E402
from qa.loaders import load_bytes  # noqa: E402
from qa.query import analyze  # noqa: E402
from qa.retrieval import Filters, allowed_docs, expand_query  # noqa: E402
from qa.settings import Settings  # noqa: E402


def corpus(rows, target: int, maximum: int):
    # Every NCPQA document is one block of text, so the passage size is what applies to them.
    index = Index(Settings(data_dir=Path(tempfile.mkdtemp()), passage_target=target, passage_max=maximum))
    docs, chunks = [], []
    seen = set()
    for r in rows:
        if r["docid"] in seen:
            continue
        seen.add(r["docid"])
        src = load_bytes(r["context"].encode("utf-8"), f"{r['docid']}.txt", ncpqa.source_of(r["docid"]))
        try:
            built, _ = build(src, index)
        except Exception as exc:  # noqa: BLE001
            print("skip", r["docid"], exc, file=sys.stderr)
            continue
        for doc, cs in built:
            docs.append(doc)
            chunks += [(c, doc) for c in cs]
    return docs, chunks


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--split", default="dev")
    ap.add_argument("--targets", default="120,300")
    ap.add_argument("--variants", default="")
    args = ap.parse_args()
    rows_all = ncpqa.load()
    rows = ncpqa.split(rows_all, args.split)
    for target in map(int, args.targets.split(",")):
        t0 = time.perf_counter()
        docs, chunks = corpus(rows_all, target, int(target * 550 / 300))
        ids = [f"{c.doc_id}:{c.ord}" for c, _ in chunks]
        lex = LexicalIndex(ids, [tokenize(c.search_text(d)) for c, d in chunks], [char_bigrams(c.search_text(d)) for c, d in chunks],
                           [parent_key(c.doc_id, c.section) for c, _ in chunks])
        doc_idx = np.array([lex.parent_of[i] for i in range(len(ids))])
        chunk_doc = [d.doc_id for _, d in chunks]
        print(f"window {target}: {len(docs)} docs, {len(chunks)} chunks, built in {time.perf_counter() - t0:.0f}s", flush=True)
        variants = {
            "jieba": lambda q: lex.scores(tokenize(expand_query(q))),
            "bigram": lambda q: lex.bigram_scores(q),
            "bigram+doc(0.3)": lambda q: mm(lex.bigram_scores(q)) + 0.3 * mm(lex.parent_scores(q)),
            "bigram+doc(0.5)": lambda q: mm(lex.bigram_scores(q)) + 0.5 * mm(lex.parent_scores(q)),
            "jieba+bigram": lambda q: 0.5 * mm(lex.scores(tokenize(expand_query(q)))) + 0.5 * mm(lex.bigram_scores(q)),
        }
        for name, fn in variants.items():
            if args.variants and name not in args.variants.split(","):
                continue
            for region in (False, True):
                hits1 = hits5 = 0
                for r in rows:
                    scores = fn(r["question"]).astype(np.float64)
                    if region:
                        info = analyze(r["question"], docs)
                        allowed = {d.doc_id for d in allowed_docs(docs, Filters(), info)}
                        if len(allowed) < len(docs):
                            scores = np.where([cd in allowed for cd in chunk_doc], scores, -1e9)
                    top = np.argsort(-scores, kind="stable")[:5]
                    gold = M.QuoteRef(ncpqa.source_of(r["docid"]), r["answer"], r["start"], r["end"])
                    rank = next((i for i, j in enumerate(top, 1) if M.quote_in_chunk(gold, M.ChunkRef(chunks[j][1].source, chunks[j][0].text, chunks[j][0].start, chunks[j][0].end), long_spans=True)), None)
                    hits1 += rank == 1
                    hits5 += bool(rank)
                n = len(rows)
                print(f"  {name:18s} region filter {'on ' if region else 'off'} hit@1 {hits1 / n:.3f} hit@5 {hits5 / n:.3f}", flush=True)
        del doc_idx


def mm(x: np.ndarray) -> np.ndarray:
    lo, hi = float(x.min()), float(x.max())
    return (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)


if __name__ == "__main__":
    main()
