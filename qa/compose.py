"""Composition: evidence → answer text with [n] markers.

The extractive composer needs no LLM and is faithful by construction: it writes only sentences taken from
the evidence, grouped by region and year. "Which regions…" and comparisons are answered from the facts
table, across every report.
"""
from __future__ import annotations

import operator
import re
from dataclasses import dataclass, field

from .evidence import Evidence, trim
from .models import KIND_LABELS, Chunk, Citation, Document
from .query import QueryInfo, doc_region

_THRESHOLD = re.compile(r"(达到|达|超过|高于|不低于|低于|不足|以上|以下|为)?\s*(\d+(?:\.\d+)?)\s*%\s*(以上|以下)?")


@dataclass
class Citations:
    """Numbers citations in order of first use; one number per chunk."""

    items: list[Citation] = field(default_factory=list)
    _by_chunk: dict[str, int] = field(default_factory=dict)

    def cite(self, chunk: Chunk, doc: Document, quote: str, start: int, end: int) -> str:
        if chunk.chunk_id not in self._by_chunk:
            n = len(self.items) + 1
            self._by_chunk[chunk.chunk_id] = n
            self.items.append(
                Citation(
                    n=n, chunk_id=chunk.chunk_id, doc_id=doc.doc_id, source=doc.source, title=doc.title,
                    region=doc.region, province=doc.province, city=doc.city, district=doc.district,
                    year=doc.year, kind=doc.kind, section=chunk.section, text=chunk.text,
                    quote=quote, start=start, end=end,
                )
            )
        return f"[{self._by_chunk[chunk.chunk_id]}]"

    def cite_evidence(self, ev: Evidence) -> str:
        return self.cite(ev.chunk, ev.doc, ev.text, ev.start, ev.end)


def where(doc: Document) -> str:
    """How an answer names a source: 克拉玛依市(2024年工作报告)."""
    if doc.kind == "article" or not doc.year:
        return f"{doc.region}({KIND_LABELS.get(doc.kind, doc.kind)})"
    return f"{doc.region}({doc.year}年{KIND_LABELS.get(doc.kind, doc.kind)})"


def end_sentence(text: str) -> str:
    text = text.rstrip("，,；;：: ")
    return text if text.endswith(("。", "！", "？", "”")) else text


def sentences_answer(evidence: list[Evidence], terms: dict[str, float], cites: Citations, max_items: int, keep_figures: bool = False) -> str:
    """One line per source, each line its trimmed evidence sentences with their citations."""
    groups: dict[str, list[Evidence]] = {}
    for ev in evidence[:max_items]:
        groups.setdefault(ev.doc.doc_id, []).append(ev)
    lines = []
    for evs in groups.values():
        evs.sort(key=lambda e: e.start)
        line = where(evs[0].doc) + ":"
        for ev in evs:
            line += end_sentence(trim(ev.text, terms, keep_figures=keep_figures)) + cites.cite_evidence(ev)  # every sentence carries its source
        lines.append(line)
    return "\n".join(lines)


# ---------------------------------------------------------------- facts: which regions / comparisons

def indicator_matches(question_indicator: str, fact: dict) -> bool:
    fi = fact["indicator"]
    if question_indicator in fi:
        return True
    # 成功率 stated after 调解… in its sentence still answers 调解成功率.
    return fi in question_indicator and question_indicator[:2] in fact["sentence"]


def threshold(question: str) -> tuple[float, object] | None:
    m = _THRESHOLD.search(question)
    if not m or not (m.group(1) or m.group(3)):
        # A bare figure (「即办率80.36%是哪里的?」) names a fact to find, not a bar to clear: no 符合条件 framing.
        return None
    value = float(m.group(2))
    word = (m.group(1) or "") + (m.group(3) or "")
    if any(w in word for w in ("超过", "高于", "以上")):
        return value, operator.gt if "超过" in word or "高于" in word else operator.ge
    if any(w in word for w in ("低于", "不足", "以下")):
        return value, operator.lt
    return value, operator.ge


def facts_answer(question: str, indicator: str, facts: list[dict], docs: dict[str, Document], chunks: dict[str, Chunk], cites: Citations) -> str | None:
    rows = [f for f in facts if indicator_matches(indicator, f) and f["doc_id"] in docs]
    if not rows:
        return None
    seen, unique = set(), []
    for f in sorted(rows, key=lambda f: (docs[f["doc_id"]].region, -(docs[f["doc_id"]].year or 0))):
        key = (f["doc_id"], f["value"], f["status"])
        if key not in seen:
            seen.add(key)
            unique.append(f)

    def cite(f: dict) -> str:
        return cites.cite(chunks[f["chunk_id"]], docs[f["doc_id"]], f["sentence"], f["start"], f["end"])

    def line(f: dict) -> str:
        return f"{where(docs[f['doc_id']])}:{end_sentence(_clause(f))}{cite(f)}。"

    results = [f for f in unique if f["status"] == "result"]
    goals = [f for f in unique if f["status"] == "goal"]
    limit = threshold(question)
    out = []
    if limit:
        value, op = limit
        meets = [f for f in results if op(f["value"], value)]
        misses = [f for f in results if not op(f["value"], value)]
        if meets:
            names = "、".join(dict.fromkeys(docs[f["doc_id"]].region for f in meets))
            out.append(f"{indicator}符合条件的有{names}{''.join(dict.fromkeys(cite(f) for f in meets))}。")
            out += [line(f) for f in meets]
        else:
            out.append(f"没有找到{indicator}符合该条件的记录{''.join(cite(f) for f in results[:3])}。" if results else "")
        if misses:
            out.append("未达到:" + ";".join(f"{where(docs[f['doc_id']])}为{f['raw']}{cite(f)}" for f in misses) + "。")
    else:
        out += [line(f) for f in results]
    if goals:
        out.append("仅为目标(计划或要求,并非已实现):" + ";".join(f"{where(docs[f['doc_id']])}提出{_clause(f)}{cite(f)}" for f in goals) + "。")
    text = "\n".join(dict.fromkeys(o for o in out if o))  # two figures of one clause make one line, printed once
    return text or None


def _clause(fact: dict) -> str:
    """The clause of the sentence that states the figure."""
    sentence = fact["sentence"]
    pos = sentence.find(fact["raw"])
    start = max(sentence.rfind(sep, 0, pos) for sep in "，,；;。") + 1 if pos >= 0 else 0
    end_candidates = [sentence.find(sep, pos) for sep in "，,；;。" if sentence.find(sep, pos) >= 0]
    end = min(end_candidates) if end_candidates else len(sentence)
    return sentence[start:end].strip()


def compare_answer(info: QueryInfo, indicator: str | None, facts: list[dict], evidence: list[Evidence], docs: dict[str, Document], chunks: dict[str, Chunk], cites: Citations, terms) -> str | None:
    """Side by side, one line per region, with the figures' years; then which is higher when both are percentages."""
    lines, values = [], []
    for region in info.regions:
        in_region = {d for d, doc in docs.items() if region.contains(doc_region(doc))}
        exact = {d for d in in_region if doc_region(docs[d]) == region} or in_region
        fact = None
        if indicator:
            rows = [f for f in facts if f["doc_id"] in exact and f["status"] == "result" and indicator_matches(indicator, f)]
            rows.sort(key=lambda f: -(docs[f["doc_id"]].year or 0))
            fact = rows[0] if rows else None
        if fact:
            doc = docs[fact["doc_id"]]
            mark = cites.cite(chunks[fact["chunk_id"]], doc, fact["sentence"], fact["start"], fact["end"])
            lines.append(f"{where(doc)}:{end_sentence(_clause(fact))}{mark}。")
            values.append((doc.region, fact["value"], mark))
            continue
        evs = [e for e in evidence if e.doc.doc_id in exact]
        if evs:
            ev = evs[0]
            lines.append(f"{where(ev.doc)}:{end_sentence(trim(ev.text, terms))}{cites.cite_evidence(ev)}。")
        else:
            lines.append(f"文档中没有找到{region.name}的相关内容。")
    if len(values) >= 2:
        best = max(values, key=lambda v: v[1])
        if sum(1 for v in values if v[1] == best[1]) == 1:
            lines.append(f"相比之下,{best[0]}最高{''.join(v[2] for v in values)}。")
    return "\n".join(lines) if values or any("[" in line for line in lines) else None
