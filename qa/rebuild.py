"""`qa rebuild`: make a new index from `seeds/` and the stored upload originals when the old one is lost or damaged.

Nothing is deleted: the old catalogue, BM25 snapshots and embedded Chroma are moved into
`<data_dir>/broken-<time>/`. The upload originals (`<data_dir>/uploads/<sha256>/<name>`), the embedding cache
and the feedback store stay where they are; the cache makes the rebuild fast. Corrections made in the UI are
carried over when the old catalogue can still be read.
"""
from __future__ import annotations

import json
import shutil
import sqlite3
import time
from pathlib import Path, PurePosixPath

from .index import Index, IndexUnavailable, IngestResult
from .ingest import UPLOAD_DIR, ingest_paths, ingest_source
from .loaders import LoadError, load_path
from .settings import Settings


def read_old_catalogue(catalog_path: Path) -> tuple[list[tuple[str, int, dict]] | None, str | None]:
    """The user's corrections and the embedding model from a catalogue that may be damaged.

    Corrections are None when they cannot be read (they are then lost); the model is None when unknown.
    """
    if not catalog_path.exists():
        return [], None
    try:
        with sqlite3.connect(f"file:{catalog_path}?mode=ro", uri=True) as db:
            rows = db.execute("SELECT source, ord, fields FROM corrections").fetchall()
            model = db.execute("SELECT value FROM meta WHERE key='embedding_model'").fetchone()
        return [(source, ord_, json.loads(fields)) for source, ord_, fields in rows], model[0] if model else None
    except (sqlite3.DatabaseError, ValueError):
        return None, None


def drop_server_collection(settings: Settings) -> None:
    """A shared Chroma collection keeps vectors by chunk id, whatever model made them: after a model switch
    (or when the old model is unknown) they must go, or the rebuild would adopt them."""
    try:
        Index(settings).vectorstore.reset_collection()
    except Exception as exc:
        raise IndexUnavailable(f"Chroma 服务不可用,无法重建: {settings.chroma_url} ({exc})") from exc


def move_aside(settings: Settings) -> Path | None:
    """Move the derived stores out of the way (not delete them): a rebuild must never lose anything."""
    catalogue = [] if settings.database_url else [settings.catalog_path]
    parts = [*catalogue, *(settings.catalog_path.with_name(settings.catalog_path.name + s) for s in ("-wal", "-shm")), settings.lexical_dir]
    if not settings.chroma_url:
        parts.append(settings.chroma_dir)
    present = [p for p in parts if p.exists()]
    if not present:
        return None
    backup = settings.data_dir / f"broken-{time.strftime('%Y%m%d-%H%M%S')}"
    backup.mkdir(parents=True, exist_ok=True)
    if settings.chroma_dir in present:
        _release_embedded_chroma(settings.chroma_dir)
    for part in present:
        shutil.move(str(part), str(backup / part.name))
    return backup


def _release_embedded_chroma(path: Path) -> None:
    """chromadb keeps one open store per directory for the life of the process (keyed by the path string, no
    public way to drop it); a moved directory must not be written through that store again."""
    from chromadb.api.shared_system_client import SharedSystemClient

    system = SharedSystemClient._identifier_to_system.pop(str(path), None)
    SharedSystemClient._identifier_to_refcount.pop(str(path), None)
    if system is not None:
        try:
            system.stop()
        except Exception:
            pass  # a store that failed to open (the reason for the rebuild) may not stop cleanly


def stored_uploads(settings: Settings) -> list[tuple[Path, str]]:
    """Each kept original with the source key the upload gave it (so deleting it later still removes the file)."""
    root = settings.data_dir / UPLOAD_DIR
    if not root.is_dir():
        return []
    return [(path, str(PurePosixPath(UPLOAD_DIR, path.parent.name, path.name))) for path in sorted(root.glob("*/*"))
            if path.is_file() and not path.name.endswith(".part")]


def rebuild(settings: Settings, progress=None) -> dict:
    if settings.database_url:
        # A shared database is emptied in place (the files' texts come back from seeds/ and the kept uploads).
        from .catalog import Catalog

        shared = Catalog(settings.database_url)
        corrections = [(source, ord_, json.loads(fields)) for source, ord_, fields in shared._query("SELECT source, ord, fields FROM corrections")]
        old_model = shared.meta("embedding_model")
        shared.clear()
    else:
        corrections, old_model = read_old_catalogue(settings.catalog_path)
    backup = move_aside(settings)
    index = Index(settings)
    if settings.chroma_url and old_model != index.embeddings.name:
        drop_server_collection(settings)
    for source, ord_, fields in corrections or []:
        index.catalog.add_correction(source, ord_, fields)
    results = ingest_paths(index, [settings.seeds_dir], progress=progress)
    for path, source in stored_uploads(settings):
        try:
            results.append(ingest_source(index, load_path(path, source), progress=progress))
        except LoadError as exc:
            results.append(IngestResult(source, "failed", error=str(exc)))
    orphans = index.gc() if settings.chroma_url else 0  # a shared server may hold vectors of chunks that are gone
    stats = index.catalog.stats()
    return {
        "moved_aside": str(backup) if backup else None,
        "corrections": "unreadable (lost)" if corrections is None else len(corrections),
        "files": len(results),
        "failed": [r.to_dict() for r in results if r.status == "failed"],
        "documents": stats["documents"],
        "chunks": stats["chunks"],
        "orphan_vectors_removed": orphans,
    }
