"""The gold set: one JSON object per line (see docs/eval.md for the schema), loaded and checked.

`load_gold` checks the schema of any file (so users can bring their own); `resolve_evidence` locates every
evidence quote in the text of its document as the index holds it, which the retrieval and citation metrics
need. Both collect every problem and raise one `GoldError` listing them all.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

TYPES = ("fact", "list", "multi_doc", "attribution", "temporal", "unanswerable", "false_premise", "true_premise", "metadata")
FIELDS = {"id": str, "question": str, "type": str, "answer": str, "key_facts": list, "evidence": list, "regions": list}


class GoldError(ValueError):
    """A gold file that cannot be used; `problems` lists every reason, one per line of the message."""

    def __init__(self, path: str | Path, problems: list[str]):
        self.problems = problems
        shown = problems[:30] + ([f"... and {len(problems) - 30} more"] if len(problems) > 30 else [])
        super().__init__(f"{path}: {len(problems)} problem(s) in the gold file:\n  " + "\n  ".join(shown))


@dataclass
class Evidence:
    doc: str  # a prefix of the document's file name, e.g. "000"
    quote: str
    source: str | None = None  # filled by resolve_evidence: the index's source key
    start: int = -1  # offsets of the quote in the source text
    end: int = -1


@dataclass
class GoldItem:
    id: str
    question: str
    type: str
    answer: str
    key_facts: list[str]
    evidence: list[Evidence]
    regions: list[str]
    line: int = 0

    @property
    def answerable(self) -> bool:
        return self.type != "unanswerable"

    def to_dict(self) -> dict:
        return {
            "id": self.id, "question": self.question, "type": self.type, "answer": self.answer,
            "key_facts": self.key_facts, "evidence": [{"doc": e.doc, "quote": e.quote} for e in self.evidence],
            "regions": self.regions,
        }


def parse_gold(lines: list[str], where: str = "gold") -> list[GoldItem]:
    problems: list[str] = []
    items: list[GoldItem] = []
    seen: dict[str, int] = {}
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        at = f"line {lineno}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"{at}: not valid JSON ({exc.msg} at column {exc.colno})")
            continue
        if not isinstance(row, dict):
            problems.append(f"{at}: not a JSON object")
            continue
        if isinstance(row.get("id"), str):
            at = f"line {lineno} ({row['id']})"
        bad = False
        for name, typ in FIELDS.items():
            if name not in row:
                problems.append(f"{at}: missing field '{name}'")
                bad = True
            elif not isinstance(row[name], typ):
                problems.append(f"{at}: field '{name}' must be a {'string' if typ is str else 'list'}")
                bad = True
        if bad:
            continue
        if not row["id"].strip():
            problems.append(f"{at}: empty id")
        elif row["id"] in seen:
            problems.append(f"{at}: id '{row['id']}' already used on line {seen[row['id']]}")
        seen.setdefault(row["id"], lineno)
        if not row["question"].strip():
            problems.append(f"{at}: empty question")
        if row["type"] not in TYPES:
            problems.append(f"{at}: type '{row['type']}' is not one of {', '.join(TYPES)}")
        if not all(isinstance(k, str) and k.strip() for k in row["key_facts"]):
            problems.append(f"{at}: key_facts must be non-empty strings")
        if not all(isinstance(r, str) for r in row["regions"]):
            problems.append(f"{at}: regions must be strings")
        evidence = []
        for j, ev in enumerate(row["evidence"]):
            if not (isinstance(ev, dict) and isinstance(ev.get("doc"), str) and isinstance(ev.get("quote"), str)
                    and ev["doc"].strip() and ev["quote"].strip()):
                problems.append(f"{at}: evidence[{j}] must be {{\"doc\": \"<file name prefix>\", \"quote\": \"<exact text>\"}}")
                continue
            evidence.append(Evidence(ev["doc"], ev["quote"]))
        if row["type"] == "unanswerable":
            if row["key_facts"] or row["evidence"]:
                problems.append(f"{at}: an unanswerable item has empty key_facts and evidence")
        elif row["type"] in TYPES:
            if not row["key_facts"]:
                problems.append(f"{at}: key_facts is empty (only unanswerable items may have none)")
            if not row["evidence"]:
                problems.append(f"{at}: evidence is empty (only unanswerable items may have none)")
        items.append(GoldItem(row["id"], row["question"], row["type"], row["answer"], list(row["key_facts"]),
                              evidence, list(row["regions"]), lineno))
    if not items and not problems:
        problems.append("no items")
    if problems:
        raise GoldError(where, problems)
    return items


def load_gold(path: str | Path) -> list[GoldItem]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise GoldError(path, ["file not found"]) from None
    except UnicodeDecodeError as exc:
        raise GoldError(path, [f"not UTF-8 ({exc})"]) from None
    return parse_gold(text.splitlines(), str(path))


def source_for(doc: str, sources: list[str]) -> list[str]:
    """Sources whose file name starts with the evidence's doc prefix ('000' → 'seeds/000_….txt')."""
    return [s for s in sources if Path(s).name.startswith(doc)]


def resolve_evidence(items: list[GoldItem], sources: list[str], text_of, where: str = "gold") -> None:
    """Fill each quote's source and offsets; raise GoldError when a doc or a quote cannot be found.

    text_of(source) → the source text the index holds (`index.catalog.file_text`).
    """
    problems = []
    texts: dict[str, str] = {}
    for item in items:
        for j, ev in enumerate(item.evidence):
            at = f"line {item.line} ({item.id}) evidence[{j}]"
            matches = source_for(ev.doc, sources)
            if len(matches) != 1:
                problems.append(f"{at}: doc '{ev.doc}' matches {len(matches)} indexed files {matches[:5]}; it must name exactly one")
                continue
            source = matches[0]
            if source not in texts:
                texts[source] = text_of(source) or ""
            pos = texts[source].find(ev.quote)
            if pos < 0:
                problems.append(f"{at}: quote is not an exact substring of {source}: '{ev.quote}'")
                continue
            ev.source, ev.start, ev.end = source, pos, pos + len(ev.quote)
    if problems:
        raise GoldError(where, problems)
