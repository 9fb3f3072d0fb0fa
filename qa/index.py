"""The index: catalogue (SQLite) + vectors (Chroma, through LangChain) + BM25 (bm25s), kept in step.

Write order for a file: vectors first (adds only), then the catalogue in one transaction, then old
vectors are dropped. Readers trust only the catalogue, so a crash at any point leaves either the old or
the new version of the file searchable, never a mix.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .catalog import Catalog
from .errors import IndexUnavailable, QaError  # noqa: F401 (IndexUnavailable: imported from here too)
from .embeddings import CachedEmbeddings, get_embeddings
from .lexical import LexicalIndex, char_bigrams, tokenize
from .models import Chunk, Document, SourceText
from .settings import Settings


# Asked for more chunks' similarities than this, the index answers from its in-memory matrix of all vectors.
MATRIX_ABOVE = 1000


class EmbeddingMismatch(IndexUnavailable):
    """The stored vectors come from another embedding model than the one configured: they cannot be compared."""


@dataclass
class IngestResult:
    source: str
    status: str  # added / updated / unchanged / failed / duplicate (every document already indexed from another file)
    documents: list[Document] = field(default_factory=list)
    chunks: int = 0
    embedded: int = 0
    error: str | None = None
    # Documents of this file not indexed because another file already holds the same text:
    # [{"title", "duplicate_of" (the canonical doc_id), "source" (its file), "similarity"}]
    duplicates: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "status": self.status,
            "chunks": self.chunks,
            "embedded": self.embedded,
            "error": self.error,
            "documents": [{"doc_id": d.doc_id, "title": d.title, "region": d.region, "year": d.year, "kind": d.kind,
                           "low_confidence": d.low_confidence()} for d in self.documents],
            "duplicates": self.duplicates,
        }


class Index:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.catalog = Catalog(settings.database_url or settings.catalog_path)
        self._vectorstore = None
        self._lexical: tuple[LexicalIndex, int] | None = None
        self._lock = threading.RLock()
        # (catalogue version, chunk id → row, matrix): every chunk's vector, for questions over all documents.
        self._vectors: tuple[int, dict[str, int], np.ndarray] | None = None
        self._vectors_lock = threading.Lock()
        self._mentions: tuple[int, dict[str, tuple[bool, frozenset]]] | None = None
        self._arrays: ChunkArrays | None = None
        self._chunk_docs: tuple[int, list[tuple[str, str]], dict[str, list[tuple[str, str]]]] | None = None

    # ------------------------------------------------------------ parts
    @property
    def embeddings(self) -> CachedEmbeddings:
        return get_embeddings(self.settings)

    @property
    def vectorstore(self):
        with self._lock:
            if self._vectorstore is None:
                from langchain_chroma import Chroma

                self._check_model()
                client = self._client()
                try:
                    self._vectorstore = Chroma(
                        collection_name=self.settings.collection,
                        embedding_function=self.embeddings,
                        client=client,
                        collection_configuration={"hnsw": {"space": "cosine"}},
                    )
                except Exception as exc:  # e.g. the server went away between connecting and opening the collection
                    raise IndexUnavailable(f"向量库不可用 ({exc})") from exc
            return self._vectorstore

    def _check_model(self) -> None:
        """The catalogue records which model made its vectors; a query embedded by another model would be
        compared with them silently (or fail on the dimension), so a switch needs a rebuild."""
        stored, current = self.catalog.meta("embedding_model"), self.embeddings.name
        if stored is None:
            self.catalog.set_meta("embedding_model", current)  # new index (or one from before this was recorded)
        elif stored != current:
            raise EmbeddingMismatch(
                f"索引的向量由 {stored} 生成,当前 QA_EMBED_MODEL 对应 {current}。请改回原模型,或运行 `qa rebuild` 用新模型重建 "
                f"(index vectors were made by {stored}, the configured model is {current}: switch back or run `qa rebuild`)"
            )

    def _client(self):
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        chroma_settings = ChromaSettings(anonymized_telemetry=False)
        if self.settings.chroma_url:
            from urllib.parse import urlparse

            url = urlparse(self.settings.chroma_url)
            try:
                return chromadb.HttpClient(host=url.hostname or "127.0.0.1", port=url.port or 8000, ssl=url.scheme == "https", settings=chroma_settings)
            except Exception as exc:  # connection errors surface as several types
                raise IndexUnavailable(f"Chroma 服务不可用: {self.settings.chroma_url} ({exc})") from exc
        self.settings.chroma_dir.mkdir(parents=True, exist_ok=True)
        try:
            return chromadb.PersistentClient(path=str(self.settings.chroma_dir), settings=chroma_settings)
        except Exception as exc:
            raise IndexUnavailable(f"向量库无法打开: {self.settings.chroma_dir} ({exc}). 运行 `qa rebuild` 重建 (run `qa rebuild`).") from exc

    @property
    def collection(self):
        """The raw Chroma collection, for counts in stats and tests; reads and writes go through LangChain."""
        return self.vectorstore._collection

    def lexical(self) -> LexicalIndex:
        """The BM25 index for the catalogue's current version, loaded or rebuilt as needed."""
        with self._lock:
            version = self.catalog.version()
            if self._lexical and self._lexical[1] == version:
                return self._lexical[0]
            lexical = LexicalIndex.load(self.settings.lexical_dir, version)
            if lexical is None:
                _release_free_heap()
                version, fields = self._lexical_fields()
                # each input is dropped once its field is built (LexicalIndex.consume): the 100x ingest peaked here
                lexical = LexicalIndex.consume(fields)
                lexical.save(self.settings.lexical_dir, version)
            self._lexical = (lexical, version)
            return lexical

    def _lexical_fields(self) -> tuple[int, dict]:
        """(the catalogue version read, LexicalIndex's inputs by name) from one read of the chunks; the chunk texts
        are not kept once their bigrams are taken."""
        # Every occurrence of a token or bigram as one shared string: at 2,000 reports the fields hold ~1.8 M
        # jieba tokens and ~4.5 M bigrams, each its own str object when decoded or sliced; building BM25 then
        # peaked at +800 MB (measured 2026-12-04 on a 30,536-chunk index). Same strings, same index.
        memo: dict[str, str] = {}
        intern = lambda xs: [memo.setdefault(x, x) for x in xs]  # noqa: E731
        version, rows = self.catalog.lexical_rows(intern)  # the version these rows really are
        docs = {d.doc_id: d for d in self.catalog.documents()}
        ids, tokens, bigrams, parents = [], [], [], []
        for cid, doc_id, text, section, toks in rows:
            doc = docs.get(doc_id)
            ids.append(cid)
            tokens.append(toks)
            parents.append(parent_key(doc_id, section))
            bigrams.append(intern(char_bigrams(Chunk(cid, doc_id, 0, text, section, 0, 0).search_text(doc) if doc else text)))
        # A passage: a chunk of a document cut into passages (one block of text); only those exceed chunk_max.
        long_docs = {doc_id for _, doc_id, text, _, _ in rows if len(text) > self.settings.chunk_max}
        passages = [doc_id in long_docs for _, doc_id, _, _, _ in rows]
        return version, {"ids": ids, "tokens": tokens, "bigrams": bigrams, "parents": parents, "passages": passages}

    # ------------------------------------------------------------ writes
    def add_source(self, src: SourceText, docs: list[tuple[Document, list[Chunk]]], facts: list[dict] | None = None, progress=None,
                   fingerprints: dict[str, str] | None = None) -> IngestResult:
        return self.add_sources([(src, docs, facts or [])], progress, fingerprints)[0]

    def add_sources(self, batch: list[tuple[SourceText, list[tuple[Document, list[Chunk]]], list[dict]]], progress=None,
                    fingerprints: dict[str, str] | None = None) -> list[IngestResult]:
        """Several files: one vector write for all of them, then each file's catalogue swap in its own transaction.

        A Chroma write costs ~150 ms whatever its size, so writing file by file made a 2,000-report ingest spend
        minutes in fixed costs. Vectors still land before any catalogue swap, so a crash leaves each file old or new.
        """
        by_doc = {d.doc_id: d for _, docs, _ in batch for d, _ in docs}
        added = self._add_vectors([c for _, docs, _ in batch for _, cs in docs for c in cs], by_doc, progress)
        results = []
        for src, docs, facts in batch:
            documents = [d for d, _ in docs]
            chunks = [c for _, cs in docs for c in cs]
            old_ids = self.catalog.chunk_ids_for_source(src.source)
            tokens = {c.chunk_id: tokenize(c.search_text(by_doc[c.doc_id])) for c in chunks}
            self.catalog.replace_source(src, documents, chunks, tokens, facts, fingerprints)
            stale = sorted(old_ids - {c.chunk_id for c in chunks})
            if stale:
                self._delete_vectors(stale)
            embedded = sum(c.chunk_id in added for c in chunks)
            results.append(IngestResult(src.source, "updated" if old_ids else "added", documents, len(chunks), embedded))
        return results

    def _add_vectors(self, chunks: list[Chunk], by_doc: dict[str, Document], progress=None) -> set[str]:
        """Embed and store the chunks the vector store does not hold yet; returns their ids."""
        ids = [c.chunk_id for c in chunks]
        store = self.vectorstore  # outside the try: a model mismatch is not an outage
        try:
            present = set(store.get(ids=ids, include=[])["ids"]) if ids else set()
        except Exception as exc:
            raise IndexUnavailable(f"向量库不可用 ({exc})") from exc
        todo = list({c.chunk_id: c for c in chunks if c.chunk_id not in present}.values())  # one add per id
        if not todo:
            return set()
        texts = [c.embed_text(by_doc[c.doc_id]) for c in todo]
        self.embeddings.embed_documents(texts, progress=progress)  # fills the cache; add_texts reads it back
        metadatas = [{"doc_id": c.doc_id, "source": by_doc[c.doc_id].source} for c in todo]
        try:
            for i in range(0, len(todo), 1000):
                self.vectorstore.add_texts(texts[i : i + 1000], metadatas=metadatas[i : i + 1000], ids=[c.chunk_id for c in todo[i : i + 1000]])
        except Exception as exc:
            raise IndexUnavailable(f"向量库写入失败 ({exc})") from exc
        return {c.chunk_id for c in todo}

    def _delete_vectors(self, ids: list[str]) -> None:
        try:
            for i in range(0, len(ids), 1000):
                self.vectorstore.delete(ids=ids[i : i + 1000])
        except Exception:
            pass  # orphans are invisible to readers; `qa ingest --gc` sweeps them later

    def delete_source(self, source: str) -> bool:
        ids = sorted(self.catalog.chunk_ids_for_source(source))
        removed = self.catalog.delete_source(source)
        if ids:
            self._delete_vectors(ids)
        return removed

    def gc(self) -> int:
        """Drop vectors whose chunks the catalogue no longer lists (left by a crash)."""
        live = {c.chunk_id for c in self.catalog.chunks()}
        stored = set(self.vectorstore.get(include=[])["ids"])
        orphans = sorted(stored - live)
        self._delete_vectors(orphans)
        return len(orphans)

    # ------------------------------------------------------------ reads
    def dense_search(self, query_vec: list[float], k: int, doc_ids: list[str] | None = None,
                     chunk_ids: list[str] | None = None) -> dict[str, float]:
        """chunk_id → cosine similarity for the k nearest chunks (within doc_ids when given; `chunk_ids`, when given,
        must be those documents' chunks).

        Within documents, an index of more than MATRIX_ABOVE chunks ranks their chunks exactly from the in-memory
        matrix: Chroma filters by metadata before its search, and that cost 100 ms for one document and 500 ms for
        1,999 of 2,000 at 100× the seeds (against 9 ms unfiltered; measured 2026-12-04, load ~3). Chroma's filtered
        search is an HNSW walk, so it may miss a neighbour the exact ranking finds; smaller indexes keep using it."""
        if doc_ids and self._matrix_sized():
            wanted = chunk_ids if chunk_ids is not None else [cid for cid, _ in self.chunk_doc_ids(doc_ids)]
            scores = self.dense_scores(query_vec, wanted, matrix=True)
            return dict(sorted(scores.items(), key=lambda item: -item[1])[:k])
        where = {"doc_id": {"$in": doc_ids}} if doc_ids else None
        store = self.vectorstore
        try:
            found = store.similarity_search_by_vector_with_relevance_scores(query_vec, k=k, filter=where)
        except Exception as exc:
            raise IndexUnavailable(f"向量库不可用 ({exc})") from exc
        return {doc.id: 1.0 - float(distance) for doc, distance in found}  # cosine distance → similarity

    def dense_scores(self, query_vec: list[float], chunk_ids: list[str], matrix: bool = False) -> dict[str, float]:
        """Exact similarities for given chunks, so fusion never treats an unseen chunk as a zero (from the matrix of
        all vectors when many are asked for, when `matrix`, or in an index that keeps one: fetching ~100 vectors from
        Chroma cost ~15 ms a question at 2,000 reports)."""
        if not chunk_ids:
            return {}
        q = np.asarray(query_vec, dtype=np.float32)
        if matrix or len(chunk_ids) > MATRIX_ABOVE or self._matrix_sized():
            position, matrix = self.vector_matrix()
            known = [c for c in chunk_ids if c in position]
            scores = dict(zip(known, (matrix[[position[c] for c in known]] @ q).tolist())) if known else {}
            rest = [c for c in chunk_ids if c not in position]  # written since the matrix was read
            return scores | (self._fetch_scores(q, rest) if rest else {})
        return self._fetch_scores(q, chunk_ids)

    def chunk_arrays(self, lexical: LexicalIndex) -> "ChunkArrays | None":
        """Every chunk of the current catalogue version as arrays for «which regions…» questions (which score them
        all), built once per version and BM25 snapshot: at 2,000 reports, looking up 30,536 ids in the BM25 positions,
        the vector matrix and the documents cost ~35 ms a question. None below MATRIX_ABOVE chunks."""
        rows, _ = self._chunk_rows()
        if len(rows) <= MATRIX_ABOVE:
            return None
        position, _ = self.vector_matrix()
        with self._vectors_lock:
            cached = self._arrays
            if cached is not None and cached.rows is rows and cached.lexical is lexical and cached.position is position:
                return cached
            self._arrays = ChunkArrays(rows, lexical, position)
            return self._arrays

    def dense_array(self, query_vec: list[float], chunk_ids: list[str], rows: np.ndarray | None = None) -> np.ndarray:
        """dense_scores(query_vec, chunk_ids) as an array in the order of chunk_ids (0.0 for a chunk without a vector).

        «Which regions…» questions score all 30,536 chunks at 2,000 reports: the dict of scores and the Python loops
        over it cost ~140 ms of a question's ~600 (cProfile, 2026-12-04, load ~3)."""
        if len(chunk_ids) <= MATRIX_ABOVE:
            scores = self.dense_scores(query_vec, chunk_ids)
            return np.array([scores.get(c, 0.0) for c in chunk_ids], dtype=np.float32)
        q = np.asarray(query_vec, dtype=np.float32)
        position, matrix = self.vector_matrix()
        if rows is None or len(rows) != len(chunk_ids):  # `rows`: the chunks' rows in this matrix (ChunkArrays)
            rows = np.fromiter((position.get(c, -1) for c in chunk_ids), dtype=np.int64, count=len(chunk_ids))
        out = np.zeros(len(chunk_ids), dtype=np.float32)
        known = rows >= 0
        out[known] = (matrix @ q)[rows[known]]
        if not known.all():  # written since the matrix was read
            rest = [chunk_ids[i] for i in np.flatnonzero(~known)]
            fetched = self._fetch_scores(q, rest)
            out[~known] = [fetched.get(c, 0.0) for c in rest]
        return out

    def vector_matrix(self) -> tuple[dict[str, int], np.ndarray]:
        """Every catalogued chunk's vector in one matrix, for the catalogue's current version.

        "Which regions…" questions score every chunk of every report; fetching 30,000 vectors from Chroma per
        question took 2.2 s at 2,000 reports. Chunk ids are content-addressed (and the model is fixed per index),
        so a vector never changes: a new catalogue version only fetches the chunks that are new.
        """
        with self._vectors_lock:
            version = self.catalog.version()
            if self._vectors and self._vectors[0] == version:
                return self._vectors[1], self._vectors[2]
            old_position, old_matrix = (self._vectors[1], self._vectors[2]) if self._vectors else ({}, None)
            ids = [cid for cid, _ in self.catalog.chunk_doc_ids()]
            fetched = self._fetch_vectors([c for c in ids if c not in old_position])
            rows, kept = [], []
            for cid in ids:
                if cid in old_position:
                    rows.append(old_matrix[old_position[cid]])
                elif cid in fetched:
                    rows.append(fetched[cid])
                else:
                    continue  # no vector (yet): scored through Chroma if ever asked for
                kept.append(cid)
            matrix = np.vstack(rows).astype(np.float32, copy=False) if rows else np.zeros((0, 1), dtype=np.float32)
            self._vectors = (version, {cid: i for i, cid in enumerate(kept)}, matrix)
            return self._vectors[1], self._vectors[2]

    def _matrix_sized(self) -> bool:
        """The index is big enough to keep every vector in memory (warm() loads the matrix then)."""
        return len(self._chunk_rows()[1]) > MATRIX_ABOVE

    def _chunk_rows(self) -> tuple[list[tuple[str, str]], dict[str, list[tuple[str, str]]]]:
        version = self.catalog.version()  # before the rows: a write in between only makes the next call read again
        cached = self._chunk_docs
        if cached is None or cached[0] != version:
            rows = self.catalog.chunk_doc_ids()
            by_doc: dict[str, list[tuple[str, str]]] = {}
            for row in rows:
                by_doc.setdefault(row[1], []).append(row)
            cached = self._chunk_docs = (version, rows, by_doc)
        return cached[1], cached[2]

    def chunk_doc_ids(self, doc_ids: list[str] | None = None) -> list[tuple[str, str]]:
        """Catalog.chunk_doc_ids, from a list read once per catalogue version: (chunk_id, doc_id) in (doc_id, ord)
        order, of the given documents (all when None). «Which regions…» questions take every chunk: reading and
        sorting 30,536 rows per question cost ~150 ms at 2,000 reports (profiled 2026-12-04, load ~12)."""
        rows, by_doc = self._chunk_rows()
        if doc_ids is None:
            return list(rows)
        # rows are in (doc_id, ord) order: the given documents' runs, in doc_id order, are the same rows
        return [row for doc_id in sorted(set(doc_ids)) for row in by_doc.get(doc_id, ())]

    def doc_regions(self) -> "DocRegions":
        """doc_id → (its attribution is certain, every region its text names), for the catalogue's current version.

        A region filter keeps a document that names the region, or whose own region was guessed: on NCPQA the
        attribution of untitled notices is often missing or wrong (a 广东 tax notice read as 湖北省), and narrowing
        by attribution alone removed the gold document for 26 of 329 dev questions."""
        from .gazetteer import gazetteer
        from .query import attribution_certain

        version = self.catalog.version()
        cached = self._mentions
        if cached and cached[0] == version:
            return cached[1]
        g, found = gazetteer(), {}
        for chunk in self.catalog.chunks():
            found.setdefault(chunk.doc_id, set()).update(r for _, regions in g.mentions(chunk.text) for r in regions)
        texts: dict[str, str] = {}
        out = {}
        for doc in self.catalog.documents():
            if doc.source not in texts:
                texts[doc.source] = self.catalog.file_text(doc.source) or ""
            text = texts[doc.source][doc.start : doc.end] if doc.end > doc.start else texts[doc.source]
            out[doc.doc_id] = (attribution_certain(doc, text), frozenset(found.get(doc.doc_id, ())))
        out = DocRegions(out)
        self._mentions = (version, out)
        return out

    def _fetch_vectors(self, ids: list[str]) -> dict[str, np.ndarray]:
        store = self.vectorstore
        out: dict[str, np.ndarray] = {}
        try:
            for i in range(0, len(ids), 5000):
                res = store.get(ids=ids[i : i + 5000], include=["embeddings"])
                out.update(zip(res["ids"], np.asarray(res["embeddings"], dtype=np.float32)))
        except Exception as exc:
            raise IndexUnavailable(f"向量库不可用 ({exc})") from exc
        return out

    def _fetch_scores(self, q: np.ndarray, chunk_ids: list[str]) -> dict[str, float]:
        store = self.vectorstore
        try:
            res = store.get(ids=chunk_ids, include=["embeddings"])
        except Exception as exc:
            raise IndexUnavailable(f"向量库不可用 ({exc})") from exc
        mat = np.asarray(res["embeddings"], dtype=np.float32)
        if mat.size == 0:
            return {}
        return dict(zip(res["ids"], (mat @ q).tolist()))

    def warm(self) -> None:
        """Load the model, jieba and BM25 now, so the first user does not wait for them."""
        self.embeddings.embed_query("预热")
        self.lexical().scores(tokenize("预热"))
        self.doc_regions()  # read once per catalogue version; the first question naming a region would wait for it
        if self.catalog.stats()["chunks"] > MATRIX_ABOVE:
            self.vector_matrix()

    def stats(self) -> dict:
        stats = self.catalog.stats()
        stats.update(
            embedding_model=self.embeddings.name,
            vector_store=self.settings.chroma_url or str(self.settings.chroma_dir),
            data_dir=str(self.settings.data_dir),
        )
        return stats

    def vector_health(self, chunks: int | None = None) -> dict:
        """Can the vector store be reached, and does it hold a vector for every catalogued chunk?

        Fewer vectors than chunks means this process's catalogue and the Chroma it talks to have diverged
        (e.g. a replica pointed at another server): answers would silently lose their dense half.
        """
        chunks = self.catalog.stats()["chunks"] if chunks is None else chunks
        try:
            vectors = self.collection.count()
        except Exception as exc:
            with self._lock:
                self._vectorstore = None  # reconnect on the next request
            return {"reachable": False, "error": str(exc)[:200], "vectors": None, "chunks": chunks, "consistent": None}
        return {"reachable": True, "vectors": vectors, "chunks": chunks, "consistent": vectors >= chunks}


class ChunkArrays:
    """Index.chunk_arrays: every catalogued chunk (`rows`, (chunk_id, doc_id) in (doc_id, ord) order) with, per chunk,
    its position in one BM25 snapshot (`lexical_rows`, -1 if absent), its row in one vector matrix (`matrix_rows`,
    -1 if absent) and its document's index in `doc_ids` (`of_doc`). Read-only once built."""

    def __init__(self, rows: list[tuple[str, str]], lexical: LexicalIndex, position: dict[str, int]):
        self.rows, self.lexical, self.position = rows, lexical, position
        self.ids = [cid for cid, _ in rows]
        self.lexical_rows = np.fromiter((lexical.position.get(c, -1) for c in self.ids), dtype=np.int64, count=len(rows))
        self.matrix_rows = np.fromiter((position.get(c, -1) for c in self.ids), dtype=np.int64, count=len(rows))
        self.doc_ids = list(dict.fromkeys(d for _, d in rows))
        index = {d: i for i, d in enumerate(self.doc_ids)}
        self.of_doc = np.fromiter((index[d] for _, d in rows), dtype=np.int64, count=len(rows))


class DocRegions(dict):
    """Index.doc_regions: doc_id → (attribution certain, every region its text names), with the inverse built once
    per catalogue version: which documents name a place inside a given region.

    A question that names a region asked, for each of 2,000 documents, whether any of the ~10 places its text names
    lies inside that region: ~125 ms a question at 100× the seeds (profiled 2026-12-04, under load ~3). The inverse
    answers the same question by lookup. Invariant: `naming(regions)` is exactly
    {doc_id : any(r.contains(m) for m in named for r in regions)}."""

    def __init__(self, items: dict[str, tuple[bool, frozenset]]):
        super().__init__(items)
        self._naming: dict[tuple[str, str, str], set[str]] = {}
        for doc_id, (_, named) in items.items():
            for place in named:
                for key in containing_keys(place):
                    self._naming.setdefault(key, set()).add(doc_id)

    def naming(self, regions) -> set[str]:
        out: set[str] = set()
        for r in regions:
            out |= self._naming.get((r.province, r.city, r.district), set())
        return out


def containing_keys(place) -> tuple[tuple[str, str, str], ...]:
    """(province, city, district) of every region r with r.contains(place): r.city is "" or place's city, r.district
    "" or place's district (gazetteer.Region.contains)."""
    cities = ("", place.city) if place.city else ("",)
    districts = ("", place.district) if place.district else ("",)
    return tuple((place.province, c, d) for c in cities for d in districts)


def _release_free_heap() -> None:
    """Hand the heap an ingest left free back to the OS before the BM25 build adds its own peak on top.

    After indexing 2,000 reports the process held 527 MB, of which glibc gave back 33 MB on malloc_trim (measured
    2026-12-04, stand-in vectors); without it that memory only counts in the peak. Not glibc: nothing to do."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def parent_key(doc_id: str, section: str) -> str:
    """A chunk's parent for the parent BM25 field: its top-level section, or its whole document without an outline."""
    top = section.split(" > ")[0] if section else ""
    return f"{doc_id}\x1f{top}"


def open_index(settings: Settings) -> Index:
    return Index(settings)


def source_key(path: Path, root: Path | None = None) -> str:
    """How a file is known in the index: relative to the project when inside it, so clones agree."""
    path = Path(path).resolve()
    for base in filter(None, [root, Path.cwd()]):
        try:
            return str(path.relative_to(Path(base).resolve()))
        except ValueError:
            continue
    return str(path)
