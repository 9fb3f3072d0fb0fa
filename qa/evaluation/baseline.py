"""The baseline: a plain LangChain RAG over the same files, answered by the same extractive composition.

RecursiveCharacterTextSplitter(chunk_size=500, chunk_overlap=50) over each file's text (as the index holds it),
a separate Chroma collection in its own folder with the same embedding model (`index.embeddings`), top-4
similarity search, then the product's evidence selection → sentences_answer → verify. No metadata (region,
year, kind), no BM25, no query analysis filters, no refusal rules: what stays is what a plain RAG has. The
difference between the two runs is what ingestion, hybrid retrieval and the answer rules buy.
"""
from __future__ import annotations

import hashlib
import time
from pathlib import Path

from ..models import Chunk, Document, Hit
from .metrics import ChunkRef
from .systems import Answered, doc_meta

CHUNK_SIZE, CHUNK_OVERLAP, TOP_K = 500, 50, 4
COLLECTION = "baseline_rcts500"
KIND = "原文"  # the baseline knows nothing about a file: its answers are labelled "(原文):"


class Baseline:
    name = "baseline"

    def __init__(self, index, folder: Path, progress=None, totals: dict | None = None):
        """index: the evaluated index, read only for its files' texts and its embedding model; folder: the baseline's own store."""
        import chromadb
        from chromadb.config import Settings as ChromaSettings
        from langchain_chroma import Chroma
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        from ..lexical import LexicalIndex, tokenize

        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        splitter = RecursiveCharacterTextSplitter(chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP, add_start_index=True)
        self.docs: dict[str, Document] = {}
        self.chunks: dict[str, Chunk] = {}
        pieces = []
        for source in index.catalog.sources():
            text = index.catalog.file_text(source) or ""
            doc_id = hashlib.sha1(source.encode()).hexdigest()[:12]
            self.docs[doc_id] = Document(doc_id=doc_id, source=source, ord=0, title=Path(source).name, region="", province="",
                                         city="", district="", level="", year=None, kind=KIND, published=None, start=0, end=len(text))
            for n, piece in enumerate(splitter.create_documents([text], metadatas=[{"source": source, "doc_id": doc_id}])):
                start = piece.metadata["start_index"]
                cid = hashlib.sha1(f"{source}\n{start}\n{piece.page_content}".encode()).hexdigest()[:16]
                piece.metadata["chunk_id"] = cid
                self.chunks[cid] = Chunk(cid, doc_id, n, piece.page_content, "", start, start + len(piece.page_content))
                pieces.append(piece)
        self.store = Chroma(
            collection_name=COLLECTION,
            embedding_function=index.embeddings,
            client=chromadb.PersistentClient(path=str(self.folder / "chroma"), settings=ChromaSettings(anonymized_telemetry=False)),
        )
        # Idempotent and resumable: only chunks not stored yet are embedded; chunks of changed files are dropped.
        present = set(self.store.get(include=[])["ids"])
        todo = [p for p in pieces if p.metadata["chunk_id"] not in present]
        if totals and todo:
            totals["chunks"](len(todo))
        for i in range(0, len(todo), 64):
            batch = todo[i : i + 64]
            self.store.add_documents(batch, ids=[p.metadata["chunk_id"] for p in batch])
            if progress:
                progress(len(batch))
        stale = sorted(present - set(self.chunks))
        if stale:
            self.store.delete(ids=stale)
        ids = list(self.chunks)
        self.lexical = LexicalIndex(ids, [tokenize(self.chunks[c].text) for c in ids])  # IDF weights for evidence selection only
        self.embedded = len(todo)

    def _search(self, question: str, k: int) -> list[Hit]:
        hits = []
        for rank, (piece, score) in enumerate(self.store.similarity_search_with_relevance_scores(question, k=k), 1):
            chunk = self.chunks.get(piece.metadata.get("chunk_id"))
            if chunk is None:
                continue
            hits.append(Hit(chunk=chunk, doc=self.docs[chunk.doc_id], score=float(score), rank=rank, dense=float(score)))
        return hits

    def _ref(self, chunk: Chunk) -> ChunkRef:
        doc = self.docs[chunk.doc_id]
        return ChunkRef(doc.source, chunk.text, chunk.start, chunk.end, chunk.chunk_id, doc_meta(doc.region, doc.year, doc.kind, doc.title))

    def all_chunks(self) -> list[ChunkRef]:
        if getattr(self, "_all", None) is None:
            self._all = [self._ref(c) for c in self.chunks.values()]
        return self._all

    def retrieve(self, question: str, k: int) -> list[ChunkRef]:
        return [self._ref(h.chunk) for h in self._search(question, k)]

    def answer(self, question: str) -> Answered:
        from ..answer import renumber
        from ..compose import Citations, sentences_answer
        from ..evidence import content_terms, select
        from ..query import analyze
        from ..verify import verify

        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        hits = self._search(question, TOP_K)
        t1 = time.perf_counter()
        timings["retrieval"] = t1 - t0
        info = analyze(question, list(self.docs.values()))
        terms = content_terms(question, info, self.lexical)
        evidence = select(hits, question, info, self.lexical)
        t2 = time.perf_counter()
        timings["evidence"] = t2 - t1
        cites = Citations()
        text = sentences_answer(evidence, terms, cites, {"list": 5, "which": 6}.get(info.qtype, 2)) if evidence else ""
        t3 = time.perf_counter()
        timings["composition"] = t3 - t2
        text, _report = verify(text, cites.items)
        text, items = renumber(text, cites.items)
        t4 = time.perf_counter()
        timings["verification"] = t4 - t3
        timings["total"] = t4 - t0
        refused = not text.strip()
        cited = {c.n: self._ref(self.chunks[c.chunk_id]) for c in items}
        shown = [{"n": c.n, "source": c.source, "region": c.region, "year": c.year, "kind": c.kind, "quote": c.quote} for c in items]
        return Answered("文档中没有找到能回答该问题的内容。" if refused else text, refused, {} if refused else cited, [] if refused else shown, timings)

    def answer_item(self, item_id: str, question: str) -> Answered:
        return self.answer(question)
