"""documents → chunks → index, file by file. A bad file is reported and skipped; the others go in."""
from __future__ import annotations

import logging
from pathlib import Path

import yaml

from .chunking import CHUNKING_VERSION, chunk_document
from .dedup import find_duplicate, fingerprint
from .facts import FACTS_VERSION, extract_facts
from .index import Index, IngestResult, source_key
from .loaders import LoadError, load_bytes, load_path, supported
from .models import SourceText
from .segment import CORRECTABLE, segment
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


class Built:
    """A file parsed into what the index stores: documents with chunks, facts, fingerprints, and the documents left
    out because another file already holds the same text (near-duplicates: see qa/dedup.py)."""

    def __init__(self, docs: list, facts: list[dict], fingerprints: dict[str, str], duplicates: list[dict]):
        self.docs, self.facts, self.fingerprints, self.duplicates = docs, facts, fingerprints, duplicates

    def __iter__(self):  # docs, facts = build(...) keeps working
        return iter((self.docs, self.facts))


def build(src: SourceText, index: Index, overrides: list[dict] | None = None, pending: list[tuple] | None = None) -> Built:
    """Parse a decoded file into documents with their chunks and facts (no side effects).

    A document whose text is already indexed from another file (or is in `pending`: [(doc_id, source, fingerprint,
    region, year)] of files parsed earlier in the same batch) is left out and listed in `duplicates` with its
    canonical doc_id. Only documents attributed to the same region and year are compared: a template filled in by
    two counties is two documents (and qa/synthetic.py's corpora stay whole). Documents of the same file are never
    compared with each other (segmentation already drops repeats)."""
    s = index.settings
    docs = []
    facts = []
    fps: dict[str, str] = {}
    duplicates: list[dict] = []
    overrides = (overrides or []) + index.catalog.corrections(src.source)
    deleted = {o["ord"] for o in overrides if o.get("deleted") and "ord" in o}
    for doc, paras in segment(src, overrides):
        if doc.ord in deleted:
            continue
        fp = fingerprint("\n".join(p.text for p in paras))
        known = index.catalog.fingerprints(doc.region, doc.year, exclude_source=src.source) + \
            [p[:3] for p in (pending or []) if p[1] != src.source and (p[3], p[4]) == (doc.region, doc.year)]
        if fp and (dup := find_duplicate(fp, [(d, f) for d, _, f in known])):
            source = next(s for d, s, _ in known if d == dup[0])
            duplicates.append({"title": doc.title, "duplicate_of": dup[0], "source": source, "similarity": round(dup[1], 3)})
            continue
        chunks = chunk_document(doc, paras, src.text, s.chunk_target, s.chunk_max, s.passage_target, s.passage_max)
        if chunks:
            docs.append((doc, chunks))
            facts += extract_facts(doc, chunks, src.text)
            fps[doc.doc_id] = fp
    if not docs and not deleted and not duplicates:
        raise LoadError(f"{src.source}: 没有找到正文段落 (no report text found)")
    return Built(docs, facts, fps, duplicates)


def _only_duplicates(index: Index, src: SourceText, built: Built) -> IngestResult:
    """Every document of the file is already indexed from another file: nothing is indexed (an older version of this
    file, if any, is removed so the same text is not cited twice)."""
    if index.catalog.file_sha(src.source) is not None:
        index.delete_source(src.source)
    return IngestResult(src.source, "duplicate", duplicates=built.duplicates)


def ingest_source(index: Index, src: SourceText, overrides: list[dict] | None = None, force: bool = False, progress=None) -> IngestResult:
    if not force and index.catalog.file_sha(src.source) == src.sha256:
        return IngestResult(src.source, "unchanged")
    built = build(src, index, overrides)
    if not built.docs and built.duplicates:
        return _only_duplicates(index, src, built)
    if not index.catalog.meta("chunking") and not index.catalog.sources():
        index.catalog.set_meta("chunking", str(CHUNKING_VERSION))  # a new index starts current
    result = index.add_source(src, built.docs, built.facts, progress=progress, fingerprints=built.fingerprints)
    result.duplicates = built.duplicates
    return result


# Files are parsed one by one but written in batches of about this many chunks: one embedding pass and one
# vector-store write per batch (see Index.add_sources); each file still swaps into the catalogue on its own.
BATCH_CHUNKS = 1000


def refresh_facts(index: Index) -> int:
    """Re-extract every document's facts from its stored chunks when the extractor changed (no re-embedding).
    Returns the number of documents refreshed."""
    catalog = index.catalog
    if catalog.meta("facts") == FACTS_VERSION:
        return 0
    docs = catalog.documents()
    facts = []
    for doc in docs:
        facts += extract_facts(doc, catalog.chunks(doc_id=doc.doc_id))
    if docs:
        catalog.replace_facts(facts, [d.doc_id for d in docs])
    catalog.set_meta("facts", FACTS_VERSION)
    return len(docs)


def chunking_stale(index: Index) -> bool:
    """The index holds files cut by another chunking version (or by one from before versions were recorded)."""
    return index.catalog.meta("chunking") != str(CHUNKING_VERSION) and bool(index.catalog.sources())


def ingest_paths(index: Index, paths: list[Path], force: bool = False, progress=None, files_done=None) -> list[IngestResult]:
    """Index files (unchanged ones are skipped unless force). When the index was chunked by another chunking
    version, every file given is re-read; the index is marked current once every file it holds was re-read, and
    until then a warning names `qa rebuild` (uploads are not under the paths given).

    `progress(n)` is called as chunks are embedded, `files_done(n)` as files are finished (written, skipped or
    failed): a progress bar over the files then shows the time left."""
    stale = chunking_stale(index)
    refresh_facts(index)
    results = _ingest_paths(index, paths, force or stale, progress, files_done)
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


def _ingest_paths(index: Index, paths: list[Path], force: bool = False, progress=None, files_done=None) -> list[IngestResult]:
    results: list[IngestResult | None] = []
    done = files_done or (lambda n: None)
    pending: list[tuple[int, SourceText, list, list[dict]]] = []  # (position in results, file, documents, facts)
    fps: dict[str, str] = {}
    dups: dict[int, list[dict]] = {}
    seen: list[tuple] = []  # (doc_id, source, fingerprint, region, year) parsed in this call, not yet written

    def flush() -> None:
        written = index.add_sources([(src, docs, facts) for _, src, docs, facts in pending], progress, fps)
        for (pos, *_), result in zip(pending, written):
            result.duplicates = dups.get(pos, [])
            results[pos] = result
        done(len(pending))
        pending.clear()

    for path in expand(paths):
        key = source_key(path, PROJECT_ROOT)
        try:
            src = load_path(path, key)
            if any(p[1].source == src.source for p in pending) or (not force and index.catalog.file_sha(src.source) == src.sha256):
                results.append(IngestResult(src.source, "unchanged"))  # (a file named twice is read once)
                done(1)
                continue
            built = build(src, index, load_overrides(path), seen)
        except LoadError as exc:
            results.append(IngestResult(key, "failed", error=str(exc)))
            done(1)
            continue
        if not built.docs and built.duplicates:
            results.append(_only_duplicates(index, src, built))
            done(1)
            continue
        seen.extend((d.doc_id, src.source, built.fingerprints[d.doc_id], d.region, d.year) for d, _ in built.docs)
        fps.update(built.fingerprints)
        results.append(None)
        dups[len(results) - 1] = built.duplicates
        docs, facts = built.docs, built.facts
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
    for key in ("year", "year_end"):
        if key in clean:
            clean[key] = int(clean[key])
    # A form sends every field; only those the user changed are corrections (a saved year must not mark the region
    # "checked by a person" and clear its low-confidence flag).
    clean = {k: v for k, v in clean.items() if getattr(doc, k) != v}
    # A corrected region carries its province, city, district and level (resolved through the gazetteer near the
    # region the document had, so 鼓楼区 typed for a 福州 document stays in 福州) unless those are corrected too.
    if "region" in clean:
        from . import gazetteer

        near = gazetteer.Region(doc.province, doc.city, doc.district)
        if (found := gazetteer.by_name(str(clean["region"]), near)) is not None:
            clean["region"] = found.name
            for key, value in (("province", found.province), ("city", found.city), ("district", found.district), ("level", found.level)):
                clean.setdefault(key, value)
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
