"""One request guard in front of every route: API, UI pages, Gradio's queue and upload routes, login.

It is plain ASGI (outermost, before FastAPI, Gradio and their middleware) so that nothing behind it runs for a
request it refuses, and so that it can count the body bytes actually read (chunked bodies have no Content-Length).

For each HTTP request, in order:
1. CORS: a preflight is answered here: allowed only for configured origins on /api/*, refused otherwise. Every
   response loses the CORS headers that a mounted library set (Gradio reflects any Origin with credentials) and
   gets ours, for configured origins on /api/* only.
2. Who: a key (Authorization: Bearer / X-API-Key), else the signed session cookie; `?key=` on a page turns into
   a cookie and a redirect to the same local path. The principal is put in scope["state"]["principal"].
   Wrong keys are counted per address; past the limit every key from that address gets 429 for a while.
3. Access: without a valid key only /healthz, /readyz, /login, /logout and the API docs answer. Gradio's upload
   route needs the admin role (only admin functions take files). A request authenticated by cookie that changes
   something must come from our own origin (the cookie is not a licence for other sites' forms: CSRF).
4. Rate: one token bucket per key (per address without keys) for every request that does work: anything but
   GET/HEAD, and every /api/* call.
5. Body: Content-Length over the route's limit → 413 before reading; a body that grows past it while read → 413.
6. Headers: nosniff, referrer policy, framing (the embed page only by configured portal origins, everything else
   same-origin only); errors are JSON, 500s included, with no traceback.
"""
from __future__ import annotations

import json
import logging
import math
import re
from http.cookies import SimpleCookie
from urllib.parse import parse_qsl, urlencode

from ..errors import QaError
from ..ratelimit import RateLimiter, client_id
from ..service import Principal, Service

log = logging.getLogger("qa.web")

SESSION_COOKIE = "qa_session"
JSON_BODY_LIMIT = 1 << 20  # 1 MiB for everything but uploads (questions are limited separately)
MULTIPART_SLACK = 64 * 1024
PUBLIC = ("/healthz", "/readyz", "/login", "/logout", "/docs", "/openapi.json", "/docs/oauth2-redirect", "/favicon.ico")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
# Failed key checks per address: enough for a person who mistypes, far too few to guess a key.
AUTH_FAILURES_PER_MINUTE, AUTH_FAILURE_BURST = 10, 10


def json_body(status: int, code: str, message: str) -> bytes:
    return json.dumps({"error": code, "message": message}, ensure_ascii=False).encode()


def is_upload_route(path: str, method: str) -> bool:
    return method == "POST" and (path.rstrip("/") == "/api/documents" or path.endswith("/gradio_api/upload"))


def is_embed(path: str) -> bool:
    return path == "/embed" or path.startswith("/embed/")


def local_path(path: str) -> str:
    """A redirect target that stays on this site: `//evil.example/` becomes `/evil.example/`."""
    return "/" + path.lstrip("/\\")


def request_key(headers: dict[str, str]) -> str | None:
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None
    return headers.get("x-api-key") or None


def session_of(headers: dict[str, str]) -> str | None:
    raw = headers.get("cookie")
    if not raw:
        return None
    try:
        jar = SimpleCookie()
        jar.load(raw)
    except Exception:
        return None
    morsel = jar.get(SESSION_COOKIE)
    return morsel.value if morsel else None


def principal_of(service: Service, headers: dict[str, str]) -> tuple[Principal | None, bool]:
    """(principal, a key was presented). A wrong key gives None; no key and no session gives anonymous."""
    key = request_key(headers)
    if key:
        return service.keys.principal(key), True
    session = service.keys.from_session(session_of(headers))
    if session is not None:
        return session, False
    return service.keys.principal(None), False


def session_cookie(service: Service, key: str, secure: bool) -> str:
    # SameSite=None (HTTPS only) lets a portal on another site keep the session inside its <iframe>.
    same_site = "None" if secure else "Lax"
    return (f"{SESSION_COOKIE}={service.keys.session_token(key)}; Path=/; Max-Age={service.keys.SESSION_SECONDS}; HttpOnly; "
            f"SameSite={same_site}" + ("; Secure" if secure else ""))


def clear_cookie(secure: bool) -> str:
    return f"{SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite={'None' if secure else 'Lax'}" + ("; Secure" if secure else "")


class Guard:
    def __init__(self, app, service: Service, login_page):
        s = service.settings
        self.app, self.service, self.login_page = app, service, login_page
        self.origins = {o.strip().rstrip("/") for o in s.cors_origins.split(",") if o.strip()}
        self.limiter = RateLimiter(s.rate_limit, s.rate_burst) if s.rate_limit > 0 else None
        self.failures = RateLimiter(AUTH_FAILURES_PER_MINUTE, AUTH_FAILURE_BURST)
        self.upload_limit = s.max_upload_mb * 1024 * 1024 + MULTIPART_SLACK

    # ------------------------------------------------------------ ASGI
    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket":  # nothing here speaks WebSocket; refuse before any app sees it
            await send({"type": "websocket.close", "code": 1008})
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        path, method = scope.get("path", "/"), scope.get("method", "GET")
        secure = scope.get("scheme") == "https" or headers.get("x-forwarded-proto") == "https"
        origin = headers.get("origin", "").rstrip("/")
        reply = _Replier(send, self._extra_headers(path, origin))
        try:
            await self._handle(scope, receive, reply, headers, path, method, secure, origin)
        except QaError as exc:
            await reply.error(exc.status, exc.code, exc.message, exc.headers)
        except Exception:
            log.exception("unhandled error on %s %s", method, path)
            await reply.error(500, "internal_error", "服务器内部错误,请稍后再试 (internal error)")

    async def _handle(self, scope, receive, reply, headers, path, method, secure, origin):
        address = (scope.get("client") or ("unknown", 0))[0]

        # 1. preflight
        if method == "OPTIONS" and "access-control-request-method" in headers:
            if origin in self.origins and path.startswith("/api/"):
                await reply.raw(204, b"", [("access-control-allow-methods", "GET, POST, PATCH, DELETE, OPTIONS"),
                                           ("access-control-allow-headers", "Authorization, X-API-Key, Content-Type"),
                                           ("access-control-max-age", "600")])
            else:
                await reply.error(403, "cors_forbidden", "该来源不允许跨域访问 (origin not allowed)")
            return

        # 2. who
        pairs = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        query_key = dict(pairs).get("key") if method in ("GET", "HEAD") and not path.startswith("/api/") else None
        keys_on = self.service.keys.enabled
        if keys_on and (request_key(headers) or query_key):
            wait = self.failures.blocked("addr:" + address)
            if wait:
                await reply.error(429, "rate_limited", "密钥错误次数过多,请稍后再试 (too many failed keys)",
                                  {"Retry-After": str(max(1, math.ceil(wait)))})
                return
        if query_key and keys_on:
            who = self.service.keys.principal(query_key)
            if who is None:
                self.failures.hit("addr:" + address)
            else:
                rest = urlencode([(k, v) for k, v in pairs if k != "key"])
                target = local_path(path) + (f"?{rest}" if rest else "")
                await reply.raw(303, b"", [("location", target), ("set-cookie", session_cookie(self.service, query_key, secure))])
                return
        who, presented = principal_of(self.service, headers)
        if who is None:
            self.failures.hit("addr:" + address)
            await reply.error(401, "unauthorized", "API key 无效 (invalid API key)", {"WWW-Authenticate": "Bearer"})
            return
        scope.setdefault("state", {})["principal"] = who

        # 3. access
        public = path in PUBLIC
        if keys_on and who.role == "anonymous" and not public:
            if method == "GET" and "text/html" in headers.get("accept", ""):
                from .app import cross_site_frame

                page = self.login_page(local_path(path), bool(query_key), blocked=cross_site_frame(headers, secure))
                await reply.raw(401, page.encode(), [("content-type", "text/html; charset=utf-8")])
            else:
                await reply.error(401, "unauthorized", "需要 API key (send Authorization: Bearer <key>, X-API-Key, or open the page with ?key=)",
                                  {"WWW-Authenticate": "Bearer"})
            return
        if path.endswith("/gradio_api/upload"):
            self.service.need_admin(who)
        if keys_on and not presented and method not in SAFE_METHODS and not public and not self._same_origin(headers, origin, secure):
            await reply.error(403, "cross_site", "跨站请求被拒绝 (cross-site request refused)")
            return

        # 4. rate
        limit_headers: list[tuple[str, str]] = []
        if self.limiter and (method not in SAFE_METHODS or path.startswith("/api/")) and path not in ("/healthz", "/readyz"):
            decision = self.limiter.hit(client_id(who.key_id, None) if who.key_id else client_id(None, address))
            limit_headers = [("x-ratelimit-limit", f"{self.service.settings.rate_limit:g}/min"), ("x-ratelimit-remaining", str(decision.remaining))]
            if not decision.allowed:
                retry = str(max(1, math.ceil(decision.retry_after)))
                await reply.error(429, "rate_limited", f"请求过于频繁,请 {retry} 秒后再试 (rate limit: {self.service.settings.rate_limit:g} requests/min per key)",
                                  dict(limit_headers + [("retry-after", retry)]))
                return
        reply.more(limit_headers)

        # 5. body
        limit = self.upload_limit if is_upload_route(path, method) else JSON_BODY_LIMIT
        length = headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                await reply.error(400, "bad_request", "Content-Length 无效 (invalid Content-Length)")
                return
            if int(length) > limit:
                await reply.error(413, "too_large", f"请求太大: 上限 {limit / 1048576:.0f} MB (request body too large)")
                return
        seen = 0

        async def counted_receive():
            nonlocal seen
            if reply.closed:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    # Answer now (the app behind may wrap any read error into its own 400) and tell it the client left.
                    await reply.error(413, "too_large", f"请求太大: 上限 {limit / 1048576:.0f} MB (request body too large)")
                    reply.closed = True
                    return {"type": "http.disconnect"}
            return message

        await self.app(scope, counted_receive, reply)

    def _same_origin(self, headers, origin: str, secure: bool) -> bool:
        if headers.get("sec-fetch-site") in ("cross-site", "same-site") and origin not in self.origins:
            return False
        if not origin:
            return True  # not a browser's cross-site request (browsers send Origin on POST)
        own = ("https://" if secure else "http://") + headers.get("host", "")
        return origin == own or origin in self.origins

    def _extra_headers(self, path: str, origin: str) -> list[tuple[str, str]]:
        out = [("x-content-type-options", "nosniff"), ("referrer-policy", "same-origin")]
        if is_embed(path):
            ancestors = " ".join(["'self'"] + sorted(self.origins))
            out.append(("content-security-policy", f"frame-ancestors {ancestors}"))
        else:
            out += [("x-frame-options", "SAMEORIGIN"), ("content-security-policy", "frame-ancestors 'self'")]
        if origin and origin in self.origins and path.startswith("/api/"):
            out += [("access-control-allow-origin", origin), ("vary", "Origin")]
        return out


class _Replier:
    """`send` for the app behind: strips CORS and framing headers set downstream and adds ours; remembers whether
    the response has started (after that an error can only end the stream)."""

    def __init__(self, send, extra: list[tuple[str, str]]):
        self._send, self._extra, self.started = send, extra, False
        self.closed = False  # we answered ourselves: whatever the app sends afterwards is dropped
        self.finished = False
        self._replace_body = False  # a library's plain-text 500 becomes our JSON error

    def more(self, headers: list[tuple[str, str]]) -> None:
        self._extra = self._extra + headers

    async def __call__(self, message, own: bool = False):
        """`own`: a response the guard makes itself; its headers are kept as they are (the extras are still added)."""
        if self.closed or self.finished:
            return
        if message["type"] == "http.response.start" and message.get("status") == 500:
            ctype = dict((k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in message.get("headers", [])).get("content-type", "")
            if "json" not in ctype:
                self._replace_body = True
                body = json_body(500, "internal_error", "服务器内部错误,请稍后再试 (internal error)")
                message = {"type": "http.response.start", "status": 500,
                           "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]}
                self._json500 = body
        elif message["type"] == "http.response.body" and self._replace_body:
            if message.get("more_body"):
                return
            message = {"type": "http.response.body", "body": self._json500}
        if message["type"] == "http.response.body" and not message.get("more_body"):
            self.finished = True
        if message["type"] == "http.response.start":
            self.started = True
            kept, csp = [], None
            for k, v in message.get("headers", []):
                name = k.decode("latin-1").lower()
                if not own and (name.startswith("access-control-") or name in ("x-frame-options", "x-content-type-options", "referrer-policy")):
                    continue
                if name == "content-security-policy":
                    csp = v.decode("latin-1")
                    continue
                kept.append((k, v))
            for name, value in self._extra:
                if name == "content-security-policy" and csp:
                    value = re.sub(r"\s*frame-ancestors[^;]*;?", "", csp).rstrip("; ") + "; " + value
                kept.append((name.encode(), value.encode("latin-1")))
            message = {**message, "headers": kept}
        await self._send(message)

    async def raw(self, status: int, body: bytes, headers: list[tuple[str, str]] | None = None) -> None:
        await self({"type": "http.response.start", "status": status,
                    "headers": [(k.encode(), v.encode("latin-1")) for k, v in (headers or [])] + [(b"content-length", str(len(body)).encode())]}, own=True)
        await self({"type": "http.response.body", "body": body}, own=True)

    async def error(self, status: int, code: str, message: str, headers: dict | None = None) -> None:
        if self.started:  # too late for a status: end what was sent
            if not self.finished and not self.closed:
                self.finished = True
                try:
                    await self._send({"type": "http.response.body", "body": b"", "more_body": False})
                except Exception:
                    pass
            return
        await self.raw(status, json_body(status, code, message), [("content-type", "application/json")] + [(k.lower(), str(v)) for k, v in (headers or {}).items()])


class RedactKeys(logging.Filter):
    """Access logs never hold a key: `?key=…` in a logged path becomes `?key=***`."""

    _KEY = re.compile(r"([?&]key=)[^&\s]*")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(self._KEY.sub(r"\1***", a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.msg, str):
            record.msg = self._KEY.sub(r"\1***", record.msg)
        return True
