"""documents → chunks → index, file by file. A bad file is reported and skipped; the others go in."""
from __future__ import annotations

from pathlib import Path

import yaml

from .chunking import chunk_document
from .facts import extract_facts
from .index import Index, IngestResult, source_key
from .loaders import LoadError, load_bytes, load_path, supported
from .models import SourceText
from .segment import segment
from .settings import PROJECT_ROOT

SIDECAR = "metadata.yaml"


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


def build(src: SourceText, index: Index, overrides: list[dict] | None = None):
    """Parse a decoded file into documents with their chunks and facts (no side effects)."""
    s = index.settings
    docs = []
    facts = []
    for doc, paras in segment(src, overrides):
        chunks = chunk_document(doc, paras, src.text, s.chunk_target, s.chunk_max)
        if chunks:
            docs.append((doc, chunks))
            facts += extract_facts(doc, chunks, src.text)
    if not docs:
        raise LoadError(f"{src.source}: 没有找到正文段落 (no report text found)")
    return docs, facts


def ingest_source(index: Index, src: SourceText, overrides: list[dict] | None = None, force: bool = False, progress=None) -> IngestResult:
    if not force and index.catalog.file_sha(src.source) == src.sha256:
        return IngestResult(src.source, "unchanged")
    docs, facts = build(src, index, overrides)
    return index.add_source(src, docs, facts, progress=progress)


def ingest_paths(index: Index, paths: list[Path], force: bool = False, progress=None) -> list[IngestResult]:
    results = []
    for path in expand(paths):
        key = source_key(path, PROJECT_ROOT)
        try:
            src = load_path(path, key)
            results.append(ingest_source(index, src, load_overrides(path), force, progress))
        except LoadError as exc:
            results.append(IngestResult(key, "failed", error=str(exc)))
    return results


def ingest_upload(index: Index, data: bytes, filename: str, source: str) -> IngestResult:
    src = load_bytes(data, filename, source)
    return ingest_source(index, src)


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
