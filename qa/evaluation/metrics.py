"""Metrics, as pure functions over plain values, so each can be tested on a hand-made case.

Retrieval: does a chunk hold a gold evidence quote?  Answers: key facts, refusals.  Faithfulness without an
LLM judge: per answer sentence, numbers and named items must occur in the cited chunks and the sentence's
character bigrams must overlap them (threshold calibrated in `calibrate.py`, see docs/eval.md).  NCPQA:
exact match, character F1 and ROUGE-L (own LCS).
"""
from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field

from ..verify import ABSENCE, MARKER, numbers_in, split_sentences

# A sentence is supported when at least this share of its character bigrams occur in its cited chunks
# (plus their metadata). Calibrated on the seeds: see calibrate.py and docs/eval.md.
SUPPORT_THRESHOLD = 0.45
QUOTE_OVERLAP = 0.6  # a quote counts as inside a chunk when this share of its characters fall in the chunk's span

_SPACE = re.compile(r"\s+")
_QUOTES = str.maketrans({"“": '"', "”": '"', "„": '"', "「": '"', "」": '"', "‘": "'", "’": "'", "『": '"', "』": '"'})
_NUM = re.compile(r"\d+(?:\.\d+)?")
_NAMED = re.compile(r"[《“\"「]([^》”\"」]{2,40})[》”\"」]")
_KEEP = re.compile(r"[\w%]", re.UNICODE)
_LABEL = re.compile(r"^[^:：\n\[\]]{0,40}[(（][^()（）\n]{1,20}[)）][:：]")


# ---------------------------------------------------------------- text normalisation

def normalize(text: str) -> str:
    """Full-width → half-width (NFKC), curly quotes → straight, spaces removed, lower case."""
    return _SPACE.sub("", unicodedata.normalize("NFKC", text or "").translate(_QUOTES)).lower()


def content_chars(text: str) -> str:
    """Letters, digits, CJK characters and %; punctuation and spaces dropped (after normalize)."""
    return "".join(ch for ch in normalize(text) if _KEEP.match(ch) and ch != "_")


def strip_markers(text: str) -> str:
    return MARKER.sub("", text or "")


def canon_number(num: str) -> str:
    return num.rstrip("0").rstrip(".") if "." in num else num.lstrip("0") or "0"


# ---------------------------------------------------------------- retrieval

@dataclass
class ChunkRef:
    """A retrieved or cited chunk: where it sits in its source file and what it says."""

    source: str
    text: str
    start: int
    end: int
    chunk_id: str = ""
    meta: str = ""  # region, year, kind and title of its document (what the citation label tells the reader)


@dataclass
class QuoteRef:
    source: str
    quote: str
    start: int
    end: int


def quote_in_chunk(q: QuoteRef, c: ChunkRef, min_overlap: float = QUOTE_OVERLAP, long_spans: bool = False) -> bool:
    """Same document, and the quote is a substring of the chunk or ≥ min_overlap of its characters lie in its span.

    long_spans (NCPQA, whose answers run to hundreds of characters): a chunk shorter than the span also counts
    when ≥ min_overlap of the chunk lies inside the span, so small chunks are not ruled out by their size.
    """
    if q.source != c.source:
        return False
    if q.quote in c.text:
        return True
    length = q.end - q.start
    if length <= 0:
        return False
    inside = min(q.end, c.end) - max(q.start, c.start)
    if long_spans and c.end - c.start < length:
        return inside >= min_overlap * (c.end - c.start)
    return inside >= min_overlap * length


@dataclass
class RetrievalScore:
    recall: float  # share of quotes found in the top k
    all_found: bool  # every quote found
    rr: float  # 1 / rank of the first chunk holding any quote (0 when none)
    found: list[bool] = field(default_factory=list)


def retrieval_score(quotes: list[QuoteRef], chunks: list[ChunkRef], k: int) -> RetrievalScore:
    top = chunks[:k]
    found = [any(quote_in_chunk(q, c) for c in top) for q in quotes]
    rr = 0.0
    for rank, c in enumerate(top, 1):
        if any(quote_in_chunk(q, c) for q in quotes):
            rr = 1.0 / rank
            break
    recall = sum(found) / len(found) if found else 0.0
    return RetrievalScore(recall, bool(found) and all(found), rr, found)


# ---------------------------------------------------------------- answers

def key_facts_found(answer: str, key_facts: list[str]) -> list[str]:
    """The key facts that occur in the answer (citation markers dropped, both sides normalised)."""
    text = normalize(strip_markers(answer))
    return [k for k in key_facts if normalize(k) in text]


@dataclass
class AnswerScore:
    key_fact_recall: float | None  # None for unanswerable items
    missing: list[str]
    correct: bool  # answerable: not refused and every key fact present; unanswerable: refused
    refused: bool


def answer_score(item_type: str, key_facts: list[str], answer: str, refused: bool) -> AnswerScore:
    if item_type == "unanswerable":
        return AnswerScore(None, [], refused, refused)
    found = [] if refused else key_facts_found(answer, key_facts)
    missing = [k for k in key_facts if k not in found]
    recall = len(found) / len(key_facts) if key_facts else 1.0
    return AnswerScore(recall, missing, not refused and not missing, refused)


# ---------------------------------------------------------------- faithfulness

def bigrams(text: str) -> set[str]:
    chars = content_chars(text)
    return {chars[i : i + 2] for i in range(len(chars) - 1)}


def bigram_overlap(sentence: str, reference: str) -> float:
    """Share of the sentence's character bigrams that occur in the reference (1.0 for a sentence without any)."""
    sb = bigrams(sentence)
    if not sb:
        return 1.0
    return len(sb & bigrams(reference)) / len(sb)


def named_items(text: str) -> list[str]:
    """Region names (gazetteer) and quoted names (《…》, “…”) a sentence states."""
    from ..gazetteer import gazetteer

    items = [alias for alias, _ in gazetteer().mentions(text) if len(alias) >= 2]
    items += [m.group(1) for m in _NAMED.finditer(text)]
    return list(dict.fromkeys(items))


@dataclass
class SentenceVerdict:
    sentence: str
    supported: bool
    overlap: float
    reason: str = ""

    def to_dict(self) -> dict:
        return {"sentence": self.sentence, "supported": self.supported, "overlap": round(self.overlap, 3), "reason": self.reason}


def support(sentence: str, cited: list[ChunkRef], threshold: float = SUPPORT_THRESHOLD) -> SentenceVerdict:
    """Is one answer sentence supported by the chunks it cites?  `cited` holds only the chunks it names by [n]."""
    body = strip_markers(sentence).strip()
    if not cited:
        if ABSENCE.match(body) and not _NUM.search(body):
            return SentenceVerdict(sentence, True, 1.0, "statement of absence")
        return SentenceVerdict(sentence, False, 0.0, "no citation")
    reference = "\n".join(c.text + "\n" + c.meta for c in cited)
    ref_norm = normalize(reference)
    ref_numbers = {canon_number(n) for n in _NUM.findall(ref_norm)}
    overlap = bigram_overlap(body, reference)
    for num in numbers_in(normalize(body)):
        if canon_number(num) not in ref_numbers:
            return SentenceVerdict(sentence, False, overlap, f"number {num} not in the cited chunks")
    for name in named_items(body):
        if normalize(name) not in ref_norm:
            return SentenceVerdict(sentence, False, overlap, f"'{name}' not in the cited chunks")
    if overlap < threshold:
        return SentenceVerdict(sentence, False, overlap, f"bigram overlap {overlap:.2f} < {threshold}")
    return SentenceVerdict(sentence, True, overlap)


def faithfulness(answer: str, citations: dict[int, ChunkRef], threshold: float = SUPPORT_THRESHOLD) -> list[SentenceVerdict]:
    """One verdict per answer sentence (qa.verify.split_sentences); a [n] naming no citation cites nothing."""
    out = []
    for sentence in split_sentences(answer or ""):
        refs = [int(n) for n in MARKER.findall(sentence)]
        cited = [citations[n] for n in dict.fromkeys(refs) if n in citations]
        if refs and not cited:
            out.append(SentenceVerdict(sentence, False, 0.0, f"cites [{refs[0]}], which is not a citation"))
            continue
        out.append(support(sentence, cited, threshold))
    return out


@dataclass
class CitationScore:
    precision: float | None  # cited chunks holding a gold quote / cited chunks (None when nothing is cited)
    recall: float  # gold quotes inside some cited chunk / gold quotes
    relevant: int
    cited: int


def citation_score(quotes: list[QuoteRef], cited: list[ChunkRef]) -> CitationScore:
    relevant = sum(1 for c in cited if any(quote_in_chunk(q, c) for q in quotes))
    covered = sum(1 for q in quotes if any(quote_in_chunk(q, c) for c in cited))
    return CitationScore(relevant / len(cited) if cited else None, covered / len(quotes) if quotes else 0.0, relevant, len(cited))


# ---------------------------------------------------------------- NCPQA: span answers

def strip_labels(answer: str) -> str:
    """The answer's words only: [n] markers and the composer's source labels ('克拉玛依市(2024年工作报告):') removed."""
    lines = [_LABEL.sub("", line.strip()) for line in strip_markers(answer).split("\n")]
    return "\n".join(line for line in lines if line)


def exact_match(prediction: str, gold: str) -> float:
    return float(content_chars(prediction) == content_chars(gold) and bool(content_chars(gold)))


def char_f1(prediction: str, gold: str) -> float:
    """SQuAD-style F1 over characters (the usual unit for Chinese), punctuation and spaces dropped."""
    p, g = content_chars(prediction), content_chars(gold)
    if not p or not g:
        return float(p == g)
    common = sum((Counter(p) & Counter(g)).values())
    if not common:
        return 0.0
    precision, recall = common / len(p), common / len(g)
    return 2 * precision * recall / (precision + recall)


def lcs_length(a: str, b: str) -> int:
    """Longest common subsequence, O(len(a)·len(b)) time and O(len(b)) memory."""
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return 0
    prev = [0] * (len(b) + 1)
    for ca in a:
        cur = [0]
        for j, cb in enumerate(b, 1):
            cur.append(prev[j - 1] + 1 if ca == cb else (prev[j] if prev[j] > cur[j - 1] else cur[j - 1]))
        prev = cur
    return prev[-1]


def rouge_l(prediction: str, gold: str) -> float:
    """ROUGE-L F1 over characters (β = 1)."""
    p, g = content_chars(prediction), content_chars(gold)
    if not p or not g:
        return float(p == g)
    lcs = lcs_length(p, g)
    if not lcs:
        return 0.0
    precision, recall = lcs / len(p), lcs / len(g)
    return 2 * precision * recall / (precision + recall)


# ---------------------------------------------------------------- aggregation

def mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def percentile(values: list[float], q: float) -> float | None:
    """Linear-interpolated percentile (q in 0..100), as numpy's default."""
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    pos = (len(values) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return values[lo] + (values[hi] - values[lo]) * (pos - lo)


def latency(timings: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    stages = list(dict.fromkeys(k for t in timings for k in t))
    return {s: {"p50": percentile([t[s] for t in timings if s in t], 50), "p95": percentile([t[s] for t in timings if s in t], 95), "n": sum(1 for t in timings if s in t)} for s in stages}
