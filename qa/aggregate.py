"""Which facts answer a question about a figure: matched by what they count, not by the exact indicator name.

「各地行政复议案件数量分别是多少?」 names no indicator a report uses verbatim (reports say 收到行政复议申请206件,
受理行政复议申请4件). A fact matches when the clause that names what it counts carries the question's content
(IDF-weighted, as evidence coverage) and its kind of figure is the kind asked for (多少件 → count, 第几 → rank,
率 → rate, 多少个工作日 → duration). Rate questions keep the exact indicator match (出庭应诉率 is 出庭应诉率).
"""
from __future__ import annotations

import re

from .evidence import coverage
from .models import Document, Fact
from .query import QueryInfo, doc_region

# Words of the question's form, not of what it asks about: removed before matching facts.
_FORM = re.compile(
    r"哪些|哪个|哪几个|哪里|地区|地方|城市|各地|各市|各区|各县|分别|各自|是多少|多少|几个|几项|几件|几|数量|数目|件数|人数|次数|个数|"
    r"情况|最高|最低|最多|最少|谁|比较|对比|相比|变化|趋势|这几年|近几年|历年|逐年|达到|超过|以上|以下|低于|高于|不足|"
    r"报告|年度|今年|去年|分别为|有|是|的|了|吗|呢|和|与|及|在|中|里|年|"
    # generic nouns of counting: «行政复议案件数量» asks about 行政复议, which reports count as 申请 or 案件
    r"案件|事项|工作|人员|数据|指标|水平"
)
MIN_MATCH = 0.6  # share of the question's (IDF-weighted) content the fact's clause must carry
# Within one region's reports (a trend), with the unit asked for, part credit from this share on (dev questions:
# «划转给综合执法队伍的执法事项» finds 划转执法事项528项 / 新增划转执法事项76项 at 0.44; no wrong fact above 0.4).
LOOSE_MATCH = 0.4


def indicator_matches(question_indicator: str, fact: Fact) -> bool:
    fi = fact.indicator
    if question_indicator in fi:
        return True
    # 成功率 stated after 调解… in its sentence still answers 调解成功率.
    if fi in question_indicator and question_indicator[:2] in fact.sentence:
        return True
    # 行政诉讼一审败诉率 answers 行政诉讼败诉率: the same rate (its last three characters), the qualifier in the sentence.
    head = question_indicator[:-3]
    if len(fi) >= 3 and fi[-3:] == question_indicator[-3:] and len(head) >= 2:
        pairs = [head[i:i + 2] for i in range(len(head) - 1)]
        return sum(p in fact.sentence for p in pairs) / len(pairs) >= 0.5
    return False


def form_free(terms: dict[str, float]) -> dict[str, float]:
    kept = {t: w for t, w in terms.items() if not _FORM.fullmatch(t) and not re.fullmatch(r"[\d.%]+", t)}
    return kept or terms


def match(info: QueryInfo, indicator: str | None, facts: list[Fact], terms: dict[str, float], docs: dict[str, Document],
          strict: bool = True) -> list[tuple[float, Fact]]:
    """(score, fact) for the facts of these documents that answer the question, best first. Across regions the
    heaviest word must be there verbatim (strict); within one region's reports (a trend) part credit is enough."""
    out = []
    content = form_free(terms)
    for f in facts:
        if f.doc_id not in docs:
            continue
        if info.measure and not _measure_fits(info.measure, f):
            continue
        if indicator and info.measure in (None, "rate") and indicator_matches(indicator, f):
            out.append((1.0 + len(f.indicator) / 100, f))
            continue
        if info.measure == "rate" and indicator:
            continue  # a rate question is about that rate: no other percentage answers it
        # The figure's own clause first; a clause borrowed from before it («收到申请206件,审结115件») counts less.
        own = f.context.rsplit(",", 1)[-1]
        score = max(_strict_coverage(own + f.indicator, content), 0.9 * _strict_coverage(f.context + f.indicator, content))
        if not strict:
            if info.unit and f.unit != info.unit:
                continue
            loose = coverage(f.context + f.indicator, content)
            score = max(score, loose / LOOSE_MATCH * MIN_MATCH if loose >= LOOSE_MATCH else 0.0)
        if score >= MIN_MATCH:
            out.append((score + (0.05 if info.unit and f.unit == info.unit else 0.0), f))
    out.sort(key=lambda x: -x[0])
    return out


def _strict_coverage(text: str, terms: dict[str, float]) -> float:
    """Share of the terms' weight found verbatim, and 0 unless the heaviest term is there: a fact about 行政执法案件
    does not answer a question about 行政复议案件 because both say 案件 (partial credit let it through)."""
    total = sum(terms.values())
    if not total:
        return 0.0
    heaviest = max(terms, key=terms.get)
    if heaviest not in text:
        return 0.0
    return sum(w for t, w in terms.items() if t in text) / total


def _measure_fits(measure: str, fact: Fact) -> bool:
    if measure == fact.measure:
        return True
    return measure == "count" and fact.measure in ("money", "duration")  # 多少 covers 万元 and 个工作日


def best_per_document(scored: list[tuple[float, Fact]], docs: dict[str, Document]) -> list[Fact]:
    """One fact per document (a result over a goal, the better match, the earlier sentence): one row per report."""
    best: dict[str, tuple] = {}
    for score, f in scored:
        key = (round(score, 3), f.status == "result", -f.start)
        if f.doc_id not in best or key > best[f.doc_id][0]:
            best[f.doc_id] = (key, f)
    rows = [f for _, f in best.values()]
    rows.sort(key=lambda f: (docs[f.doc_id].region, docs[f.doc_id].year or 0))
    return rows


def scoped(info: QueryInfo, docs: dict[str, Document]) -> tuple[dict[str, Document], dict[str, str]]:
    """The documents a question about named regions reads, and for each one not of the region itself a note of
    whose figures they are. A region's own reports come first; a child's report is used only when the region has
    none, and says so (a city's question is never answered by a district's figure without saying so)."""
    if not info.regions:
        return docs, {}
    chosen: dict[str, Document] = {}
    notes: dict[str, str] = {}
    for region in info.regions:
        own = {k: d for k, d in docs.items() if doc_region(d) == region}
        inner = {k: d for k, d in docs.items() if region.contains(doc_region(d)) and doc_region(d) != region}
        if own:
            chosen.update(own)
        else:
            chosen.update(inner)
            for k, d in inner.items():
                notes[k] = f"{region.name}本级没有报告,这是其下辖{d.region}的数据"
    if info.years:
        by_year = {k: d for k, d in chosen.items() if d.year in info.years}
        chosen = by_year or chosen
    return chosen, notes
