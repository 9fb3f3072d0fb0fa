"""Figures pulled from the text at ingest: every stated quantity, with what it counts, where and whether it happened.

They let «哪些地区…», «各地…分别是多少», «谁最高», comparisons and trends look across every report instead of a
global top-k. Kinds (`Fact.measure`): rate (99.5%), change (增长/下降 N%), count (206件, 30余次, 三批), money (万元,
亿元), duration (3个工作日, 半个工作日), rank (第40名, 全省第二). A plan that says 推动实现…100% states a goal, not
a result; `status` keeps the two apart. `scope` records 全市 / 市本级 / a district a city's report quotes, so an
answer about a city never passes a district's figure off as the city's.

Chinese numerals count only where they cannot be a name: with 余/多 (三十余件), after a verb of counting (共三批,
达四个) or as a rank (第三批, 全省第二); 三项制度 and 两个责任 are names of measures, not figures.
"""
from __future__ import annotations

import re

from .chunking import sentences
from .models import Chunk, Document, Fact

FACTS_VERSION = "3"  # bumped when extraction changes: the catalogue re-extracts facts from stored chunks

_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s*%")
_CLAUSE_SPLIT = re.compile(r"[，,；;。:：]")
_INDICATOR = re.compile(r"([\u4e00-\u9fff“”\"（）()A-Za-z0-9+]{1,24}?(?:率|比率|占比|比例|覆盖度|满意度))")
_SCOPE = re.compile(r"^(全市|全区|全盟|全县|全旗|全省|全州|我市|我区|我县|我盟|本级|市本级|区本级|各级|市、区两级|市县两级|全面|进一步|推动实现|推动|实现|确保|力争|努力|其中)+")
_GOAL = re.compile(r"推动实现|力争|争取|目标|确保|努力|要求|计划|将.{0,6}(达到|提高|提升)|以上$")
_LINKS = ("达到", "达", "为", "是", "提高到", "提升至", "提升到", "保持在", "均达", "均为")
_CHANGE = re.compile(r"(同比|较上年|较去年|比上年|比去年|与去年同期相比|环比)?\s*(增长|增加|上升|提高|提升|下降|降低|减少|压缩|缩短|缩减|精简)(了)?\s*$")

_CN = "零〇一二两三四五六七八九十百千"
_CN_VALUE = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_COUNT_UNITS = "件次|人次|户次|场次|个工作日|工作日|个月|小时|学时|课时|万元|亿元|元|件|个|项|人|名|家|场|次|批|所|条|部|支|本|份|篇|起|户|天|日|倍|期|宗|单"
_QUANTITY = re.compile(
    rf"(?P<pre>近|约|逾|超过|共计|共|累计|合计|计|达到|达|有|新增|办理|受理|开展|举办|组织|审结|办结|化解|调解|培训|收到|出动)?"
    rf"(?P<num>\d+(?:\.\d+)?|[{_CN}]+)\s*(?P<approx>余|多)?\s*(?P<scale>万|亿)?\s*(?P<unit>{_COUNT_UNITS})"
)
_RANK = re.compile(rf"(?P<where>全国|全省|全区|全市|全州|全盟)?(?:位列|位居|排名|排|居|名列|获得|荣获)?第(?P<num>\d+|[{_CN}]+)(?P<unit>名|位)?")
_HALF = re.compile(r"半个?(工作日|小时|天|月)")
_DATE = re.compile(r"(?:19|20)\d{2}\s*年(?:\s*\d{1,2}\s*月(?:\s*\d{1,2}\s*日)?)?|\d{1,2}\s*月\s*\d{1,2}\s*日|\d{1,2}\s*月(?:份|底|初|中旬|下旬|上旬)?|〔\d+〕\d+号|\d+号")
# Where a figure holds inside the reporting region. 全省/全国 are never a city's scope: «在全省率先…» compares.
_SCOPE_WORDS = re.compile(r"全市|全区|全县|全旗|全盟|全州|市本级|区本级|县本级|本级|市、区两级|市县两级|市县乡三级|市区两级")
_MONEY = {"万元", "亿元", "元"}
_DURATION = {"个工作日", "工作日", "天", "日", "小时", "个月"}


def _cn_number(text: str) -> float | None:
    """三十 → 30, 二百五十 → 250, 两 → 2; None when it is not a whole Chinese numeral."""
    if not text or any(ch not in _CN for ch in text):
        return None
    total, current = 0, 0
    for ch in text:
        if ch in _CN_VALUE:
            current = _CN_VALUE[ch]
        elif ch == "十":
            total += (current or 1) * 10
            current = 0
        elif ch == "百":
            total += (current or 1) * 100
            current = 0
        elif ch == "千":
            total += (current or 1) * 1000
            current = 0
    return float(total + current)


def _clean_indicator(name: str) -> str:
    name = name.strip("“”\"()（） ")
    name = _SCOPE.sub("", name)
    for link in _LINKS:
        if name.endswith(link):
            name = name[: -len(link)]
    return name


def indicators_before(clause: str) -> list[str]:
    """The indicator names a number in this clause belongs to ('备案率、审查率均达' → both)."""
    clause = re.sub(r"(均|都|分别)?(达到|达|为|是|保持在|提高到|提升至|提升到|控制在)$", "", clause)
    names = []
    for part in clause.split("、"):
        found = list(_INDICATOR.finditer(part))
        if found:
            names.append(_clean_indicator(found[-1].group(1)))
    return [n for n in names if len(n) >= 2]


def _context(sentence: str, pos: int) -> str:
    """The clause before a figure: what it counts («…受理行政复议申请» of «受理行政复议申请206件»)."""
    before = sentence[:pos]
    cut = max(before.rfind(sep) for sep in "，,；;。:：、") + 1
    clause = before[cut:]
    if len(clause) < 4:  # «…收到申请206件,审结115件»: 审结 borrows the clause before it
        prev = before[:cut - 1] if cut else ""
        cut2 = max(prev.rfind(sep) for sep in "，,；;。:：") + 1
        clause = prev[cut2:] + "," + clause if prev else clause
    return clause.strip()[-30:]


def _count_name(context: str) -> str:
    name = re.sub(r"(共计|共|累计|合计|计|达到|达|有|为|近|约|逾|超过)$", "", context.split(",")[-1])
    name = _SCOPE.sub("", re.sub(r"^(?:19|20)\d{2}年(度)?[,，]?", "", name))
    return name.strip("“”\"()（） ")[-16:]


def _scope(sentence: str, pos: int, doc_region) -> str:
    from .gazetteer import gazetteer

    head = sentence[:pos]
    inner = []
    for alias, candidates in gazetteer().mentions(head):
        if len(alias) >= 2 and any(doc_region.contains(c) and c != doc_region for c in candidates):
            inner.append(alias)
    if inner:
        return inner[-1]
    words = _SCOPE_WORDS.findall(head)
    return words[-1] if words else ""


def _status(doc: Document, before: str) -> str:
    return "goal" if doc.kind == "plan" or _GOAL.search(before) else "result"


def extract_facts(doc: Document, chunks: list[Chunk], source_text: str = "") -> list[Fact]:
    from .query import doc_region

    region = doc_region(doc)
    facts: list[Fact] = []
    seen: set[tuple] = set()

    def add(chunk: Chunk, s_start: int, s_end: int, sentence: str, indicator: str, value: float, unit: str, raw: str,
            measure: str, pos: int, before: str) -> None:
        start = chunk.start + s_start
        key = (indicator, value, unit, start)
        if key in seen or not indicator:  # overlapping windows repeat a sentence
            return
        seen.add(key)
        facts.append(Fact(doc_id=doc.doc_id, chunk_id=chunk.chunk_id, indicator=indicator, value=value, unit=unit, raw=raw,
                          status=_status(doc, before), sentence=sentence.strip(), start=start, end=chunk.start + s_end,
                          scope=_scope(sentence, pos, region), measure=measure, context=_context(sentence, pos)))

    for chunk in chunks:
        for s_start, s_end in sentences(chunk.text):
            sentence = chunk.text[s_start:s_end]
            masked = _DATE.sub(lambda m: "#" * len(m.group()), sentence)  # 2024年, 3月15日, 〔2021〕53号 are no figures
            taken: list[tuple[int, int]] = []
            for m in _PERCENT.finditer(masked):
                before = _CLAUSE_SPLIT.split(sentence[: m.start()])[-1]
                change = _CHANGE.search(before)
                if change:
                    name = _count_name(before[: change.start()]) or _count_name(_context(sentence, m.start()))
                    add(chunk, s_start, s_end, sentence, name + change.group(2), float(m.group(1)), "%",
                        change.group(2) + m.group(0).replace(" ", ""), "change", m.start(), before)
                    taken.append(m.span())
                    continue
                for name in indicators_before(before):
                    add(chunk, s_start, s_end, sentence, name, float(m.group(1)), "%", m.group(0).replace(" ", ""), "rate", m.start(), before)
                taken.append(m.span())
            for m in _RANK.finditer(masked):
                value = float(m.group("num")) if m.group("num").isdigit() else _cn_number(m.group("num"))
                if value is None or not (m.group("unit") or m.group("where")) or any(a <= m.start() < b for a, b in taken):
                    continue
                after = masked[m.end():m.end() + 2]
                if not m.group("unit") and re.match(r"[批次届期轮个项条]", after):
                    continue  # 第三批 is a batch, 第十四个五年规划 a name
                context = _context(sentence, m.start())
                add(chunk, s_start, s_end, sentence, _count_name(context) or "排名", value, "名", m.group(0), "rank", m.start(), context)
                taken.append(m.span())
            for m in _QUANTITY.finditer(masked):
                if any(a <= m.start() < b for a, b in taken):
                    continue
                num = m.group("num")
                if num.replace(".", "").isdigit():
                    value = float(num)
                else:
                    if not (m.group("approx") or m.group("pre") or re.search(r"[十百千]", num)):
                        continue  # 三项制度, 两个责任: names, not figures (十二次 is a figure: names use small numbers)
                    value = _cn_number(num)
                    if value is None:
                        continue
                if masked[max(0, m.start("num") - 1):m.start("num")] == "第":
                    continue
                unit = m.group("unit")
                scale = {"万": 1e4, "亿": 1e8}.get(m.group("scale") or "", 1)
                measure = "money" if unit in _MONEY else "duration" if unit in _DURATION else "count"
                pos = m.start("num")
                context = _context(sentence, pos)
                raw = sentence[pos:m.end()].replace(" ", "")
                add(chunk, s_start, s_end, sentence, _count_name(context), value * scale, unit, raw, measure, pos, context)
            for m in _HALF.finditer(masked):
                context = _context(sentence, m.start())
                add(chunk, s_start, s_end, sentence, _count_name(context), 0.5, m.group(1), m.group(0), "duration", m.start(), context)
    return facts
