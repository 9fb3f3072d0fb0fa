"""Retrieval ablations: which stage loses NCPQA's outside documents, and what it costs on the seeds.

    QA_DATA_DIR=/tmp/x python bench/retrieval_ablation.py [--split dev|test|all] [--variants a,b] [--out FILE]

Every variant is the product's `qa.retrieval.search` under other settings (weights, region mode) or with the
question's regions removed; nothing is re-implemented here. NCPQA is the whole set (599 documents, every
question's document indexed, as `qa eval --dataset ncpqa` does), split into a dev and a test half by
`qa.evaluation.ncpqa.split` (seeded): choose settings on dev, report test. Seeds: evidence_recall@5 and MRR of
the gold set, retrieval only (no answers), on the seed evaluation index.

--chunk-target/--chunk-max build (or reuse) separate indexes with other window sizes.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from functools import lru_cache
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qa.evaluation import metrics as M  # noqa: E402
from qa.evaluation import ncpqa  # noqa: E402
from qa.evaluation.gold import load_gold, resolve_evidence  # noqa: E402
from qa.chunking import CHUNKING_VERSION  # noqa: E402
from qa.evaluation.run import DEFAULT_GOLD, eval_settings, mark_fresh, stale  # noqa: E402
from qa.ingest import ingest_paths  # noqa: E402
from qa.index import Index  # noqa: E402
from qa.query import analyze  # noqa: E402
from qa.retrieval import search  # noqa: E402
from qa.settings import Settings  # noqa: E402

def both(j: float, d: float, b: float = 0.0, p: float = 0.0, **extra) -> dict:
    """The same field weights for reports' windows and for text blocks' passages."""
    return {"bm25_weight": j, "dense_weight": d, "bigram_weight": b, "parent_weight": p, "passage_bm25_weight": j,
            "passage_dense_weight": d, "passage_bigram_weight": b, "passage_parent_weight": p, **extra}


# name → (settings overrides, drop the question's regions)
VARIANTS = {
    "before": (both(0.6, 0.4, region_mode="attribution"), False),  # the weights and filter before 2026-12-02
    "current": ({}, False),  # the defaults: windows 0.6/0.4 (jieba/dense), passages by their own weights
    "uniform-0.6/0.4": (both(0.6, 0.4), False),
    "no-region": (both(0.6, 0.4, region_mode="off"), True),
    "region-boost-only": (both(0.6, 0.4, region_mode="boost"), False),
    "bm25-jieba": (both(1, 0), False),
    "bm25-bigram": (both(0, 0, 1), False),
    "dense": (both(0, 1), False),
    "fusion-0.8/0.2": (both(0.8, 0.2), False),
    "fusion-0.4/0.6": (both(0.4, 0.6), False),
    "j.3+b.3+d.4": (both(0.3, 0.4, 0.3), False),
    "b.6+d.4": (both(0, 0.4, 0.6), False),
    "j.3+b.3+d.4+p.3": (both(0.3, 0.4, 0.3, 0.3), False),
    "b.6+d.4+p.3": (both(0, 0.4, 0.6, 0.3), False),
    "b1+p.5": (both(0, 0, 1, 0.5), False),
    "b.6+d.4+p.5": (both(0, 0.4, 0.6, 0.5), False),
    "j.3+b.3+d.4+p.5": (both(0.3, 0.4, 0.3, 0.5), False),
    "j.4+b.4+d.2+p.3": (both(0.4, 0.2, 0.4, 0.3), False),
    "j.45+b.15+d.4+p.2": (both(0.45, 0.4, 0.15, 0.2), False),
    "j.5+b.1+d.4+p.3": (both(0.5, 0.4, 0.1, 0.3), False),
    "j.6+d.4+p.3": (both(0.6, 0.4, 0, 0.3), False),
    # Adjacent hits merged into one unit (qa/retrieval.py merge_adjacent): off, unit size, pool, score of a unit.
    "merge-off": ({"merge_max": 0}, False),
    "merge-600": ({"merge_max": 600}, False),
    "merge-800": ({"merge_max": 800}, False),
    "merge-1100": ({"merge_max": 1100}, False),
    "merge-1500": ({"merge_max": 1500}, False),
    "merge-pool-6": ({"merge_pool": 6}, False),
    "merge-pool-15": ({"merge_pool": 15}, False),
    "merge-pool-20": ({"merge_pool": 20}, False),
    "merge-bonus-0": ({"passage_merge_bonus": 0.0}, False),
    "merge-bonus-0.25": ({"passage_merge_bonus": 0.25}, False),
    "merge-bonus-0.5": ({"passage_merge_bonus": 0.5}, False),
    "merge-bonus-0.75": ({"passage_merge_bonus": 0.75}, False),
    "merge-bonus-1": ({"passage_merge_bonus": 1.0}, False),
    "merge-window-bonus-0.5": ({"merge_bonus": 0.5}, False),
}


def with_settings(index: Index, overrides: dict) -> Index:
    clone = Index.__new__(Index)
    clone.__dict__.update(index.__dict__)
    clone.settings = index.settings.model_copy(update=overrides)
    return clone


def cached_queries(index: Index) -> None:
    """Every variant embeds the same questions: embed each once."""
    emb = index.embeddings
    if getattr(emb, "_ablation_cached", False):
        return
    emb.embed_query = lru_cache(maxsize=None)(emb.embed_query)
    emb._ablation_cached = True


def ncpqa_index(base: Settings, rows: list[dict], tag: str, ingest: bool = True) -> Index:
    index = Index(eval_settings(base, f"ncpqa-all-{tag}" if tag else "ncpqa-all"))
    if not ingest:  # as it is (an index made by earlier code, e.g. 120-character windows)
        return index
    t0 = time.perf_counter()
    stats = ncpqa.ingest(index, rows, force=stale(index))
    if not stats["failed"]:
        mark_fresh(index)
    print(f"ncpqa index: {index.catalog.stats()} ingest {time.perf_counter() - t0:.0f}s failed={stats['failed']}", file=sys.stderr)
    return index


def run_ncpqa(index: Index, rows: list[dict], overrides: dict, drop_regions: bool, k: int = 5, halves: bool = False,
              duplicates: dict[str, str] | None = None) -> dict:
    idx = with_settings(index, overrides)
    docs = idx.catalog.documents()
    ranks, top_chars = [], []
    t0 = time.perf_counter()
    for r in rows:
        info = analyze(r["question"], docs)
        if drop_regions:
            info.regions, info.unknown_regions = [], []
        hits = search(idx, r["question"], k=k, info=info)
        refs = [M.ChunkRef(h.doc.source, h.text, h.start, h.end) for h in hits]
        top_chars.append(len(hits[0].text) if hits else 0)  # a bigger unit is easier to credit: report its size
        canonical = (duplicates or {}).get(r["docid"])  # its document was deduplicated into this file's
        ranks.append(next((i for i, c in enumerate(refs, 1) if ncpqa.credited(r, c, canonical)), None))
    ms = 1000 * (time.perf_counter() - t0) / (len(rows) or 1)
    out = metrics(ranks) | {"ms": ms, "top1_chars": sum(top_chars) / (len(top_chars) or 1)}
    dev = {r["id"] for r in ncpqa.split(ncpqa.load(), "dev")}  # the whole set's halves
    if halves:  # the whole set: the halves too
        for part in ("dev", "test"):
            out[part] = metrics([x for r, x in zip(rows, ranks) if (r["id"] in dev) == (part == "dev")])
    return out


def metrics(ranks: list) -> dict:
    n = len(ranks) or 1
    return {"hit@1": sum(x == 1 for x in ranks) / n, "hit@5": sum(bool(x) for x in ranks) / n, "mrr": sum(1 / x for x in ranks if x) / n}


def run_seeds(index: Index, items, overrides: dict, drop_regions: bool, k: int = 5) -> dict:
    idx = with_settings(index, overrides)
    docs = idx.catalog.documents()
    found = total = 0
    rr = []
    for item in items:
        quotes = [M.QuoteRef(e.source or "", e.quote, e.start, e.end) for e in item.evidence]
        if not quotes:
            continue
        info = analyze(item.question, docs)
        if drop_regions:
            info.regions, info.unknown_regions = [], []
        hits = search(idx, item.question, k=k, info=info)
        refs = [M.ChunkRef(h.doc.source, h.text, h.start, h.end) for h in hits]
        score = M.retrieval_score(quotes, refs, k)
        found += sum(score.found)
        total += len(score.found)
        rr.append(score.rr)
    return {"evidence_recall@5": found / total, "mrr": sum(rr) / len(rr)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--split", default="dev", choices=["dev", "test", "all"])
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--chunk-target", type=int, default=None)
    ap.add_argument("--chunk-max", type=int, default=None)
    ap.add_argument("--no-seeds", action="store_true")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--tag", default=f"c{CHUNKING_VERSION}", help="names the NCPQA and seed index folders (one per chunking)")
    ap.add_argument("--no-ingest", action="store_true", help="use the NCPQA index as it is (no re-ingest by newer code)")
    ap.add_argument("--seeds-data", type=Path, default=None, help="data dir whose `qa eval` seed index to use (default: a seeds-<tag> index beside NCPQA's)")
    ap.add_argument("--limit", type=int, default=None, help="only the first N questions of the fixed shuffle (as `qa eval --limit N`), halves within them")
    ap.add_argument("--no-dedup-credit", action="store_true", help="credit only the gold document, not the one it was deduplicated into")
    args = ap.parse_args()
    base = Settings()
    if args.chunk_target:
        base = base.model_copy(update={"chunk_target": args.chunk_target, "chunk_max": args.chunk_max or int(args.chunk_target * 1.5)})
    rows_all = ncpqa.load()
    index = ncpqa_index(base, rows_all, args.tag, not args.no_ingest)
    # Halves by the whole set's split, so a question of the test half is never tuned on, whatever --limit.
    dev_ids = {r["id"] for r in ncpqa.split(rows_all, "dev")}
    rows = [r for r in ncpqa.subset(rows_all, args.limit) if args.split == "all" or (r["id"] in dev_ids) == (args.split == "dev")]
    duplicates = {} if args.no_dedup_credit else ncpqa.duplicates_of(index, rows_all)
    print(f"deduplicated documents: {len(duplicates)}, their questions: {sum(r['docid'] in duplicates for r in rows)} of {len(rows)}", file=sys.stderr)
    cached_queries(index)
    seeds = items = None
    if not args.no_seeds:
        seeds = Index(eval_settings(base.model_copy(update={"data_dir": args.seeds_data}), "seeds") if args.seeds_data
                      else eval_settings(base, f"seeds-{args.tag or 'c1'}"))
        ingest_paths(seeds, [base.seeds_dir])
        cached_queries(seeds)
        items = load_gold(DEFAULT_GOLD)
        resolve_evidence(items, seeds.catalog.sources(), seeds.catalog.file_text, str(DEFAULT_GOLD))
    table = {}
    for name in args.variants.split(","):
        overrides, drop = VARIANTS[name]
        row = {"ncpqa": run_ncpqa(index, rows, overrides, drop, halves=args.split == "all", duplicates=duplicates)}
        if seeds is not None:
            row["seeds"] = run_seeds(seeds, items, overrides, drop)
        table[name] = row
        n, sd = row["ncpqa"], row.get("seeds", {})
        halves = "".join(f" | {p} {n[p]['hit@1']:.3f}/{n[p]['hit@5']:.3f}" for p in ("dev", "test") if p in n)
        print(f"{name:28s} hit@1 {n['hit@1']:.3f} hit@5 {n['hit@5']:.3f} mrr {n['mrr']:.3f} {n['ms']:.0f}ms top-1 unit {n['top1_chars']:.0f} chars{halves} | "
              f"seeds R@5 {sd.get('evidence_recall@5', float('nan')):.3f} mrr {sd.get('mrr', float('nan')):.3f}", flush=True)
    result = {"split": args.split, "questions": len(rows), "chunk_target": base.chunk_target, "chunk_max": base.chunk_max,
              "defaults": {k: getattr(base, k) for k in ("bm25_weight", "dense_weight", "bigram_weight", "parent_weight", "region_mode")},
              "variants": table}
    if args.out:
        args.out.write_text(json.dumps(result, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
