"""The verifier: nothing reaches the user that its cited paragraphs do not say.

Rules, per answer sentence: it carries at least one [n]; every [n] names a retrieved chunk; every number
in it occurs in a cited chunk; every region and year it names belongs to a cited chunk. Sentences that fail
are removed, and the report says which and why.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from .gazetteer import Region, gazetteer
from .models import Citation
from .query import doc_region

MARKER = re.compile(r"\[(\d+)\]")
_SENTENCE = re.compile(r"[^。！？!?\n]+(?:[。！？!?]|(?=\n)|$)(?:\s*\[\d+\])*")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_YEAR = re.compile(r"(?<!\d)(?:19|20)\d{2}(?=年)")
# "The documents do not say X" needs no citation, as long as it states no figure.
ABSENCE = re.compile(r"^(文档|报告|资料|材料)(中|里)?(没有|未)")


@dataclass
class Verdict:
    sentence: str
    ok: bool
    reason: str = ""


@dataclass
class Report:
    verdicts: list[Verdict] = field(default_factory=list)

    @property
    def removed(self) -> list[Verdict]:
        return [v for v in self.verdicts if not v.ok]

    def to_dict(self) -> dict:
        return {
            "sentences": len(self.verdicts),
            "supported": sum(v.ok for v in self.verdicts),
            "removed": [{"sentence": v.sentence, "reason": v.reason} for v in self.removed],
        }


def split_sentences(text: str) -> list[str]:
    return [m.group().strip() for m in _SENTENCE.finditer(text) if MARKER.sub("", m.group()).strip(" 。；;，,:：-*")]


_ENUMERATOR = re.compile(r"^\s*\d{1,2}\.(?!\d)")  # «1. 一是…» numbers a list line; it is layout, not a figure


def numbers_in(text: str) -> list[str]:
    text = _ENUMERATOR.sub(" ", MARKER.sub(" ", text))
    return [n for n in _NUMBER.findall(text)]


def _canon(num: str) -> str:
    return num.rstrip("0").rstrip(".") if "." in num else num


def check_sentence(sentence: str, citations: dict[int, Citation], docs_by_chunk: dict[str, object] | None = None) -> Verdict:
    refs = [int(n) for n in MARKER.findall(sentence)]
    if not refs and ABSENCE.match(sentence) and not _NUMBER.search(sentence):
        return Verdict(sentence, True, "statement of absence")
    if not refs:
        return Verdict(sentence, False, "no citation")
    unknown = [n for n in refs if n not in citations]
    if unknown:
        return Verdict(sentence, False, f"cites [{unknown[0]}], which was not retrieved")
    cited = [citations[n] for n in refs]
    source = "\n".join(c.text + "\n" + c.section for c in cited)  # the label shows the section: it may be named
    source_numbers = {_canon(n) for n in _NUMBER.findall(source)} | {str(c.year) for c in cited if c.year}
    for num in numbers_in(sentence):
        if _canon(num) not in source_numbers:
            return Verdict(sentence, False, f"number {num} is not in the cited text")
    body = MARKER.sub("", sentence)
    cited_regions = [Region(*_region_of(c)) for c in cited]
    for alias, candidates in gazetteer().mentions(body):
        if len(alias) < 2 or alias in source:
            continue
        if not any(cand.contains(r) or r.contains(cand) for cand in candidates for r in cited_regions if r.province):
            return Verdict(sentence, False, f"names {alias}, which the cited text is not about")
    for year in _YEAR.findall(body):
        if year not in source and not any(str(c.year) == year for c in cited):
            return Verdict(sentence, False, f"year {year} is not in the cited text")
    return Verdict(sentence, True)


def _region_of(c: Citation) -> tuple[str, str, str]:
    return (c.province, c.city, c.district)


def verify(text: str, citations: list[Citation]) -> tuple[str, Report]:
    """The answer with failing sentences removed, and the report."""
    by_n = {c.n: c for c in citations}
    report = Report()
    kept_lines = []
    for line in text.split("\n"):
        kept = []
        for sentence in split_sentences(line):
            verdict = check_sentence(sentence, by_n)
            report.verdicts.append(verdict)
            if verdict.ok:
                kept.append(sentence)
        if kept:
            kept_lines.append("".join(kept))
    return "\n".join(kept_lines), report


__all__ = ["verify", "check_sentence", "split_sentences", "numbers_in", "Report", "doc_region"]
