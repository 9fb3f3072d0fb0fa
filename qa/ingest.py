"""documents → chunks → index, file by file. A bad file is reported and skipped; the others go in."""
from __future__ import annotations

from pathlib import Path

import yaml

import logging

from .chunking import CHUNKING_VERSION, chunk_document
from .facts import extract_facts
from .index import Index, IngestResult, source_key
from .loaders import LoadError, load_bytes, load_path, supported
from .models import SourceText
from .segment import segment
from .settings import PROJECT_ROOT

SIDECAR = "metadata.yaml"
UPLOAD_DIR = "uploads"  # under the data dir: uploaded originals, content-addressed (<sha256>/<name>)


def expand(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.is_file() and supported(p) and not p.name.startswith("."))
        else:
            files.append(path)
    return files


def load_overrides(path: Path) -> list[dict]:
    sidecar = path.parent / SIDECAR
    if not sidecar.is_file():
        return []
    try:
        data = yaml.safe_load(sidecar.read_text(encoding="utf-8")) or []
    except yaml.YAMLError as exc:
        raise LoadError(f"{sidecar}: 元数据文件格式错误 ({exc})") from exc
    return [d for d in data if isinstance(d, dict)]


CORRECTABLE = ("title", "region", "province", "city", "district", "level", "year", "kind", "published")


def build(src: SourceText, index: Index, overrides: list[dict] | None = None):
    """Parse a decoded file into documents with their chunks and facts (no side effects)."""
    s = index.settings
    docs = []
    facts = []
    overrides = (overrides or []) + index.catalog.corrections(src.source)
    deleted = {o["ord"] for o in overrides if o.get("deleted") and "ord" in o}
    for doc, paras in segment(src, overrides):
        if doc.ord in deleted:
            continue
        chunks = chunk_document(doc, paras, src.text, s.chunk_target, s.chunk_max, s.passage_target, s.passage_max)
        if chunks:
            docs.append((doc, chunks))
            facts += extract_facts(doc, chunks, src.text)
    if not docs and not deleted:
        raise LoadError(f"{src.source}: 没有找到正文段落 (no report text found)")
    return docs, facts


def ingest_source(index: Index, src: SourceText, overrides: list[dict] | None = None, force: bool = False, progress=None) -> IngestResult:
    if not force and index.catalog.file_sha(src.source) == src.sha256:
        return IngestResult(src.source, "unchanged")
    docs, facts = build(src, index, overrides)
    if not index.catalog.meta("chunking") and not index.catalog.sources():
        index.catalog.set_meta("chunking", str(CHUNKING_VERSION))  # a new index starts current
    return index.add_source(src, docs, facts, progress=progress)


# Files are parsed one by one but written in batches of about this many chunks: one embedding pass and one
# vector-store write per batch (see Index.add_sources); each file still swaps into the catalogue on its own.
BATCH_CHUNKS = 1000


def chunking_stale(index: Index) -> bool:
    """The index holds files cut by another chunking version (or by one from before versions were recorded)."""
    return index.catalog.meta("chunking") != str(CHUNKING_VERSION) and bool(index.catalog.sources())


def ingest_paths(index: Index, paths: list[Path], force: bool = False, progress=None) -> list[IngestResult]:
    """Index files (unchanged ones are skipped unless force). When the index was chunked by another chunking
    version, every file given is re-read; the index is marked current once every file it holds was re-read, and
    until then a warning names `qa rebuild` (uploads are not under the paths given)."""
    stale = chunking_stale(index)
    results = _ingest_paths(index, paths, force or stale, progress)
    if not stale and not index.catalog.meta("chunking"):
        index.catalog.set_meta("chunking", str(CHUNKING_VERSION))  # a new index
    elif stale:
        done = {r.source for r in results if r.status != "failed"}
        left = [s for s in index.catalog.sources() if s not in done]
        if left:
            logging.getLogger(__name__).warning(
                "索引中有 %d 个文件仍按旧的分块方式切分,运行 `qa rebuild` 重建 (%d files still use the old chunking: run `qa rebuild`)", len(left), len(left))
        else:
            index.catalog.set_meta("chunking", str(CHUNKING_VERSION))
    return results


def _ingest_paths(index: Index, paths: list[Path], force: bool = False, progress=None) -> list[IngestResult]:
    results: list[IngestResult | None] = []
    pending: list[tuple[int, SourceText, list, list[dict]]] = []  # (position in results, file, documents, facts)

    def flush() -> None:
        written = index.add_sources([(src, docs, facts) for _, src, docs, facts in pending], progress)
        for (pos, *_), result in zip(pending, written):
            results[pos] = result
        pending.clear()

    for path in expand(paths):
        key = source_key(path, PROJECT_ROOT)
        try:
            src = load_path(path, key)
            if any(p[1].source == src.source for p in pending) or (not force and index.catalog.file_sha(src.source) == src.sha256):
                results.append(IngestResult(src.source, "unchanged"))  # (a file named twice is read once)
                continue
            docs, facts = build(src, index, load_overrides(path))
        except LoadError as exc:
            results.append(IngestResult(key, "failed", error=str(exc)))
            continue
        results.append(None)
        pending.append((len(results) - 1, src, docs, facts))
        if sum(len(cs) for _, _, docs_, _ in pending for _, cs in docs_) >= BATCH_CHUNKS:
            flush()
    if pending:
        flush()
    return results


def ingest_upload(index: Index, data: bytes, filename: str, source: str, progress=None) -> IngestResult:
    src = load_bytes(data, filename, source)
    return ingest_source(index, src, progress=progress)


def _reingest(index: Index, source: str) -> IngestResult:
    """Rebuild a file's documents from the text the catalogue keeps (after a correction)."""
    text = index.catalog.file_text(source)
    sha = index.catalog.file_sha(source)
    fmt = index.catalog.file_format(source)
    path = PROJECT_ROOT / source
    overrides = load_overrides(path) if path.is_file() else []
    return ingest_source(index, SourceText(source, text, fmt, sha), overrides, force=True)


def correct_document(index: Index, doc_id: str, fields: dict):
    """Correct detected metadata. The correction is kept and re-applied whenever the file is ingested again, and the
    document is re-indexed so that search text (headers, BM25 tokens, facts) follows the new region or year."""
    doc = index.catalog.document(doc_id)
    if doc is None:
        return None
    clean = {k: v for k, v in fields.items() if k in CORRECTABLE and v not in (None, "")}
    if "year" in clean:
        clean["year"] = int(clean["year"])
    if clean:
        index.catalog.add_correction(doc.source, doc.ord, clean)
        _reingest(index, doc.source)
    return index.catalog.document(doc_id)


def delete_document(index: Index, doc_id: str) -> list[str]:
    """Remove one document; a file with several (a compilation) keeps the others. Returns the removed doc ids."""
    doc = index.catalog.document(doc_id)
    if doc is None:
        return []
    siblings = [d for d in index.catalog.documents() if d.source == doc.source]
    if len(siblings) == 1:
        index.delete_source(doc.source)
    else:
        index.catalog.add_correction(doc.source, doc.ord, {"deleted": True})
        _reingest(index, doc.source)
    return [doc_id]


def prune(index: Index, keep: list[Path]) -> list[str]:
    """Delete indexed files that no longer exist on disk (only among those under the given folders)."""
    removed = []
    roots = [source_key(p, PROJECT_ROOT) for p in keep if Path(p).is_dir()]
    present = {source_key(p, PROJECT_ROOT) for p in expand(keep)}
    for source in index.catalog.sources():
        if any(source.startswith(r.rstrip("/") + "/") for r in roots) and source not in present:
            index.delete_source(source)
            removed.append(source)
    return removed
