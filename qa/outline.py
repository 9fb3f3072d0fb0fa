"""A report's outline as data: its sections with roles, and each section's enumerated items.

A question about a section («存在哪些不足?», «下一步打算怎么做?») is answered with every item of that section,
each cited, instead of the top few sentences a bag-of-sentences ranker returns. The outline is read from the
document's own text at question time (cheap: one pass over its lines) and cached per document and text.

Shapes handled, all seen in the genre (county, city, province and department reports, plans):
- numbered headings 一、 > (一) > 1. (a heading alone on its line, or opening a paragraph);
- items inside a section: its sub-headings; else 一是…二是… (each on its own line or inline); else a lead-in
  «主要表现在:A;B;C» split on semicolons; else its paragraphs.
Roles come from the heading words, never from a document's position: «存在的问题和下一步打算» has two roles.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from .chunking import heading_level, sentences
from .segment import paragraphs

# Role words in a heading. Checked in this order; a heading may carry several roles.
ROLE_PATTERNS: dict[str, re.Pattern] = {
    "duty": re.compile(r"第一责任人|主要负责人履行|主要负责人.{0,6}职责"),
    "problems": re.compile(r"不足|问题|短板|差距|薄弱|困难"),
    "next": re.compile(r"下一步|下一年|下步|明年|今后|打算|思路|工作安排|工作计划|重点工作|工作要点|努力方向|(?:19|20)\d{2}年.{0,10}(安排|计划|重点|任务)"),
    "measures": re.compile(r"举措|成效|措施|做法|成绩|亮点|主要工作|工作情况|建设情况|取得|进展"),
}
# Words of a question that name a role rather than a subject (what find_sections(title_terms=…) must not match).
ROLE_WORDS = re.compile(r"不足|问题|短板|差距|下一步|打算|计划|安排|部署|重点|工作|要点|任务|方面|法治政府|建设|怎么|如何|做|推进")
ROLE_LABELS = {"duty": "第一责任人履职", "problems": "存在的不足和问题", "next": "下一步安排", "measures": "主要举措和成效"}

_ORDINAL = "一二三四五六七八九十"
_INLINE_ITEM = re.compile(rf"(?:(?<=^)|(?<=[。；;！!]))\s*([{_ORDINAL}]{{1,3}})是")
_LEAD_IN = re.compile(r"(主要表现在|主要表现为|具体表现为|表现在|主要有|主要是|包括)[:：]")


@dataclass
class Item:
    """One enumerated item: its head (the first sentence, or the heading) and where it stands in the source text."""

    head: str
    start: int  # offsets into the source text (the file), like a chunk's
    end: int


@dataclass
class Section:
    title: str
    level: int
    start: int  # the heading's start in the source text
    end: int  # where the section's content ends
    roles: tuple[str, ...] = ()
    items: list[Item] = field(default_factory=list)
    children: list["Section"] = field(default_factory=list)


def roles_of(title: str) -> tuple[str, ...]:
    return tuple(role for role, pattern in ROLE_PATTERNS.items() if pattern.search(title))


def _first_sentence(text: str, limit: int = 80) -> str:
    spans = sentences(text)
    head = text[spans[0][0]:spans[0][1]] if spans else text
    return head.strip()[:limit]


def _heading_text(text: str) -> str:
    return re.split(r"[。；;]", text, maxsplit=1)[0][:40]


@lru_cache(maxsize=512)
def _outline(text: str, start: int, end: int) -> tuple[Section, ...]:
    paras = [p for p in paragraphs(text) if p.start >= start and p.end <= end]
    top: list[Section] = []
    stack: list[Section] = []
    bodies: dict[int, list] = {}  # id(section) -> paragraphs directly under it
    for para in paras:
        level = heading_level(para.text)
        if level in (1, 2, 3):
            section = Section(title=_heading_text(para.text), level=level, start=para.start, end=para.end, roles=roles_of(_heading_text(para.text)))
            while stack and stack[-1].level >= level:
                stack.pop()
            (stack[-1].children if stack else top).append(section)
            stack.append(section)
            bodies[id(section)] = [para] if len(para.text) > len(section.title) + 1 else []
            continue
        if stack:
            bodies.setdefault(id(stack[-1]), []).append(para)
    for section in _walk(top):
        section.end = max([section.end] + [p.end for p in bodies.get(id(section), [])] + [c.end for c in _walk(section.children)])
        section.items = _items(section, bodies.get(id(section), []), text)
    return tuple(top)


def _walk(sections):
    for s in sections:
        yield s
        yield from _walk(s.children)


def _items(section: Section, body: list, text: str) -> list[Item]:
    if section.children:
        out = []
        for child in section.children:
            line = text[child.start:child.end]
            head = _first_sentence(line) if len(line) > len(child.title) + 1 else child.title  # with its own ordinal: (一)…
            out.append(Item(head=head or child.title, start=child.start, end=child.end))
        return out
    inline: list[Item] = []
    for para in body:
        marks = list(_INLINE_ITEM.finditer(para.text))
        for i, m in enumerate(marks):
            s = para.start + m.start(1)
            e = para.start + (marks[i + 1].start() if i + 1 < len(marks) else len(para.text))
            inline.append(Item(head=_first_sentence(text[s:e]), start=s, end=e))
    if len(inline) >= 2:
        return inline
    if len(body) == 1 and (m := _LEAD_IN.search(body[0].text)):
        para = body[0]
        out, pos = [], m.end()
        for piece in re.split(r"(?<=[；;])", para.text[m.end():]):
            clean = re.split(r"[。！？]", piece.strip())[0].rstrip("；;。")
            if len(clean) >= 6:
                s = para.start + pos + (len(piece) - len(piece.lstrip()))
                out.append(Item(head=clean[:80], start=s, end=s + len(clean)))
            pos += len(piece)
        if len(out) >= 2:
            return out
    return [Item(head=_first_sentence(p.text), start=p.start, end=p.end) for p in body if len(p.text) >= 12]


def outline(text: str, start: int = 0, end: int | None = None) -> list[Section]:
    """The sections of text[start:end] (a document inside its file), top level first, children nested."""
    return list(_outline(text, start, len(text) if end is None else end))


def find_sections(sections: list[Section], role: str | None = None, title_terms: list[str] | None = None) -> list[Section]:
    """Sections with the role (outermost first), or else whose title holds the terms; the outermost match wins so a
    question gets the whole section, not one of its sub-sections."""
    found = []
    for s in _walk(sections):
        if role and role in s.roles:
            if not any(f is not s and _contains(f, s) for f in found):
                found.append(s)
    if found or not title_terms:
        return found
    scored = []
    for s in _walk(sections):
        hit = sum(1 for t in title_terms if t in s.title)
        if hit and s.items:
            scored.append((hit / len(title_terms), -s.level, s))
    scored.sort(key=lambda x: (-x[0], -x[1]))
    return [scored[0][2]] if scored and scored[0][0] >= 0.5 else []


def _contains(outer: Section, inner: Section) -> bool:
    return outer.start <= inner.start and inner.end <= outer.end and outer is not inner


def top_items(sections: list[Section], leaves: bool = False, limit: int = 20) -> Section | None:
    """The document's main parts (its top-level headings) as one list: «实施方案的主要任务有哪些?»; with leaves, the
    items under them («要点提了哪几条具体任务?»)."""
    tops = [s for s in sections if len(re.sub(r"\W", "", s.title)) >= 4]
    if len(tops) == 1 and len(tops[0].children) >= 2:
        tops = tops[0].children
    if len(tops) < 2:
        return None
    if leaves and any(s.items for s in tops):
        items = [i for s in tops for i in (s.items or [Item(head=s.title, start=s.start, end=s.end)])][:limit]
    else:
        items = [Item(head=s.title, start=s.start, end=s.end) for s in tops]
    return Section(title="", level=9, start=tops[0].start, end=tops[-1].end, roles=("outline",), items=items)


def to_dict(sections: list[Section]) -> list[dict]:
    return [
        {"title": s.title, "level": s.level, "roles": list(s.roles), "start": s.start, "end": s.end,
         "items": [{"head": i.head, "start": i.start, "end": i.end} for i in s.items], "children": to_dict(s.children)}
        for s in sections
    ]


# Where a report states a role without a heading for it: a closing «…但还存在A、B、C等短板。针对这些短板,我们将…», a
# «2022年,我们将…» paragraph. Only the document's closing paragraphs are read (a body paragraph that mentions 问题
# is about its own subject).
_ROLE_IN_TEXT = {
    "problems": re.compile(r"(还|仍|仍然|也|依然)?存在(?P<list>[^。]{4,160}?)(等)?(方面的)?(短板|问题|不足|差距|薄弱环节)"),
    "next": re.compile(r"(我们将|下一步|今后|新的一年|(?:19|20)\d{2}年[,，]?\s*(我们|我市|我区|我县|我旗|全市|全区|全县)?将)(?P<list>[^。]{6,300})"),
}


# «仍存在一些问题亟待解决:A;B;C。»: the list is everything after the colon, to the end of the sentence.
_ROLE_COLON = {
    "problems": re.compile(r"存在[^。:：]{0,12}(?:问题|不足|短板|差距|薄弱环节)[^。:：]{0,8}[:：](?P<list>[^。]{4,400})"),
}


def role_paragraph(text: str, role: str, start: int = 0, end: int | None = None) -> Section | None:
    """The role's items read from the closing paragraphs: the list after 存在 (problems), or the clauses after 将
    (next), each an item with its offsets."""
    pattern = _ROLE_IN_TEXT.get(role)
    if pattern is None:
        return None
    end = len(text) if end is None else end
    paras = [p for p in paragraphs(text) if p.start >= start and p.end <= end and len(p.text) >= 30]
    items: list[Item] = []
    for para in paras[-3:]:
        m = (_ROLE_COLON.get(role) and _ROLE_COLON[role].search(para.text)) or pattern.search(para.text)
        if not m:
            continue
        pos = m.start("list")
        # A list written with semicolons has its items between them (each may have commas inside); a short
        # list without any is split at its commas and enumeration commas.
        cut = r"(?<=[；;])" if re.search(r"[；;]", m.group("list")) else r"(?<=[、，,])"
        for piece in re.split(cut, m.group("list")):
            clean = piece.strip().rstrip("、，,；;")
            clean = re.sub(r"^(针对这些\S{0,4}[,，]?|继续|要)", "", clean)
            if len(clean) >= 4:
                offset = para.text.find(clean, pos)
                items.append(Item(head=clean, start=para.start + offset, end=para.start + offset + len(clean)))
            pos += len(piece)
    if not items:
        return None
    return Section(title="", level=9, start=items[0].start, end=items[-1].end, roles=(role,), items=items[:12])
