"""The product's retrieval as a LangChain retriever, for users who build their own chains on our index.

    from qa.retriever import QaRetriever
    chain = {"context": QaRetriever(index=index, k=5) | join, "question": RunnablePassthrough()} | prompt | llm

Each `langchain_core.documents.Document` is one retrieval unit of `qa.retrieval.search` (hybrid BM25 and dense
fusion, region/year filters, adjacent passages merged): its text, and in `metadata` where it comes from (region,
year, kind, title, section, source, doc_id), the chunk to cite (chunk_id, the best-scoring passage; chunk_ids, every
passage the unit covers) and its rank and fused score.
"""
from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document as LCDocument
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from .models import Hit
from .retrieval import Filters, search


def to_document(hit: Hit) -> LCDocument:
    doc = hit.doc
    return LCDocument(
        page_content=hit.text,
        id=hit.chunk.chunk_id,
        metadata={
            "region": doc.region, "province": doc.province, "year": doc.year, "kind": doc.kind, "title": doc.title,
            "section": hit.chunk.section, "source": doc.source, "doc_id": doc.doc_id,
            "chunk_id": hit.chunk.chunk_id, "chunk_ids": hit.chunk_ids, "start": hit.start, "end": hit.end,
            "rank": hit.rank, "score": round(float(hit.score), 4),
        },
    )


class QaRetriever(BaseRetriever):
    """`qa.retrieval.search` over an `qa.index.Index`; region / year / kind are strict filters (as in /api/search)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    index: Any
    k: int = 5
    region: str | None = None
    year: int | None = None
    kind: str | None = None

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[LCDocument]:
        hits = search(self.index, query, k=self.k, filters=Filters(self.region, self.year, self.kind))
        return [to_document(h) for h in hits]
