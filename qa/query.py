"""Question analysis: which regions and years it names, what kind of question it is, which indicator it asks about."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

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
class Premise:
    """What a question asserts, to be confirmed or corrected before it is answered.

    kind: figure (「…是99.74%吗?」: value and unit), direction (「…增长了吗?」: up/down), judgement (「…偏低」:
    high/low) or share (「…大多是因为X吧?」: most; `raw` is what is said to be most)."""

    kind: str
    raw: str
    value: float | None = None
    unit: str = ""
    polarity: str = ""  # up / down / high / low / most
    asserted: bool = False  # stated as given inside an open question, not asked as yes/no
    approx: bool = False  # 九成左右: within a few points


@dataclass
class QueryInfo:
    """The typed question plan: what is asked (answer type), about what (indicator, section role, measure), where and
    when (regions, years), and what the question itself asserts (premise)."""

    question: str
    regions: list[Region] = field(default_factory=list)  # named and indexed
    unknown_regions: list[str] = field(default_factory=list)  # named, but no report for them
    years: list[int] = field(default_factory=list)
    qtype: str = "fact"  # fact / which / compare / list / yesno / number
    indicator: str | None = None
    wants_plan: bool = False
    answer_type: str = "fact"  # fact / number / list / section / which / compare / trend / yesno / metadata
    section_role: str | None = None  # problems / next / duty / measures (outline roles, see qa.outline)
    measure: str | None = None  # the kind of figure asked for: rate / change / count / money / duration / rank
    premise: Premise | None = None
    metadata_field: str | None = None  # year / published / department / title (the first asked)
    metadata_fields: list[str] = field(default_factory=list)  # every one asked («谁发布的?哪天?»)
    each: bool = False  # 「各地…分别」: one value per region
    unit: str | None = None  # the unit the question counts in, when it says (多少件, 案件数 → 件)

    def to_dict(self) -> dict:
        return {
            "regions": [r.name for r in self.regions],
            "unknown_regions": self.unknown_regions,
            "years": self.years,
            "qtype": self.qtype,
            "answer_type": self.answer_type,
            "indicator": self.indicator,
            "section_role": self.section_role,
            "measure": self.measure,
            "premise": self.premise.__dict__ if self.premise else None,
            "metadata_field": self.metadata_field,
        }


QuestionPlan = QueryInfo  # the name the design uses; QueryInfo stays for existing callers

_SECTION_ROLE = [
    # How a document is divided («分成哪几大部分»): the outline, whatever else the question names
    ("outline", re.compile(r"几大(部分|板块|方面)|哪几(个)?(部分|板块|大方面)|分(为|成)(哪|几)")),
    ("duty", re.compile(r"第一责任人|主要负责人.{0,6}(职责|履职|做了|怎么)")),
    # «证据不足» is content, not a question about the report's 不足: the role word must be what is asked for.
    ("problems", re.compile(r"(哪些|什么|有|存在|还有|主要)的?(不足|短板|差距|薄弱环节|问题|困难|不够|欠缺|不到位)|(不足|短板|差距|问题)(之处)?(有|是)(哪些|什么)"
                            r"|不(够|到位|足)的地方|(需要|有待|亟待)(改进|加强|提升)的(地方|方面)")),
    ("next", re.compile(r"下一步|下一年|下步|明年|今后|打算|准备(做|干|怎么|如何|采取)|(要|将|计划)做(哪些|什么)|怎么(做|干|推进|改进)(?![到了的])|如何(推进|改进)|将(如何|怎样)"
                        r"|工作安排|重点(安排|计划|任务)|重点工作|(哪些|什么)(安排|计划|部署|打算)")),
    # A plan's or a report's main parts: its top-level outline («实施方案的主要任务», «要点提了哪几条»).
    ("outline", re.compile(r"(主要|重点|具体|几大|哪几项|哪些)(任务|内容|方面|部分|板块)|哪几(条|个方面|部分|项任务)|分(为|成)(哪|几)")),
]
_METADATA = [
    ("published", re.compile(r"(何时|什么时候|哪天|哪一天|几月|几号|日期|时间).{0,4}(发|公布|公开|签|落款|成文|出台)|(发布|公布|印发|签发|成文|落款)(时间|日期)"
                             r"|(发布|印发|发的|签发|公布).{0,8}(何时|什么时候|哪天|哪一天|什么时间|日期|几号)")),
    ("department", re.compile(r"(谁|哪个|哪些|什么(?!时)|哪家)(部门|单位|机关|机构)?.{0,4}(发布|印发|发的|制定|撰写|报送|出具|签发|供稿|撰稿|投稿)"
                              r"|(发布|印发|发文|供稿|撰稿)(部门|单位|机关|机构)")),
    ("year", re.compile(r"(是)?(哪一年|哪年|什么年份|哪个年度)的?(报告|要点|计划|文件|方案)|(报告|要点|计划|文件|方案).{0,4}(哪一年|哪年|哪个年度)")),
]

# How a question asks, never what it asks about: «哪些地方», «哪个部门», «哪边», «起来» (联动起来), «什么时候». jieba
# keeps «哪些地方» as one word that no report contains, so it weighed most of all and refused answerable questions.
# (qa/lexical.py's stop words are single tokens dropped at indexing; these are phrases of question grammar.)
ASKING = re.compile(
    r"哪(?:些|个|里|儿|边|家|一|几)?个?(?:地方|地区|地市|城市|区县|县区|县市区|县级市|地级市|盟市|旗县|旗区|乡镇|街道|"
    r"报告|文件|文章|单位|部门|机关|年度?|方面)?"
    r"|(?<=[\u4e00-\u9fff])(?:起来|下来|出来)|分别是?|各是|都是|(?:讲|说|谈|提)到了?|怎么说的?"
    r"|什么时候|什么时间|何时|哪天|几月几[日号]|几号|多久|多长时间"
)

_TREND = re.compile(r"这几年|近几年|历年|逐年|变化|趋势|(\d{4}年?(到|至|和|与|、)\d{4}年?)")
_EACH = re.compile(r"各地|各(市|区|县|盟|旗|城市|地区)|分别|各自|各是|各有|每个(地区|城市|报告)")
_UP = "增长|增加|上升|提高|提升|升高|上涨|增多|升至|升到|增至|增到|更多|更高|更重|更大|加重|扩大|多了|变多"
_DOWN = "下降|减少|降低|下滑|回落|缩减|减小|降至|降到|更少|更低|更轻|缩小|减轻|少了|变少"
_HIGH = "较高|偏高|很高|高于|不低"
_LOW = "较低|偏低|很低|低于|不高|不理想|较差"
# «…大多是因为X», «主要是X»: X is said to be the larger share (of cases, causes, items) — a claim a share decides.
_MOST = re.compile(r"(?:绝?大多数?|大部分|多数|多半|主要)(?:都)?(?:是)?(?:因为|由于|出于|属于|来自|是)\s*(?P<what>[^,，。？?吧吗呢]{2,30})")
_CLAIM = re.compile(r"(第)?(\d+(?:\.\d+)?)\s*(%|个工作日|工作日|件次|人次|名|件|个|项|次|家|部|支|天|万元|亿元|元|人|位)")
_CN_CLAIM = re.compile(r"第([一二三四五六七八九十]{1,3})(名|位)?|([一二三四五六七八九])成")  # 全省第一, 九成 (= 90%)
_CN_DIGITS = {c: i for i, c in enumerate("零一二三四五六七八九")}


def _cn_small(text: str) -> float:
    if text == "十":
        return 10.0
    if "十" in text:
        tens, _, ones = text.partition("十")
        return float(_CN_DIGITS.get(tens, 1) * 10 + _CN_DIGITS.get(ones, 0))
    return float(_CN_DIGITS.get(text, 0))


def _claim(question: str, start: int = 0) -> Premise | None:
    """The first figure a question states from `start` on, Arabic or Chinese (第一, 九成)."""
    found = []
    for m in _CLAIM.finditer(question, start):
        if re.fullmatch(r"(19|20)\d{2}", m.group(2)) and m.group(3) not in ("件", "个", "项", "次", "人", "家"):
            continue
        unit = "名" if m.group(1) or m.group(3) == "位" else m.group(3)
        found.append((m.start(), Premise("figure", m.group(0), float(m.group(2)), unit)))
        break
    for m in _CN_CLAIM.finditer(question, start):
        if m.group(1):
            found.append((m.start(), Premise("figure", m.group(0), _cn_small(m.group(1)), "名")))
        else:
            found.append((m.start(), Premise("figure", m.group(0), _CN_DIGITS[m.group(3)] * 10.0, "%", approx=True)))
        break
    return min(found, key=lambda x: x[0])[1] if found else None


_UNIT_HINTS = [("件", r"多少件|几件|案件|件数|申请"), ("人次", r"人次"), ("人", r"多少人|几人|人数|多少名"), ("次", r"多少次|几次|次数"),
               ("家", r"多少家|几家|企业数"), ("项", r"多少项|几项|事项"), ("个", r"多少个(?!工作日)|几个(?!工作日)|个数"), ("场", r"多少场|几场|场次")]


def _unit(question: str) -> str | None:
    for unit, pattern in _UNIT_HINTS:
        if re.search(pattern, question):
            return unit
    return None


def _measure(question: str, indicator: str | None) -> str | None:
    if re.search(r"第几|排名|排第|名次|位列|位居", question):
        return "rank"
    if re.search(rf"({_UP}|{_DOWN})(了)?(多少|几)", question):
        return "change"
    if indicator and re.search(r"(率|比率|占比|比例|覆盖度|满意度)$", indicator):
        return "rate"
    if re.search(r"多少(万元|亿元|元|钱|资金|经费)|金额|资金", question):
        return "money"
    if re.search(r"多少(个)?(工作日|天|日|小时|时间)|多长时间|多久|时限", question):
        return "duration"
    if re.search(r"多少|几[个项件次名家部支批场人所条]|数量|件数|人数|次数|个数|(更|最|谁|哪边|哪个)(多|少)", question):
        return "count"
    return None


_ASSERTED = re.compile(rf"(已经?|已然|都)?(达到?|达|为|是|只有|仅有|仅为|不到|才|({_UP}|{_DOWN})了?(到|至)?|排(在)?|位列|居|拿了|获得|[\u4e00-\u9fff]了)\s*"
                       rf"((第)?\d+(?:\.\d+)?\s*(%|名|件|个|项|次|家|人)|第[一二三四五六七八九十]{{1,3}}|[一二三四五六七八九]成)"
                       rf"|(排|居|位列|位居|名列)[^,，。？?]{{0,8}}第([一二三四五六七八九十]{{1,3}}|\d+)")


def _premise(question: str) -> Premise | None:
    """The assertion a question makes: a yes/no question's claim, or a figure an open question takes as given
    («…已达100%,有哪些做法…», «…比上年增加了28%,原因是什么?»). None when it asserts nothing."""
    if not re.search(r"是否|是不是|对吗|对不对|吗[?？]?$|嘛[?？]?$|吧[?？]?$", question):
        m = _ASSERTED.search(question)
        claim = _claim(question, m.start()) if m else None
        if not claim:
            return None
        claim.polarity = re.search(rf"{_UP}", m.group(0)) and "up" or re.search(rf"{_DOWN}", m.group(0)) and "down" or ""
        claim.asserted = True
        return claim
    if claim := _claim(question):
        near = question[max(0, question.find(claim.raw) - 6):question.find(claim.raw)]
        claim.polarity = re.search(_UP, near) and "up" or re.search(_DOWN, near) and "down" or ""
        return claim
    if (m := _MOST.search(question)) and not re.search(r"什么|哪|怎|如何|为何|多少|几", m["what"]):
        return Premise("share", m["what"], polarity="most")
    if m := re.search(_UP, question):
        return Premise("direction", m.group(0), polarity="up")
    if m := re.search(_DOWN, question):
        return Premise("direction", m.group(0), polarity="down")
    if m := re.search(_LOW, question):
        return Premise("judgement", m.group(0), polarity="low")
    if m := re.search(_HIGH, question):
        return Premise("judgement", m.group(0), polarity="high")
    return None


def doc_region(doc: Document) -> Region:
    return _region(doc.province, doc.city, doc.district)


@lru_cache(maxsize=8192)  # one per division (cpca's table has ~3,500): bounded
def _region(province: str, city: str, district: str) -> Region:
    """Every search builds the region of each of its documents (2,000 at 100× the seeds), often several times: a
    frozen dataclass built anew each time cost ~30 ms a question there (profiled 2026-12-04). Equal either way."""
    return Region(province, city, district)


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
    elif _COMPARE.search(question) or len([r for r in info.regions if not any(r != o and r.contains(o) for o in info.regions)]) >= 2:
        info.qtype = "compare"
    elif _LIST.search(question):
        info.qtype = "list"
    elif _YESNO.search(question):
        info.qtype = "yesno"
    elif _NUMBER.search(question):
        info.qtype = "number"
    if m := _INDICATOR.search(_strip_regions(question, info)):
        info.indicator = _trim_indicator(m.group(1))
    info.wants_plan = bool(re.search(r"计划|目标|要点|打算|将要|准备|不少于|不低于|不超过|至少|要求", question))
    plan(info, question)
    return info


def plan(info: QueryInfo, question: str) -> None:
    """The answer type and what it needs, from the question's own words (the qtype above stays for retrieval)."""
    info.measure = _measure(question, info.indicator)
    info.unit = _unit(question) if info.measure in ("count", None) else None
    info.premise = _premise(question)
    if info.premise and info.premise.asserted and (not info.regions or info.qtype == "which"):
        info.premise = None  # «哪些地区…达到100%» sets a bar; it asserts nothing about a region
    info.each = bool(_EACH.search(question))
    if info.premise and info.premise.unit == "名" and not info.measure:
        info.measure = "rank"
    info.metadata_fields = [name for name, pattern in _METADATA if pattern.search(question)]
    if info.metadata_fields:
        info.metadata_field, info.answer_type = info.metadata_fields[0], "metadata"
        return
    for role, pattern in _SECTION_ROLE:
        if pattern.search(question) and not (info.premise and not info.premise.asserted):
            info.section_role, info.answer_type = role, "section"
            return
    if info.premise and not info.premise.asserted:
        info.answer_type = "yesno"
    elif _TREND.search(question) and len(info.regions) <= 1 and (len(info.years) >= 2 or not info.years):
        info.answer_type = "trend"
    elif info.qtype == "which" or info.each:
        info.answer_type = "which"
    elif info.qtype == "compare" and len(info.regions) < 2 and re.search(r"哪些|各", question):
        info.answer_type = "which"  # «哪些报告…各是怎么说的»: compared across reports, none named
    elif info.qtype == "compare":
        info.answer_type = "compare"
    elif info.qtype in ("list", "number", "yesno"):
        info.answer_type = info.qtype


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
