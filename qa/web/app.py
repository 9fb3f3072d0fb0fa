"""One FastAPI application: the REST API for the portal, the Gradio chat UI at /, the compact chat at /embed.

    create_app(settings, index) -> FastAPI      (tests pass their own index)
    run_server(host, port)                      (`python app.py`, `qa serve`)

Every request passes qa.web.guard.Guard first (auth, roles at the door, rate limits, body limits, CORS, framing,
JSON errors). Routes are thin: they turn HTTP into calls on qa.service.Service, which checks roles and raises
domain errors; those become JSON here: {"error": "<code>", "message": "<what to do>"}.
"""
from __future__ import annotations

import html
import json
import logging
import os
from typing import Any, Literal

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from fastapi import Depends, FastAPI, File, Query, Request, UploadFile  # noqa: E402
from fastapi.exceptions import RequestValidationError  # noqa: E402
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response, StreamingResponse  # noqa: E402
from fastapi.security import APIKeyHeader, HTTPBearer  # noqa: E402
from pydantic import BaseModel, Field, model_validator  # noqa: E402
from starlette.exceptions import HTTPException as StarletteHTTPException  # noqa: E402

from ..errors import QaError, TooLarge  # noqa: E402
from ..index import Index  # noqa: E402
from ..models import KIND_LABELS  # noqa: E402
from ..service import Principal, Service  # noqa: E402
from ..settings import Settings, get_settings  # noqa: E402
from .guard import Guard, RedactKeys, clear_cookie, local_path, session_cookie  # noqa: E402

log = logging.getLogger("qa.web")


def _error(status: int, code: str, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status, headers=headers)


# ---------------------------------------------------------------- request bodies

def _has_surrogate(value) -> bool:
    if isinstance(value, str):
        return any("\ud800" <= ch <= "\udfff" for ch in value)
    if isinstance(value, dict):
        return any(_has_surrogate(k) or _has_surrogate(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_has_surrogate(v) for v in value)
    return False


class Body(BaseModel):
    """Request bodies refuse lone UTF-16 surrogates anywhere (JSON allows `\\ud800`; UTF-8 cannot hold it)."""

    @model_validator(mode="before")
    @classmethod
    def _no_surrogates(cls, data):
        if _has_surrogate(data):
            raise ValueError("无效字符 (lone surrogate in the request)")
        return data


class Turn(Body):
    question: str = Field("", max_length=20000)
    answer: str = Field("", max_length=50000)


class AskRequest(Body):
    question: str = Field(..., description="问题 (the question)", examples=["哪些地区行政机关负责人出庭应诉率达100%?"])
    region: str | None = Field(None, max_length=100, description="只看该地区 (e.g. 克拉玛依市)")
    year: int | None = Field(None, ge=1949, le=2100)
    kind: Literal["report", "plan", "notice", "article"] | None = None
    history: list[Turn] = Field(default_factory=list, max_length=20, description="earlier turns, for follow-ups like «那新乡呢?»")
    backend: str | None = Field(None, max_length=40, description="extractive / openai / local (default: QA_BACKEND)")


class FeedbackRequest(Body):
    rating: Any = Field(..., description="up/down, 👍/👎, 1/-1")
    question: str = Field(..., max_length=20000)
    answer: str = Field("", max_length=50000)
    citations: list[dict] = Field(default_factory=list, max_length=100)
    comment: str = Field("", max_length=4000)
    backend: str = Field("", max_length=40)


class DocumentUpdate(Body):
    title: str | None = Field(None, max_length=500)
    region: str | None = Field(None, max_length=100)
    province: str | None = Field(None, max_length=100)
    city: str | None = Field(None, max_length=100)
    district: str | None = Field(None, max_length=100)
    level: str | None = Field(None, max_length=20)
    year: int | None = Field(None, ge=1949, le=2100)
    year_end: int | None = Field(None, ge=1949, le=2100, description="last year of a multi-year plan")
    kind: Literal["report", "plan", "notice", "article"] | None = None
    department: str | None = Field(None, max_length=100, description="e.g. 司法局 for a department's own report")
    published: str | None = Field(None, max_length=40)


def _clean_errors(errors: list[dict]) -> list[dict]:
    """Validation details without the offending input (it may be huge, non-finite or hold lone surrogates)."""
    return [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))} for e in errors]


def _principal(request: Request) -> Principal | None:
    return getattr(request.state, "principal", None)


# ---------------------------------------------------------------- the app

def create_app(settings: Settings | None = None, index: Index | None = None, with_ui: bool = True) -> FastAPI:
    settings = settings or get_settings()
    index = index or Index(settings)
    service = Service(settings, index)

    app = FastAPI(
        title="法治报告问答 API",
        version="0.1.0",
        description="Questions over rule-of-law government reports, answered with verified citations. "
        "Send `Authorization: Bearer <key>` or `X-API-Key: <key>` when the server has QA_API_KEYS set.",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.service = service

    @app.exception_handler(QaError)
    async def _qa_error(request: Request, exc: QaError):
        return _error(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError):
        details = _clean_errors(exc.errors())
        problems = [f"{'.'.join(p for p in d['loc'] if p not in ('body', 'query', 'path')) or 'request'}: {d['msg']}" for d in details]
        return JSONResponse({"error": "invalid_request", "message": "; ".join(problems), "details": details}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        codes = {404: "not_found", 405: "method_not_allowed", 413: "too_large", 401: "unauthorized", 403: "forbidden"}
        return _error(exc.status_code, codes.get(exc.status_code, "http_error"), str(exc.detail), getattr(exc, "headers", None))

    @app.post("/login", include_in_schema=False)
    async def login(request: Request):
        form = await request.form()
        key, nxt = str(form.get("key", "")), local_path(str(form.get("next", "/")))
        secure = request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"
        guard: Guard = app.state.guard
        address = request.client.host if request.client else "unknown"
        wait = guard.failures.blocked("addr:" + address)
        if wait:  # locked out: not even the right key is checked, else guessing could go on through this form
            return _error(429, "rate_limited", "密钥错误次数过多,请稍后再试 (too many failed keys)", {"Retry-After": str(max(1, int(wait) + 1))})
        who = service.keys.principal(key) if key else None
        if who is None or who.role == "anonymous":
            guard.failures.hit("addr:" + address)
            return HTMLResponse(login_page(nxt, error=True), status_code=401)
        response = RedirectResponse(nxt, status_code=303)
        response.headers.append("set-cookie", session_cookie(service, key, secure))
        return response

    @app.get("/logout", include_in_schema=False)
    def logout(request: Request):
        secure = request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"
        response = RedirectResponse("/", status_code=303)
        response.headers.append("set-cookie", clear_cookie(secure))
        return response

    _add_api_routes(app, service)

    @app.get("/doc/{doc_id}", response_class=HTMLResponse, include_in_schema=False)
    def view_document(request: Request, doc_id: str, start: int | None = None, end: int | None = None, back: str | None = None):
        return document_page(service, _principal(request), doc_id, start, end, back)

    @app.get("/doc/{doc_id}/original", include_in_schema=False)
    def original_file(request: Request, doc_id: str):
        """The stored original of a document's file, for readers (see Service.original for what is checked)."""
        return original_response(service.original(_principal(request), doc_id))

    if with_ui:
        from .ui import mount_ui

        @app.get("/embed", include_in_schema=False)
        def embed_slash(request: Request):
            query = request.url.query
            return RedirectResponse("/embed/" + (f"?{query}" if query else ""), status_code=307)

        mount_ui(app, service)

    # Outermost: nothing behind it runs for a request it refuses.
    guarded = Guard(None, service, login_page)  # its app is set when Starlette builds the stack
    app.state.guard = guarded
    _install_guard(app, guarded)
    return app


def _install_guard(app: FastAPI, guard: Guard) -> None:
    """Put the guard in front of Starlette's own middleware stack (ServerErrorMiddleware included), so that even
    an unhandled error comes back as JSON from the guard and not as Starlette's plain-text 500."""
    build = app.build_middleware_stack

    def build_guarded():
        guard.app = build()
        return guard

    app.build_middleware_stack = build_guarded


COOKIE_BLOCKED = ("此问答嵌在另一个网站的页面里,且通过 HTTP(未加密)访问:浏览器不允许嵌入框保存登录状态,在这里登录会一直回到登录页。"
                  "请点下面的链接在新窗口中打开问答并登录;或请门户管理员为问答服务启用 HTTPS(见部署说明)。")


def login_page(next_path: str, error: bool = False, blocked: bool = False) -> str:
    """The key form, or (`blocked`) a message instead of it: inside another site's <iframe> over plain HTTP the
    session cookie (SameSite=Lax; `None` needs HTTPS) is never sent back, so a form there would loop forever.

    The server knows it is blocked when the browser says so (Sec-Fetch-Site: cross-site, Sec-Fetch-Dest: iframe);
    where browsers send no such headers (plain HTTP to a non-local host) the page's own check finds out: framed, and a
    test cookie written the same way does not come back. That script is the page's only one and reads no input."""
    nxt = html.escape(next_path)
    msg = '<p role="alert" style="color:#b91c1c">密钥无效,请重试。</p>' if error else ""
    notice = (f'<div id="qa-cookie-blocked" role="alert" {"" if blocked else "hidden"} style="border:2px solid #b91c1c;border-radius:8px;padding:.8em 1em;'
              f'background:#fef2f2;color:#7f1d1d"><p style="margin:0 0 .6em">{COOKIE_BLOCKED}</p>'
              f'<p style="margin:0"><a href="{nxt}" target="_blank" rel="noopener" style="color:#1d4ed8;font-weight:600">在新窗口中打开问答 ›</a></p></div>')
    form = (f'<div id="qa-login" {"hidden" if blocked else ""}><p>请输入访问密钥 (API key)。</p>{msg}'
            f'<form method="post" action="/login"><input type="hidden" name="next" value="{nxt}">'
            '<label for="key">访问密钥</label>'
            '<input id="key" name="key" type="password" autofocus style="width:100%;padding:.5em;margin-bottom:.5em">'
            '<button type="submit" style="padding:.5em 1.5em">进入</button></form></div>')
    probe = """<script>
(function () {
  var framed; try { framed = window.self !== window.top; } catch (e) { framed = true; }
  if (!framed) return;
  var secure = location.protocol === 'https:';
  document.cookie = 'qa_probe=1; Path=/; Max-Age=60; SameSite=' + (secure ? 'None; Secure' : 'Lax');
  if (document.cookie.indexOf('qa_probe=1') >= 0) return;  /* this frame keeps cookies: the form works */
  document.getElementById('qa-login').hidden = true;
  document.getElementById('qa-cookie-blocked').hidden = false;
})();
</script>"""
    return f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>法治报告问答 · 登录</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family:sans-serif;max-width:360px;margin:10vh auto;padding:0 1em">
<h1 style="font-size:1.4em">法治报告问答</h1>{notice}{form}{probe}</body></html>"""


def cross_site_frame(headers: dict[str, str], secure: bool) -> bool:
    """A page load inside another site's <iframe> over plain HTTP, as the browser reports it (Fetch Metadata)."""
    return not secure and headers.get("sec-fetch-dest") == "iframe" and headers.get("sec-fetch-site") == "cross-site"


# ---------------------------------------------------------------- REST routes

def _add_api_routes(app: FastAPI, service: Service) -> None:
    settings = service.settings
    # Declared for the OpenAPI page; the guard has already checked the key.
    bearer = HTTPBearer(auto_error=False, description="API key as a bearer token")
    header = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key")

    def who(request: Request, _b=Depends(bearer), _h=Depends(header)) -> Principal | None:
        return _principal(request)

    def filters_of(region, year, kind):
        from ..retrieval import Filters

        return Filters(region=(region or None), year=year, kind=kind)

    @app.get("/healthz", tags=["status"])
    def healthz():
        """Liveness for anyone: status, counts, vector-store consistency (no paths, no keys, no model ids)."""
        return service.health()

    @app.get("/readyz", tags=["status"])
    def readyz():
        """Readiness for a load balancer: 503 while the vector store is unreachable or out of step with the catalogue."""
        status = service.health()
        return JSONResponse(status, status_code=200 if status["status"] == "ok" else 503)

    @app.get("/api/status", tags=["status"])
    def api_status(p: Principal | None = Depends(who)):
        """Runtime status for signed-in users: health, documents, last update, models and backends."""
        return service.status(p)

    @app.post("/api/ask", tags=["ask"])
    def api_ask(req: AskRequest, format: Literal["json", "csv"] = "json", p: Principal | None = Depends(who)):
        """Answer a question: {answer, refused, answer_type, verdict, table[...], notes, citations[...], timings,
        verification, nearest}. With `?format=csv`, the answer's table (region · year · value · status · citation)
        as CSV; an answer without a table gives the header row only."""
        answer = service.ask(p, req.question, filters_of(req.region, req.year, req.kind), [t.model_dump() for t in req.history], req.backend)
        if format == "csv":
            return PlainTextResponse(answer.table_csv(), media_type="text/csv; charset=utf-8",
                                     headers={"Content-Disposition": 'attachment; filename="answer.csv"'})
        return answer.to_dict()

    @app.post("/api/ask/stream", tags=["ask"],
              responses={200: {"content": {"text/event-stream": {}}, "description": "SSE: `token` events, then `citations`, then `answer` (the verified answer, which replaces the tokens)"}})
    def api_ask_stream(req: AskRequest, p: Principal | None = Depends(who)):
        """Server-sent events: `event: token` {text} while the answer is written, then `event: citations` [...], then `event: answer` {...}."""
        events = service.ask_stream(p, req.question, filters_of(req.region, req.year, req.kind), [t.model_dump() for t in req.history], req.backend)

        def sse():
            try:
                for ev in events:
                    if ev["type"] == "token":
                        yield _sse("token", {"text": ev["text"]})
                    elif ev["type"] == "answer":
                        data = ev["answer"].to_dict()
                        yield _sse("citations", data["citations"])
                        yield _sse("answer", data)
            except QaError as exc:  # the status line is already sent: report in-band
                yield _sse("error", {"error": exc.code, "message": exc.message})
            except Exception:
                log.exception("stream failed")
                yield _sse("error", {"error": "internal_error", "message": "服务器内部错误 (internal error)"})

        return StreamingResponse(sse(), media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @app.get("/api/search", tags=["search"])
    def api_search(
        q: str = Query(..., description="查询"),
        k: int = Query(5, ge=1, le=50),
        region: str | None = Query(None, max_length=100),
        year: int | None = Query(None, ge=1949, le=2100),
        kind: Literal["report", "plan", "notice", "article"] | None = None,
        p: Principal | None = Depends(who),
    ):
        """Hybrid search (BM25 + dense): the best chunks with their document metadata and offsets."""
        hits = service.search(p, q, k=k, filters=filters_of(region, year, kind))
        return {"query": q.strip(), "results": [h.to_dict() for h in hits]}

    @app.get("/api/documents", tags=["documents"])
    def api_documents(p: Principal | None = Depends(who)):
        """Every indexed document with its metadata."""
        return {"documents": [d.to_dict() for d in service.documents(p)], "stats": service.index.catalog.stats()}

    @app.get("/api/documents/{doc_id}", tags=["documents"])
    def api_document(doc_id: str, text: bool = False, p: Principal | None = Depends(who)):
        """One document's metadata (with its text when `text=true`)."""
        doc, full = service.document_text(p, doc_id)
        out = doc.to_dict()
        if text:
            out["text"] = full[doc.start : doc.end]
        return out

    @app.post("/api/documents", tags=["documents"], status_code=201)
    def api_upload(file: UploadFile = File(..., description="txt, md, html, pdf or docx"), p: Principal | None = Depends(who)):
        """Upload a report (multipart field `file`); it is stored, split into documents and indexed (admin)."""
        service.need_admin(p)
        limit = settings.max_upload_mb * 1024 * 1024
        data = file.file.read(limit + 1)
        if len(data) > limit:
            raise TooLarge(f"文件太大: 上限 {settings.max_upload_mb} MB (file too large)")
        result = service.upload(p, data, file.filename or "upload")
        return JSONResponse(result.to_dict(), status_code=201 if result.status in ("added", "updated") else 200)

    @app.patch("/api/documents/{doc_id}", tags=["documents"])
    def api_update(doc_id: str, req: DocumentUpdate, p: Principal | None = Depends(who)):
        """Correct a document's detected metadata (region, year, kind, title…) (admin)."""
        return service.correct(p, doc_id, req.model_dump(exclude_unset=True)).to_dict()

    @app.delete("/api/documents/{doc_id}", tags=["documents"])
    def api_delete(doc_id: str, p: Principal | None = Depends(who)):
        """Delete one document (admin). When its file holds no other document, the stored original goes too."""
        return service.delete(p, doc_id)

    @app.post("/api/gc", tags=["documents"])
    def api_gc(p: Principal | None = Depends(who)):
        """Remove orphan vectors and what interrupted uploads left behind (admin; also `qa gc`)."""
        return service.gc(p)

    @app.post("/api/feedback", tags=["feedback"], status_code=201)
    def api_feedback(req: FeedbackRequest, p: Principal | None = Depends(who)):
        """Record 👍/👎 (and an optional comment) for an answer."""
        return service.add_feedback(p, req.rating, req.question, req.answer, req.citations, req.comment, req.backend, channel="api")

    @app.get("/api/feedback", tags=["feedback"])
    def api_feedback_export(format: Literal["json", "jsonl", "csv"] = "json", p: Principal | None = Depends(who)):
        """Export all feedback (admin)."""
        if format == "json":
            service.need_admin(p)
            return {"feedback": service.feedback.all(), "counts": service.feedback.count()}
        media = "text/csv; charset=utf-8" if format == "csv" else "application/x-ndjson"
        return PlainTextResponse(service.export_feedback(p, format), media_type=media)

    @app.api_route("/api/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
    def api_unknown(rest: str):
        return _error(404, "not_found", "没有这个接口 (unknown endpoint; see /docs)")


def _sse(event: str, data) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


# ---------------------------------------------------------------- whole-document view

DOC_CSS = """body{font-family:"Noto Sans CJK SC","PingFang SC","Microsoft YaHei",sans-serif;margin:0;line-height:1.8;color:#1f2937;background:#fff}
.wrap{max-width:72em;margin:0 auto;padding:1em;display:flex;gap:2em;align-items:flex-start}
nav.toc{flex:0 0 16em;position:sticky;top:1em;max-height:calc(100vh - 2em);overflow-y:auto;font-size:14px;border-right:1px solid #cbd5e1;padding-right:1em}
nav.toc ol{list-style:none;padding-left:1em;margin:0} nav.toc>ol{padding-left:0} nav.toc li{margin:.2em 0}
main{flex:1;min-width:0} pre{white-space:pre-wrap;font-family:inherit;font-size:16px}
mark{background:#fde68a;color:#1f2937;padding:.1em 0;scroll-margin-top:40vh} .meta{color:#475569}
a{color:#1d4ed8} a:focus-visible{outline:3px solid #b91c1c;outline-offset:2px} .top a{margin-right:1.5em}
.sec{scroll-margin-top:1em}
@media (max-width:760px){.wrap{display:block} nav.toc{position:static;max-height:none;border-right:0;border-bottom:1px solid #cbd5e1;padding:0 0 .5em;margin-bottom:1em}}
@media (prefers-color-scheme:dark){body{background:#0f172a;color:#e2e8f0} .meta{color:#cbd5e1} a{color:#93c5fd}
mark{background:#713f12;color:#fef9c3} nav.toc{border-color:#475569} a:focus-visible{outline-color:#fca5a5}}"""


def outline_html(sections) -> str:
    """The report's section tree as nested lists of links to the headings (#s-<offset>)."""
    if not sections:
        return ""
    items = "".join(f'<li><a href="#s-{s.start}">{html.escape(s.title)}</a>{outline_html(s.children)}</li>' for s in sections)
    return f"<ol>{items}</ol>"


def _headings(sections) -> list[int]:
    out = []
    for s in sections:
        out.append(s.start)
        out += _headings(s.children)
    return out


def marked_text(text: str, lo: int, hi: int, anchors: list[int], mark: tuple[int, int] | None) -> str:
    """text[lo:hi] escaped, with an empty anchor <span id="s-<offset>"> at each heading and the cited span in <mark>.
    Anchors inside the mark are left out (a <span> may not straddle it)."""
    cuts: list[tuple[int, int, str]] = []  # (offset, order at that offset, markup)
    if mark:
        cuts += [(mark[0], 1, '<mark id="hl">'), (mark[1], 0, "</mark>")]
    for a in anchors:
        if lo <= a < hi and not (mark and mark[0] < a < mark[1]):
            cuts.append((a, 2 if not mark or a != mark[0] else 0, f'<span class="sec" id="s-{a}"></span>'))
    out, pos = [], lo
    for offset, _, markup in sorted(cuts):
        out.append(html.escape(text[pos:offset]))
        out.append(markup)
        pos = offset
    out.append(html.escape(text[pos:hi]))
    return "".join(out)


def document_page(service: Service, who: Principal | None, doc_id: str, start: int | None, end: int | None, back: str | None = None) -> HTMLResponse:
    """The whole document: a way back to the chat, its outline, the cited place marked, a link to the stored original.
    It shows the file's name, never a path; the document text is untrusted and this page runs no scripts at all."""
    from ..outline import outline
    from ..service import display_source

    chat = "/embed/" if back == "embed" else "/"  # only these two: `back` never becomes a URL of its own
    try:
        doc, text = service.document_text(who, doc_id)
    except QaError as exc:
        return HTMLResponse(f"<!doctype html><html lang='zh-CN'><meta charset=utf-8><title>法治报告问答</title><p>{html.escape(exc.message)}</p>"
                            f"<p><a href='{chat}'>‹ 返回问答</a></p></html>", status_code=exc.status)
    lo, hi = doc.start, doc.end
    mark = None
    if start is not None and end is not None and 0 <= start < end <= len(text):
        lo, hi = min(lo, start), max(hi, end)
        mark = (start, end)
    sections = outline(text, doc.start, doc.end)
    body = marked_text(text, lo, hi, _headings(sections), mark)
    year = f"{doc.year}年" if doc.year else "年份不详"
    meta = " · ".join(html.escape(x) for x in (doc.region or "地区不详", year, KIND_LABELS.get(doc.kind, doc.kind or "")))
    ref = html.escape(doc_id, quote=True)
    toc = (f'<nav class="toc" aria-label="报告目录"><p><strong>目录</strong></p>{outline_html(sections)}</nav>' if sections else "")
    jump = '<a href="#hl">跳到引用处 ›</a>' if mark else ""
    page = f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>{html.escape(doc.title or "文档")} · 法治报告问答</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{DOC_CSS}</style></head>
<body><div class="wrap">{toc}<main><p class="top"><a href="{chat}" id="back">‹ 返回问答</a><a href="/doc/{ref}/original" id="original">查看原文件({html.escape(display_source(doc.source))})</a>{jump}</p>
<h1 style="font-size:1.3em">{html.escape(doc.title or "(无标题)")}</h1><p class="meta">{meta}</p>
<pre>{body}</pre></main></div></body></html>"""
    # Document text is untrusted: nothing on this page may run scripts.
    return HTMLResponse(page, headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'"})


def original_response(orig) -> Response:
    """A stored original with its own media type. Never sniffed (nosniff comes from the guard), sandboxed so that an
    HTML or PDF original cannot run anything on this origin, and saved rather than shown unless it is plain text."""
    from urllib.parse import quote

    disposition = "inline" if orig.inline else "attachment"
    fallback = "".join(ch if ch.isascii() and ch.isalnum() or ch in "._-" else "_" for ch in orig.name) or "original"
    return Response(orig.data, media_type=orig.media_type, headers={
        "Content-Disposition": f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{quote(orig.name)}",
        "Content-Security-Policy": "sandbox; default-src 'none'",
        "Cache-Control": "private, no-store",
    })


# ---------------------------------------------------------------- running

def ensure_seeds(index: Index) -> None:
    """A fresh machine opens with the seeds indexed."""
    if index.catalog.documents():
        return
    from ..ingest import ingest_paths

    log.warning("index is empty: indexing %s", index.settings.seeds_dir)
    for r in ingest_paths(index, [index.settings.seeds_dir]):
        if r.status == "failed":
            log.warning("failed: %s %s", r.source, r.error)


def run_server(host: str | None = None, port: int | None = None, settings: Settings | None = None) -> None:
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("uvicorn.access").addFilter(RedactKeys())
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
