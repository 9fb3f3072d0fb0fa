"""Hybrid retrieval: BM25 fields and dense scores, min-max normalised and fused by weight, within region/year/kind filters.

Invariants: each chunk is fused with the weights of its kind (a report's window: jieba words and dense; a text
block's passage: character bigrams, dense and its parent), and each set of weights sums to 1. In an index without
passages the result is exactly the window-only fusion (no bigram candidates, no bigram scores). A region the question
names never removes a document whose own region is uncertain or whose text names that region. Adjacent chunks of one
document among the top fused hits are returned as one unit (merge_adjacent); with merging off, every hit is one chunk.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .gazetteer import Region, gazetteer
from .index import DocRegions, Index
from .lexical import tokenize
from .models import Document, Hit
from .query import QueryInfo, analyze, doc_region


@dataclass
class Filters:
    region: str | None = None
    year: int | None = None
    kind: str | None = None

    def empty(self) -> bool:
        return not (self.region or self.year or self.kind)


def resolve_region(name: str, docs: list[Document]) -> list[Region]:
    """A user-typed region (克拉玛依, 内蒙古, 呼和浩特市赛罕区) as the divisions that have reports."""
    indexed = {doc_region(d) for d in docs if d.province}
    found = []
    for _, candidates in gazetteer().mentions(name):
        found += [c for c in candidates if any(c.contains(r) for r in indexed)]
    exact = [doc_region(d) for d in docs if d.region == name]
    return list(dict.fromkeys(exact + found))


def allowed_docs(docs: list[Document], filters: Filters, info: QueryInfo | None, region_mode: str = "narrow",
                 regions_of: dict[str, tuple[bool, frozenset]] | None = None) -> list[Document]:
    """The documents a question may be answered from. An explicit filter is strict. Regions the question names
    leave out only documents certainly about somewhere else: with `regions_of` (doc_id → (attribution certain,
    regions its text names), Index.doc_regions), a document stays when its text names the region or its own
    region was guessed, not read from its title. Without it, attribution alone decides (as before)."""
    out = docs
    if filters.region:
        regions = resolve_region(filters.region, docs)
        out = [d for d in out if any(r.contains(doc_region(d)) for r in regions)]
    elif info and info.regions and region_mode in ("narrow", "attribution"):
        # Index.doc_regions answers "does its text name a place in these regions" by lookup (DocRegions.naming)
        naming = regions_of.naming(info.regions) if isinstance(regions_of, DocRegions) else None

        def about(d: Document) -> bool:
            if any(r.contains(doc_region(d)) for r in info.regions):
                return True
            if regions_of is None:
                return False
            certain, named = regions_of.get(d.doc_id, (False, frozenset()))
            if not certain:
                return True
            return d.doc_id in naming if naming is not None else any(r.contains(m) for m in named for r in info.regions)

        out = [d for d in out if about(d)] or out
    if filters.year:
        out = [d for d in out if d.year == filters.year]
    if filters.kind:
        out = [d for d in out if d.kind == filters.kind]
    return out


def _minmax(values: np.ndarray) -> np.ndarray:
    if values.size == 0:
        return values
    lo, hi = float(values.min()), float(values.max())
    return (values - lo) / (hi - lo) if hi > lo else np.ones_like(values) * (1.0 if hi > 0 else 0.0)


def search(
    index: Index,
    question: str,
    k: int | None = None,
    filters: Filters | None = None,
    per_doc: int = 0,
    info: QueryInfo | None = None,
) -> list[Hit]:
    """The best chunks for a question. per_doc > 0 returns the best `per_doc` chunks of every allowed document
    (for "which regions…" questions, which must look at every report, not a global top-k)."""
    s = index.settings
    k = k or s.top_k
    filters = filters or Filters()
    docs = index.catalog.documents()
    info = info or analyze(question, docs)
    # "attribution" narrows by the documents' attributed regions alone: the behaviour before 2026-12-02, kept for ablations.
    regions_of = index.doc_regions() if info.regions and s.region_mode == "narrow" and not filters.region else None
    allowed = allowed_docs(docs, filters, info, s.region_mode, regions_of)
    if not allowed:
        return []
    doc_by_id = {d.doc_id: d for d in allowed}
    restricted = len(allowed) < len(docs)

    lexical = index.lexical()
    expanded = expand_query(question)
    window_w, passage_w = weights(s)
    passages = lexical.passages is not None and bool(lexical.passages.any())
    use = [window_w[f] or (passages and passage_w[f]) for f in range(4)]  # which fields count anywhere
    bm25_all = lexical.scores(tokenize(expanded)) if use[0] else np.zeros(len(lexical.ids), dtype=np.float32)
    bigram_all = lexical.bigram_scores(expanded) if use[2] else None
    parent_all = lexical.parent_scores(expanded) if use[3] else None
    candidates: dict[str, float] = {}
    # Ids only, and only the allowed documents': reading every chunk's text per question was a full scan of the catalogue.
    allowed_chunks = index.chunk_doc_ids([d.doc_id for d in allowed] if restricted else None) if per_doc or restricted else None
    if per_doc:
        fields = (bm25_all, bigram_all, parent_all)
        every = None if restricted else index.chunk_arrays(lexical)
        if every is not None and all(d in doc_by_id for d in every.doc_ids):  # every chunk, as arrays kept per version
            return _per_document(index, lexical, question, every.rows, doc_by_id, fields, info, per_doc, regions_of, restricted, every)
        return _per_document(index, lexical, question, [row for row in allowed_chunks if row[1] in doc_by_id], doc_by_id, fields,
                             info, per_doc, regions_of, restricted)
    else:
        if restricted:  # rank the allowed chunks only, instead of walking the whole corpus's ranking past the others
            order = np.sort(np.array([lexical.position[cid] for cid, _ in allowed_chunks if cid in lexical.position], dtype=np.int64))
            order = order[np.argsort(-bm25_all[order], kind="stable")]
        else:
            order = np.argsort(-bm25_all)
        for field in (bm25_all, bigram_all):
            if field is None:
                continue
            taken = 0
            ranked = order if field is bm25_all else (order[np.argsort(-field[order], kind="stable")] if restricted else np.argsort(-field))
            for i in ranked:
                if taken >= s.lexical_candidates or field[i] <= 0:
                    break
                candidates.setdefault(lexical.ids[i], float(bm25_all[i]))
                taken += 1

    query_vec = index.embeddings.embed_query(question)
    dense = index.dense_search(query_vec, s.dense_candidates, [d.doc_id for d in allowed] if restricted else None,
                               [cid for cid, _ in allowed_chunks] if restricted else None)
    for cid in dense:
        candidates.setdefault(cid, float(bm25_all[lexical.position[cid]]) if cid in lexical.position else 0.0)
    missing = [cid for cid in candidates if cid not in dense]
    dense.update(index.dense_scores(query_vec, missing))

    # Which document each candidate belongs to; only catalogued chunks count (a stray vector is not a hit).
    chunks = {c.chunk_id: c for c in index.catalog.chunks(list(candidates))}
    doc_of = {cid: c.doc_id for cid, c in chunks.items()}
    ids = [cid for cid in candidates if doc_of.get(cid) in doc_by_id]
    if not ids:
        return []
    bm25 = np.array([candidates[c] for c in ids], dtype=np.float32)
    dn = np.array([dense.get(c, 0.0) for c in ids], dtype=np.float32)
    fields = [_minmax(bm25), _minmax(dn)]
    for field in (bigram_all, parent_all):
        fields.append(_minmax(np.array([field[lexical.position[c]] if c in lexical.position else 0.0 for c in ids], dtype=np.float32))
                      if field is not None else np.zeros(len(ids), dtype=np.float32))
    is_passage = np.array([bool(lexical.passages[lexical.position[c]]) if passages and c in lexical.position else False for c in ids])
    # Each chunk is scored by the weights of its kind: a report's window or a text block's passage (see weights()).
    fused = sum(np.where(is_passage, passage_w[f], window_w[f]) * fields[f] for f in range(4))
    scored = [(float(score) * _boost(doc_by_id[doc_of[cid]], info, s.region_mode, regions_of), cid, float(b), float(d)) for cid, score, b, d in zip(ids, fused, bm25, dn)]
    scored.sort(key=lambda t: -t[0])
    kept = scored[: max(k, s.merge_pool) if s.merge_max else k]
    hits = [Hit(chunk=chunks[cid], doc=doc_by_id[doc_of[cid]], score=score, bm25=b, dense=d) for score, cid, b, d in kept if cid in chunks]
    if s.merge_max:
        passage_ids = {cid for cid, p in zip(ids, is_passage) if p}

        def bonus(h: Hit) -> float:
            return s.passage_merge_bonus if h.chunk.chunk_id in passage_ids else s.merge_bonus

        hits = merge_adjacent(hits, s.merge_max, bonus, index.catalog.file_text)[:k]
        # Merging left fewer than k units: the next candidates follow as they are (each scores below every unit).
        hits += [Hit(chunk=chunks[cid], doc=doc_by_id[doc_of[cid]], score=score, bm25=b, dense=d)
                 for score, cid, b, d in scored[len(kept):][: k - len(hits)] if cid in chunks]
    for rank, h in enumerate(hits, 1):
        h.rank = rank
    return hits


def _per_document(index: Index, lexical, question: str, rows: list[tuple[str, str]], doc_by_id: dict[str, Document], fields: tuple,
                  info: QueryInfo, per_doc: int, regions_of: dict | None, restricted: bool, every=None) -> list[Hit]:
    """search(per_doc=n): every chunk of every allowed document is a candidate (nothing is cut before fusion); the
    best n of each document are returned, best first.

    Scored as the global search scores its candidates — the same fields, normalisation, weights, boosts and stable
    order, so the same hits with the same scores — but over arrays instead of one Python tuple per chunk: at 2,000
    reports (30,536 candidates) the loops cost ~450 ms of CPU per question (profiled 2026-12-04)."""
    s = index.settings  # `lexical` is the snapshot the fields were scored on (a newer one may have appeared since)
    bm25_all, bigram_all, parent_all = fields
    window_w, passage_w = weights(s)
    passages = lexical.passages is not None and bool(lexical.passages.any())
    if not rows:
        return []
    # `every` (Index.chunk_arrays): these rows' ids, lexical positions and document codes, computed once per version
    ids = every.ids if every is not None else [cid for cid, _ in rows]
    lex = every.lexical_rows if every is not None else np.fromiter((lexical.position.get(cid, -1) for cid in ids), dtype=np.int64, count=len(ids))
    known = lex >= 0

    def field_values(values: np.ndarray | None) -> np.ndarray:
        out = np.zeros(len(ids), dtype=np.float32)
        if values is not None:
            out[known] = values[lex[known]]
        return out

    query_vec = index.embeddings.embed_query(question)
    dense = index.dense_search(query_vec, s.dense_candidates, list(doc_by_id) if restricted else None, ids if restricted else None)
    dn = index.dense_array(query_vec, ids, every.matrix_rows if every is not None else None)
    if dense:  # the nearest chunks keep the similarity the vector store gave them, as in the global search
        at = {cid: i for i, cid in enumerate(ids) if cid in dense}
        dn[[at[c] for c in dense if c in at]] = [v for c, v in dense.items() if c in at]
    bm25 = field_values(bm25_all)
    values = [_minmax(bm25), _minmax(dn), _minmax(field_values(bigram_all)) if bigram_all is not None else np.zeros(len(ids), dtype=np.float32),
              _minmax(field_values(parent_all)) if parent_all is not None else np.zeros(len(ids), dtype=np.float32)]
    is_passage = np.zeros(len(ids), dtype=bool)
    if passages:
        is_passage[known] = lexical.passages[lex[known]]
    fused = sum(np.where(is_passage, passage_w[f], window_w[f]) * values[f] for f in range(4))
    if every is not None:
        doc_ids, of_doc = every.doc_ids, every.of_doc
    else:
        doc_ids = list(dict.fromkeys(d for _, d in rows))
        doc_index = {d: i for i, d in enumerate(doc_ids)}
        of_doc = np.fromiter((doc_index[d] for _, d in rows), dtype=np.int64, count=len(rows))
    boosts = np.array([_boost(doc_by_id[d], info, s.region_mode, regions_of) for d in doc_ids], dtype=np.float64)
    scores = fused.astype(np.float64) * boosts[of_doc]  # float(score) * boost, as the global search computes it
    order = np.argsort(-scores, kind="stable")
    # the first per_doc of each document in that order
    by_doc = order[np.argsort(of_doc[order], kind="stable")]
    group_start = np.r_[0, np.flatnonzero(np.diff(of_doc[by_doc])) + 1]
    rank_in_doc = np.arange(len(by_doc)) - np.repeat(group_start, np.diff(np.r_[group_start, len(by_doc)]))
    keep = np.zeros(len(ids), dtype=bool)
    keep[by_doc[rank_in_doc < per_doc]] = True
    kept = order[keep[order]]
    chunks = {c.chunk_id: c for c in index.catalog.chunks([ids[i] for i in kept])}
    hits = [Hit(chunk=chunks[ids[i]], doc=doc_by_id[rows[i][1]], score=float(scores[i]), bm25=float(bm25[i]), dense=float(dn[i]))
            for i in kept if ids[i] in chunks]
    for rank, h in enumerate(hits, 1):
        h.rank = rank
    return hits


def merge_adjacent(hits: list[Hit], max_chars: int, bonus: float | Callable[[Hit], float] = 0.0, file_text=None) -> list[Hit]:
    """Hits that are consecutive chunks of one document (chunk order) become one retrieval unit of at most
    `max_chars` characters of source, best first. A unit's score is its best part's plus `bonus` (a number, or a
    function of the best part) times the sum of the others' (bonus 0: the best part alone, so a unit ranks where its
    best part did and nothing moves down; 1: the sum); its `chunk` is the best part, `parts` all of them in
    document order, `text` the source from the first part's start to the last part's end (`file_text(source)`;
    without it, the parts' texts with their overlaps removed). A single hit is returned as it is."""
    by_doc: dict[str, list[Hit]] = {}
    for h in hits:
        by_doc.setdefault(h.doc.doc_id, []).append(h)
    units: list[Hit] = []
    texts: dict[str, str | None] = {}
    for group in by_doc.values():
        group.sort(key=lambda h: h.chunk.ord)
        runs: list[list[Hit]] = [[group[0]]]
        for h in group[1:]:
            run = runs[-1]
            if h.chunk.ord == run[-1].chunk.ord + 1 and max(h.chunk.end, run[-1].chunk.end) - run[0].chunk.start <= max_chars:
                run.append(h)
            else:
                runs.append([h])
        for run in runs:
            if len(run) == 1:
                units.append(run[0])
                continue
            best = max(run, key=lambda h: h.score)
            parts = [h.chunk for h in run]
            start, end = parts[0].start, max(c.end for c in parts)
            source = best.doc.source
            if file_text is not None and source not in texts:
                texts[source] = file_text(source)
            full = texts.get(source)
            if full is not None and full[parts[0].start : parts[0].end] == parts[0].text:
                text = full[start:end]
            else:
                text, reach = parts[0].text, parts[0].end
                for c in parts[1:]:
                    text += ("\n" if c.start > reach else "") + c.text[max(0, reach - c.start):]
                    reach = max(reach, c.end)
            score = best.score + (bonus(best) if callable(bonus) else bonus) * sum(h.score for h in run if h is not best)
            units.append(Hit(chunk=best.chunk, doc=best.doc, score=score, bm25=best.bm25, dense=best.dense,
                             parts=parts, text=text, start=start, end=end))
    units.sort(key=lambda h: -h.score)
    return units


def weights(s) -> tuple[list[float], list[float]]:
    """(window, passage) weights of the fields [jieba words, dense, character bigrams, parent], each summing to 1
    (so the two kinds of chunk compete on one scale in a mixed corpus)."""
    def norm(w: list[float]) -> list[float]:
        total = sum(w)
        return [x / total for x in w] if total else w

    return (norm([s.bm25_weight, s.dense_weight, s.bigram_weight, s.parent_weight]),
            norm([s.passage_bm25_weight, s.passage_dense_weight, s.passage_bigram_weight, s.passage_parent_weight]))


# Reports speak of their own future as 下一步/重点工作/工作安排; users say 明年, 打算, 接下来.
_FUTURE = re.compile(r"明年|下一步|今后|接下来|打算|准备|计划做|将要")


def expand_query(question: str) -> str:
    if _FUTURE.search(question):
        question += " 下一步 重点工作 工作安排 计划"
    return question


def _boost(doc: Document, info: QueryInfo, region_mode: str = "narrow", regions_of: dict | None = None) -> float:
    boost = 1.0
    # Only a certain attribution earns the region boost: on NCPQA, boosting guessed attributions cost hit@5 (dev).
    certain = regions_of is None or regions_of.get(doc.doc_id, (False,))[0]
    if region_mode != "off" and certain and info.regions and any(r == doc_region(doc) for r in info.regions):
        boost *= 1.2  # 内蒙古 asks first about the autonomous region's own reports, then its cities
    if info.years and doc.year in info.years:
        boost *= 1.15
    if info.wants_plan and doc.kind == "plan":
        boost *= 1.1
    return boost
