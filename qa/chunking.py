"""Paragraphs → chunks: the heading outline gives each chunk its section path; long paragraphs become sentence windows.

Window size follows the document's shape. A report with paragraphs gets ~120-character windows (paragraphs already
carry its structure; small windows were best on the seeds). A document that is one unbroken block of text (web
notices pasted without line breaks: all 599 NCPQA documents, median 1,011 characters) gets ~300-character passages:
there, 120-character windows cut a median 41-character answer apart and lost to 300 on every lexical ranker
(NCPQA dev half, character-bigram BM25: hit@5 0.824 → 0.891; see docs/eval.md).
"""
from __future__ import annotations

import hashlib
import re

from .models import Chunk, Document
from .segment import Para

_NUM = "一二三四五六七八九十"
HEADING_LEVELS = [
    (1, re.compile(rf"^[{_NUM}]+、")),
    (2, re.compile(rf"^[(（][{_NUM}]+[)）]")),
    (3, re.compile(r"^\d{1,2}[.．、](?!\d)")),
    (4, re.compile(rf"^[{_NUM}]+是")),
]
_SENTENCE = re.compile(r"[^。！？；!?;]*[。！？；!?;]+[”」’)）]*|[^。！？；!?;]+$")
_ENDS_SENTENCE = re.compile(r"[。！？；!?;]$")


def heading_level(text: str) -> int:
    for level, pattern in HEADING_LEVELS:
        if pattern.match(text):
            return level
    return 0


def heading_label(text: str) -> tuple[str, bool]:
    """(label, standalone): a short line is a heading by itself; a long one opens with its heading sentence."""
    first = re.split(r"[。；;]", text, maxsplit=1)[0]
    standalone = len(text) <= 50 and text.count("。") <= 1 and len(first) >= len(text) - 1
    # A plan's numbered item is often one sentence: 「3.全市政务服务事项“一网通办”率达到95%以上。」 It names its
    # section and is content too. Outline headings (一、 and (一)) stay headings even with a full stop, and so does
    # a short item (「1.深化改革。」).
    if standalone and heading_level(text) >= 3 and _ENDS_SENTENCE.search(text) and len(text) > 20:
        standalone = False
    return first[:40], standalone


def sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans within text, on Chinese sentence ends."""
    return [(m.start(), m.end()) for m in _SENTENCE.finditer(text) if m.group().strip()]


def _windows(spans: list[tuple[int, int]], target: int, max_len: int) -> list[tuple[int, int]]:
    pieces: list[tuple[int, int]] = []
    for start, end in spans:  # an over-long sentence is cut at commas
        while end - start > max_len:
            cut = start + max_len
            window = _COMMA.finditer_spans(start, cut)
            cut = window or cut
            pieces.append((start, cut))
            start = cut
        pieces.append((start, end))
    out: list[tuple[int, int]] = []
    i = 0
    while i < len(pieces):
        start, end = pieces[i]
        j = i + 1
        while j < len(pieces) and end - start < target and pieces[j][1] - start <= max_len:
            end = pieces[j][1]
            j += 1
        out.append((start, end))
        if j >= len(pieces):
            break
        # A little overlap: the next window repeats this window's last sentence when it is short.
        last_start, last_end = pieces[j - 1]
        i = j - 1 if j - 1 > i and last_end - last_start <= 60 else j
    return out


class _Comma:
    pattern = re.compile(r"[，,、：:]")

    def __init__(self):
        self.text = ""

    def finditer_spans(self, start: int, cut: int) -> int | None:
        best = None
        for m in self.pattern.finditer(self.text, start + 20, cut):
            best = m.end()
        return best


_COMMA = _Comma()


# Bumped whenever the same text would be cut into other chunks; an index made by another version is re-chunked
# (`qa ingest` re-reads its files, `qa rebuild` rebuilds uploads too).
CHUNKING_VERSION = 2
PASSAGE_TARGET, PASSAGE_MAX = 300, 550


def is_flat(paras: list[Para], max_len: int = 220) -> bool:
    """One block of text longer than a window: no paragraph structure to follow."""
    return len(paras) == 1 and len(paras[0].text) > max_len


def chunk_document(doc: Document, paras: list[Para], source_text: str, target: int = 120, max_len: int = 220,
                   flat_target: int = PASSAGE_TARGET, flat_max: int = PASSAGE_MAX) -> list[Chunk]:
    if is_flat(paras, max_len):
        target, max_len = flat_target, flat_max
    has_numbered_top = any(heading_level(p.text) == 1 for p in paras)
    path: dict[int, str] = {}
    chunks: list[Chunk] = []
    pending_start: int | None = None
    _COMMA.text = source_text
    for idx, para in enumerate(paras):
        level = heading_level(para.text)
        nxt = paras[idx + 1].text if idx + 1 < len(paras) else ""
        if not level and len(para.text) <= 24 and not _ENDS_SENTENCE.search(para.text):
            if not has_numbered_top and len(nxt) >= 60:
                level = 1  # an unnumbered heading (兴安盟's 「高位推进 凝聚法治力量」)
            else:
                continue  # a photo caption or a stray label: not content
        if level:
            label, standalone = heading_label(para.text)
            path[level] = label
            for deeper in [k for k in path if k > level]:
                del path[deeper]
            if standalone:
                continue
        section = " > ".join(path[k] for k in sorted(path))
        if len(para.text) < 40 and not level and idx + 1 < len(paras) and not heading_level(nxt):
            pending_start = para.start if pending_start is None else pending_start
            continue  # a one-line lead-in joins the paragraph after it
        offsets = [(para.start + a, para.start + b) for a, b in sentences(para.text)]
        if pending_start is not None and offsets:
            offsets[0] = (pending_start, offsets[0][1])
            pending_start = None
        for start, end in _windows(offsets, target, max_len):
            text = source_text[start:end]
            if not text.strip():
                continue
            chunks.append(Chunk(chunk_id="", doc_id=doc.doc_id, ord=len(chunks), text=text, section=section, start=start, end=end))
        if level == 4:
            del path[4]  # 「一是…」 labels only its own paragraph
    seen: dict[str, int] = {}
    for chunk in chunks:
        # Scoped to the document: two files may share a passage under the same header (reposted notices).
        base = hashlib.sha1(f"{doc.doc_id}\n{chunk.embed_text(doc)}".encode()).hexdigest()[:16]
        seen[base] = seen.get(base, 0) + 1
        chunk.chunk_id = base if seen[base] == 1 else f"{base}-{seen[base]}"
    return chunks
