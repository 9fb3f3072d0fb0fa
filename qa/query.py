"""Question analysis: which regions and years it names, what kind of question it is, which indicator it asks about."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from .gazetteer import Region, gazetteer
from .models import Document

_WHICH = re.compile(r"哪些(地区|地方|城市|盟市|区县|省份|省区|地市|单位)|哪(个|几个)(地区|地方|城市|盟市|区县|省份)|哪里|哪儿|哪些.{0,6}(达|超过|实现|低于|高于)")
_COMPARE = re.compile(r"谁.{0,4}(高|低|多|少|快|好)|哪个.{0,8}(更|最|较)|比较|对比|相比|高于|低于|差距|分别是|各是|各自")
_YESNO = re.compile(r"是否|有没有|是不是|[吗嘛][?？]?$")
_LIST = re.compile(r"哪些|列举|哪几|包括什么|包括哪|都有什么")
_NUMBER = re.compile(r"多少|几[个项件次名家部支]|多高|多大|比例|百分之|第几")
_INDICATOR = re.compile(r"([\u4e00-\u9fff]{1,12}?(?:率|比率|占比|比例|覆盖度|满意度))")
_YEAR = re.compile(r"(?<!\d)((?:19|20)\d{2})(?!\d)")
_QUESTION_FILLER = re.compile(r"^(请问|想问|问一下|我想知道|查一下|帮我查|告诉我)|(是多少|多少|有多高|怎么样|如何|呢|吗|啊)$")


@dataclass
class QueryInfo:
    question: str
    regions: list[Region] = field(default_factory=list)  # named and indexed
    unknown_regions: list[str] = field(default_factory=list)  # named, but no report for them
    years: list[int] = field(default_factory=list)
    qtype: str = "fact"  # fact / which / compare / list / yesno / number
    indicator: str | None = None
    wants_plan: bool = False

    def to_dict(self) -> dict:
        return {
            "regions": [r.name for r in self.regions],
            "unknown_regions": self.unknown_regions,
            "years": self.years,
            "qtype": self.qtype,
            "indicator": self.indicator,
        }


def doc_region(doc: Document) -> Region:
    return Region(doc.province, doc.city, doc.district)


def region_mentions(text: str) -> list[tuple[str, tuple[Region, ...]]]:
    """The regions a question names, as whole words in context, in order: [(as written, candidate regions)].

    - A name must begin and end on a word boundary (jieba's dictionary segmentation of the whole question, without
      its HMM guesses): 示范县 is one word, so it does not name 范县; in 「区委和县委」 和县 would end inside 县委. Among the names that fit, the
      longest non-overlapping ones win, so 武汉市民 still names 武汉 (武汉市 ends inside 市民).
    - A name followed at once by a name inside it is one region: 天津市静海区 is 静海区 of 天津市, not 天津市 and
      静海区 (the outer name only narrows the inner name's candidates).
    """
    from .lexical import _jieba

    bounds, pos = {0}, 0
    for word in _jieba().lcut(text, HMM=False):  # dictionary words only: HMM glues unknown names to neighbours (那米|东区)
        pos += len(word)
        bounds.add(pos)
    found = [m for m in gazetteer().spans(text) if m[0] in bounds and m[1] in bounds]
    found.sort(key=lambda m: (m[0], -(m[1] - m[0])))
    kept: list[tuple[int, int, str, tuple[Region, ...]]] = []
    for start, end, alias, regions in found:
        if kept and start < kept[-1][1]:
            continue
        if kept and start == kept[-1][1]:
            outer = kept[-1]
            inner = tuple(r for r in regions if any(o.contains(r) and o != r for o in outer[3]))
            if inner:
                kept[-1] = (outer[0], end, outer[2] + alias, inner)
                continue
        kept.append((start, end, alias, regions))
    return [(alias, regions) for _, _, alias, regions in kept]


def attribution_certain(doc: Document, text: str) -> bool:
    """Its region was read from the document's own lines (a title, byline or opening line), not guessed.

    `text` is the document's text. Segmentation reads a region from a title or an opening line; a document that is
    one block of text has neither, so its region is a guess from the body. Such guesses were often wrong on NCPQA
    (599 documents without one line break: national notices read as 新疆维吾尔自治区 from 「新疆生产建设兵团」),
    so a region filter must not rule such a document out. A title found in the text counts as read, too."""
    if not doc.province:
        return False
    lines = [line for line in text.splitlines() if line.strip()]
    title = re.sub(r"\s+", "", doc.title or "")
    return len(lines) >= 3 or bool(title) and title in re.sub(r"\s+", "", text)


def analyze(question: str, docs: list[Document]) -> QueryInfo:
    info = QueryInfo(question=question)
    indexed = {doc_region(d) for d in docs if d.province}
    for alias, candidates in region_mentions(question):
        hits = [c for c in candidates if any(c.contains(r) or (r.contains(c) and r.level != "省级") for r in indexed)]
        if hits:
            # 克拉玛依 is the city, not also its 克拉玛依区: drop readings nested in another reading.
            hits = [h for h in hits if not any(o != h and o.contains(h) for o in hits)]
            for hit in hits:
                if hit not in info.regions:
                    info.regions.append(hit)
        elif len(alias) >= 2 and len(candidates) <= 3 and not _is_common_word(alias, question) and _names_a_place(alias, candidates):
            info.unknown_regions.append(candidates[0].name if len(alias) < len(candidates[0].name) else alias)
    info.years = sorted({int(y) for y in _YEAR.findall(question)})
    if _WHICH.search(question):
        info.qtype = "which"
    elif _COMPARE.search(question) or len(info.regions) >= 2:
        info.qtype = "compare"
    elif _LIST.search(question):
        info.qtype = "list"
    elif _YESNO.search(question):
        info.qtype = "yesno"
    elif _NUMBER.search(question):
        info.qtype = "number"
    if m := _INDICATOR.search(_strip_regions(question, info)):
        info.indicator = _trim_indicator(m.group(1))
    info.wants_plan = bool(re.search(r"计划|目标|要点|打算|将要|准备", question))
    return info


def _strip_regions(question: str, info: QueryInfo) -> str:
    for alias, _ in region_mentions(question):
        question = question.replace(alias, " ")
    return _YEAR.sub(" ", question)


def _trim_indicator(name: str) -> str:
    name = re.sub(r"^.*?(的|是|年|里|中|和|与|了)", "", name) or name
    return re.sub(r"^(哪些|哪个|那个|各地|全市|全区|地区|行政机关负责人的)", "", name) or name


# Gazetteer aliases that are also ordinary words in questions about reports.
_COMMON = {"城区", "郊区", "新区", "矿区", "市区", "开发区", "高新区", "全区", "本区", "新城", "和平", "永安", "长安", "普陀"}


def _names_a_place(alias: str, candidates) -> bool:
    """资源, 延长, 公安 are counties only with their suffix: a bare county name is read as an ordinary word."""
    return any(c.level != "县区级" or alias in (c.district, c.name) for c in candidates)


def _is_common_word(alias: str, question: str) -> bool:
    return alias in _COMMON
