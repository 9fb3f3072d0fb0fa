"""The catalogue (SQLite): which files, documents and chunks the index holds. It is the authority.

Vectors in Chroma and the BM25 folder are derived from it; a vector whose chunk the catalogue does not
list is ignored, so a crash between the two stores never shows half a document.
"""
from __future__ import annotations

import json
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path

from .models import Chunk, Document, Fact

SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    source TEXT PRIMARY KEY, sha256 TEXT NOT NULL, format TEXT NOT NULL, text TEXT NOT NULL,
    ingested_at TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE TABLE IF NOT EXISTS documents (
    doc_id TEXT PRIMARY KEY, source TEXT NOT NULL REFERENCES files(source) ON DELETE CASCADE,
    ord INTEGER, title TEXT, region TEXT, province TEXT, city TEXT, district TEXT, level TEXT,
    year INTEGER, kind TEXT, published TEXT, start INTEGER, end INTEGER
);
CREATE TABLE IF NOT EXISTS chunks (
    chunk_id TEXT PRIMARY KEY, doc_id TEXT NOT NULL REFERENCES documents(doc_id) ON DELETE CASCADE,
    ord INTEGER, text TEXT, section TEXT, start INTEGER, end INTEGER, tokens TEXT
);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id);
-- Replacing or deleting a file cascades by source and doc_id: without these, each is a full scan (quadratic in files).
CREATE INDEX IF NOT EXISTS documents_source ON documents(source);
CREATE TABLE IF NOT EXISTS facts (
    fact_id INTEGER PRIMARY KEY AUTOINCREMENT,
    doc_id TEXT NOT NULL REFERENCES documents(doc_id) ON DELETE CASCADE,
    chunk_id TEXT NOT NULL, indicator TEXT, value REAL, unit TEXT, raw TEXT, status TEXT,
    sentence TEXT, start INTEGER, end INTEGER
);
CREATE INDEX IF NOT EXISTS facts_indicator ON facts(indicator);
CREATE INDEX IF NOT EXISTS facts_doc ON facts(doc_id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
-- A user's corrections to detected metadata (or a deletion), kept across re-ingests of the file.
CREATE TABLE IF NOT EXISTS corrections (source TEXT, ord INTEGER, fields TEXT NOT NULL, PRIMARY KEY (source, ord));
"""

DOC_FIELDS = ["doc_id", "source", "ord", "title", "region", "province", "city", "district", "level", "year", "kind", "published", "start", "end",
              "department", "year_end", "attribution"]
# Columns added after the first release, with the value rows written before them get. Opening an older catalogue
# adds them (ALTER TABLE … ADD COLUMN … DEFAULT …): no rebuild, old rows read as "no department, no range,
# confidence unknown". A near-duplicate check needs every document's fingerprint (see qa/dedup.py); old rows have
# none until their file is ingested again, and are simply not compared.
_ADDED_COLUMNS = {
    "documents": [("department", "TEXT NOT NULL DEFAULT ''"), ("year_end", "INTEGER"), ("attribution", "TEXT NOT NULL DEFAULT '{}'"),
                  ("fingerprint", "TEXT")],
    "facts": [("scope", "TEXT NOT NULL DEFAULT ''"), ("measure", "TEXT NOT NULL DEFAULT 'rate'"), ("context", "TEXT NOT NULL DEFAULT ''")],
}
FACT_FIELDS = ["doc_id", "chunk_id", "indicator", "value", "unit", "raw", "status", "sentence", "start", "end", "scope", "measure", "context"]
CHUNK_FIELDS = ["chunk_id", "doc_id", "ord", "text", "section", "start", "end"]


class Catalog:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(str(path), check_same_thread=False, timeout=60, isolation_level=None)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(SCHEMA)
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise CatalogError(f"索引目录已损坏: {path} ({exc}). 运行 `qa rebuild` 从 seeds/ 和保存的上传原件重建 (旧文件移到 broken-*/,不会删除)。 Run `qa rebuild`.") from exc
        self._lock = threading.RLock()
        self._local = threading.local()  # per thread: a read connection holding a snapshot (see snapshot())
        self._documents: tuple[int, list[Document]] | None = None  # (catalogue version, documents)

    def _migrate(self) -> None:
        for table, columns in _ADDED_COLUMNS.items():
            have = {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}
            for name, decl in columns:
                if name not in have:
                    try:
                        self._db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {decl}")
                    except sqlite3.OperationalError as exc:  # another process added it between our check and now
                        if "duplicate column" not in str(exc):
                            raise

    @staticmethod
    def _doc(row) -> Document:
        values = dict(zip(DOC_FIELDS, row))
        values["attribution"] = json.loads(values["attribution"] or "{}")
        values["department"] = values["department"] or ""
        return Document(**values)

    @staticmethod
    def _doc_row(doc: Document) -> tuple:
        return tuple(json.dumps(doc.attribution, ensure_ascii=False) if f == "attribution" else getattr(doc, f) for f in DOC_FIELDS)

    @contextmanager
    def transaction(self):
        """One writer at a time; everything inside lands together or not at all."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            else:
                self._db.execute("COMMIT")

    def _query(self, sql: str, params=()) -> list[tuple]:
        reader = getattr(self._local, "reader", None)
        if reader is not None and self._local.depth:
            return reader.execute(sql, params).fetchall()
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    @contextmanager
    def snapshot(self):
        """Every read inside sees one catalogue version, whatever other threads or processes commit meanwhile.

        An answer reads documents, facts and chunks at different moments; without this a correction committed in
        between made facts name chunks the next read no longer had (a KeyError during an admin's edit). SQLite in WAL
        mode gives a reader a stable snapshot for the length of a read transaction without blocking writers, so each
        thread gets its own read connection (the shared one stays free for writes). Nested uses share the outer one.
        """
        local = self._local
        if getattr(local, "reader", None) is None:
            local.reader = sqlite3.connect(str(self.path), timeout=60, isolation_level=None)
            local.reader.execute("PRAGMA query_only=ON")
            local.depth = 0
        if local.depth:
            local.depth += 1
            try:
                yield self
            finally:
                local.depth -= 1
            return
        local.reader.execute("BEGIN")
        local.reader.execute("SELECT 1 FROM meta LIMIT 1").fetchall()  # the snapshot starts at the first read
        local.depth = 1
        try:
            yield self
        finally:
            local.depth = 0
            local.reader.execute("COMMIT")

    # ------------------------------------------------------------ reads
    def version(self) -> int:
        rows = self._query("SELECT value FROM meta WHERE key='version'")
        return int(rows[0][0]) if rows else 0

    def meta(self, key: str) -> str | None:
        rows = self._query("SELECT value FROM meta WHERE key=?", (key,))
        return rows[0][0] if rows else None

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    def file_sha(self, source: str) -> str | None:
        rows = self._query("SELECT sha256 FROM files WHERE source=?", (source,))
        return rows[0][0] if rows else None

    def sources_with_sha(self, sha256: str) -> list[str]:
        """Files already indexed with exactly these bytes (an upload under a second name is the same file)."""
        return [r[0] for r in self._query("SELECT source FROM files WHERE sha256=? ORDER BY source", (sha256,))]

    def last_update(self) -> str | None:
        """When a file was last ingested (UTC, ISO)."""
        rows = self._query("SELECT max(ingested_at) FROM files")
        return rows[0][0] if rows else None

    def file_format(self, source: str) -> str | None:
        rows = self._query("SELECT format FROM files WHERE source=?", (source,))
        return rows[0][0] if rows else None

    def file_text(self, source: str) -> str | None:
        rows = self._query("SELECT text FROM files WHERE source=?", (source,))
        return rows[0][0] if rows else None

    def sources(self) -> list[str]:
        return [r[0] for r in self._query("SELECT source FROM files ORDER BY source")]

    def documents(self) -> list[Document]:
        """All documents, read once per catalogue version: every search and answer starts here, and reading 2,000
        of them each time cost ~20 ms a question. The objects are shared between callers: treat them as read-only."""
        version = self.version()  # before the rows: a write in between only makes the next call read again
        cached = self._documents
        if cached is None or cached[0] != version:
            rows = self._query(f"SELECT {', '.join(DOC_FIELDS)} FROM documents ORDER BY source, ord")
            cached = self._documents = (version, [self._doc(r) for r in rows])
        return list(cached[1])

    def document(self, doc_id: str) -> Document | None:
        rows = self._query(f"SELECT {', '.join(DOC_FIELDS)} FROM documents WHERE doc_id=?", (doc_id,))
        return self._doc(rows[0]) if rows else None

    def chunks(self, chunk_ids: list[str] | None = None, doc_id: str | None = None) -> list[Chunk]:
        cols = ", ".join(CHUNK_FIELDS)
        if chunk_ids is not None:
            out: dict[str, Chunk] = {}
            for i in range(0, len(chunk_ids), 500):
                part = chunk_ids[i : i + 500]
                rows = self._query(f"SELECT {cols} FROM chunks WHERE chunk_id IN ({','.join('?' * len(part))})", part)
                out.update({r[0]: Chunk(*r) for r in rows})
            return [out[c] for c in chunk_ids if c in out]
        if doc_id is not None:
            return [Chunk(*r) for r in self._query(f"SELECT {cols} FROM chunks WHERE doc_id=? ORDER BY ord", (doc_id,))]
        return [Chunk(*r) for r in self._query(f"SELECT {cols} FROM chunks ORDER BY doc_id, ord")]

    def chunk_tokens(self) -> tuple[int, list[str], list[list[str]]]:
        """Every chunk's tokens and the version they belong to, read in one snapshot (other processes may write)."""
        with self._lock:
            self._db.execute("BEGIN")
            try:
                version = self.version()
                rows = self._db.execute("SELECT chunk_id, tokens FROM chunks ORDER BY rowid").fetchall()
            finally:
                self._db.execute("COMMIT")
        return version, [r[0] for r in rows], [json.loads(r[1]) for r in rows]

    def lexical_rows(self) -> tuple[int, list[tuple[str, str, str, str, list[str]]]]:
        """(version, [(chunk_id, doc_id, text, section, tokens)]) in rowid order, read in one snapshot: what every
        BM25 field is built from."""
        with self._lock:
            self._db.execute("BEGIN")
            try:
                version = self.version()
                rows = self._db.execute("SELECT chunk_id, doc_id, text, section, tokens FROM chunks ORDER BY rowid").fetchall()
            finally:
                self._db.execute("COMMIT")
        return version, [(r[0], r[1], r[2], r[3], json.loads(r[4])) for r in rows]

    def chunk_doc_ids(self, doc_ids: list[str] | None = None) -> list[tuple[str, str]]:
        """(chunk_id, doc_id) of the given documents' chunks (all when None), in (doc_id, ord) order, without their texts."""
        if doc_ids is None:
            return self._query("SELECT chunk_id, doc_id FROM chunks ORDER BY doc_id, ord")
        rows: list[tuple] = []
        for i in range(0, len(doc_ids), 500):
            part = doc_ids[i : i + 500]
            rows += self._query(f"SELECT chunk_id, doc_id, ord FROM chunks WHERE doc_id IN ({','.join('?' * len(part))})", part)
        return [(cid, doc) for cid, doc, _ in sorted(rows, key=lambda r: (r[1], r[2]))]

    def chunk_ids_for_source(self, source: str) -> set[str]:
        rows = self._query("SELECT c.chunk_id FROM chunks c JOIN documents d USING(doc_id) WHERE d.source=?", (source,))
        return {r[0] for r in rows}

    def facts(self, indicator: str | None = None) -> list[Fact]:
        """Facts (all, or of one indicator). All of them are read once per catalogue version, like documents: every
        aggregation question reads them. Shared objects: treat them as read-only."""
        sql = f"SELECT fact_id, {', '.join(FACT_FIELDS)} FROM facts"
        if indicator:
            rows = self._query(sql + " WHERE indicator=?", (indicator,))
            return [Fact(fact_id=r[0], **dict(zip(FACT_FIELDS, r[1:]))) for r in rows]
        version = self.version()
        cached = getattr(self, "_facts", None)
        if cached is None or cached[0] != version:
            cached = self._facts = (version, [Fact(fact_id=r[0], **dict(zip(FACT_FIELDS, r[1:]))) for r in self._query(sql + " ORDER BY fact_id")])
        return list(cached[1])

    def replace_facts(self, facts: list[Fact], doc_ids: list[str]) -> None:
        """Swap the facts of these documents (re-extraction after the extractor changed; chunks stay)."""
        with self.transaction() as db:
            db.executemany("DELETE FROM facts WHERE doc_id=?", [(d,) for d in doc_ids])
            self._insert_facts(db, facts)
            self._bump(db)

    @staticmethod
    def _insert_facts(db, facts: list[Fact]) -> None:
        db.executemany(
            f"INSERT INTO facts({', '.join(FACT_FIELDS)}) VALUES ({','.join('?' * len(FACT_FIELDS))})",
            [tuple(getattr(f, k) for k in FACT_FIELDS) for f in facts],
        )

    def stats(self) -> dict:
        count = lambda table: self._query(f"SELECT count(*) FROM {table}")[0][0]  # noqa: E731
        return {"files": count("files"), "documents": count("documents"), "chunks": count("chunks"), "facts": count("facts"), "version": self.version()}

    # ------------------------------------------------------------ writes
    def fingerprints(self, region: str, year: int | None, exclude_source: str | None = None) -> list[tuple[str, str, str]]:
        """(doc_id, source, fingerprint) of the documents attributed to this region and year, except those of
        `exclude_source` (only they can be the same document)."""
        rows = self._query("SELECT doc_id, source, fingerprint FROM documents WHERE fingerprint IS NOT NULL AND source != ? "
                           "AND region = ? AND year IS ?", (exclude_source or "", region, year))
        return [(r[0], r[1], r[2]) for r in rows]

    def replace_source(self, src, docs: list[Document], chunks: list[Chunk], tokens: dict[str, list[str]], facts: list[Fact],
                       fingerprints: dict[str, str] | None = None) -> None:
        """Swap a file's documents for new ones in one transaction."""
        with self.transaction() as db:
            db.execute("DELETE FROM files WHERE source=?", (src.source,))
            db.execute("INSERT INTO files(source, sha256, format, text) VALUES (?,?,?,?)", (src.source, src.sha256, src.format, src.text))
            fingerprints = fingerprints or {}
            db.executemany(
                f"INSERT INTO documents({', '.join(DOC_FIELDS)}, fingerprint) VALUES ({','.join('?' * (len(DOC_FIELDS) + 1))})",
                [self._doc_row(d) + (fingerprints.get(d.doc_id),) for d in docs],
            )
            db.executemany(
                f"INSERT INTO chunks({', '.join(CHUNK_FIELDS)}, tokens) VALUES ({','.join('?' * (len(CHUNK_FIELDS) + 1))})",
                [tuple(getattr(c, f) for f in CHUNK_FIELDS) + (json.dumps(tokens[c.chunk_id], ensure_ascii=False),) for c in chunks],
            )
            self._insert_facts(db, facts)
            self._bump(db)

    def delete_source(self, source: str) -> bool:
        with self.transaction() as db:
            gone = db.execute("DELETE FROM files WHERE source=?", (source,)).rowcount
            db.execute("DELETE FROM corrections WHERE source=?", (source,))
            if gone:
                self._bump(db)
        return bool(gone)

    def corrections(self, source: str) -> list[dict]:
        rows = self._query("SELECT ord, fields FROM corrections WHERE source=?", (source,))
        return [{"file": source, "ord": ord_, **json.loads(fields)} for ord_, fields in rows]

    def add_correction(self, source: str, ord_: int, fields: dict) -> None:
        old = next((c for c in self.corrections(source) if c["ord"] == ord_), {})
        merged = {k: v for k, v in {**old, **fields}.items() if k not in ("file", "ord")}
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO corrections(source, ord, fields) VALUES (?,?,?)", (source, ord_, json.dumps(merged, ensure_ascii=False)))

    @staticmethod
    def _bump(db) -> None:
        db.execute("INSERT INTO meta(key, value) VALUES ('version', '1') ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1")


class CatalogError(RuntimeError):
    pass
