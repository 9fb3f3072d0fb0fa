"""One FastAPI application: the REST API for the portal, the Gradio chat UI at /, the compact chat at /embed.

    create_app(settings, index) -> FastAPI      (tests pass their own index)
    run_server(host, port)                      (`python app.py`, `qa serve`)

Auth: when QA_API_KEYS is set every /api/* call needs `Authorization: Bearer <key>` or `X-API-Key: <key>`;
the UI pages need the same key once (`/?key=...` or the login form; it is then kept in a cookie). When
QA_ADMIN_KEYS is set, uploads, metadata corrections, deletes and the feedback export need an admin key.
Errors are JSON: {"error": "<code>", "message": "<what to do>"}.
"""
from __future__ import annotations

import hashlib
import hmac
import html
import json
import logging
import math
import os
import re
import shutil
import threading
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from fastapi import Depends, FastAPI, File, Query, Request, UploadFile  # noqa: E402
from fastapi.exceptions import RequestValidationError  # noqa: E402
from fastapi.middleware.cors import CORSMiddleware  # noqa: E402
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, StreamingResponse  # noqa: E402
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer  # noqa: E402
from pydantic import BaseModel, Field  # noqa: E402
from starlette.exceptions import HTTPException as StarletteHTTPException  # noqa: E402

from .feedback import FeedbackStore, feedback_path, parse_rating  # noqa: E402
from .index import Index, IndexUnavailable  # noqa: E402
from .ingest import UPLOAD_DIR  # noqa: E402
from .loaders import FORMATS, LoadError  # noqa: E402
from .models import KIND_LABELS, Document  # noqa: E402
from .ratelimit import RateLimiter, client_id  # noqa: E402
from .settings import Settings, get_settings  # noqa: E402

log = logging.getLogger("qa.api")

KEY_COOKIE = "qa_key"
JSON_BODY_LIMIT = 1 << 20  # 1 MiB for JSON requests (questions are limited separately by max_question_chars)


# ---------------------------------------------------------------- errors

class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def _error(status: int, code: str, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status, headers=headers)


# ---------------------------------------------------------------- shared state

@dataclass
class Services:
    """What the API and the UI share: one index, one feedback store, one write lock."""

    settings: Settings
    index: Index
    feedback: FeedbackStore
    write_lock: threading.Lock = field(default_factory=threading.Lock)

    # -- keys
    def _keys(self, raw: str) -> list[str]:
        return [k.strip() for k in (raw or "").split(",") if k.strip()]

    @property
    def api_keys(self) -> list[str]:
        return self._keys(self.settings.api_keys) + self._keys(self.settings.admin_keys)

    @property
    def admin_keys(self) -> list[str]:
        return self._keys(self.settings.admin_keys)

    @property
    def auth_enabled(self) -> bool:
        return bool(self.api_keys)

    def key_ok(self, key: str | None) -> bool:
        return bool(key) and any(hmac.compare_digest(key.encode(), k.encode()) for k in self.api_keys)

    def admin_ok(self, key: str | None) -> bool:
        if not self.admin_keys:
            return not self.auth_enabled or self.key_ok(key)
        return bool(key) and any(hmac.compare_digest(key.encode(), k.encode()) for k in self.admin_keys)

    # -- documents
    def upload(self, data: bytes, filename: str, progress=None):
        """Store the original content-addressed under data_dir/uploads/<sha256>/<safe name> and ingest it."""
        from .ingest import ingest_source
        from .loaders import load_bytes

        limit = self.settings.max_upload_mb * 1024 * 1024
        if len(data) > limit:
            raise ApiError(413, "too_large", f"文件太大: {len(data) / 1048576:.1f} MB,上限 {self.settings.max_upload_mb} MB (file too large)")
        name = safe_filename(filename)
        if Path(name).suffix.lower() not in FORMATS:
            raise ApiError(415, "unsupported_type", f"{name}: 不支持的文件类型,支持 {', '.join(sorted(set(FORMATS)))} (unsupported file type)")
        digest = hashlib.sha256(data).hexdigest()
        source = str(PurePosixPath(UPLOAD_DIR, digest, name))
        path = Path(self.settings.data_dir, UPLOAD_DIR, digest, name)
        src = load_bytes(data, name, source)  # LoadError before anything is written
        with self.write_lock:
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.exists():
                tmp = path.with_name(path.name + ".part")
                tmp.write_bytes(data)
                tmp.replace(path)
            result = ingest_source(self.index, src, progress=progress)
        return result

    def delete_document(self, doc_id: str) -> dict:
        doc = self.index.catalog.document(doc_id)
        if doc is None:
            raise ApiError(404, "not_found", f"没有这个文档: {doc_id} (unknown document id)")
        from .ingest import delete_document

        with self.write_lock:
            removed = delete_document(self.index, doc_id)
            parts = PurePosixPath(doc.source).parts
            gone = doc.source not in self.index.catalog.sources()
            if gone and len(parts) == 3 and parts[0] == UPLOAD_DIR:  # our own stored original, no document left in it
                shutil.rmtree(Path(self.settings.data_dir, parts[0], parts[1]), ignore_errors=True)
        return {"deleted": doc.source if gone else None, "documents": removed}

    def update_document(self, doc_id: str, fields: dict) -> Document:
        if self.index.catalog.document(doc_id) is None:
            raise ApiError(404, "not_found", f"没有这个文档: {doc_id} (unknown document id)")
        from .ingest import correct_document

        with self.write_lock:
            return correct_document(self.index, doc_id, fields)

    def status(self) -> dict:
        from .llm import available_backends

        stats = self.index.stats()
        vectors = self.index.vector_health(stats.get("chunks"))
        return {
            "status": "ok" if vectors["reachable"] and vectors["consistent"] else "degraded",
            "vectors": vectors,
            "catalog_version": stats.get("version"),
            "documents": stats.get("documents"),
            "chunks": stats.get("chunks"),
            "files": stats.get("files"),
            "embedding_model": stats.get("embedding_model"),
            "vector_store": stats.get("vector_store"),
            "index_dir": stats.get("data_dir"),
            "backend": self.settings.backend,
            "backends": available_backends(self.settings),
            "auth": self.auth_enabled,
        }


def safe_filename(name: str | None, max_len: int = 100) -> str:
    """A file name that is safe as one path component: no folders, no NUL or control characters, not hidden, short."""
    name = unicodedata.normalize("NFC", str(name or ""))
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


# ---------------------------------------------------------------- request bodies

class Turn(BaseModel):
    question: str = Field("", max_length=20000)
    answer: str = Field("", max_length=50000)


class AskRequest(BaseModel):
    question: str = Field(..., description="问题 (the question)", examples=["哪些地区行政机关负责人出庭应诉率达100%?"])
    region: str | None = Field(None, description="只看该地区 (e.g. 克拉玛依市)")
    year: int | None = Field(None, ge=1949, le=2100)
    kind: Literal["report", "plan", "article"] | None = None
    history: list[Turn] = Field(default_factory=list, max_length=20, description="earlier turns, for follow-ups like «那新乡呢?»")
    backend: str | None = Field(None, description="extractive / openai / local (default: QA_BACKEND)")


class FeedbackRequest(BaseModel):
    rating: Any = Field(..., description="up/down, 👍/👎, 1/-1")
    question: str = Field(..., max_length=20000)
    answer: str = Field("", max_length=50000)
    citations: list[dict] = Field(default_factory=list, max_length=100)
    comment: str = Field("", max_length=4000)
    backend: str = ""


class DocumentUpdate(BaseModel):
    title: str | None = Field(None, max_length=500)
    region: str | None = Field(None, max_length=100)
    province: str | None = Field(None, max_length=100)
    city: str | None = Field(None, max_length=100)
    district: str | None = Field(None, max_length=100)
    level: str | None = Field(None, max_length=20)
    year: int | None = Field(None, ge=1949, le=2100)
    kind: Literal["report", "plan", "article"] | None = None
    published: str | None = Field(None, max_length=40)


# ---------------------------------------------------------------- the app

def create_app(settings: Settings | None = None, index: Index | None = None, with_ui: bool = True) -> FastAPI:
    settings = settings or get_settings()
    index = index or Index(settings)
    services = Services(settings, index, FeedbackStore(feedback_path(settings)))

    app = FastAPI(
        title="法治报告问答 API",
        version="0.1.0",
        description="Questions over rule-of-law government reports, answered with verified citations. "
        "Send `Authorization: Bearer <key>` or `X-API-Key: <key>` when the server has QA_API_KEYS set.",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.services = services

    # -- errors: always JSON with a code and a message
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError):
        return _error(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError):
        problems = []
        for e in exc.errors():
            where = ".".join(str(p) for p in e.get("loc", ()) if p not in ("body", "query", "path"))
            problems.append(f"{where or 'request'}: {e.get('msg')}")
        return JSONResponse({"error": "invalid_request", "message": "; ".join(problems), "details": json.loads(json.dumps(exc.errors(), default=str))}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        codes = {404: "not_found", 405: "method_not_allowed", 413: "too_large", 401: "unauthorized", 403: "forbidden"}
        return _error(exc.status_code, codes.get(exc.status_code, "http_error"), str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(IndexUnavailable)
    async def _index_down(request: Request, exc: IndexUnavailable):
        return _error(503, "index_unavailable", str(exc))

    # -- request size limits (before the body is read)
    upload_limit = settings.max_upload_mb * 1024 * 1024

    @app.middleware("http")
    async def _limits(request: Request, call_next):
        path = request.url.path
        length = request.headers.get("content-length")
        if path.startswith("/api/") and request.method in ("POST", "PUT", "PATCH"):
            limit = upload_limit + 64 * 1024 if path.rstrip("/") == "/api/documents" else JSON_BODY_LIMIT
            if length is not None:
                try:
                    too_big = int(length) > limit
                except ValueError:
                    return _error(400, "bad_request", "Content-Length 无效 (invalid Content-Length)")
                if too_big:
                    return _error(413, "too_large", f"请求太大: 上限 {limit // 1048576} MB (request body too large)")
        return await call_next(request)

    # -- one token bucket per API key, so one client cannot starve the others
    if settings.rate_limit > 0:
        limiter = RateLimiter(settings.rate_limit, settings.rate_burst)

        @app.middleware("http")
        async def _rate_limit(request: Request, call_next):
            if not request.url.path.startswith("/api/") or request.method == "OPTIONS":
                return await call_next(request)
            key = _header_key(request)
            # Without auth anyone can invent keys, so only a valid key earns its own bucket.
            known = key if services.auth_enabled and services.key_ok(key) else None
            decision = limiter.hit(client_id(known, request.client.host if request.client else None))
            headers = {"X-RateLimit-Limit": f"{settings.rate_limit:g}/min", "X-RateLimit-Remaining": str(decision.remaining)}
            if not decision.allowed:
                headers["Retry-After"] = str(max(1, math.ceil(decision.retry_after)))
                return _error(429, "rate_limited", f"请求过于频繁,请 {headers['Retry-After']} 秒后再试 (rate limit: {settings.rate_limit:g} requests/min per key)", headers)
            response = await call_next(request)
            response.headers.update(headers)
            return response

    # -- the UI pages need a key too when keys are set (kept in a cookie after ?key= or the login form)
    @app.middleware("http")
    async def _ui_guard(request: Request, call_next):
        if not services.auth_enabled:
            return await call_next(request)
        path = request.url.path
        if path.startswith("/api/") or path in ("/healthz", "/readyz", "/login", "/docs", "/openapi.json", "/docs/oauth2-redirect"):
            return await call_next(request)
        query_key = request.query_params.get("key")
        if query_key and services.key_ok(query_key):
            target = request.url.remove_query_params("key")
            response = RedirectResponse(str(target.path) + (f"?{target.query}" if target.query else ""), status_code=303)
            _set_key_cookie(response, request, query_key)
            return response
        if services.key_ok(request.cookies.get(KEY_COOKIE)) or services.key_ok(_header_key(request)):
            return await call_next(request)
        if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
            return HTMLResponse(_login_page(path, error=bool(query_key)), status_code=401)
        return _error(401, "unauthorized", "需要 API key (send Authorization: Bearer <key>, X-API-Key, or open the page with ?key=)")

    @app.post("/login", include_in_schema=False)
    async def login(request: Request):
        form = await request.form()
        key, nxt = str(form.get("key", "")), str(form.get("next", "/"))
        if not nxt.startswith("/") or nxt.startswith("//"):
            nxt = "/"
        if not services.key_ok(key):
            return HTMLResponse(_login_page(nxt, error=True), status_code=401)
        response = RedirectResponse(nxt, status_code=303)
        _set_key_cookie(response, request, key)
        return response

    origins = [o.strip() for o in settings.cors_origins.split(",") if o.strip()]
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type"],
            max_age=600,
        )

    _add_api_routes(app, services)

    @app.get("/doc/{doc_id}", response_class=HTMLResponse, include_in_schema=False)
    def view_document(doc_id: str, start: int | None = None, end: int | None = None):
        return _document_page(services, doc_id, start, end)

    if with_ui:
        from .ui import mount_ui

        @app.get("/embed", include_in_schema=False)
        def embed_slash(request: Request):
            query = request.url.query
            return RedirectResponse("/embed/" + (f"?{query}" if query else ""), status_code=307)

        mount_ui(app, services)
    return app


def _header_key(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.headers.get("x-api-key")


def _set_key_cookie(response, request: Request, key: str) -> None:
    secure = request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"
    # SameSite=None (HTTPS only) lets a portal on another site keep the key inside its <iframe>.
    response.set_cookie(KEY_COOKIE, key, httponly=True, secure=secure, samesite="none" if secure else "lax", max_age=30 * 86400)


def _login_page(next_path: str, error: bool = False) -> str:
    msg = '<p style="color:#b91c1c">密钥无效,请重试。</p>' if error else ""
    return f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>法治报告问答 · 登录</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family:sans-serif;max-width:360px;margin:15vh auto;padding:0 1em">
<h2>法治报告问答</h2><p>请输入访问密钥 (API key)。</p>{msg}
<form method="post" action="/login"><input type="hidden" name="next" value="{html.escape(next_path)}">
<input name="key" type="password" autofocus style="width:100%;padding:.5em;margin-bottom:.5em" aria-label="访问密钥">
<button type="submit" style="padding:.5em 1.5em">进入</button></form></body></html>"""


# ---------------------------------------------------------------- REST routes

def _add_api_routes(app: FastAPI, services: Services) -> None:
    settings, index = services.settings, services.index
    bearer = HTTPBearer(auto_error=False, description="API key as a bearer token")
    header = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key")

    def require_key(creds: HTTPAuthorizationCredentials | None = Depends(bearer), x_key: str | None = Depends(header)) -> str | None:
        key = (creds.credentials if creds else None) or x_key
        if services.auth_enabled and not services.key_ok(key):
            message = "需要 API key: Authorization: Bearer <key> 或 X-API-Key (missing API key)" if not key else "API key 无效 (invalid API key)"
            raise ApiError(401, "unauthorized", message, {"WWW-Authenticate": "Bearer"})
        return key

    def require_admin(key: str | None = Depends(require_key)) -> str | None:
        if not services.admin_ok(key):
            raise ApiError(403, "forbidden", "该操作需要管理员密钥 (admin key required for uploads, edits and deletes)")
        return key

    def filters_of(region, year, kind):
        from .retrieval import Filters

        return Filters(region=(region or None), year=year, kind=kind)

    def validate_question(question: str) -> str:
        from .answer import QuestionError, validate

        try:
            return validate(question, settings.max_question_chars)
        except QuestionError as exc:
            raise ApiError(400, "bad_question", str(exc))

    def check_backend(backend: str | None) -> str:
        from .llm import BACKENDS, available_backends

        backend = backend or settings.backend
        if backend not in BACKENDS:
            raise ApiError(400, "bad_backend", f"未知的后端 {backend!r},可选: {', '.join(BACKENDS)} (unknown backend)")
        if backend not in available_backends(settings):
            raise ApiError(400, "backend_unavailable", f"后端 {backend} 未配置,可用: {', '.join(available_backends(settings))} (backend not configured)")
        return backend

    @app.get("/healthz", tags=["status"])
    def healthz():
        """Liveness and runtime status (no key needed): documents, chunks, embedding model, backend."""
        return services.status()

    @app.get("/readyz", tags=["status"])
    def readyz():
        """Readiness for a load balancer: 503 while the vector store is unreachable or out of step with the catalogue."""
        status = services.status()
        return JSONResponse(status, status_code=200 if status["status"] == "ok" else 503)

    @app.post("/api/ask", tags=["ask"], dependencies=[Depends(require_key)])
    def api_ask(req: AskRequest):
        """Answer a question: {answer, refused, citations[...], timings, verification, nearest}."""
        from .answer import QuestionError, ask
        from .llm import BackendUnavailable

        question = validate_question(req.question)
        backend = check_backend(req.backend)
        try:
            answer = ask(index, question, filters=filters_of(req.region, req.year, req.kind), history=[t.model_dump() for t in req.history], backend=backend)
        except QuestionError as exc:
            raise ApiError(400, "bad_question", str(exc))
        except BackendUnavailable as exc:
            raise ApiError(503, "backend_unavailable", str(exc))
        return answer.to_dict()

    @app.post("/api/ask/stream", tags=["ask"], dependencies=[Depends(require_key)],
              responses={200: {"content": {"text/event-stream": {}}, "description": "SSE: `token` events, then `citations`, then `answer` (the verified answer, which replaces the tokens)"}})
    def api_ask_stream(req: AskRequest):
        """Server-sent events: `event: token` {text} while the answer is written, then `event: citations` [...], then `event: answer` {...}."""
        from .answer import ask_stream

        question = validate_question(req.question)
        backend = check_backend(req.backend)
        events = ask_stream(index, question, filters=filters_of(req.region, req.year, req.kind), history=[t.model_dump() for t in req.history], backend=backend)

        def sse():
            try:
                for ev in events:
                    if ev["type"] == "token":
                        yield _sse("token", {"text": ev["text"]})
                    elif ev["type"] == "answer":
                        data = ev["answer"].to_dict()
                        yield _sse("citations", data["citations"])
                        yield _sse("answer", data)
            except Exception as exc:  # the status line is already sent: report in-band
                log.exception("stream failed")
                yield _sse("error", {"error": type(exc).__name__, "message": str(exc)})

        return StreamingResponse(sse(), media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @app.get("/api/search", tags=["search"], dependencies=[Depends(require_key)])
    def api_search(
        q: str = Query(..., description="查询"),
        k: int = Query(5, ge=1, le=50),
        region: str | None = None,
        year: int | None = Query(None, ge=1949, le=2100),
        kind: Literal["report", "plan", "article"] | None = None,
    ):
        """Hybrid search (BM25 + dense): the best chunks with their document metadata and offsets."""
        from .retrieval import search

        q = validate_question(q)
        hits = search(index, q, k=k, filters=filters_of(region, year, kind))
        return {"query": q, "results": [h.to_dict() for h in hits]}

    @app.get("/api/documents", tags=["documents"], dependencies=[Depends(require_key)])
    def api_documents():
        """Every indexed document with its metadata."""
        return {"documents": [d.to_dict() for d in index.catalog.documents()], "stats": index.catalog.stats()}

    @app.get("/api/documents/{doc_id}", tags=["documents"], dependencies=[Depends(require_key)])
    def api_document(doc_id: str, text: bool = False):
        """One document's metadata (with its text when `text=true`)."""
        doc = index.catalog.document(doc_id)
        if doc is None:
            raise ApiError(404, "not_found", f"没有这个文档: {doc_id} (unknown document id)")
        out = doc.to_dict()
        if text:
            out["text"] = (index.catalog.file_text(doc.source) or "")[doc.start : doc.end]
        return out

    @app.post("/api/documents", tags=["documents"], status_code=201, dependencies=[Depends(require_admin)])
    def api_upload(file: UploadFile = File(..., description="txt, md, html, pdf or docx")):
        """Upload a report (multipart field `file`); it is stored, split into documents and indexed."""
        limit = settings.max_upload_mb * 1024 * 1024
        data = file.file.read(limit + 1)
        if len(data) > limit:
            raise ApiError(413, "too_large", f"文件太大: 上限 {settings.max_upload_mb} MB (file too large)")
        try:
            result = services.upload(data, file.filename or "upload")
        except LoadError as exc:
            raise ApiError(400, "unreadable_file", str(exc))
        body = result.to_dict()
        body["documents"] = [d.to_dict() for d in index.catalog.documents() if d.source == result.source]
        return JSONResponse(body, status_code=201 if result.status in ("added", "updated") else 200)

    @app.patch("/api/documents/{doc_id}", tags=["documents"], dependencies=[Depends(require_admin)])
    def api_update(doc_id: str, req: DocumentUpdate):
        """Correct a document's detected metadata (region, year, kind, title…)."""
        fields = req.model_dump(exclude_unset=True)
        if not fields:
            raise ApiError(400, "nothing_to_update", "没有要修改的字段 (no fields given)")
        return services.update_document(doc_id, fields).to_dict()

    @app.delete("/api/documents/{doc_id}", tags=["documents"], dependencies=[Depends(require_admin)])
    def api_delete(doc_id: str):
        """Delete a document — with the file it came from (and the other documents of that file)."""
        return services.delete_document(doc_id)

    @app.post("/api/feedback", tags=["feedback"], status_code=201, dependencies=[Depends(require_key)])
    def api_feedback(req: FeedbackRequest):
        """Record 👍/👎 (and an optional comment) for an answer."""
        try:
            rating = parse_rating(req.rating)
        except ValueError as exc:
            raise ApiError(400, "bad_rating", str(exc))
        fid = services.feedback.add(rating, req.question, req.answer, req.citations, req.comment, req.backend, channel="api")
        return {"id": fid, "rating": rating}

    @app.get("/api/feedback", tags=["feedback"], dependencies=[Depends(require_admin)])
    def api_feedback_export(format: Literal["json", "jsonl", "csv"] = "json"):
        """Export all feedback (admin)."""
        if format == "json":
            return {"feedback": services.feedback.all(), "counts": services.feedback.count()}
        media = "text/csv" if format == "csv" else "application/x-ndjson"
        return PlainTextResponse(services.feedback.export(format), media_type=media)

    @app.api_route("/api/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
    def api_unknown(rest: str):
        raise ApiError(404, "not_found", f"没有这个接口: /api/{rest} (see /docs)")


def _sse(event: str, data) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


# ---------------------------------------------------------------- whole-document view

def _document_page(services: Services, doc_id: str, start: int | None, end: int | None) -> HTMLResponse:
    doc = services.index.catalog.document(doc_id)
    if doc is None:
        return HTMLResponse("<!doctype html><meta charset=utf-8><p>没有这个文档。</p>", status_code=404)
    text = services.index.catalog.file_text(doc.source) or ""
    lo, hi = doc.start, doc.end
    if start is not None and end is not None and 0 <= start < end <= len(text):
        lo, hi = min(lo, start), max(hi, end)
        body = html.escape(text[lo:start]) + f'<mark id="hl">{html.escape(text[start:end])}</mark>' + html.escape(text[end:hi])
    else:
        body = html.escape(text[lo:hi])
    year = f"{doc.year}年" if doc.year else "年份不详"
    meta = " · ".join(html.escape(x) for x in (doc.region or "地区不详", year, KIND_LABELS.get(doc.kind, doc.kind or "")))
    page = f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>{html.escape(doc.title or doc.doc_id)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:"Noto Sans CJK SC","PingFang SC","Microsoft YaHei",sans-serif;max-width:52em;margin:2em auto;padding:0 1em;line-height:1.8;color:#1f2937}}
pre{{white-space:pre-wrap;font-family:inherit}} mark{{background:#fde68a;padding:.1em 0;scroll-margin-top:40vh}} .meta{{color:#6b7280}}</style></head>
<body><h1 style="font-size:1.3em">{html.escape(doc.title or doc.doc_id)}</h1><p class="meta">{meta} · 来源 {html.escape(doc.source)}</p>
<pre>{body}</pre></body></html>"""
    # Document text is untrusted: nothing on this page may run scripts.
    return HTMLResponse(page, headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'"})


# ---------------------------------------------------------------- running

def ensure_seeds(index: Index) -> None:
    """A fresh machine opens with the seeds indexed."""
    if index.catalog.documents():
        return
    from .ingest import ingest_paths

    log.warning("index is empty: indexing %s", index.settings.seeds_dir)
    for r in ingest_paths(index, [index.settings.seeds_dir]):
        if r.status == "failed":
            log.warning("failed: %s %s", r.source, r.error)


def run_server(host: str | None = None, port: int | None = None, settings: Settings | None = None) -> None:
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    settings = settings or get_settings()
    index = Index(settings)
    ensure_seeds(index)
    health = index.vector_health()
    if health["reachable"] and not health["consistent"]:
        log.warning("the vector store holds %s vectors for %s chunks: run `qa ingest --force` (or `qa rebuild`) to restore them", health["vectors"], health["chunks"])
    index.warm()  # the first question should not pay for loading the model and BM25
    app = create_app(settings, index)
    host, port = host or settings.host, port or settings.port
    print(f"法治报告问答: http://{host}:{port}/  (API docs /docs, embed /embed)", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="info", timeout_graceful_shutdown=5)


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (tests and benchmarks start servers on it)."""
    import socket

    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class ServerThread:
    """uvicorn in a background thread on 127.0.0.1 and a free port (tests, benchmarks)."""

    def __init__(self, app: FastAPI, host: str = "127.0.0.1", port: int = 0):
        import uvicorn

        port = port or free_port(host)
        self.host, self.port = host, port
        self.server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> "ServerThread":
        self.thread.start()
        deadline = time.time() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.time() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
