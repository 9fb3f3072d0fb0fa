"""From a file's text to documents: drop web chrome and repeats, split compilations, attribute each piece.

A file is read as paragraphs (one per line) that keep their offsets in the source text, so every later
citation can point back to the exact place in the original: chrome inside a line is cut out by splitting the
paragraph, never by editing its text.

Attribution is by evidence: every detected field (region, year, kind, department, published) carries a confidence
in 0..1 and the evidence it came from (Document.attribution); a field below models.LOW_CONFIDENCE is flagged for
a person, never silently trusted. No rule here may name a seed's wording: tests/data/docs holds the documents the
rules were tuned on (dev) and the ones they were not (test); `python bench/attribution.py` measures both.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from . import gazetteer
from .models import Document, SourceText


@dataclass
class Para:
    text: str
    start: int
    end: int


def paragraphs(text: str) -> list[Para]:
    out, pos = [], 0
    for line in text.split("\n"):
        stripped = line.strip()
        if stripped:
            lead = len(line) - len(line.lstrip())
            out.append(Para(stripped, pos + lead, pos + lead + len(stripped)))
        pos += len(line) + 1
    return out


# ---------------------------------------------------------------- web chrome

_CHROME_LINE = re.compile(
    r"^(当前位置|您的位置|您现在的位置|首页\s*[>›»]|索引号|发布机构|发布日期|发布时间|更新时间|成文日期|主题分类|主题词|文号|发文字号|名称|"
    r"来源[:：]?\s*\S{0,12}$|信息来源|文章来源|时间[:：]|日期[:：]|"
    r"主办单位|主办[:：]|承办单位|承办[:：]|协办单位|技术支持|版权所有|Copyright|©|网站标识码|网站地图|联系我们|联系地址|联系电话|"
    r"邮编|备案号|.{0,4}ICP备|.{0,6}公网安备|扫一扫|分享到|打印本页|关闭窗口|【?字体|【?字号|视力保护色|责任编辑|网络编辑|\[网络编辑|"
    r"清除所有标记|浏览次数|点击数|访问量|阅读次数|上一篇|下一篇|相关链接|附件[:：]?$|附件\d*[:：]?$|[(（]此件公开发布[)）]$|无障碍)",
    re.IGNORECASE,
)
# Tokens that mark a whole short line as site furniture wherever they stand in it (a body sentence ends in 。
# and is never this short). Measured on the corpus pages: banners, tool bars and footers all carry one of these.
_CHROME_TOKEN = re.compile(
    r"ICP备|公网安备|网站标识码|版权所有|视力保护色|打印本页|关闭窗口|【打印】|【关闭】|浏览次数|分享到|无障碍|长者模式|"
    r"(发布|更新)时间[:：]|门户网站|人民政府网$|政府网站|www\.[\w.]+|星期[一二三四五六日天]|首页\s*[>›»]|[>›»]\s*正文$"
)
_NAV_ITEM = re.compile(r"^(\d+\.\s*)?(首页|政务公开|信息公开|新闻中心|正文|规范性文件|政策文件|通知公告|工作动态|[\u4e00-\u9fff]{1,6}局)$")
# Inline furniture inside a body line: cut out, the text on either side kept as separate paragraphs.
_INLINE_CHROME = re.compile(
    r"【[^】]{0,10}(打印|关闭|字体|字号|分享|收藏|返回)[^】]{0,10}】|(?:(?<=^)|(?<=[。；;\s]))[\u4e00-\u9fff]{2,24}(门户网站|政府网站|人民政府网)"
    r"(\s*(www\.)?[\w.]+\.gov\.cn)?(?=$|\s|[一二三四五六七八九十]+、|[(（])"
)
_META_KEYS = ("标题", "索引号", "发布机构", "成文日期", "发布日期", "发文字号", "文号", "主题分类", "有效性", "发文机关", "制发机构",
              "主题词", "生成日期", "公开方式", "来源", "名称")
_DATE = r"((?:19|20)\d{2})\s*[-年./]\s*(\d{1,2})\s*[-月./]\s*(\d{1,2})"
# Which stated date is the publication date, best first (a page's own "published" over when the text was written).
_DATE_KEYS = ("发布日期", "发布时间", "公开日期", "更新时间", "日期", "时间", "发文日期", "成文日期")
# A bare 日期/时间 only at the start of a line or a field (「时间:2018-05-03」, 「来源:X 时间:…」), never inside a
# sentence (「报送时间:2023年9月15日前」 is a deadline, not the page's date).
_DATE_FIELD = re.compile(r"(发布日期|发布时间|公开日期|更新时间|发文日期|成文日期|(?:(?<=^)|(?<=[\s|]))日期|(?:(?<=^)|(?<=[\s|]))时间)"
                         r"\s*[:：|]*\s*" + _DATE)
_DATE_LINE = re.compile(r"^" + _DATE + r"日?$")
_CN_DIGIT = {"〇": 0, "○": 0, "零": 0, "O": 0, "一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_CN_DATE_LINE = re.compile(r"^([〇○零O一二三四五六七八九]{4})年([一二三四五六七八九十]{1,3})月([一二三四五六七八九十]{1,3})日$")


def _squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _iso(y, m, d) -> str:
    return f"{int(y):04d}-{int(m):02d}-{int(d):02d}"


def date_line(text: str) -> str | None:
    """A line that is only a date (a signature date): 2023年2月20日, 2023-02-20, 二〇二三年二月二十日."""
    squeezed = _squeeze(text)
    if m := _DATE_LINE.match(squeezed):
        return _iso(m[1], m[2], m[3]) if 1 <= int(m[2]) <= 12 and 1 <= int(m[3]) <= 31 else None
    if m := _CN_DATE_LINE.match(squeezed):
        year = "".join(str(_CN_DIGIT[c]) for c in m[1])
        return _iso(year, _chinese_number(m[2]), _chinese_number(m[3]))
    return None


@dataclass
class PageMeta:
    """What a page's furniture said before it was dropped: portal metadata fields and stated dates."""

    fields: dict[str, str] = field(default_factory=dict)  # 标题, 发布机构, … as the page states them
    dates: dict[str, str] = field(default_factory=dict)  # key (发布日期, 成文日期, …) -> ISO date

    @property
    def published(self) -> tuple[str | None, str]:
        for key in _DATE_KEYS:
            if key in self.dates:
                return self.dates[key], key
        return None, ""


def _read_fields(line: str, meta: PageMeta) -> None:
    if "星期" in line:  # a banner's "today" is not the page's date
        return
    for m in _DATE_FIELD.finditer(line.strip()):
        meta.dates.setdefault(m[1], _iso(m[2], m[3], m[4]))


def _meta_row(para: Para, meta: PageMeta) -> bool:
    """A portal metadata table row (| 标 题 | … | 发布日期 | 2023-02-06 |): its fields are read, the row dropped."""
    if "|" not in para.text:
        return False
    cells = [_squeeze(c) for c in para.text.split("|")]
    cells = [c for c in cells if c]
    if not cells or not any(c.rstrip(":：") in _META_KEYS for c in cells[::2] + cells[:1]):
        return False
    for key, value in zip(cells, cells[1:]):
        key = key.rstrip(":：")
        if key in _META_KEYS and value.rstrip(":：") not in _META_KEYS:
            meta.fields.setdefault(key, value)
            if m := re.match(_DATE, value):
                meta.dates.setdefault(key if key in _DATE_KEYS else "日期", _iso(m[1], m[2], m[3]))
    return True


def _is_chrome(squeezed: str) -> bool:
    if _CHROME_LINE.match(squeezed) or _CHROME_LINE.match(re.sub(r"^\d+\.", "", squeezed)):
        return True
    return len(squeezed) <= 120 and "。" not in squeezed and bool(_CHROME_TOKEN.search(squeezed))


def _cut_inline(para: Para) -> list[Para]:
    """A body paragraph with furniture inside it (an inline banner, 【打印】) becomes the parts around it."""
    out, pos = [], 0
    for m in _INLINE_CHROME.finditer(para.text):
        out.append(para.text[pos : m.start()])
        pos = m.end()
    if pos == 0:
        return [para]
    out.append(para.text[pos:])
    parts, offset = [], 0
    for piece in out:
        at = para.text.index(piece, offset) if piece else offset
        offset = at + len(piece)
        stripped = piece.strip()
        if stripped:
            lead = len(piece) - len(piece.lstrip())
            parts.append(Para(stripped, para.start + at + lead, para.start + at + lead + len(stripped)))
    return parts


def strip_chrome(paras: list[Para], meta: PageMeta | None = None) -> tuple[list[Para], str | None]:
    """Remove breadcrumbs, metadata blocks, tool bars, banners and footers wherever they stand; return what is left
    and the publication date if the page states one. Metadata (tables, 发布时间/成文日期 lines) goes into `meta`."""
    meta = meta if meta is not None else PageMeta()
    kept: list[Para] = []
    in_breadcrumb = False
    for para in paras:
        squeezed = _squeeze(para.text)
        if len(squeezed) <= 160:
            _read_fields(para.text, meta)
        if _meta_row(para, meta):
            continue
        if _is_chrome(squeezed):
            in_breadcrumb = squeezed.lstrip("0123456789.").startswith(("当前位置", "您的位置", "您现在的位置"))
            continue
        if in_breadcrumb and _NAV_ITEM.match(squeezed):
            continue
        in_breadcrumb = False
        if re.fullmatch(r"\d{5,8}", squeezed):  # a garbled date stamp such as "2020321"
            continue
        kept += _cut_inline(para)
    return kept, meta.published[0]


def drop_repeats(paras: list[Para], min_len: int = 12) -> list[Para]:
    """A paragraph printed again later in the same file is indexed once (003 prints a whole report twice)."""
    seen: set[str] = set()
    out = []
    for para in paras:
        key = _squeeze(para.text)
        if len(key) >= min_len and key in seen:
            continue
        seen.add(key)
        out.append(para)
    return out


# ---------------------------------------------------------------- splitting compilations

TOP_HEADING = re.compile(r"^([一二三四五六七八九十]+)、")
_BYLINE = re.compile(r"(联合)?供稿[)）]?$|^[(（]?(来源|作者|撰稿)[:：]")
_TAIL = r"\s*([(（][^()（）]{0,16}[)）])?$"  # 实施方案(2021—2025年), 工作要点(试行)
_TITLE_WORDS = re.compile(r"(报告|计划|要点|方案|情况|总结|安排|通知)" + _TAIL + r"|关于.{2,40}(报告|计划|要点|方案|情况|安排|总结)")
_OPENER = re.compile(r"^(\d{4})年度?[,，]|^近年来|^为(全面|深入|进一步|认真)|^今年以来|^\d{4}年以来")
_CLOSER = re.compile(r"^.{0,14}(将|要)(继续|坚持|进一步|全力|持续|以)|^下一步|^一年来|^在总结成绩")
# A line that is only the issuing bodies above a title (「中共嵊州市委 嵊州市人民政府」): part of the title.
_ISSUER_LINE = re.compile(r"^[\u4e00-\u9fff（）()\s]{2,60}(人民政府|委员会|县委|区委|市委|州委|省委|办公室|办公厅|[\u4e00-\u9fff]局|厅)$")


@dataclass
class Piece:
    paras: list[Para] = field(default_factory=list)
    title: str | None = None
    byline: str | None = None  # "…司法局联合供稿": names the region of an article
    published: str | None = None
    title_lines: list[Para] = field(default_factory=list)  # issuer lines above the title, then the title
    signature: list[str] = field(default_factory=list)  # issuer lines under the text
    signed: str | None = None  # the date under the text (ISO)
    parts: list["Piece"] = field(default_factory=list)  # a cover notice's pieces, notice first


def _is_title(para: Para) -> bool:
    text = para.text
    return len(text) <= 90 and not re.search(r"[。；;！!？?:：]$", text) and bool(_TITLE_WORDS.search(text)) \
        and not TOP_HEADING.match(text) and not text.startswith(("(", "（")) and not re.match(r"^\d+[.、．]", text)


def _is_issuer(para: Para) -> bool:
    return len(para.text) <= 60 and bool(_ISSUER_LINE.match(para.text)) and not re.search(r"[。，,；;]", para.text)


def split_pieces(paras: list[Para]) -> list[Piece]:
    """Split a compilation into its pieces.

    Boundaries: after a byline ("…供稿"), before a title line, and where the outline restarts at 一、
    after a piece already reached 二、 or later (then the piece begins at its opening paragraph, if it has one).
    Issuer lines directly above a title belong to that title (a two-line title is one piece, not two).
    """
    pieces = [Piece()]
    top_seen = 0
    for i, para in enumerate(paras):
        current = pieces[-1]
        text = para.text
        if _BYLINE.search(text) and len(text) <= 60:
            current.byline = text
            pieces.append(Piece())
            top_seen = 0
            continue
        if _is_title(para) and i + 1 < len(paras):
            issuers = current.paras and current.title is None and all(_is_issuer(p) for p in current.paras)
            if issuers:  # 「中共XX县委 XX县人民政府」 then 「关于…的报告」
                current.title_lines = current.paras + [para]
                current.title = " ".join(p.text for p in current.title_lines)
                current.paras = []
                continue
            if current.paras or current.title:
                pieces.append(Piece(title=text, title_lines=[para]))
                top_seen = 0
                continue
            current.title, current.title_lines = text, [para]
            continue
        if (m := TOP_HEADING.match(text)) and m[1] == "一" and top_seen >= 2:
            opener = current.paras[-1] if current.paras else None
            new = Piece()
            if opener and _OPENER.search(opener.text) and not _CLOSER.search(opener.text):
                current.paras.pop()
                new.paras.append(opener)
            pieces.append(new)
            current = new
            top_seen = 0
        if m := TOP_HEADING.match(text):
            top_seen = max(top_seen, _chinese_number(m[1]))
        current.paras.append(para)
    for piece in pieces:
        _take_signature(piece)
    pieces = _join_covers(pieces)
    return [p for p in pieces if p.paras and sum(len(x.text) for x in p.paras) >= 60]


def _take_signature(piece: Piece) -> None:
    """The date and issuing bodies under a text are its signature: read, then kept out of the body."""
    while piece.paras and len(piece.paras) > 1:
        last = piece.paras[-1]
        if (iso := date_line(last.text)) and piece.signed is None:
            piece.signed = iso
        elif _is_issuer(last) and len(piece.signature) < 3:
            piece.signature.insert(0, last.text)
        else:
            break
        piece.paras.pop()


_COVER = re.compile(r"关于(印发|转发|下发|发布|公布)(.+?)的?通知")


def _join_covers(pieces: list[Piece]) -> list[Piece]:
    """A cover notice (关于印发《X》的通知) and the X that follows it are one document: X's kind and title, the
    notice's date. X is recognised by its title being named in the notice's title (or the notice's text)."""
    out: list[Piece] = []
    for piece in pieces:
        prev = out[-1] if out else None
        if prev is not None and prev.title and piece.title and (m := _COVER.search(_squeeze(prev.title))):
            named = re.sub(r"[《》]", "", m[2])
            own = re.sub(r"[《》]", "", _squeeze(piece.title))
            if own and (own in named or named in own):
                merged = Piece(paras=prev.paras + piece.paras, title=piece.title, byline=piece.byline,
                               title_lines=piece.title_lines, signature=prev.signature + piece.signature,
                               signed=prev.signed or piece.signed, parts=[prev, piece])
                out[-1] = merged
                continue
        out.append(piece)
    return out


_DIGITS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}


def _chinese_number(text: str) -> int:
    if text == "十":
        return 10
    if text.startswith("十"):
        return 10 + _DIGITS.get(text[1:], 0)
    if "十" in text:
        tens, _, ones = text.partition("十")
        return _DIGITS.get(tens, 0) * 10 + _DIGITS.get(ones, 0)
    return _DIGITS.get(text, 0)


# ---------------------------------------------------------------- metadata

_YEAR_RANGE = re.compile(r"((?:19|20)\d{2})\s*(?:年\s*)?[-—–~至到]+\s*((?:19|20)\d{2})")
_YEAR = re.compile(r"(?<!\d)((?:19|20)\d{2})(?=年|〕|\])")
_PLAN_MARK = re.compile(r"制定本(实施)?(计划|方案|要点)|现提出如下(工作)?(要点|计划|意见)|作如下安排|(工作)?安排如下")
_REPORT_MARK = re.compile(r"报告如下|存在的(问题|不足)|仍存在|主要举措|取得.{0,6}成效|情况报告|工作情况")
_PLAN_TITLE = re.compile(r"(工作要点|要点|工作安排|安排|工作计划|计划|实施方案|方案|规划)" + _TAIL)
_REPORT_TITLE = re.compile(r"(报告|总结)" + _TAIL + r"|(情况|年度报告|工作报告)" + _TAIL)
_NOTICE_TITLE = re.compile(r"(通知|通报|公告|意见|决定)" + _TAIL)


@dataclass
class Field:
    """A detected value with how sure we are (0..1) and where it came from (shown to users)."""

    value: object
    confidence: float
    evidence: str


def _years(text: str) -> list[int]:
    text = _YEAR_RANGE.sub(" ", text)
    return [int(y) for y in _YEAR.findall(text)]


def detect_kind(piece: Piece, body: str) -> Field:
    title = _squeeze(piece.title or "")
    if piece.parts and piece.parts[-1].title:  # a cover notice takes its attachment's kind
        title = _squeeze(piece.parts[-1].title)
    if title:
        # 「2022年工作总结和2023年工作计划」: a report that ends with its plans is a report.
        if m := re.search(r"(情况|总结|报告).{0,12}(和|及|暨|与).{0,24}(计划|安排|要点|打算|思路)", title):
            return Field("report", 0.85, f"标题「{m[0]}」")
        if _NOTICE_TITLE.search(title):
            return Field("notice", 0.9, f"标题以「{_NOTICE_TITLE.search(title)[1]}」结尾")
        if m := _PLAN_TITLE.search(title):
            return Field("plan", 0.95, f"标题以「{m[1]}」结尾")
        if m := _REPORT_TITLE.search(title):
            return Field("report", 0.95, f"标题以「{m[1] or m[3]}」结尾")
    if m := _PLAN_MARK.search(body[:600]):
        return Field("plan", 0.8, f"正文「{m[0]}」")
    if piece.byline:
        return Field("article", 0.85, f"署名「{piece.byline}」")
    if "报告" in title or "情况" in title or _REPORT_MARK.search(body):
        opener = piece.paras[0].text if piece.paras else ""
        if re.match(r"^\d{4}年", opener) or "报告" in title or "报告如下" in body:
            return Field("report", 0.75, "正文「报告如下」或以年份开篇")
    if not title:
        return Field("article", 0.5, "无标题,无报告或计划标志")
    if re.search(r"[:：]", title):  # 「铁西区:三张清单…」 is a headline
        return Field("article", 0.7, "标题为新闻标题")
    return Field("report", 0.5, "有标题,无明确类型词")


def detect_year(piece: Piece, kind: str, body: str) -> tuple[Field, int | None]:
    """The year reported on (or planned for); a multi-year plan also returns its last year."""
    title = piece.title or ""
    if piece.parts and piece.parts[-1].title:
        title = piece.parts[-1].title
    if kind == "plan" and (m := _YEAR_RANGE.search(title)):
        return Field(int(m[1]), 0.95, f"标题「{m[0]}」"), int(m[2])
    if years := _years(title):
        return Field(years[0], 0.95, f"标题「{years[0]}年」"), None
    opener = piece.paras[0].text if piece.paras else ""
    if kind in ("report", "article") and (m := re.match(r"^(\d{4})年", opener)):
        return Field(int(m[1]), 0.85, f"开篇「{m[0]}」"), None
    if kind == "plan" and not _years(body) and (m := _YEAR_RANGE.search(body[:300])):
        return Field(int(m[1]), 0.7, f"正文「{m[0]}」"), int(m[2])
    years = _years(body)
    if not years:
        return Field(None, 0.0, "未找到年份"), None
    if kind == "report":
        year = max(set(years), key=years.count)  # the year the report keeps returning to
        share = years.count(year) / len(years)
        return Field(year, round(min(0.8, 0.4 + share / 2), 2), f"正文最常提及「{year}年」({years.count(year)}/{len(years)})"), None
    year = max(years)  # a plan names what it builds on; an article or notice, how far it reaches
    return Field(year, 0.6, f"正文最晚年份「{year}年」"), None


# ---------------------------------------------------------------- region by evidence

# Weights of where a name stands. A title, byline, issuing body or signature names the author; the body names it
# again and again, and names others (its city, the units it audits, the plans it quotes) a few times each.
_W_TITLE, _W_SIGN, _W_BODY, _BODY_CAP = 4.0, 4.0, 1.0, 6.0
_SELF = {"县区级": re.compile(r"(我|全|本)(县|区|旗)(?!域外)"), "市级": re.compile(r"(我|全|本)(市|州|盟)"),
         "省级": re.compile(r"(我|全|本)(省|自治区)")}


# The central government's own bodies: the State Council, its ministries and commissions, and the national bureaus
# and administrations (国家…局/总局/委员会/署). A document they issue is national: the provinces and cities its text
# names are examples or addressees (「各省、自治区、直辖市」, 「在浙江、广东试点」), never the document's own region
# (an NCPQA news item on a 国家税务总局 notice was read as 武汉市蔡甸区 from one example in its body). A bureau of a
# region (国家税务总局重庆市税务局) names its region, so it is not national.
_CENTRAL = re.compile(
    r"(?:中华人民共和国)?(国务院(?:办公厅|[\u4e00-\u9fff]{2,12}?(?:委员会|机制|小组))?"
    r"|国家[\u4e00-\u9fff]{1,12}?(?:总局|局|委员会|委|署)"
    r"|(?:外交|国防|教育|科学技术|科技|工业和信息化|工信|公安|国家安全|民政|司法|财政|人力资源和社会保障|人力资源社会保障"
    r"|自然资源|生态环境|住房和城乡建设|住房城乡建设|交通运输|水利|农业农村|商务|文化和旅游|退役军人事务|应急管理)部"
    r"|[\u4e00-\u9fff]{2,6}总局|海关总署|审计署|中国人民银行|最高人民法院|最高人民检察院|全国人大常委会)"
)
# A news dateline names where the reporter files from, not what the item is about: 新华社北京2月12日电（记者 …）
_DATELINE = re.compile(r"[\u4e00-\u9fff]{2,6}社[\u4e00-\u9fff]{0,4}\d{1,2}月\d{1,2}日电(?:[（(][^）)]{0,30}[）)])?|[（(]?记者[^）)。，]{0,20}[）)]?")


def central_issuer(piece: Piece, body: str) -> str:
    """The central body that issues the piece, when its title (or, without one, its opening sentence) names one and
    no place; "" otherwise."""
    lines = [l.text for l in piece.title_lines] + [piece.title or ""]
    if piece.parts:
        lines += [l.text for l in piece.parts[0].title_lines] + [piece.parts[0].title or ""]
    heads = [_squeeze(l) for l in lines if l and l.strip()]
    if not heads:  # one block of text: the head of its opening (where a title or a news lead names the issuer)
        opening = _DATELINE.sub(" ", body[:160]).split("。")[0]
        if _ALL_PROVINCES.search(opening):
            return _ALL_PROVINCES.search(opening)[0]
        heads = [opening[:40]]
    signature = [_squeeze(l) for l in piece.signature]
    if any(_places(h) for h in heads + signature):
        return ""  # a title, opening or signature that names a place is a local document's, whatever else it cites
    tail = body.rstrip()[-80:].split("。")[-1]  # the signature: what follows the last full stop
    if re.search(r"附件|关于|《", tail):
        tail = ""  # an attachment list or a cited document («附件:财政部关于…») names another document's issuer
    for head in heads + signature + ([tail] if tail.strip() else []):
        m = _CENTRAL.search(head)
        if m and not _FOLLOWS.search(head[max(0, m.start() - 6) : m.start()]) and not _places(head):
            return m[1]
    return ""


def _places(text: str) -> list:
    return gazetteer.scan(re.sub(r"(中共|中国共产党)", "  ", text))


# 「贯彻落实国务院…」, 「转发财政部…」: a local document carrying out or forwarding a central one.
_FOLLOWS = re.compile(r"贯彻|落实|根据|按照|依据|转发|学习|对照|执行|遵照")


NATIONAL, NATIONAL_LEVEL = "全国", "国家级"  # a central body's document: no province, city or district
# Addressed to every province: only the centre writes to 各省、自治区、直辖市.
_ALL_PROVINCES = re.compile(r"各省、?自治区、?直辖市")


def _region_field(piece: Piece, body: str, meta: PageMeta) -> Field:
    """Votes for the region a piece speaks for; each name is a whole token resolved through the hierarchy."""
    sources: list[tuple[str, str, float]] = []  # (where, text, weight)
    for line in [piece.title or "", meta.fields.get("标题", "")] + ([piece.parts[0].title] if piece.parts and piece.parts[0].title else []):
        if line:
            sources.append(("标题", line, _W_TITLE))
    if piece.byline:
        sources.append(("署名", piece.byline, _W_SIGN))
    for line in piece.signature:
        sources.append(("落款", line, _W_SIGN))
    if meta.fields.get("发布机构"):
        sources.append(("发布机构", meta.fields["发布机构"], _W_BODY))
    sources.append(("正文", body, _W_BODY))

    mentions: list[tuple[str, gazetteer.Mention, float]] = []
    for where, text, weight in sources:
        text = re.sub(r"(中共|中国共产党)", "  ", text)
        for m in gazetteer.scan(text):
            mentions.append((where, m, weight * (0.5 if m.weak and where == "正文" else 1.0)))
    if not mentions:
        return Field(gazetteer.Region(""), 0.0, "未找到地名")

    # Context: provinces and cities named without ambiguity (disambiguates 鼓楼区 by the 福州 named nearby).
    context = {r for _, m, _ in mentions if len(m.regions) == 1 for r in m.regions}
    ctx_cities = {r.city for r in context if r.city}
    ctx_provinces = {r.province for r in context}

    votes: dict[gazetteer.Region, float] = {}
    evidence: dict[gazetteer.Region, dict[str, int]] = {}
    unresolved = 0.0
    body_votes: dict[gazetteer.Region, float] = {}
    for where, m, weight in mentions:
        candidates = list(dict.fromkeys(m.regions))
        if len(candidates) > 1:
            narrowed = [r for r in candidates if r.city and r.city in ctx_cities] or \
                [r for r in candidates if r.province in ctx_provinces and r not in context]
            candidates = narrowed or candidates
        if len(candidates) > 1:
            unresolved += weight
            continue  # an ambiguous name the context does not settle is no vote
        region = candidates[0]
        if where == "正文":
            if body_votes.get(region, 0.0) >= _BODY_CAP:
                continue
            body_votes[region] = body_votes.get(region, 0.0) + weight
        votes[region] = votes.get(region, 0.0) + weight
        key = f"{where}「{m.alias}」"
        evidence.setdefault(region, {})[key] = evidence.get(region, {}).get(key, 0) + 1
    if not votes:
        # Only ambiguous names: the first candidate, flagged.
        where, m, _ = mentions[0]
        return Field(m.regions[0], 0.3, f"{where}「{m.alias}」有多个同名地区({len(m.regions)}个),无法确定")

    # 我县/全县/本县 … resolve to the document's own region: they favour candidates of that level.
    self_level = max(_SELF, key=lambda lv: len(_SELF[lv].findall(body)))
    self_count = len(_SELF[self_level].findall(body))

    def support(region: gazetteer.Region) -> float:
        # A county is supported by its city's and province's votes too (a county report names its city).
        own = votes[region]
        ancestors = sum(v for r, v in votes.items() if r != region and r.contains(region))
        bonus = 1.5 if self_count >= 2 and region.level == self_level else 1.0
        return own * bonus + 0.25 * ancestors

    ranked = sorted(votes, key=lambda r: (support(r), len(r.name)), reverse=True)
    best = ranked[0]
    # Competitors are regions that are neither above nor below the winner.
    rivals = [support(r) for r in ranked[1:] if not r.contains(best) and not best.contains(r)]
    rival = max(rivals, default=0.0) + 0.5 * unresolved
    confidence = support(best) / (support(best) + rival) if rival else 1.0
    if votes[best] < 2:  # a single passing mention is weak evidence however alone it stands
        confidence = min(confidence, 0.5)
    said = ", ".join(f"{k}×{n}" if n > 1 else k for k, n in list(evidence[best].items())[:4])
    if self_count >= 2 and best.level == self_level:
        said += f", 自称「{_SELF[self_level].search(body)[0]}」×{self_count}"
    return Field(best, round(confidence, 2), said)


_DEPARTMENT = re.compile(r"((?:[\u4e00-\u9fff]{0,8}?)(局|厅))(?=$|关于|\d|[\s((（]|的)")


def detect_department(piece: Piece, region: gazetteer.Region) -> Field:
    """A department (司法局, 税务局) when the issuing body is one: named right after the region in the title,
    the signature or the first title line. A government office (人民政府办公室) is the government, not a department."""
    names = {region.name, region.district, region.city, region.province} - {""}
    lines = [l.text for l in piece.title_lines[:1]] + piece.signature + [piece.title or ""]
    if piece.parts:
        lines = [piece.parts[0].title or ""] + piece.parts[0].signature + lines
    for line in lines:
        line = _squeeze(line)
        for name in sorted(names, key=lambda n: (-len(n), n)):  # deterministic among equal lengths
            at = line.find(name)
            if at < 0:
                continue
            rest = line[at + len(name):]
            if m := re.match(r"(人民政府)?([\u4e00-\u9fff]{1,10}?(局|厅))", rest):
                if m[1] and not m[2].endswith("局"):
                    continue
                return Field(m[2], 0.9, f"发文机关「{name}{m[0]}」")
            break
    return Field("", 1.0, "发文机关为人民政府或党委")


def compose_title(region: str, year: int | None, kind: str) -> str:
    year_txt = f"{year}年" if year else ""
    return {
        "plan": f"{region}{year_txt}法治政府建设工作计划",
        "notice": f"{region}{year_txt}法治政府建设通知",
        "article": f"{region}法治政府建设经验文章",
    }.get(kind, f"{region}{year_txt}法治政府建设情况")


def doc_id_for(source: str, ord_: int) -> str:
    return hashlib.sha1(f"{source}#{ord_}".encode()).hexdigest()[:12]


def segment(src: SourceText, overrides: list[dict] | None = None) -> list[tuple[Document, list[Para]]]:
    """Documents found in a file, each with its body paragraphs."""
    meta = PageMeta()
    paras, published = strip_chrome(paragraphs(src.text), meta)
    paras = drop_repeats(paras)
    pieces = split_pieces(paras)
    page_title = meta.fields.get("标题")
    if len(pieces) == 1 and not pieces[0].title and page_title:
        pieces[0].title = page_title  # the portal table names the title the extracted text lost
    docs = []
    for i, piece in enumerate(pieces):
        body = "\n".join(p.text for p in piece.paras)
        kind = detect_kind(piece, body)
        central = central_issuer(piece, body)
        if central:
            said = f"主送「{central}」" if _ALL_PROVINCES.fullmatch(central) else f"中央机关「{central}」的文件"
            region_f = Field(gazetteer.Region(""), 0.9, f"{said}: 全国性文件,正文中的地名是举例,不作归属")
        else:
            region_f = _region_field(piece, body, meta)
        region = region_f.value
        year_f, year_end = detect_year(piece, kind.value, body)
        dept = detect_department(piece, region)
        if central and _CENTRAL.fullmatch(central) and not central.startswith("国务院"):
            dept = Field(central, 0.9, f"中央机关「{central}」")  # the State Council is the government, not a department
        if published:
            pub = Field(published, 0.9, f"网页「{meta.published[1]}」")
        elif piece.signed:
            pub = Field(piece.signed, 0.8, "落款日期")
        else:
            pub = Field(None, 1.0, "未注明")
        region_name = region.name or (NATIONAL if central else "未知地区")
        doc = Document(
            doc_id=doc_id_for(src.source, i),
            source=src.source,
            ord=i,
            title=piece.title or compose_title(region_name, year_f.value, kind.value),
            region=region_name,
            province=region.province,
            city=region.city,
            district=region.district,
            level=region.level if region.province else (NATIONAL_LEVEL if central else ""),
            year=year_f.value,
            kind=kind.value,
            published=pub.value,
            start=piece.paras[0].start,
            end=piece.paras[-1].end,
            department=dept.value,
            year_end=year_end,
        )
        doc.attribution = {
            "region": {"confidence": region_f.confidence, "evidence": region_f.evidence},
            # Province and level follow from the region through the gazetteer's hierarchy: as sure as it is.
            "province": {"confidence": region_f.confidence, "evidence": f"由地区「{region_name}」推出"},
            "level": {"confidence": region_f.confidence, "evidence": f"由地区「{region_name}」推出"},
            "year": {"confidence": year_f.confidence, "evidence": year_f.evidence},
            "kind": {"confidence": kind.confidence, "evidence": kind.evidence},
            "department": {"confidence": dept.confidence, "evidence": dept.evidence},
            "published": {"confidence": pub.confidence, "evidence": pub.evidence},
        }
        _apply_overrides(doc, overrides or [])
        docs.append((doc, piece.paras))
    return docs


CORRECTABLE = ("title", "region", "province", "city", "district", "level", "year", "year_end", "kind", "department", "published")


def _apply_overrides(doc: Document, overrides: list[dict]) -> None:
    """A metadata sidecar entry {file, match?, field: value…} corrects what detection got wrong. A corrected region
    brings its province, city, district and level with it (unless the entry sets them too)."""
    from pathlib import Path

    for entry in overrides:
        if Path(doc.source).name != entry.get("file") and doc.source != entry.get("file"):
            continue
        if "ord" in entry and entry["ord"] != doc.ord:
            continue
        if "match" in entry and entry["match"] not in (doc.title + doc.region):
            continue
        if "region" in entry and entry["region"] != doc.region:
            near = gazetteer.Region(doc.province, doc.city, doc.district)
            if (found := gazetteer.by_name(str(entry["region"]), near)) is not None:
                doc.province, doc.city, doc.district, doc.level = found.province, found.city, found.district, found.level
                doc.region = found.name
        for key in CORRECTABLE:
            if key in entry:
                setattr(doc, key, entry[key])
                doc.attribution[key] = {"confidence": 1.0, "evidence": "人工更正"}
        if "region" in entry:
            for key in ("province", "level"):
                if key not in entry:
                    doc.attribution[key] = {"confidence": 1.0, "evidence": f"由人工更正的地区「{doc.region}」推出"}
