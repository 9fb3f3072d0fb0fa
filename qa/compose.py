"""Composition: evidence → answer text with [n] markers.

The extractive composer needs no LLM and is faithful by construction: it writes only sentences taken from
the evidence, grouped by region and year. "Which regions…" and comparisons are answered from the facts
table, across every report.
"""
from __future__ import annotations

import operator
import re
from dataclasses import dataclass, field

from .chunking import sentences
from .evidence import Evidence, trim
from .models import KIND_LABELS, Chunk, Citation, Document, Fact, TableRow
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


# ---------------------------------------------------------------- facts: which regions / each / compare / trend

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


@dataclass
class FactsAnswer:
    text: str
    table: list[TableRow]


class FactWriter:
    """Writes fact rows as answer lines and table rows, citing each fact's chunk once."""

    def __init__(self, docs: dict[str, Document], chunks: dict[str, Chunk], cites: Citations, notes: dict[str, str] | None = None):
        self.docs, self.chunks, self.cites, self.notes = docs, chunks, cites, notes or {}
        self.table: list[TableRow] = []

    def cite(self, f: Fact) -> str:
        return self.cites.cite(self.chunks[f.chunk_id], self.docs[f.doc_id], f.sentence, f.start, f.end)

    def where(self, f: Fact) -> str:
        doc = self.docs[f.doc_id]
        label = where(doc)
        if f.scope and not re.search(r"^全|级", f.scope) and f.scope not in doc.region:  # a district a city's report quotes
            label += f"其中{f.scope}"
        return label

    def row(self, f: Fact) -> None:
        doc = self.docs[f.doc_id]
        mark = self.cite(f)
        n = int(mark.strip("[]"))
        if not any(r.n == n and r.raw == f.raw for r in self.table):
            self.table.append(TableRow(region=doc.region, year=doc.year, indicator=f.indicator, value=f.value, raw=f.raw, unit=f.unit,
                                       status=f.status if doc.kind != "plan" else "plan" if f.status == "goal" else f.status,
                                       scope=f.scope, n=n, kind=doc.kind))

    def line(self, f: Fact) -> str:
        self.row(f)
        note = self.notes.get(f.doc_id)
        prefix = f"({note})" if note else ""
        return f"{self.where(f)}{prefix}:{end_sentence(clause(f))}{self.cite(f)}。"


def facts_answer(question: str, label: str, facts: list[Fact], w: FactWriter) -> str | None:
    """«哪些地区…» and «各地…分别»: one line per report; with a bar (达到100%), who clears it and who does not."""
    if not facts:
        return None
    results = [f for f in facts if f.status == "result"]
    goals = [f for f in facts if f.status == "goal"]
    limit = threshold(question)
    out = []
    if limit:
        value, op = limit
        meets = [f for f in results if op(f.value, value)]
        misses = [f for f in results if not op(f.value, value)]
        if meets:
            names = "、".join(dict.fromkeys(w.docs[f.doc_id].region for f in meets))
            out.append(f"{label}符合条件的有{names}{''.join(dict.fromkeys(w.cite(f) for f in meets))}。")
            out += [w.line(f) for f in meets]
        elif results:
            out.append(f"没有找到{label}符合该条件的记录{''.join(w.cite(f) for f in results[:3])}。")
        if misses:
            for f in misses:
                w.row(f)
            out.append("未达到:" + ";".join(f"{w.where(f)}为{f.raw}{w.cite(f)}" for f in misses) + "。")
    else:
        out += [w.line(f) for f in results]
        numeric = [f for f in results if f.value is not None]
        units = {f.unit for f in numeric}
        regions = {w.docs[f.doc_id].region for f in numeric}
        if len(numeric) >= 2 and len(units) == 1 and len(regions) == len(numeric) and re.search(r"最|谁|排序|排名|比较|对比", question):
            top = max(numeric, key=lambda f: f.value)
            if sum(1 for f in numeric if f.value == top.value) == 1:
                word = "最靠前" if top.measure == "rank" else "最高" if top.unit == "%" else "最多"
                if top.measure == "rank":
                    top = min(numeric, key=lambda f: f.value)
                out.append(f"其中{w.docs[top.doc_id].region}{word}({top.raw}){w.cite(top)}。")
    if goals:
        for f in goals:
            w.row(f)
        out.append("仅为目标(计划或要求,并非已实现):" + ";".join(f"{w.where(f)}提出{clause(f)}{w.cite(f)}" for f in goals) + "。")
    text = "\n".join(dict.fromkeys(o for o in out if o))  # two figures of one clause make one line, printed once
    return text or None


def trend_answer(facts: list[Fact], w: FactWriter) -> str | None:
    """One region over its years: a line per year, then the direction from the first year to the last."""
    results = sorted([f for f in facts if f.status == "result" and w.docs[f.doc_id].year], key=lambda f: w.docs[f.doc_id].year)
    if len({w.docs[f.doc_id].year for f in results}) < 2:
        return None
    lines = [w.line(f) for f in results]
    first, last = results[0], results[-1]
    if first.unit == last.unit and first.value != last.value:
        word = ("上升" if last.value > first.value else "下降") if first.unit == "%" else ("增加" if last.value > first.value else "减少")
        if first.measure == "rank":
            word = "名次提前" if last.value < first.value else "名次后退"
        lines.append(f"从{w.docs[first.doc_id].year}年的{first.raw}{w.cite(first)}到{w.docs[last.doc_id].year}年的{last.raw}{w.cite(last)},{word}。")
    return "\n".join(lines)


def clause(fact: Fact) -> str:
    """The clause of the sentence that states the figure."""
    sentence = fact.sentence
    pos = sentence.find(fact.raw)
    start = max(sentence.rfind(sep, 0, pos) for sep in "，,；;。") + 1 if pos >= 0 else 0
    end_candidates = [sentence.find(sep, pos) for sep in "，,；;。" if sentence.find(sep, pos) >= 0]
    end = min(end_candidates) if end_candidates else len(sentence)
    text = sentence[start:end].strip()
    if len(text) < 8 and fact.context and fact.context not in text:  # «审结115件» needs «收到行政复议申请206件» before it
        text = sentence[max(0, sentence.find(fact.context)) if fact.context in sentence else start:end].strip()
    return text


def compare_answer(info: QueryInfo, facts: list[Fact], evidence: list[Evidence], w: FactWriter, terms) -> str | None:
    """Side by side, one line per region, with the figures' years; then which is higher when both have one."""
    lines, values = [], []
    docs = w.docs
    for region in info.regions:
        in_region = {d for d, doc in docs.items() if region.contains(doc_region(doc))}
        exact = {d for d in in_region if doc_region(docs[d]) == region} or in_region
        rows = [f for f in facts if f.doc_id in exact and f.status == "result"]
        rows.sort(key=lambda f: -(docs[f.doc_id].year or 0))
        fact = rows[0] if rows else None
        if fact:
            lines.append(w.line(fact))
            values.append((docs[fact.doc_id].region, fact, w.cite(fact)))
            continue
        evs = [e for e in evidence if e.doc.doc_id in exact] if not facts else []  # with facts, a sentence without one is no answer
        if facts and not evs:
            lines.append(f"文档中没有找到{region.name}的该项数据。")
        elif evs:
            ev = evs[0]
            lines.append(f"{where(ev.doc)}:{end_sentence(trim(ev.text, terms))}{w.cites.cite_evidence(ev)}。")
        else:
            lines.append(f"文档中没有找到{region.name}的相关内容。")
    if len(values) >= 2 and len({v[1].unit for v in values}) == 1:
        if values[0][1].measure == "rank":
            best = min(values, key=lambda v: v[1].value)
            word = "名次更靠前"
        else:
            best = max(values, key=lambda v: v[1].value)
            word = "更高" if values[0][1].unit == "%" else "更多"
        if sum(1 for v in values if v[1].value == best[1].value) == 1:
            lines.append(f"相比之下,{best[0]}{word}{''.join(v[2] for v in values)}。")
    return "\n".join(lines) if values or any("[" in line for line in lines) else None


# ---------------------------------------------------------------- sections and metadata

_ITEM_NUMBER = re.compile(r"^\s*\d{1,2}\.\s")


def section_answer(doc: Document, section, chunks: list[Chunk], cites: Citations) -> str | None:
    """Every item of a report's section, numbered, each cited: «存在的不足» is answered with all of them."""
    if not section.items:
        return None
    lines = []
    for item in section.items:
        chunk = next((c for c in chunks if c.start <= item.start < c.end), None)
        if chunk is None or item.head not in chunk.text:
            chunk = next((c for c in chunks if item.start <= c.start < max(item.end, item.start + 1)), chunk)
        if chunk is None:
            continue
        if item.head in chunk.text:
            pos = chunk.start + chunk.text.index(item.head)
            text, quote = item.head, (item.head, pos, pos + len(item.head))
        else:  # a heading alone on its line: its words, then the first sentence under it
            spans = sentences(chunk.text)
            first = chunk.text[spans[0][0]:spans[0][1]].strip() if spans else chunk.text[:60]
            text, quote = f"{item.head.rstrip('。')}:{first}", (first, chunk.start, chunk.start + len(first))
        mark = cites.cite(chunk, doc, *quote)
        lines.append(f"{len(lines) + 1}. {end_sentence(text).rstrip('。')}{mark}")
    if not lines:
        return None
    first_mark = re.search(r"\[\d+\]$", lines[0]).group(0)
    title = f"「{section.title}」" if section.level < 9 else ""  # a paragraph found by its opening words has no heading
    return f"{where(doc)}{title}{first_mark}:\n" + "\n".join(lines)


def metadata_answer(doc: Document, field_name: str, text: str, chunks: list[Chunk], cites: Citations) -> str | None:
    """«哪一年的报告», «何时发布», «哪个部门发布» from the document's own title, date and issuer lines, cited."""
    if not chunks:
        return None
    window = text[max(0, doc.start - 1500):min(len(text), doc.end + 300)]
    offset = max(0, doc.start - 1500)
    line, value = None, None
    if field_name == "published":
        # The page's own date when it has one, else the signature date line at the end of the document.
        if doc.published:
            y, m, d = (int(x) for x in doc.published.split("-"))
            pattern = re.compile(rf"{y}\s*[-年./]\s*0?{m}\s*[-月./]\s*0?{d}日?")
            if found := pattern.search(window):
                line, value = found, found.group(0)
        if line is None:
            from .segment import date_line

            for found in re.finditer(r"^[^\n]{6,20}$", text[doc.start:min(len(text), doc.end + 300)], re.M):
                if date_line(found.group(0)):
                    line, offset, value = found, doc.start, found.group(0)
    elif field_name == "department":
        if found := re.search(r"(发布机构|发文机关|发布单位|来源|信息来源)\s*[:：]?\s*([\u4e00-\u9fff]{2,20}?)(?=\s|$|发布|日期|时间)", window, re.M):
            line, value = found, found.group(2)
    if line is None and doc.title and (pos := window.find(doc.title)) >= 0:
        line = re.search(re.escape(doc.title), window[pos:])
        offset += pos
        value = None
    if line is None:
        return None
    quote, start = line.group(0), offset + line.start()
    chunk = chunks[0]
    cites.items.append(Citation(
        n=len(cites.items) + 1, chunk_id=chunk.chunk_id, doc_id=doc.doc_id, source=doc.source, title=doc.title, region=doc.region,
        province=doc.province, city=doc.city, district=doc.district, year=doc.year, kind=doc.kind, section="", text=quote,
        quote=quote, start=start, end=start + len(quote)))
    mark = f"[{len(cites.items)}]"
    label = KIND_LABELS.get(doc.kind, doc.kind)
    if field_name == "year" and doc.year:
        return f"这是{doc.region}{doc.year}年的{label}:{quote}{mark}。"
    if field_name == "published" and value:
        return f"{doc.region}的这份{label}发布于{quote.rstrip('日')}{'日' if quote.endswith('日') else ''}{mark}。"
    if field_name == "department" and value:
        return f"{doc.region}的这份{label}由{value}发布{mark}。"
    return f"{doc.region}的{label}:{quote}{mark}。"
