"""One service layer under the CLI, the REST API and the Gradio UI: documents, questions, evaluation, feedback.

    svc = Service(settings, index)
    who = svc.keys.principal(key)            # None for a wrong key
    svc.ask(who, "…"); svc.upload(who, data, "x.docx"); svc.delete(who, doc_id); svc.evaluate(who)

Invariants:
- This is the only place that checks roles. Readers may ask, search, list and read documents and leave feedback;
  uploads, corrections, deletes, the evaluation, the feedback export and garbage collection need the admin role.
  With no keys configured at all (a local install) everyone is admin; with QA_API_KEYS but no QA_ADMIN_KEYS nobody
  is admin over the web (writes go through the CLI).
- It takes bytes and ids, never server paths from a caller.
- It raises domain errors (qa.errors); the web layer maps them to HTTP, the CLI to messages.
- An upload's original is stored as uploads/<sha256>/<name>. It is written as `<name>.part` first and renamed only
  after the catalogue has committed the file, so a refused or killed upload leaves no original that `qa rebuild`
  would bring back; `gc()` finishes committed renames and removes what an interrupted upload left.
  Identical bytes already indexed (under any name, seeds included) are recognised and not stored or indexed again.
"""
from __future__ import annotations

import errno
import hashlib
import hmac
import re
import threading
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Iterator

from .errors import BadRequest, Forbidden, NotFound, QaError, StorageFull, TooLarge, Unauthorized, UnsupportedType
from .feedback import FeedbackStore, feedback_target, parse_rating
from .index import Index, IngestResult
from .ingest import UPLOAD_DIR
from .loaders import FORMATS
from .models import Document
from .settings import Settings

PART = ".part"
STORAGE_PATH = re.compile(UPLOAD_DIR + r"/[0-9a-f]{64}/")  # what loaders put before a file name in their messages
STALE_SECONDS = 3600  # an unfinished upload (or a UI temp file) older than this is abandoned


# ---------------------------------------------------------------- who is asking

@dataclass(frozen=True)
class Principal:
    role: str  # "anonymous" | "reader" | "admin"
    key_id: str | None = None  # a short hash of the key, never the key (rate limits, logs)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


LOCAL_ADMIN = Principal("admin", None)


def key_id(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:16]


class Keys:
    """API keys from settings; sessions for the browser are signed tokens, so the cookie never holds the key.

    A session token is `<key id>.<expiry>.<mac>` with mac = HMAC-SHA256(key, "<key id>.<expiry>"): any replica
    that knows the keys can check it, and removing a key ends its sessions.
    """

    SESSION_SECONDS = 12 * 3600

    def __init__(self, settings: Settings):
        split = lambda raw: [k.strip() for k in (raw or "").split(",") if k.strip()]  # noqa: E731
        self.admin = split(settings.admin_keys)
        self.readers = split(settings.api_keys)
        self._by_id = {key_id(k): k for k in self.readers + self.admin}

    @property
    def enabled(self) -> bool:
        return bool(self.readers or self.admin)

    def principal(self, key: str | None) -> Principal | None:
        """Who a key makes the caller: admin, reader, anonymous (no key given), or None for a wrong key."""
        if not self.enabled:
            return LOCAL_ADMIN
        if not key:
            return Principal("anonymous")
        raw = key.encode("utf-8", "surrogatepass")
        if any(hmac.compare_digest(raw, k.encode()) for k in self.admin):
            return Principal("admin", key_id(key))
        if any(hmac.compare_digest(raw, k.encode()) for k in self.readers):
            return Principal("reader", key_id(key))
        return None

    def session_token(self, key: str, now: float | None = None) -> str:
        kid = key_id(key)
        expiry = int((now or time.time()) + self.SESSION_SECONDS)
        body = f"{kid}.{expiry}"
        return f"{body}.{hmac.new(key.encode(), body.encode(), hashlib.sha256).hexdigest()[:32]}"

    def from_session(self, token: str | None, now: float | None = None) -> Principal | None:
        """The principal a session cookie stands for; None when it is absent, forged, expired or its key is gone."""
        if not token or not self.enabled:
            return None
        parts = token.split(".")
        if len(parts) != 3 or not parts[1].isdigit():
            return None
        key = self._by_id.get(parts[0])
        if key is None or int(parts[1]) < (now or time.time()):
            return None
        mac = hmac.new(key.encode(), f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).hexdigest()[:32]
        if not hmac.compare_digest(mac, parts[2]):
            return None
        return self.principal(key)


# ---------------------------------------------------------------- results

@dataclass
class UploadResult:
    source: str
    status: str  # added / updated / unchanged / duplicate
    documents: list[Document] = field(default_factory=list)
    chunks: int = 0
    embedded: int = 0
    duplicate_of: str | None = None  # the file already holding these bytes (or this text)
    duplicates: list[dict] = field(default_factory=list)  # documents left out as near-duplicates (qa/dedup.py)

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "status": self.status,
            "chunks": self.chunks,
            "embedded": self.embedded,
            "duplicate_of": self.duplicate_of,
            "duplicates": self.duplicates,
            "documents": [d.to_dict() for d in self.documents],
        }


def safe_filename(name: str | None, max_len: int = 100) -> str:
    """A file name that is safe as one path component: no folders, no NUL or control characters, not hidden, short."""
    name = unicodedata.normalize("NFC", str(name or "").encode("utf-8", "replace").decode("utf-8"))
    name = name.replace("\\", "/").split("/")[-1]
    name = "".join(ch for ch in name if ch.isprintable() and ch not in '<>:"|?*\x00')
    name = re.sub(r"\s+", "_", name).strip("._ ")
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    ext = re.sub(r"[^A-Za-z0-9]", "", ext)[:10].lower()
    stem = stem.strip("._ ") or "upload"
    budget = max_len - (len(ext) + 1 if ext else 0)
    while len(stem.encode("utf-8")) > budget * 2 or len(stem) > budget:  # keep well under filesystem byte limits
        stem = stem[:-1]
    return f"{stem}.{ext}" if ext else stem


def display_source(source: str) -> str:
    """What a person sees for a source: the file's own name, never a path (uploads/<sha256>/…, seeds/…, /srv/…)."""
    return PurePosixPath(str(source).replace("\\", "/")).name or str(source)


# How a stored original is served: its media type, and whether a browser may show it in the page (inline) or must
# save it (attachment). HTML is never inline: a report's own markup and scripts must not run on this site's origin.
ORIGINAL_TYPES = {
    ".txt": ("text/plain", True), ".md": ("text/plain", True),
    ".pdf": ("application/pdf", False), ".html": ("text/html", False), ".htm": ("text/html", False),
    ".docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", False),
}
ORIGINAL_MAX_BYTES = 200 * 1024 * 1024  # read into memory to check its hash: far above any report


@dataclass
class Original:
    """A stored original, checked: the bytes are exactly those the catalogue indexed (same SHA-256)."""

    name: str  # the file's own name, for Content-Disposition
    media_type: str
    inline: bool
    data: bytes


def text_charset(data: bytes) -> str:
    """The charset of a text original, as the loaders read it: UTF-8 (BOM or not), UTF-16 with a BOM, else GB18030."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        return "gb18030"


# ---------------------------------------------------------------- the service

class Service:
    def __init__(self, settings: Settings, index: Index, feedback: FeedbackStore | None = None):
        self.settings = settings
        self.index = index
        self.keys = Keys(settings)
        self.feedback = feedback or FeedbackStore(feedback_target(settings))
        self.write_lock = threading.Lock()

    # -- roles
    def need_reader(self, who: Principal | None) -> None:
        if who is None:
            raise Unauthorized("API key 无效 (invalid API key)", headers={"WWW-Authenticate": "Bearer"})
        if who.role == "anonymous":
            raise Unauthorized("需要 API key: Authorization: Bearer <key> 或 X-API-Key (missing API key)", headers={"WWW-Authenticate": "Bearer"})

    def need_admin(self, who: Principal | None) -> None:
        self.need_reader(who)
        if not who.is_admin:
            raise Forbidden("该操作需要管理员密钥 (admin key required for uploads, edits, deletes and evaluation)")

    # -- questions
    def ask(self, who: Principal | None, question: str, filters=None, history: list[dict] | None = None, backend: str | None = None):
        from .answer import ask, check_backend

        self.need_reader(who)
        check_backend(backend, self.settings, configured=True)
        return ask(self.index, question, filters=filters, history=history, backend=backend)

    def ask_stream(self, who: Principal | None, question: str, filters=None, history: list[dict] | None = None, backend: str | None = None) -> Iterator[dict]:
        """Validates (and raises) before the first event, so a bad question is an error, not an empty stream."""
        from .answer import ask_stream, check_backend, validate

        self.need_reader(who)
        validate(question, self.settings.max_question_chars)
        check_backend(backend, self.settings, configured=True)
        return ask_stream(self.index, question, filters=filters, history=history, backend=backend)

    def search(self, who: Principal | None, question: str, k: int | None = None, filters=None):
        from .answer import validate
        from .retrieval import search

        self.need_reader(who)
        return search(self.index, validate(question, self.settings.max_question_chars), k=k, filters=filters)

    # -- documents
    def documents(self, who: Principal | None) -> list[Document]:
        self.need_reader(who)
        return self.index.catalog.documents()

    def document(self, who: Principal | None, doc_id: str) -> Document:
        self.need_reader(who)
        doc = self.index.catalog.document(doc_id)
        if doc is None:
            raise NotFound(f"没有这个文档: {doc_id[:80]} (unknown document id)")
        return doc

    def document_text(self, who: Principal | None, doc_id: str) -> tuple[Document, str]:
        doc = self.document(who, doc_id)
        return doc, self.index.catalog.file_text(doc.source) or ""

    def original(self, who: Principal | None, doc_id: str) -> Original:
        """The stored original file a document came from, for readers.

        Invariants: the path comes from the catalogue, never from the request (a caller names a document id only);
        it must lie in the uploads folder or the project (seeds), be a regular file, and hold exactly the bytes the
        catalogue indexed (SHA-256), so a file replaced or moved on disk since is refused, not served."""
        doc = self.document(who, doc_id)
        source = doc.source
        parts = PurePosixPath(source).parts
        if len(parts) == 3 and parts[0] == UPLOAD_DIR:
            root = Path(self.settings.data_dir, UPLOAD_DIR).resolve()
            path = Path(self.settings.data_dir, *parts)
        else:
            from .settings import PROJECT_ROOT

            root, path = PROJECT_ROOT.resolve(), (PROJECT_ROOT / source)
        gone = NotFound("原文件已不在服务器上 (the original file is no longer stored)", code="original_missing")
        try:
            real = path.resolve(strict=True)
            real.relative_to(root)
            st = real.stat()
        except (OSError, ValueError, RuntimeError):
            raise gone
        import stat as stat_mod

        if not stat_mod.S_ISREG(st.st_mode) or st.st_size > ORIGINAL_MAX_BYTES:
            raise gone
        data = real.read_bytes()
        if hashlib.sha256(data).hexdigest() != self.index.catalog.file_sha(source):
            raise gone
        name = display_source(source)
        media, inline = ORIGINAL_TYPES.get(Path(name).suffix.lower(), ("application/octet-stream", False))
        if media == "text/plain":
            media += f"; charset={text_charset(data)}"
        return Original(name=name, media_type=media, inline=inline, data=data)

    def upload(self, who: Principal | None, data: bytes, filename: str | None, progress=None) -> UploadResult:
        """Store the original and index it; nothing is kept when the file is refused or the ingest fails.
        A refusal names the file as the user knows it, never its storage path (uploads/<sha256>/…)."""
        try:
            return self._upload(who, data, filename, progress)
        except QaError as exc:
            exc.message = STORAGE_PATH.sub("", exc.message)
            exc.args = (exc.message,)
            raise

    def _upload(self, who: Principal | None, data: bytes, filename: str | None, progress=None) -> UploadResult:
        from .ingest import ingest_source
        from .loaders import load_bytes

        self.need_admin(who)
        limit = self.settings.max_upload_mb * 1024 * 1024
        if len(data) > limit:
            raise TooLarge(f"文件太大: {len(data) / 1048576:.1f} MB,上限 {self.settings.max_upload_mb} MB (file too large)")
        name = safe_filename(filename)
        if Path(name).suffix.lower() not in FORMATS:
            raise UnsupportedType(f"{name}: 不支持的文件类型,支持 {', '.join(sorted(set(FORMATS)))} (unsupported file type)")
        digest = hashlib.sha256(data).hexdigest()
        source = str(PurePosixPath(UPLOAD_DIR, digest, name))
        src = load_bytes(data, name, source)  # LoadError before anything is written
        with self.write_lock:
            same = self.index.catalog.sources_with_sha(src.sha256)
            if same:
                docs = [d for d in self.index.catalog.documents() if d.source == same[0]]
                return UploadResult(source=same[0], status="duplicate" if same[0] != source else "unchanged", documents=docs, duplicate_of=same[0])
            path = Path(self.settings.data_dir, UPLOAD_DIR, digest, name)
            part = path.with_name(path.name + PART)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                part.write_bytes(data)
                result: IngestResult = ingest_source(self.index, src, progress=progress)
            except OSError as exc:
                self._discard(part)
                if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                    raise StorageFull("磁盘空间不足,文件未保存 (no space left on the server; nothing was stored)") from exc
                raise
            except BaseException:
                self._discard(part)
                raise
            if result.status == "duplicate":  # every document's text is already indexed from another file
                self._discard(part)
                canonical = result.duplicates[0]["source"]
                docs = [d for d in self.index.catalog.documents() if d.source == canonical]
                return UploadResult(source=canonical, status="duplicate", documents=docs, duplicate_of=canonical, duplicates=result.duplicates)
            part.replace(path)  # after the catalogue committed: see the module docstring
        docs = [d for d in self.index.catalog.documents() if d.source == source]
        return UploadResult(source=source, status=result.status, documents=docs, chunks=result.chunks, embedded=result.embedded,
                            duplicates=result.duplicates)

    @staticmethod
    def _discard(part: Path) -> None:
        part.unlink(missing_ok=True)
        try:
            part.parent.rmdir()  # only when empty
        except OSError:
            pass

    def correct(self, who: Principal | None, doc_id: str, fields: dict) -> Document:
        from .ingest import correct_document

        self.need_admin(who)
        self.document(who, doc_id)
        if not fields:
            raise BadRequest("没有要修改的字段 (no fields given)", code="nothing_to_update")
        for value in fields.values():
            if isinstance(value, str) and re.search("[\ud800-\udfff]", value):
                raise BadRequest("字段中有无效字符 (invalid characters)")
        with self.write_lock:
            return correct_document(self.index, doc_id, fields)

    def delete(self, who: Principal | None, doc_id: str) -> dict:
        """Delete one document; when its file has no document left, that file's stored original goes too (only it)."""
        from .ingest import delete_document

        self.need_admin(who)
        doc = self.document(who, doc_id)
        with self.write_lock:
            removed = delete_document(self.index, doc_id)
            gone = doc.source not in self.index.catalog.sources()
            if gone:
                self._remove_original(doc.source)
        return {"deleted": doc_id, "title": doc.title, "file": display_source(doc.source), "file_removed": gone, "documents": removed}

    def _remove_original(self, source: str) -> None:
        parts = PurePosixPath(source).parts
        if len(parts) != 3 or parts[0] != UPLOAD_DIR:
            return  # not ours (seeds, files ingested from disk)
        path = Path(self.settings.data_dir, *parts)
        path.unlink(missing_ok=True)
        try:
            path.parent.rmdir()
        except OSError:
            pass

    # -- status and housekeeping
    def health(self, stats: dict | None = None) -> dict:
        """For anyone (load balancers): no paths, no keys, no model ids."""
        stats = stats or self.index.stats()
        vectors = self.index.vector_health(stats.get("chunks"))
        orphans = max(0, (vectors.get("vectors") or 0) - (vectors.get("chunks") or 0)) if vectors.get("reachable") else None
        return {
            "status": "ok" if vectors["reachable"] and vectors["consistent"] else "degraded",
            "documents": stats.get("documents"),
            "chunks": stats.get("chunks"),
            "catalog_version": stats.get("version"),
            "vectors": {k: vectors.get(k) for k in ("reachable", "vectors", "chunks", "consistent")},
            "orphan_vectors": orphans,  # `qa gc` removes them
            "auth": self.keys.enabled,
        }

    def status(self, who: Principal | None) -> dict:
        """Health plus what an operator needs: models, backends, last update (admin only for the store's location)."""
        from .llm import available_backends

        self.need_reader(who)
        stats = self.index.stats()  # read once: counts, model and store for both parts
        out = self.health(stats)
        out.update({
            "files": stats.get("files"),
            "embedding_model": stats.get("embedding_model"),
            "backend": self.settings.backend,
            "backends": available_backends(self.settings),
            "last_update": self.index.catalog.last_update(),
        })
        if who is not None and who.is_admin:
            out["vector_store"] = stats.get("vector_store")
        return out

    def gc(self, who: Principal | None) -> dict:
        """Remove what crashes and interrupted uploads left: orphan vectors, stray originals, old UI temp files."""
        self.need_admin(who)
        with self.write_lock:
            vectors = self.index.gc()
            finished, removed = self._sweep_uploads()
            temp = sweep_temp(ui_temp_dir(self.settings))
        return {"orphan_vectors": vectors, "uploads_finished": finished, "uploads_removed": removed, "temp_files_removed": temp}

    def _sweep_uploads(self) -> tuple[int, int]:
        root = Path(self.settings.data_dir, UPLOAD_DIR)
        if not root.is_dir():
            return 0, 0
        sources = set(self.index.catalog.sources())
        finished = removed = 0
        now = time.time()
        for path in sorted(root.glob("*/*")):
            name = path.name[: -len(PART)] if path.name.endswith(PART) else path.name
            source = str(PurePosixPath(UPLOAD_DIR, path.parent.name, name))
            if path.name.endswith(PART):
                if source in sources:  # committed, killed before the rename: finish it
                    path.replace(path.with_name(name))
                    finished += 1
                elif now - path.stat().st_mtime > STALE_SECONDS:  # (a young one may be an upload in progress)
                    path.unlink(missing_ok=True)
                    removed += 1
            elif source not in sources:
                path.unlink(missing_ok=True)
                removed += 1
        for folder in root.iterdir():
            try:
                folder.rmdir()
            except OSError:
                pass
        return finished, removed

    # -- evaluation
    def evaluate(self, who: Principal | None, progress=None) -> dict:
        """The gold-set evaluation on its own index of the seeds (figures never depend on uploads). Admin only:
        it indexes and writes a report (into the data folder, named by time; no paths are returned)."""
        from .evaluation import report
        from .evaluation.gold import load_gold
        from .evaluation.run import DEFAULT_GOLD, run_seeds, seed_index

        self.need_admin(who)
        if not DEFAULT_GOLD.is_file():
            raise NotFound("没有找到标准问答集 eval/gold.jsonl (the gold set ships with the project checkout)")
        items = load_gold(DEFAULT_GOLD)
        done = [0]

        def tick(n=1):
            done[0] += n or 0
            if progress:
                progress(done[0], len(items))

        result = run_seeds(seed_index(self.settings), items, progress=tick)
        folder = report.write(result, self.settings.data_dir / "eval-reports")
        summary = report.summary(result)
        try:
            charts = report._charts(result)  # the report's own SVG bar charts
        except Exception:
            charts = ""
        return {"summary": summary, "charts": charts, "report": folder.name}

    def eval_history(self, who: Principal | None) -> list[dict]:
        """The stored evaluation runs on the seed gold set, oldest first (time, items, metrics); no paths."""
        from .evaluation.history import runs
        from .evaluation.run import DEFAULT_OUT

        self.need_reader(who)
        return runs([DEFAULT_OUT, self.settings.data_dir / "eval-reports"])

    # -- feedback
    def add_feedback(self, who: Principal | None, rating, question: str, answer: str = "", citations: list | None = None, comment: str = "",
                     backend: str = "", filters: dict | None = None, channel: str = "api") -> dict:
        self.need_reader(who)
        try:
            value = parse_rating(rating)
        except ValueError as exc:
            raise BadRequest(str(exc), code="bad_rating") from exc
        fid = self.feedback.add(value, question, answer, citations or [], comment, backend, filters, channel)
        return {"id": fid, "rating": value}

    def export_feedback(self, who: Principal | None, fmt: str = "jsonl") -> str:
        self.need_admin(who)
        return self.feedback.export(fmt)


# ---------------------------------------------------------------- the UI's temporary uploads

def ui_temp_dir(settings: Settings) -> Path:
    """Where Gradio keeps files uploaded through the UI until our handler has read (and deleted) them: Gradio's own
    upload folder, computed as gradio.utils.get_upload_folder() does, without importing Gradio."""
    import os
    import tempfile

    return Path(os.environ.get("GRADIO_TEMP_DIR") or Path(tempfile.gettempdir()) / "gradio")


def sweep_temp(folder: Path, older_than: float = STALE_SECONDS) -> int:
    if not folder.is_dir():
        return 0
    removed, now = 0, time.time()
    for path in sorted(folder.rglob("*"), reverse=True):
        try:
            if path.is_file() and now - path.stat().st_mtime > older_than:
                path.unlink()
                removed += 1
            elif path.is_dir():
                path.rmdir()
        except OSError:
            pass
    return removed
