"""Indicator facts pulled from the text at ingest: (region, year, indicator, value, status, sentence).

They let "which regions…" questions look across every report instead of a global top-k. A plan that
says 推动实现…100% states a goal, not a result; the status keeps the two apart.
"""
from __future__ import annotations

import re

from .chunking import sentences
from .models import Chunk, Document

_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s*%")
_CLAUSE_SPLIT = re.compile(r"[，,；;。:：]")
_INDICATOR = re.compile(r"([\u4e00-\u9fff“”\"（）()A-Za-z0-9+]{1,24}?(?:率|比率|占比|比例|覆盖度|满意度))")
_SCOPE = re.compile(r"^(全市|全区|全盟|全县|全旗|全省|全州|我市|我区|我县|我盟|本级|市本级|区本级|各级|市、区两级|市县两级|全面|进一步|推动实现|推动|实现|确保|力争|努力|其中)+")
_GOAL = re.compile(r"推动实现|力争|争取|目标|确保|努力|要求|计划|将.{0,6}(达到|提高|提升)")
_LINKS = ("达到", "达", "为", "是", "提高到", "提升至", "提升到", "保持在", "均达", "均为")


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


def extract_facts(doc: Document, chunks: list[Chunk], source_text: str) -> list[dict]:
    facts, seen = [], set()
    for chunk in chunks:
        for s_start, s_end in sentences(chunk.text):
            sentence = chunk.text[s_start:s_end]
            for m in _PERCENT.finditer(sentence):
                before = _CLAUSE_SPLIT.split(sentence[: m.start()])[-1]
                names = indicators_before(before)
                if not names:
                    continue
                status = "goal" if doc.kind == "plan" or _GOAL.search(before) else "result"
                start = chunk.start + s_start
                for name in names:
                    key = (name, m.group(1), start)
                    if key in seen:  # overlapping windows repeat a sentence
                        continue
                    seen.add(key)
                    facts.append(
                        {
                            "doc_id": doc.doc_id,
                            "chunk_id": chunk.chunk_id,
                            "indicator": name,
                            "value": float(m.group(1)),
                            "unit": "%",
                            "raw": m.group(0).replace(" ", ""),
                            "status": status,
                            "sentence": sentence.strip(),
                            "start": start,
                            "end": chunk.start + s_end,
                        }
                    )
    return facts
