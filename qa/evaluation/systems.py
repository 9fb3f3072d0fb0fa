"""The systems under evaluation, behind one small interface: retrieve(question, k) and answer(question).

`Ours` is the product (qa.retrieval.search and qa.answer.ask); `baseline.Baseline` is the plain LangChain RAG.
Both hand back ChunkRefs, so every metric treats them the same way.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..models import KIND_LABELS
from .metrics import ChunkRef


@dataclass
class Answered:
    text: str
    refused: bool
    citations: dict[int, ChunkRef] = field(default_factory=dict)
    shown: list[dict] = field(default_factory=list)  # n, source, region, year, quote: what the report lists
    timings: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    llm: dict | None = None  # with an LLM backend: whether its draft was kept, and what it lost when not


def doc_meta(region: str, year, kind: str, title: str) -> str:
    """What a citation's label tells the reader about its source; a sentence may state it."""
    return " ".join(x for x in (region, f"{year}年" if year else "", KIND_LABELS.get(kind, kind), title) if x)


class Ours:
    name = "ours"

    def __init__(self, index, backend: str | None = None, name: str | None = None):
        self.index = index
        self.backend = backend
        if name:
            self.name = name
        self._docs = {d.doc_id: d for d in index.catalog.documents()}

    def _ref(self, chunk, doc) -> ChunkRef:
        return ChunkRef(doc.source, chunk.text, chunk.start, chunk.end, chunk.chunk_id, doc_meta(doc.region, doc.year, doc.kind, doc.title))

    def all_chunks(self) -> list[ChunkRef]:
        """Every chunk the index holds (to tell evidence that ingestion dropped from evidence ranked too low)."""
        if getattr(self, "_all", None) is None:
            self._all = [self._ref(c, self._docs[c.doc_id]) for c in self.index.catalog.chunks() if c.doc_id in self._docs]
        return self._all

    def retrieve(self, question: str, k: int) -> list[ChunkRef]:
        from ..retrieval import search

        # A merged unit (adjacent passages, qa/retrieval.py) is scored on its whole text and offsets.
        return [ChunkRef(h.doc.source, h.text, h.start, h.end, h.chunk.chunk_id, doc_meta(h.doc.region, h.doc.year, h.doc.kind, h.doc.title))
                for h in search(self.index, question, k=k)]

    def answer(self, question: str) -> Answered:
        from ..answer import QuestionError, ask

        try:
            a = ask(self.index, question, backend=self.backend)
        except QuestionError as exc:
            return Answered("", True, error=str(exc))
        chunks = {c.chunk_id: c for c in self.index.catalog.chunks([c.chunk_id for c in a.citations])}
        cites, shown = {}, []
        for c in a.citations:
            chunk = chunks.get(c.chunk_id)
            start, end = (chunk.start, chunk.end) if chunk else (c.start, c.end)
            cites[c.n] = ChunkRef(c.source, c.text, start, end, c.chunk_id, doc_meta(c.region, c.year, c.kind, c.title) + " " + c.section)
            shown.append({"n": c.n, "source": c.source, "region": c.region, "year": c.year, "kind": c.kind, "quote": c.quote})
        v = a.verification
        llm = None
        if "llm_draft" in v:
            llm = {"kept": not v.get("llm_fallback"), "repaired": bool(v.get("llm_repaired")),
                   "lost": v.get("llm_lost", []), "removed": len(v.get("llm_removed", []))}
        return Answered(a.text, a.refused, cites, shown, dict(a.timings), llm=llm)

    def answer_item(self, item_id: str, question: str) -> Answered:
        return self.answer(question)


class Precomputed:
    """Answers produced elsewhere (`qa ask --input gold.jsonl --json` lines), scored as they are.

    Retrieval metrics still come from `retriever` (this index's search): an answer file carries no ranking.
    """

    name = "input"

    def __init__(self, rows: list[dict], retriever: Ours):
        self.retriever = retriever
        self.by_id = {str(r["id"]): r for r in rows if r.get("id") is not None}
        self.by_question = {r.get("question"): r for r in rows}
        self._chunks = retriever.index.catalog

    def retrieve(self, question: str, k: int) -> list[ChunkRef]:
        return self.retriever.retrieve(question, k)

    def all_chunks(self) -> list[ChunkRef]:
        return self.retriever.all_chunks()

    def lookup(self, item_id: str, question: str) -> dict | None:
        return self.by_id.get(item_id) or self.by_question.get(question)

    def answer_item(self, item_id: str, question: str) -> Answered:
        return self.answer_row(self.lookup(item_id, question))

    def answer_row(self, row: dict | None) -> Answered:
        if row is None:
            return Answered("", True, error="no answer for this item in the input file")
        if row.get("error"):
            return Answered("", True, error=str(row["error"]))
        cites, shown = {}, []
        ids = [c.get("chunk_id", "") for c in row.get("citations", [])]
        chunks = {c.chunk_id: c for c in self._chunks.chunks([i for i in ids if i])}
        for c in row.get("citations", []):
            chunk = chunks.get(c.get("chunk_id", ""))
            text = c.get("text") or (chunk.text if chunk else "")
            start, end = (chunk.start, chunk.end) if chunk else (c.get("start", -1), c.get("end", -1))
            cites[int(c["n"])] = ChunkRef(c.get("source", ""), text, start, end, c.get("chunk_id", ""),
                                          doc_meta(c.get("region", ""), c.get("year"), c.get("kind", ""), c.get("title", "")))
            shown.append({k: c.get(k) for k in ("n", "source", "region", "year", "kind", "quote")})
        return Answered(row.get("answer", ""), bool(row.get("refused")), cites, shown, dict(row.get("timings") or {}))
