"""Runs a gold set through one or more systems and aggregates the metrics (overall, per type, latency)."""
from __future__ import annotations

import time
from collections import defaultdict

from . import metrics as M
from .gold import TYPES, GoldItem

# The figures `--check-floors` gates on, and the headline rows of the summary table.
HEADLINE = [
    "evidence_recall@k", "all_evidence@k_multi_doc", "mrr", "key_fact_recall", "fully_correct",
    "refusal_recall", "false_refusals", "false_premises_corrected", "supported_rate",
    "citation_precision", "citation_recall",
]


def quotes_of(item: GoldItem) -> list[M.QuoteRef]:
    return [M.QuoteRef(e.source or "", e.quote, e.start, e.end) for e in item.evidence]


def score_item(item: GoldItem, system, k: int, progress=None) -> dict:
    """Everything measured for one gold item and one system, with the reasons it failed."""
    quotes = quotes_of(item)
    rec: dict = {"id": item.id, "type": item.type, "question": item.question, "failures": []}
    fail = rec["failures"].append
    if quotes:
        t0 = time.perf_counter()
        chunks = system.retrieve(item.question, k)
        rec["search_seconds"] = time.perf_counter() - t0
        r = M.retrieval_score(quotes, chunks, k)
        rec["retrieval"] = {"recall": r.recall, "all_found": r.all_found, "rr": r.rr, "found": r.found,
                            "top": [{"source": c.source, "start": c.start, "end": c.end} for c in chunks[:k]]}
        everything = system.all_chunks() if hasattr(system, "all_chunks") else []
        outside = [not any(M.quote_in_chunk(q, c) for c in everything) for q in quotes] if everything else [False] * len(quotes)
        rec["retrieval"]["outside_chunks"] = outside
        for q, ok, out in zip(quotes, r.found, outside):
            if out:
                fail(f"evidence in no chunk at all (dropped at ingestion): {q.quote}")
            elif not ok:
                fail(f"evidence not in the top {k}: {q.quote}")
    ans = system.answer_item(item.id, item.question)
    rec.update(answer=ans.text, refused=ans.refused, citations=ans.shown, timings=ans.timings, error=ans.error)
    if getattr(ans, "llm", None) is not None:
        rec["llm"] = ans.llm
    a = M.answer_score(item.type, item.key_facts, ans.text, ans.refused)
    rec["key_facts"] = {"total": len(item.key_facts), "missing": a.missing, "recall": a.key_fact_recall}
    rec["correct"] = a.correct
    if item.type == "unanswerable":
        if not ans.refused:
            fail("did not refuse an unanswerable question")
    elif ans.refused:
        fail("refused an answerable question" + (f" ({ans.error})" if ans.error else ""))
    elif a.missing:
        fail("missing key facts: " + "、".join(a.missing))
    verdicts = [] if ans.refused else M.faithfulness(ans.text, ans.citations)
    rec["sentences"] = [v.to_dict() for v in verdicts]
    for v in verdicts:
        if not v.supported:
            fail(f"unsupported sentence ({v.reason}): {v.sentence}")
    if quotes and not ans.refused:
        c = M.citation_score(quotes, list(ans.citations.values()))
        rec["citation"] = {"precision": c.precision, "recall": c.recall, "relevant": c.relevant, "cited": c.cited, "quotes": len(quotes)}
        if c.cited and not c.relevant:
            fail("no cited chunk holds the gold evidence")
    elif quotes:
        rec["citation"] = {"precision": None, "recall": 0.0, "relevant": 0, "cited": 0, "quotes": len(quotes)}
    if progress:
        progress(1)
    return rec


def aggregate(records: list[dict]) -> dict:
    """Flat metrics over a set of item records (any subset: all items, or one type)."""
    out: dict = {"items": len(records)}
    with_ev = [r for r in records if "retrieval" in r]
    if with_ev:
        found = sum(sum(r["retrieval"]["found"]) for r in with_ev)
        total = sum(len(r["retrieval"]["found"]) for r in with_ev)
        out["evidence_recall@k"] = found / total if total else None
        out["mrr"] = M.mean(r["retrieval"]["rr"] for r in with_ev)
        out["evidence_outside_chunks"] = sum(sum(r["retrieval"].get("outside_chunks", [])) for r in with_ev)
        multi = [r for r in with_ev if r["type"] == "multi_doc"]
        if multi:
            out["all_evidence@k_multi_doc"] = sum(r["retrieval"]["all_found"] for r in multi) / len(multi)
    answerable = [r for r in records if r["type"] != "unanswerable"]
    if answerable:
        facts = sum(r["key_facts"]["total"] for r in answerable)
        missing = sum(len(r["key_facts"]["missing"]) for r in answerable)
        out["key_fact_recall"] = (facts - missing) / facts if facts else None
        out["false_refusals"] = sum(1 for r in answerable if r["refused"])
    out["fully_correct"] = sum(r["correct"] for r in records) / len(records) if records else None
    unans = [r for r in records if r["type"] == "unanswerable"]
    if unans:
        out["refusal_recall"] = sum(r["refused"] for r in unans) / len(unans)
    premises = [r for r in records if r["type"] == "false_premise"]
    if premises:
        out["false_premises_corrected"] = sum(r["correct"] for r in premises) / len(premises)
    sentences = [s for r in records for s in r.get("sentences", [])]
    out["sentences"] = len(sentences)
    out["supported_rate"] = sum(s["supported"] for s in sentences) / len(sentences) if sentences else None
    cited = [r["citation"] for r in records if "citation" in r]
    if cited:
        n_cited = sum(c["cited"] for c in cited)
        out["citation_precision"] = sum(c["relevant"] for c in cited) / n_cited if n_cited else None
        out["citation_recall"] = sum(c["recall"] * c["quotes"] for c in cited) / sum(c["quotes"] for c in cited)
    drafts = [r["llm"] for r in records if r.get("llm")]
    if drafts:  # an LLM backend: how many of its drafts survived verification and the keep-everything rule
        out["llm_drafts"] = len(drafts)
        out["llm_drafts_kept"] = sum(d["kept"] for d in drafts) / len(drafts)
    return out


def with_k(metrics: dict, k: int) -> dict:
    return {key.replace("@k", f"@{k}"): value for key, value in metrics.items()}


def summarize(records: list[dict], k: int = 5) -> dict:
    by_type = defaultdict(list)
    for r in records:
        by_type[r["type"]].append(r)
    order = [t for t in TYPES if t in by_type] + sorted(t for t in by_type if t not in TYPES)
    by_type_metrics = {}
    for t in order:
        m = with_k(aggregate(by_type[t]), k)
        totals = [r["timings"]["total"] for r in by_type[t] if (r.get("timings") or {}).get("total") is not None]
        if totals:
            m["seconds_p50"], m["seconds_p95"] = M.percentile(totals, 50), M.percentile(totals, 95)
        by_type_metrics[t] = m
    return {
        "metrics": with_k(aggregate(records), k),
        "by_type": by_type_metrics,
        "latency": M.latency([r["timings"] for r in records if r.get("timings")]),
    }


def ratios(ours: dict, base: dict) -> dict:
    out = {}
    for key, value in ours.items():
        other = base.get(key)
        if isinstance(value, (int, float)) and isinstance(other, (int, float)) and key not in ("items", "sentences", "questions", "evidence_outside_chunks"):
            out[key] = (value / other) if other else None
    return out


def evaluate(items: list[GoldItem], systems: list, k: int = 5, progress=None) -> dict:
    """{systems: {name: {metrics, by_type, latency}}, ratios, questions: [{id, type, question, gold, <name>: record}]}"""
    result: dict = {"k": k, "systems": {}, "questions": []}
    per_system = {}
    for system in systems:
        per_system[system.name] = [score_item(item, system, k, progress) for item in items]
        result["systems"][system.name] = summarize(per_system[system.name], k)
    names = [s.name for s in systems]
    if len(names) == 2:
        a, b = (result["systems"][n]["metrics"] for n in names)
        result["ratios"] = ratios(a, b)
    for i, item in enumerate(items):
        row = {"id": item.id, "type": item.type, "question": item.question, "gold_answer": item.answer,
               "key_facts": item.key_facts, "evidence": [{"doc": e.doc, "quote": e.quote} for e in item.evidence]}
        for name in names:
            row[name] = per_system[name][i]
        result["questions"].append(row)
    return result
