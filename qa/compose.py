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
from .evidence import Evidence, coverage, trim
from .models import KIND_LABELS, Chunk, Citation, Document, Fact, TableRow
from .query import QueryInfo, doc_region

_THRESHOLD = re.compile(r"(达到|达|超过|高于|不低于|低于|不足|以上|以下|为|是)?\s*(\d+(?:\.\d+)?)\s*%\s*(以上|以下)?")
# «是100%» asks for that figure exactly; «达到100%» sets a bar


@dataclass
class Citations:
    """Numbers citations in order of first use; one number per chunk."""

    items: list[Citation] = field(default_factory=list)
    _by_chunk: dict[str, int] = field(default_factory=dict)

    def cite(self, chunk: Chunk, doc: Document, quote: str, start: int, end: int) -> str:
        """The marker for `chunk`; a chunk cited again for another sentence keeps its number and adds that quote to
        its `quotes` (the UI highlights every sentence an answer rests on, not only the first)."""
        if chunk.chunk_id in self._by_chunk:
            c = self.items[self._by_chunk[chunk.chunk_id] - 1]
            if quote and quote != c.quote and quote not in c.quotes:
                c.quotes.append(quote)
        else:
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
    """How an answer names a source: 克拉玛依市(2024年工作报告), a department's own: 株洲市税务局(2022年工作报告)."""
    name = doc.region + (doc.department if doc.department and doc.department not in doc.region else "")
    if doc.kind == "article" or not doc.year:
        return f"{name}({KIND_LABELS.get(doc.kind, doc.kind)})"
    return f"{name}({doc.year}年{KIND_LABELS.get(doc.kind, doc.kind)})"


def inner_marks(text: str, mark: str) -> str:
    """A quote of two sentences («…平台改造升级。该平台入选…») cites its source after each: every sentence of an
    answer carries its own citation (the verifier checks them one by one)."""
    return re.sub(r"(?<=[。！？])(?=[^\s\[”])", lambda _: mark, text)


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
            mark = cites.cite_evidence(ev)
            line += inner_marks(end_sentence(trim(ev.text, terms, keep_figures=keep_figures)), mark) + mark  # every sentence carries its source
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
    if word == "是":
        return value, operator.eq
    if any(w in word for w in ("超过", "高于", "以上")):
        return value, operator.gt if "超过" in word or "高于" in word else operator.ge
    if any(w in word for w in ("低于", "不足", "以下")):
        return value, operator.lt
    return value, operator.ge


# A time limit: «0.5个工作日», «半个工作日», «3天», «一日»; never a date («11月30日») or part of a larger number.
_DURATION = re.compile(r"(?<![月\d.])(半|\d+(?:\.\d+)?|[一二两三四五六七八九十]{1,3})\s*个?\s*(?:工作日|天|日)(?![报刊期])")


def durations(text: str) -> list[float]:
    """Every time limit a sentence states, in days (a working day counts as a day)."""
    from .query import _cn_small

    out = []
    for m in _DURATION.finditer(text):
        n = m.group(1)
        out.append(0.5 if n == "半" else float(n) if n[0].isdigit() else _cn_small(n.replace("两", "二")))
    return out


def duration_bar(question: str) -> tuple[float, object] | None:
    """«哪些地方开办企业半天就能办完?» sets a bar on a time limit: at most half a day (at least, with 超过/以上)."""
    found = durations(question)
    if not found:
        return None
    return found[0], operator.ge if re.search(r"超过|以上|多于|不少于", question) else operator.le


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

    def line(self, f: Fact, whole: bool = False) -> str:
        """«where: the clause with the figure[n]»; whole: the sentence, cut to its clauses with figures."""
        self.row(f)
        note = self.notes.get(f.doc_id)
        prefix = f"({note})" if note else ""
        text = trim(f.sentence, {}, keep_figures=True) if whole else clause(f)
        return f"{self.where(f)}{prefix}:{end_sentence(text).rstrip('。')}{self.cite(f)}。"


def facts_answer(question: str, label: str, facts: list[Fact], w: FactWriter, extra: list[str] | None = None) -> str | None:
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
        out += extra or []
        latest: dict[str, Fact] = {}  # one figure per region for «哪里最…»: its newest report's
        for f in results:
            region = w.docs[f.doc_id].region
            if f.value is None:
                continue
            old = latest.get(region)
            newer = old is None or (w.docs[f.doc_id].year or 0) > (w.docs[old.doc_id].year or 0)
            # «由上年的3.1%降至2.3%»: in one sentence the later figure is the year's own
            later = old is not None and old.doc_id == f.doc_id and old.sentence == f.sentence and f.sentence.find(f.raw) > f.sentence.find(old.raw)
            if newer or later:
                latest[region] = f
        numeric = list(latest.values())
        units = {f.unit for f in numeric}
        if len(numeric) >= 2 and len(units) == 1 and re.search(r"最|谁|排序|排名|比较|对比", question):
            low = bool(re.search(r"最(低|少|短|小)", question)) != (numeric[0].measure == "rank")  # rank 1 is the top
            top = (min if low else max)(numeric, key=lambda f: f.value)
            if sum(1 for f in numeric if f.value == top.value) == 1:
                if top.measure == "rank":
                    word = "最靠后" if low != (numeric[0].measure == "rank") else "最靠前"
                else:
                    word = ("最低" if low else "最高") if top.unit == "%" else ("最少" if low else "最多")
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
    lines = [w.line(f, whole=True) for f in results]
    first, last = results[0], results[-1]
    kind = lambda f: set(re.findall(r"新增|累计|年内|全年|当年|共", f.context))  # noqa: E731 - 76项 new in 2022 is no fall from 528 in total
    if first.unit == last.unit and first.value != last.value and kind(first) == kind(last):
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


# A sentence that states a figure and carries this share of the question's content stands in for a region whose
# figure the facts table did not match (paraphrased indicators). Calibrated on eval/dev.jsonl (各地/compare items).
EVIDENCE_FIGURE_COVERAGE = 0.4
_BARE_FIGURE = re.compile(r"\d+(?:\.\d+)?\s*(?:余|多)?\s*(?:万|亿)?\s*(?:%|[件个项人名次家场所批条部支本份篇起户天日倍期]|万元|亿元|个工作日|工作日|小时|学时)")


def has_figure(text: str) -> bool:
    return bool(_BARE_FIGURE.search(re.sub(r"(?:19|20)\d{2}\s*年|〔\d+〕\d+号", "", text)))


def evidence_rows(evidence: list[Evidence], covered: set[str], w: "FactWriter", terms, allowed: dict[str, Document],
                  known: dict[str, float] | None = None) -> list[str]:
    """One line per region the facts did not cover: its best sentence that states a figure and is about the question.
    `known` is each sentence's coverage of `terms` (the words some report uses) when the caller has it already."""
    lines, seen = [], set(covered)
    if known is None:
        known = {ev.key: coverage(ev.text, terms, ev.chunk.section) for ev in evidence}
    for ev in sorted(evidence, key=lambda e: -known[e.key]):
        region = ev.doc.region
        if region in seen or ev.doc.doc_id not in allowed or known[ev.key] < EVIDENCE_FIGURE_COVERAGE or not has_figure(ev.text):
            continue
        seen.add(region)
        mark = w.cites.cite_evidence(ev)
        w.table.append(TableRow(region=region, year=ev.doc.year, indicator="", value=None, raw=trim(ev.text, terms, keep_figures=True)[:60],
                                unit="", status="result", n=int(mark.strip("[]")), kind=ev.doc.kind))
        lines.append(f"{where(ev.doc)}:{inner_marks(end_sentence(trim(ev.text, terms, keep_figures=True)), mark).rstrip('。')}{mark}。")
    return lines


# Any of the question's words will do: in a named region, a figure in the asked unit is the stronger sign (dev d014:
# the region's sentence «清单…共182项» shares only the list's name with the question, coverage 0.198).
UNIT_FIGURE_COVERAGE = 0.05


def unit_pattern(unit: str) -> str:
    """The counters a question's unit stands for: «多少个» is answered by 家/所/项 as well."""
    return {"人": "人|名|人次", "个": "个|家|所|项", "件": "件|起|宗"}.get(unit, re.escape(unit))


_ASKS_MORE = re.compile(r"更(?:高|低|多|少|大|小|快|慢|长|短)|谁.{0,6}(?:高|低|多|少)|哪(?:边|个|里).{0,12}(?:高|低|多|少)|多少")


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
        evs = [e for e in evidence if e.doc.doc_id in exact]
        figured = [e for e in evs if e.coverage >= EVIDENCE_FIGURE_COVERAGE and has_figure(e.text)]
        if info.unit:
            # «各有多少项»: a sentence with a figure in the asked unit about the question's topic answers for this
            # side before a better-worded one with other figures («对412家企业适用清单» for «清单…共182项»)
            in_unit = [e for e in evs if e.coverage >= UNIT_FIGURE_COVERAGE and re.search(rf"\d\s*(?:余|多)?\s*(?:{unit_pattern(info.unit)})", e.text)]
            figured = in_unit + [e for e in figured if e not in in_unit]
        if info.answer_type == "compare" and "率" in info.question:
            figured.sort(key=lambda e: "%" not in e.text)  # a rate is compared by a rate, not by its counts
        if facts or (figured and _ASKS_MORE.search(info.question)):
            # the other side has a figure, or the question asks which is more: a sentence with a figure about the
            # question answers for this side, not the best-worded one without any
            evs = figured
        if facts and not evs:
            lines.append(f"文档中没有找到{region.name}的该项数据。")
        elif evs:
            ev = evs[0]
            mark = w.cites.cite_evidence(ev)
            lines.append(f"{where(ev.doc)}:{inner_marks(end_sentence(trim(ev.text, terms)), mark)}{mark}。")
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
            others = ",".join(f"{v[0]}为{v[1].raw}" for v in values if v is not best)
            lines.append(f"相比之下,{best[0]}{word}({best[1].raw}{best[2]};{others}{''.join(v[2] for v in values if v is not best)})。")
    return "\n".join(lines) if values or any("[" in line for line in lines) else None


# ---------------------------------------------------------------- sections and metadata

_ITEM_NUMBER = re.compile(r"^\s*\d{1,2}\.\s")


_OWN_ORDINAL = re.compile(r"^\s*([一二三四五六七八九十]+是|[(（][一二三四五六七八九十\d]+[)）]|\d{1,2}[.．、]|[一二三四五六七八九十]+、)")
_FIGURE = re.compile(r"\d|[十百千]+[余多]?[件个项次人家场名户所条批]")


def section_answer(doc: Document, section, chunks: list[Chunk], cites: Citations) -> str | None:
    """Every item of a report's section, each cited: «存在的不足» is answered with all of them.

    An item is its head sentence; when the head states no figure, the first sentence of the item (in the same
    passage) that does follows it (「一是…。二次…十二次…」 keeps its figure). Items keep their own ordinal (一是,
    (一), 1.); the others are numbered."""
    if not section.items:
        return None
    lines = []
    for item in section.items:
        chunk = next((c for c in chunks if c.start <= item.start < c.end), None)
        if chunk is None or item.head not in chunk.text:
            chunk = next((c for c in chunks if item.start <= c.start < max(item.end, item.start + 1)), chunk)
        if chunk is None:
            continue
        extra = []
        if item.head in chunk.text:
            pos = chunk.text.index(item.head)
            text, quote = item.head, (item.head, chunk.start + pos, chunk.start + pos + len(item.head))
            # Figures the item states after its head (one; up to three when the section is that one paragraph),
            # from the passages the item spans, each cited to its own passage.
            # A section that is one paragraph is its sentences: every one of them (up to four) is an item of what
            # was done, figure or not («首次将述法范围拓展到…»).
            whole = len(section.items) == 1
            wanted = 4 if whole else (0 if _FIGURE.search(item.head) else 1)
            extra: list[tuple[str, Chunk]] = []
            after = chunk.start + pos + len(item.head)
            seen_at: set[int] = set()
            for c in chunks:
                if len(extra) >= wanted or c.start >= item.end:
                    break
                if c.end <= after:
                    continue
                for s, e in sentences(c.text):
                    at = c.start + s
                    if at < after or at >= item.end or at in seen_at or len(extra) >= wanted:
                        continue
                    seen_at.add(at)
                    more = c.text[s:e].strip()
                    if (whole or _FIGURE.search(re.sub(r"(?:19|20)\d{2}\s*[年\-—–]|(?:19|20)\d{2}(?=\))|〔\d+〕\d+号", "", more))) and len(more) <= 90:
                        extra.append((more.rstrip("。；;，, "), c))
        elif item.head.rstrip("。") in chunk.section:  # a heading alone on its line: the passage's label names it
            text, quote = item.head, (chunk.text[:60], chunk.start, chunk.start + min(60, len(chunk.text)))
        else:  # a heading alone on its line: its words, then the first sentence under it
            spans = sentences(chunk.text)
            first = chunk.text[spans[0][0]:spans[0][1]].strip() if spans else chunk.text[:60]
            text, quote = f"{item.head.rstrip('。')}:{first}", (first, chunk.start, chunk.start + len(first))
        mark = cites.cite(chunk, doc, *quote)
        # every sentence of the line carries the mark of its own passage (the verifier checks sentence by sentence)
        body = "。".join(part.strip() + mark for part in end_sentence(text).rstrip("。").split("。") if part.strip())
        for more, c in (extra if item.head in chunk.text else []):
            at = c.start + c.text.index(more)
            body += "。" + more + cites.cite(c, doc, more, at, at + len(more))
        lines.append(body if _OWN_ORDINAL.match(body) else f"{{n}}. {body}")
    if not lines:
        return None
    # Numbered 1. 2. …, unless an item itself starts with a figure («2022年,…»): «1. 2022年» would read as 1.2022.
    bullet = any(re.match(r"\{n\}\. \d", line) for line in lines)
    lines = [line.replace("{n}. ", "· " if bullet else f"{i}. ", 1) for i, line in enumerate(lines, 1)]
    first_mark = re.search(r"\[\d+\]", lines[0]).group(0)
    title = f"「{section.title}」" if section.level < 9 and section.title else ""  # a paragraph found by its opening words has no heading
    return f"{where(doc)}{title}{first_mark}:\n" + "\n".join(lines)


_ISSUER_END = r"(?:人民政府办公室|人民政府办公厅|人民政府|办公室|办公厅|委员会|司法局|司法厅|[\u4e00-\u9fff]{1,8}局|[\u4e00-\u9fff]{1,8}厅)"


def _found(text: str, start: int, end: int, value: str) -> tuple[str, int, str]:
    return text[start:end], start, value


def _published(doc: Document, text: str) -> tuple[str, int, str] | None:
    """The page's own date when it has one, else the signature date line at the end of the document."""
    from .segment import date_line

    lo = max(0, doc.start - 1500)
    if doc.published:
        y, m, d = (int(x) for x in doc.published.split("-"))
        if found := re.compile(rf"{y}\s*[-年./]\s*0?{m}\s*[-月./]\s*0?{d}日?").search(text, lo, min(len(text), doc.end + 300)):
            return _found(text, found.start(), found.end(), found.group(0))
    for found in re.finditer(r"^[^\n]{6,20}$", text[doc.start:min(len(text), doc.end + 300)], re.M):
        if date_line(found.group(0)):
            return _found(text, doc.start + found.start(), doc.start + found.end(), found.group(0).strip())
    return None


def _issuer(doc: Document, text: str) -> tuple[str, int, str] | None:
    """Who issued it: a page's 发布机构 field, else the signature line above the date, else the title's issuer."""
    lo, hi = max(0, doc.start - 1500), min(len(text), doc.end + 300)
    # an article's byline («…司法局联合供稿», «来源:…», «撰稿:…») names who wrote it, just after or before its text
    for found in re.finditer(r"^\s*(?:(?:来源|作者|撰稿|供稿)\s*[:：]\s*([^\n]{2,40}?)|([^\n]{2,40}?(?:联合)?供稿))\s*$", text[doc.start:min(len(text), doc.end + 120)], re.M):
        value = found.group(1) or found.group(2)
        return _found(text, doc.start + found.start(), doc.start + found.end(), value.strip())
    if found := re.compile(r"(发布机构|发文机关|发布单位|发文单位|信息来源|来源)\s*[:：]?\s*([\u4e00-\u9fff]{2,20}?)(?=\s|$|发布|日期|时间)", re.M).search(text, lo, hi):
        return _found(text, found.start(), found.end(), found.group(2))
    tail_start = max(doc.start, doc.end - 400)
    for found in reversed(list(re.finditer(rf"^\s*([\u4e00-\u9fff（）()]{{2,30}}{_ISSUER_END})\s*$", text[tail_start:hi], re.M))):
        return _found(text, tail_start + found.start(1), tail_start + found.end(1), found.group(1))
    if doc.title and (m := re.match(rf"^(.{{2,30}}?{_ISSUER_END})(关于|\d{{4}}年|$)", doc.title)) and (pos := text.find(doc.title, lo, hi)) >= 0:
        return _found(text, pos, pos + len(doc.title), m.group(1))
    return None


def metadata_answer(doc: Document, fields: list[str], text: str, chunks: list[Chunk], cites: Citations) -> str | None:
    """«哪一年的报告», «何时发布», «谁发布的» from the document's own title, date and issuer lines, each cited.

    The cited passage is that line itself (title, date and byline lines are not in any chunk: ingestion keeps them
    out of the text that is searched)."""
    if not chunks:
        return None
    label = KIND_LABELS.get(doc.kind, doc.kind)
    lines = []
    for name in fields:
        found = None
        if name == "published":
            found = _published(doc, text)
        elif name == "department":
            found = _issuer(doc, text)
        if found is None and doc.title and (pos := text.find(doc.title, max(0, doc.start - 1500))) >= 0:
            found = _found(text, pos, pos + len(doc.title), "")
        if found is None:
            continue
        quote, start, value = found
        mark = _cite_line(doc, chunks[0], quote, start, cites)
        if name == "year" and doc.year:
            lines.append(f"这是{doc.region}{doc.year}年的{label}:{quote}{mark}。")
        elif name == "published" and value:
            lines.append(f"{doc.region}的这份{label}发布于{value}{mark}。")
        elif name == "department" and value and value.endswith("供稿"):
            lines.append(f"{doc.region}的这篇{label}由{value}{mark}。")
        elif name == "department" and value:
            line = f"{doc.region}的这份{label}由{value}发布{mark}"
            if "published" not in fields and (when := _published(doc, text)) and when[2]:  # who, and when, as a page shows them
                line += f",发布日期{when[2]}{_cite_line(doc, chunks[0], when[0], when[1], cites)}"
            lines.append(line + "。")
        else:
            lines.append(f"{doc.region}的{label}:{quote}{mark}。")
    return "\n".join(dict.fromkeys(lines)) or None


def _cite_line(doc: Document, chunk: Chunk, quote: str, start: int, cites: Citations) -> str:
    for c in cites.items:
        if c.doc_id == doc.doc_id and c.start == start and c.text == quote:
            return f"[{c.n}]"
    cites.items.append(Citation(
        n=len(cites.items) + 1, chunk_id=chunk.chunk_id, doc_id=doc.doc_id, source=doc.source, title=doc.title, region=doc.region,
        province=doc.province, city=doc.city, district=doc.district, year=doc.year, kind=doc.kind, section="", text=quote,
        quote=quote, start=start, end=start + len(quote)))
    return f"[{len(cites.items)}]"
