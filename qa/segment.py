"""From a file's text to documents: drop web chrome and repeats, split compilations, detect region/year/kind.

A file is read as paragraphs (one per line) that keep their offsets in the source text, so every later
citation can point back to the exact place in the original.
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


@dataclass
class Piece:
    paras: list[Para] = field(default_factory=list)
    title: str | None = None
    byline: str | None = None  # "…司法局联合供稿": names the region of an article
    published: str | None = None


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
    r"^(当前位置|您的位置|首页\s*[>›»]|索引号|发布机构|发布日期|成文日期|主题分类|主题词|文号|名称|来源[:：]?\s*\S{0,12}$|"
    r"主办单位|承办单位|协办单位|技术支持|版权所有|Copyright|©|网站标识码|网站地图|联系我们|联系地址|联系电话|"
    r"邮编|备案号|.{0,4}ICP备|.{0,6}公网安备|扫一扫|分享到|打印本页|关闭窗口|【?字体|责任编辑|网络编辑|\[网络编辑|"
    r"清除所有标记|浏览次数|点击数|访问量|上一篇|下一篇|相关链接|附件[:：]?$)",
    re.IGNORECASE,
)
_NAV_ITEM = re.compile(r"^(\d+\.\s*)?(首页|政务公开|信息公开|新闻中心|正文|规范性文件|政策文件|通知公告|工作动态|[\u4e00-\u9fff]{1,6}局)$")
_PUBLISHED = re.compile(r"发布日期\s*[:：]?\s*(\d{4})[-年./](\d{1,2})[-月./](\d{1,2})")
_DATE_LINE = re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日$")


def _squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


def strip_chrome(paras: list[Para]) -> tuple[list[Para], str | None]:
    """Remove breadcrumbs, metadata blocks and footers; return what is left and the publication date if stated."""
    published = None
    kept: list[Para] = []
    in_breadcrumb = False
    for para in paras:
        squeezed = _squeeze(para.text)
        if m := _PUBLISHED.search(squeezed):
            published = f"{m[1]}-{int(m[2]):02d}-{int(m[3]):02d}"
        if _CHROME_LINE.match(squeezed) or _CHROME_LINE.match(re.sub(r"^\d+\.", "", squeezed)):
            in_breadcrumb = squeezed.lstrip("0123456789.").startswith(("当前位置", "您的位置"))
            continue
        if in_breadcrumb and _NAV_ITEM.match(squeezed):
            continue
        in_breadcrumb = False
        if re.fullmatch(r"\d{5,8}", squeezed):  # a garbled date stamp such as "2020321"
            continue
        kept.append(para)
    return kept, published


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
_BYLINE = re.compile(r"(联合)?供稿$|^(来源|作者|撰稿)[:：]")
_TITLE_WORDS = re.compile(r"(报告|计划|要点|方案|情况|总结)$|关于.{2,40}(报告|计划|要点|方案|情况)")
_OPENER = re.compile(r"^(\d{4})年度?[,，]|^近年来|^为(全面|深入|进一步|认真)|^今年以来|^\d{4}年以来")
_CLOSER = re.compile(r"^.{0,14}(将|要)(继续|坚持|进一步|全力|持续|以)|^下一步|^一年来|^在总结成绩")


def _is_title(para: Para) -> bool:
    text = para.text
    return len(text) <= 90 and not re.search(r"[。；;！!？?]$", text) and bool(_TITLE_WORDS.search(text)) \
        and not TOP_HEADING.match(text) and not text.startswith(("(", "（"))


def split_pieces(paras: list[Para]) -> list[Piece]:
    """Split a compilation into its pieces.

    Boundaries: after a byline ("…供稿"), before a title line, and where the outline restarts at 一、
    after a piece already reached 二、 or later (then the piece begins at its opening paragraph, if it has one).
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
        if _is_title(para) and i + 1 < len(paras) and (current.paras or current.title):
            pieces.append(Piece(title=text))
            top_seen = 0
            continue
        if _is_title(para) and not current.paras and current.title is None:
            current.title = text
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
    return [p for p in pieces if p.paras and sum(len(x.text) for x in p.paras) >= 60]


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

_YEAR_RANGE = re.compile(r"(19|20)\d{2}\s*[-—–~至到]+\s*(19|20)\d{2}")
_YEAR = re.compile(r"(?<!\d)((?:19|20)\d{2})(?=年|〕|\])")
_PLAN_MARK = re.compile(r"制定本(计划|方案|要点)|现提出如下(工作)?(要点|计划)")
_REPORT_MARK = re.compile(r"报告如下|存在的(问题|不足)|仍存在|主要举措|取得.{0,6}成效|情况报告|工作情况")


def _years(text: str) -> list[int]:
    text = _YEAR_RANGE.sub(" ", text)
    return [int(y) for y in _YEAR.findall(text)]


def detect_kind(piece: Piece, body: str) -> str:
    title = piece.title or ""
    if re.search(r"(计划|要点|方案)$", title) or _PLAN_MARK.search(body[:600]):
        return "plan"
    if piece.byline:
        return "article"
    if "报告" in title or "情况" in title or _REPORT_MARK.search(body):
        opener = piece.paras[0].text if piece.paras else ""
        if re.match(r"^\d{4}年", opener) or "报告" in title or "报告如下" in body:
            return "report"
    return "article" if not title else "report"


def detect_year(piece: Piece, kind: str, body: str) -> int | None:
    for text in filter(None, [piece.title]):
        if years := _years(text):
            return years[0]
    opener = piece.paras[0].text if piece.paras else ""
    if kind == "report" and (m := re.match(r"^(\d{4})年", opener)):
        return int(m[1])
    years = _years(body)
    if not years:
        return None
    if kind == "report":
        return max(set(years), key=years.count)  # the year the report keeps returning to
    return max(years)  # a plan names what it builds on; an article, how far it reaches


def detect_region(piece: Piece, body: str) -> gazetteer.Region | None:
    candidates = [piece.byline, piece.title]
    if piece.paras:
        first = piece.paras[0].text
        candidates += [first[:80], re.split(r"[。]", first)[0]]
    candidates += [p.text[:120] for p in piece.paras[1:4]]
    for text in filter(None, candidates):
        text = re.sub(r"^(中共|中国共产党)", "", text)
        if region := gazetteer.detect(text):
            return region
    # Last resort: the region the body names most often.
    counts: dict[gazetteer.Region, int] = {}
    for alias, regions in gazetteer.gazetteer().mentions(body):
        if len(regions) == 1 and len(alias) >= 3:
            counts[regions[0]] = counts.get(regions[0], 0) + 1
    return max(counts, key=counts.get) if counts else None


def compose_title(region: str, year: int | None, kind: str) -> str:
    year_txt = f"{year}年" if year else ""
    return {
        "plan": f"{region}{year_txt}法治政府建设工作计划",
        "article": f"{region}法治政府建设经验文章",
    }.get(kind, f"{region}{year_txt}法治政府建设情况")


def doc_id_for(source: str, ord_: int) -> str:
    return hashlib.sha1(f"{source}#{ord_}".encode()).hexdigest()[:12]


def segment(src: SourceText, overrides: list[dict] | None = None) -> list[tuple[Document, list[Para]]]:
    """Documents found in a file, each with its body paragraphs."""
    paras, published = strip_chrome(paragraphs(src.text))
    paras = drop_repeats(paras)
    pieces = split_pieces(paras)
    docs = []
    for i, piece in enumerate(pieces):
        body = "\n".join(p.text for p in piece.paras)
        published_here = published
        if piece.paras and (m := _DATE_LINE.match(piece.paras[-1].text)):
            published_here = published_here or f"{m[1]}-{int(m[2]):02d}-{int(m[3]):02d}"
            piece.paras.pop()
        if len(piece.paras) > 1 and len(piece.paras[-1].text) <= 20 and re.search(r"(人民政府|委员会|办公室|司法局)$", piece.paras[-1].text):
            piece.paras.pop()  # the signing authority under the text
        kind = detect_kind(piece, body)
        region = detect_region(piece, body) or gazetteer.Region("")
        year = detect_year(piece, kind, body)
        region_name = region.name or "未知地区"
        doc = Document(
            doc_id=doc_id_for(src.source, i),
            source=src.source,
            ord=i,
            title=piece.title or compose_title(region_name, year, kind),
            region=region_name,
            province=region.province,
            city=region.city,
            district=region.district,
            level=region.level if region.province else "",
            year=year,
            kind=kind,
            published=published_here,
            start=piece.paras[0].start,
            end=piece.paras[-1].end,
        )
        _apply_overrides(doc, overrides or [])
        docs.append((doc, piece.paras))
    return docs


def _apply_overrides(doc: Document, overrides: list[dict]) -> None:
    """A metadata sidecar entry {file, match?, field: value…} corrects what detection got wrong."""
    from pathlib import Path

    for entry in overrides:
        if Path(doc.source).name != entry.get("file") and doc.source != entry.get("file"):
            continue
        if "ord" in entry and entry["ord"] != doc.ord:
            continue
        if "match" in entry and entry["match"] not in (doc.title + doc.region):
            continue
        for key in ("title", "region", "province", "city", "district", "level", "year", "kind", "published"):
            if key in entry:
                setattr(doc, key, entry[key])
