"""Evidence selection: the sentences (not whole chunks) that answer, scored against the question.

Each piece of evidence keeps its chunk, its document (region, year, kind) and its offsets in the source, so
that the answer can cite it exactly and the verifier can check it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .chunking import sentences
from .gazetteer import gazetteer
from .lexical import LexicalIndex, tokenize
from .models import Chunk, Document, Hit
from .query import ASKING, QueryInfo

_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_YEAR = re.compile(r"(?<!\d)(?:19|20)\d{2}(?!\d)")


@dataclass
class Evidence:
    text: str  # the sentence, exactly as in the source
    chunk: Chunk
    doc: Document
    start: int  # offsets in the source text
    end: int
    score: float
    coverage: float  # share of the question's content (IDF-weighted) the sentence carries
    hit_score: float

    @property
    def key(self) -> tuple[str, int]:
        return (self.doc.doc_id, self.start)


# Parts of speech that carry no content in a question: time words (现在), numerals without digits (几项),
# pronouns, adverbs, particles, prepositions, conjunctions, modal and auxiliary words.
_FUNCTION_POS = set("tmrdupcyeoqf")


def _content_words(text: str) -> set[str]:
    import jieba.posseg

    from .lexical import _jieba

    _jieba()
    keep = set()
    for word, flag in jieba.posseg.lcut(text):
        if flag != "eng" and flag[:1] in _FUNCTION_POS and not re.search(r"\d", word):
            continue
        keep.add(word.lower())
    return keep


def content_terms(question: str, info: QueryInfo, lexical: LexicalIndex) -> dict[str, float]:
    """The question's content words with IDF weights: region names and years are left to the filters."""
    text = question
    from .query import region_mentions

    for alias, _ in region_mentions(question):  # whole words: 示范县 keeps its 范县
        text = text.replace(alias, " ")
    text = _YEAR.sub(" ", text)
    text = ASKING.sub(" ", text)
    content = _content_words(text)
    terms = {}
    for tok in tokenize(text):
        if len(tok) == 1 and not tok.isdigit() and tok != "%":
            continue  # single characters say little in Chinese
        if not any(tok in word or (len(word) >= 2 and word in tok) for word in content):
            continue  # 现在, 几项, 提了: the question's grammar, not its content
        # A figure the user states may be the wrong one (a false premise): it counts, but only half.
        terms[tok] = lexical.weight(tok) * (0.5 if re.fullmatch(r"[\d.%]+", tok) else 1.0)
    # A token that is part of a longer one says nothing new (出庭 inside 出庭应诉率).
    kept = {t: w for t, w in terms.items() if not any(t != o and t in o for o in terms)} or terms
    return Terms(kept, unknown=frozenset(t for t in kept if t not in lexical.idf))


class Terms(dict):
    """Term → weight, plus the terms no report uses (the asker's own words: 不罚, 办完, 争创)."""

    def __init__(self, weights: dict[str, float], unknown: frozenset[str] = frozenset()):
        super().__init__(weights)
        self.unknown = unknown


# Characters that carry grammar or degree, not a topic: 不罚 ~ 免罚 shares 罚, not 不.
_GRAMMAR_CHARS = set("不没未少多很更最太大小好完了过得着有是在就都也还又再")


def _credit(term: str, text: str, unknown: bool = False) -> float:
    """1 for the term itself; for a longer term, part credit for its character pairs (解决问题 ~ 已解决…问题).

    A two-character word no report uses is the asker's paraphrase (不罚 for 免罚, 争创 for 创建, 办完 for 办结):
    no sentence can contain it, so a sentence sharing its topic character earns half. A word some report uses
    earns nothing for a shared character: its absence from this sentence is real."""
    if term in text:
        return 1.0
    if len(term) < 3:
        if unknown and len(term) == 2 and any(c in text for c in term if c not in _GRAMMAR_CHARS):
            return 0.5
        return 0.0
    pairs = [term[i : i + 2] for i in range(len(term) - 1)]
    return 0.8 * sum(p in text for p in pairs) / len(pairs)


def coverage(text: str, terms: dict[str, float], context: str = "") -> float:
    """IDF-weighted share of the terms in the text; a term found only in the section heading counts 0.6."""
    total = sum(terms.values())
    if not total:
        return 0.0
    text, context = text.lower(), context.lower()
    unknown = getattr(terms, "unknown", frozenset())
    return sum(w * max(_credit(t, text, t in unknown), 0.6 * _credit(t, context, t in unknown)) for t, w in terms.items()) / total


_ANAPHOR = re.compile(r"^(?:该|此|上述|这一?)(?:平台|项目|系统|做法|经验|机制|制度|案例|模式|办法|成果|工作|举措|措施|中心|品牌|项|个|些|次)")


def select(hits: list[Hit], question: str, info: QueryInfo, lexical: LexicalIndex, limit: int = 6) -> list[Evidence]:
    """Sentences from the hits, best first, one per place in the source."""
    terms = content_terms(question, info, lexical)
    top = max((h.score for h in hits), default=1.0) or 1.0
    found: dict[tuple[str, int], Evidence] = {}
    # A merged retrieval unit (qa/retrieval.py merge_adjacent) is read part by part, so each sentence cites the
    # passage that holds it.
    for hit, chunk in ((h, c) for h in hits for c in h.parts):
        spans = sentences(chunk.text)
        for i, (s, e) in enumerate(spans):
            text = chunk.text[s:e].strip()
            if len(text) < 6:
                continue
            if i and _ANAPHOR.match(text):  # «该平台入选…» names its subject in the sentence before: quote both
                s = spans[i - 1][0]
                text = chunk.text[s:e].strip()
            start = chunk.start + s + (len(chunk.text[s:e]) - len(chunk.text[s:e].lstrip()))
            cov = coverage(text, terms, chunk.section)
            score = 0.7 * cov + 0.3 * (hit.score / top)
            if info.indicator and info.indicator in text:
                score += 0.15
            if info.qtype in ("number", "which", "compare") and _NUMBER.search(_YEAR.sub("", text)):
                score += 0.05
            ev = Evidence(text, chunk, hit.doc, start, start + len(text), score, cov, hit.score)
            if ev.key not in found or found[ev.key].score < score:
                found[ev.key] = ev
    ranked = sorted(found.values(), key=lambda e: -e.score)
    return ranked[:limit]


def trim(text: str, terms: dict[str, float], max_len: int = 90, keep_figures: bool = False) -> str:
    """Keep the clauses that carry the question's content (and, for questions about figures, every clause stating
    one: 「克拉玛依市位列第40名」 shares no word with 「排第几」); a short sentence stays whole."""
    if len(text) <= max_len:
        return text
    clauses = re.split(r"(?<=[，,；;])", text)
    kept = [c for c in clauses if coverage(c, terms) > 0 or (_NUMBER.search(_YEAR.sub("", c)) and (keep_figures or any(t in c for t in terms)))]
    if not kept:
        return text
    out = "".join(kept).rstrip("，,；;")
    return out if out.endswith(("。", "！", "？")) else out + "。"
