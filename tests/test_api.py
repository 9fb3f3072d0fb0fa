"""The REST API over real HTTP: uvicorn on 127.0.0.1 serving the app that `python app.py` serves.

Two servers: an open one over the shared seed index (read-only tests), and one with API keys, admin keys,
CORS and a small upload limit over an index of its own (uploads and deletes change it).
"""
from __future__ import annotations

import io
import json
import subprocess
import sys

import httpx
import pytest

# The web stack's packages (pinned in pyproject.toml); a clear skip, not an ImportError, where they are missing.
pytest.importorskip("gradio", reason="gradio is not installed (pip install gradio==6.31.0)")
pytest.importorskip("python_multipart", reason="python-multipart is not installed (pip install python-multipart==0.0.34)")

from qa.service import safe_filename  # noqa: E402
from qa.web import ServerThread, create_app  # noqa: E402
from qa.index import Index  # noqa: E402
from qa.settings import PROJECT_ROOT, Settings  # noqa: E402

pytestmark = pytest.mark.slow

ANCHOR = "哪些地区行政机关负责人出庭应诉率达100%?"
USER, ADMIN = "user-key-123", "admin-key-456"
PORTAL = "http://portal.example.cn"

REPORT = """阿勒泰市2024年法治政府建设情况报告

一、主要工作成效

2024年,阿勒泰市全面推进严格规范公正文明执法,共开展行政执法案卷评查3次,评查案卷126卷。
全市推行“非接触式”审批,政务服务事项网上可办率达到98.6%。
阿勒泰市深化普法宣传,组织宪法宣传周活动42场。<script>alert('x')</script>

二、存在的不足

基层法治队伍力量仍然薄弱,部分执法人员业务能力有待提升。
"""


@pytest.fixture(scope="module")
def open_server(seed_index, seed_settings):
    app = create_app(seed_settings, seed_index)
    with ServerThread(app) as server:
        yield server


@pytest.fixture(scope="module")
def client(open_server):
    with httpx.Client(base_url=open_server.url, timeout=120) as c:
        yield c


@pytest.fixture(scope="module")
def secure_settings(tmp_path_factory, embed_cache) -> Settings:
    return Settings(
        data_dir=tmp_path_factory.mktemp("secure"),
        embed_cache=embed_cache,
        api_keys=USER,
        admin_keys=ADMIN,
        cors_origins=PORTAL,
        max_upload_mb=1,
        rate_limit=0,
    )


@pytest.fixture(scope="module")
def secure_server(secure_settings):
    app = create_app(secure_settings, Index(secure_settings))
    with ServerThread(app) as server:
        yield server


@pytest.fixture(scope="module")
def secure(secure_server):
    with httpx.Client(base_url=secure_server.url, timeout=120) as c:
        yield c


def auth(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


# ---------------------------------------------------------------- ask, stream, search (open server)

def test_healthz_reports_runtime(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and body["documents"] >= 5 and body["chunks"] > 100
    assert body["auth"] is False and "index_dir" not in body  # no paths for anyone
    status = client.get("/api/status").json()
    assert status["embedding_model"] and status["backend"] == "extractive" and status["last_update"]


def test_ask_anchor_question(client):
    r = client.post("/api/ask", json={"question": ANCHOR})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) >= {"answer", "refused", "citations", "timings"}
    assert not body["refused"]
    assert "克拉玛依市" in body["answer"] and "呼伦贝尔市" in body["answer"]
    assert len(body["citations"]) >= 2
    c = body["citations"][0]
    assert {"n", "chunk_id", "source", "region", "year", "kind", "section", "text", "quote", "start", "end"} <= set(c)
    assert c["quote"].strip()
    assert body["timings"]["total"] > 0


def test_ask_with_filters_and_history(client):
    first = client.post("/api/ask", json={"question": "克拉玛依市行政机关负责人出庭应诉率是多少?"}).json()
    r = client.post("/api/ask", json={"question": "那呼伦贝尔市呢?", "history": [{"question": "克拉玛依市行政机关负责人出庭应诉率是多少?", "answer": first["answer"]}]})
    assert r.status_code == 200
    assert "呼伦贝尔" in r.json()["verification"].get("resolved_question", "")
    r = client.post("/api/ask", json={"question": ANCHOR, "region": "克拉玛依市"})
    assert r.status_code == 200
    assert all(c["region"] == "克拉玛依市" for c in r.json()["citations"])


def parse_sse(text: str) -> list[tuple[str, object]]:
    events = []
    for block in text.strip().split("\n\n"):
        name, data = None, []
        for line in block.splitlines():
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
        if name:
            events.append((name, json.loads("\n".join(data))))
    return events


def test_ask_stream_is_sse_tokens_then_citations(client):
    with client.stream("POST", "/api/ask/stream", json={"question": ANCHOR}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        text = "".join(r.iter_text())
    events = parse_sse(text)
    names = [n for n, _ in events]
    assert names[0] == "token" and names.count("token") >= 2
    assert names[-2:] == ["citations", "answer"]
    streamed = "".join(d["text"] for n, d in events if n == "token")
    final = events[-1][1]
    assert "克拉玛依市" in streamed and "克拉玛依市" in final["answer"] and "呼伦贝尔市" in final["answer"]
    assert events[-2][1] == final["citations"] and len(final["citations"]) >= 2


def test_search(client):
    r = client.get("/api/search", params={"q": "行政复议", "k": 3, "region": "克拉玛依市"})
    assert r.status_code == 200
    results = r.json()["results"]
    assert 1 <= len(results) <= 3
    assert all(h["region"] == "克拉玛依市" for h in results)
    assert {"chunk_id", "doc_id", "text", "score", "section", "start", "end"} <= set(results[0])


def test_documents_list_and_view(client):
    r = client.get("/api/documents")
    assert r.status_code == 200
    docs = r.json()["documents"]
    assert any(d["region"] == "克拉玛依市" for d in docs)
    one = client.get(f"/api/documents/{docs[0]['doc_id']}", params={"text": "true"}).json()
    assert one["doc_id"] == docs[0]["doc_id"] and len(one["text"]) > 100
    page = client.get(f"/doc/{docs[0]['doc_id']}", params={"start": docs[0]["start"] + 5, "end": docs[0]["start"] + 20})
    assert page.status_code == 200 and '<mark id="hl">' in page.text
    assert "script-src" not in page.headers["content-security-policy"] and "default-src 'none'" in page.headers["content-security-policy"]


@pytest.mark.parametrize(
    "body, status, code",
    [
        ({"question": ""}, 400, "bad_question"),
        ({"question": "   "}, 400, "bad_question"),
        ({"question": "?!。"}, 400, "bad_question"),
        ({"question": "问" * 5000}, 400, "bad_question"),
        ({"question": "法治" * 5000}, 400, "bad_question"),  # 10,000 characters
        ({"question": "😀🙏🎉"}, 400, "bad_question"),
        ({}, 422, "invalid_request"),
        ({"question": ANCHOR, "year": 1800}, 422, "invalid_request"),
        ({"question": ANCHOR, "kind": "poem"}, 422, "invalid_request"),
        ({"question": ANCHOR, "backend": "gpt-99"}, 400, "bad_backend"),
        ({"question": ANCHOR, "backend": "openai"}, 400, "backend_unavailable"),
    ],
)
def test_bad_questions_are_clear_4xx(client, body, status, code):
    r = client.post("/api/ask", json=body)
    assert r.status_code == status, r.text
    assert r.json()["error"] == code and r.json()["message"]


@pytest.mark.parametrize(
    "question",
    [
        "Which regions reached 100% attendance of administrative heads in court?",
        "克拉玛依 mediation success rate 是多少?",
        "'; DROP TABLE chunks; --",
        "1 OR 1=1; SELECT * FROM documents",
        "<script>alert(1)</script>克拉玛依人民调解成功率",
        "{{7*7}} ${jndi:ldap://x} 新乡市",
    ],
)
def test_odd_questions_get_an_answer_or_a_refusal_and_change_nothing(client, question):
    before = client.get("/api/documents").json()["stats"]
    r = client.post("/api/ask", json={"question": question})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["refused"] or body["citations"]
    assert "<script>" not in body["answer"]  # never echoed back as markup
    assert client.get("/api/documents").json()["stats"] == before


def test_bad_requests_are_json(client):
    r = client.post("/api/ask", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["error"] == "invalid_request"
    r = client.post("/api/ask/stream", json={"question": ""})
    assert r.status_code == 400 and r.json()["error"] == "bad_question"
    r = client.get("/api/search")
    assert r.status_code == 422 and "q" in r.json()["message"]
    r = client.get("/api/search", params={"q": "行政复议", "k": 1000})
    assert r.status_code == 422
    r = client.get("/api/nope")
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    r = client.delete("/api/documents/does-not-exist")
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    r = client.post("/api/ask", content=b"x" * (2 << 20), headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"] == "too_large"


def test_ui_pages_and_openapi_are_served(client):
    assert client.get("/").status_code == 200
    r = client.get("/embed", follow_redirects=True)
    assert r.status_code == 200 and "<html" in r.text.lower()
    spec = client.get("/openapi.json").json()
    assert {"/api/ask", "/api/ask/stream", "/api/search", "/api/documents", "/api/documents/{doc_id}"} <= set(spec["paths"])
    assert client.get("/docs").status_code == 200


def test_feedback_is_stored_and_exported(client, seed_settings):
    r = client.post("/api/feedback", json={"rating": "👍", "question": ANCHOR, "answer": "克拉玛依市[1]", "citations": [{"n": 1}], "comment": "很准确"})
    assert r.status_code == 201 and r.json()["rating"] == 1
    assert client.post("/api/feedback", json={"rating": "meh", "question": "q"}).status_code == 400
    export = client.get("/api/feedback", params={"format": "jsonl"})
    assert export.status_code == 200
    rows = [json.loads(line) for line in export.text.splitlines()]
    assert any(r["comment"] == "很准确" and r["rating"] == 1 and r["citations"] == [{"n": 1}] for r in rows)
    out = subprocess.run([sys.executable, "-m", "qa.feedback", "export", "--format", "csv", "--db", str(seed_settings.data_dir / "feedback.sqlite")],
                         capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=60)
    assert out.returncode == 0 and "很准确" in out.stdout and out.stdout.startswith("id,created_at,rating")


# ---------------------------------------------------------------- auth, CORS, uploads, deletes (secure server)

def test_auth_required_when_keys_set(secure):
    r = secure.post("/api/ask", json={"question": ANCHOR})
    assert r.status_code == 401 and r.json()["error"] == "unauthorized"
    assert r.headers["www-authenticate"] == "Bearer"
    assert secure.get("/api/search", params={"q": "复议"}, headers=auth("wrong")).status_code == 401
    assert secure.get("/api/documents").status_code == 401
    assert secure.get("/api/documents", headers=auth(USER)).status_code == 200
    assert secure.get("/api/documents", headers={"X-API-Key": USER}).status_code == 200
    assert secure.get("/api/documents", headers=auth(ADMIN)).status_code == 200  # admin keys are API keys too
    assert secure.get("/healthz").json()["auth"] is True


def test_ui_needs_key_then_cookie(secure):
    r = secure.get("/", headers={"accept": "text/html"})
    assert r.status_code == 401 and 'name="key"' in r.text
    r = secure.get("/embed/", params={"key": USER})
    assert r.status_code == 303 and r.headers["location"] == "/embed/"
    cookie = r.cookies.get("qa_session")
    assert cookie and USER not in cookie  # a signed session, never the key itself
    with httpx.Client(base_url=str(secure.base_url), cookies={"qa_session": cookie}) as browser:
        assert browser.get("/embed/").status_code == 200
    r = secure.post("/login", data={"key": "nope", "next": "/"})
    assert r.status_code == 401
    r = secure.post("/login", data={"key": USER, "next": "https://evil.example/"})
    assert r.status_code == 303 and r.headers["location"].startswith("/") and not r.headers["location"].startswith("//")


def test_cors_from_settings(secure):
    r = secure.options("/api/ask", headers={"Origin": PORTAL, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"})
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == PORTAL
    r = secure.options("/api/ask", headers={"Origin": "http://elsewhere.example", "Access-Control-Request-Method": "POST"})
    assert r.headers.get("access-control-allow-origin") != "http://elsewhere.example"


def test_upload_search_ask_delete(secure, secure_settings):
    secure.cookies.clear()  # an earlier test signed this client in (a session cookie counts on /api/* too)
    files = {"file": ("../../etc/阿勒泰\x00报告<x>.txt", REPORT.encode("utf-8"), "text/plain")}
    assert secure.post("/api/documents", files=files).status_code == 401
    r = secure.post("/api/documents", files=files, headers=auth(USER))
    assert r.status_code == 403 and r.json()["error"] == "forbidden"
    r = secure.post("/api/documents", files=files, headers=auth(ADMIN))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "added" and body["chunks"] > 0
    source = body["source"]
    assert source.startswith("uploads/") and ".." not in source and "\x00" not in source and "<" not in source
    stored = secure_settings.data_dir / source
    assert stored.is_file() and stored.read_bytes() == REPORT.encode("utf-8")
    assert stored.resolve().is_relative_to((secure_settings.data_dir / "uploads").resolve())
    doc = body["documents"][0]
    assert doc["region"].endswith("阿勒泰市") and doc["year"] == 2024

    # the same file again: unchanged
    again = secure.post("/api/documents", files=files, headers=auth(ADMIN))
    assert again.status_code == 200 and again.json()["status"] == "unchanged"

    hits = secure.get("/api/search", params={"q": "行政执法案卷评查", "k": 2}, headers=auth(USER)).json()["results"]
    assert hits and hits[0]["doc_id"] == doc["doc_id"]
    answer = secure.post("/api/ask", json={"question": "阿勒泰市政务服务事项网上可办率是多少?"}, headers=auth(USER)).json()
    assert "98.6%" in answer["answer"]

    # the whole-document view escapes the report's <script>
    page = secure.get(f"/doc/{doc['doc_id']}", headers=auth(USER))
    assert "&lt;script&gt;alert" in page.text and "<script>alert" not in page.text

    # correct metadata
    r = secure.patch(f"/api/documents/{doc['doc_id']}", json={"year": 2023, "title": "更正后的标题"}, headers=auth(ADMIN))
    assert r.status_code == 200 and r.json()["year"] == 2023 and r.json()["title"] == "更正后的标题"
    assert secure.patch(f"/api/documents/{doc['doc_id']}", json={}, headers=auth(ADMIN)).status_code == 400
    assert secure.patch(f"/api/documents/{doc['doc_id']}", json={"year": 2023}, headers=auth(USER)).status_code == 403

    # delete
    assert secure.delete(f"/api/documents/{doc['doc_id']}", headers=auth(USER)).status_code == 403
    r = secure.delete(f"/api/documents/{doc['doc_id']}", headers=auth(ADMIN))
    assert r.status_code == 200 and r.json()["deleted"] == doc["doc_id"] and r.json()["file_removed"] and doc["doc_id"] in r.json()["documents"]
    assert not stored.exists()
    listed = secure.get("/api/documents", headers=auth(USER)).json()["documents"]
    assert all(d["doc_id"] != doc["doc_id"] for d in listed)
    assert secure.delete(f"/api/documents/{doc['doc_id']}", headers=auth(ADMIN)).status_code == 404


@pytest.mark.parametrize(
    "name, data, status, code",
    [
        ("report.exe", b"MZ\x90\x00binary", 415, "unsupported_type"),
        ("empty.txt", b"   \n", 400, "unreadable_file"),
        ("binary.txt", bytes(range(256)) * 20, 400, "unreadable_file"),
        ("broken.docx", b"PK\x03\x04 not really a docx", 400, "unreadable_file"),
        ("big.txt", "法治".encode() * 400_000, 413, "too_large"),
    ],
)
def test_bad_uploads_are_clear_4xx(secure, name, data, status, code):
    r = secure.post("/api/documents", files={"file": (name, data, "application/octet-stream")}, headers=auth(ADMIN))
    assert r.status_code == status, r.text
    assert r.json()["error"] == code and r.json()["message"]


def test_upload_without_file_field(secure):
    r = secure.post("/api/documents", data={"other": "x"}, headers=auth(ADMIN))
    assert r.status_code == 422 and "file" in r.json()["message"]


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("../../x.txt", "x.txt"),
        ("..\\..\\windows\\win.ini", "win.ini"),
        ("a\x00b.txt", "ab.txt"),
        (".hidden.md", "hidden.md"),
        ("报告 2024.docx", "报告_2024.docx"),
        ("", "upload"),
        ("../", "upload"),
    ],
)
def test_safe_filename(raw, expected):
    assert safe_filename(raw) == expected


def test_safe_filename_limits_length():
    name = safe_filename("长" * 1000 + ".pdf")
    assert name.endswith(".pdf") and len(name.encode("utf-8")) < 255


def test_openapi_has_security_schemes(client):
    spec = client.get("/openapi.json").json()
    assert {"HTTPBearer", "APIKeyHeader"} <= set(spec["components"]["securitySchemes"])


def test_multipart_upload_uses_field_file(secure):
    buf = io.BytesIO(REPORT.replace("阿勒泰市", "博乐市").encode("utf-8"))
    r = secure.post("/api/documents", files={"file": ("bole.md", buf, "text/markdown")}, headers={"X-API-Key": ADMIN})
    assert r.status_code == 201
    doc_id = r.json()["documents"][0]["doc_id"]
    assert secure.delete(f"/api/documents/{doc_id}", headers={"X-API-Key": ADMIN}).status_code == 200


# ---------------------------------------------------------------- rate limiting

def test_rate_limit_per_key_does_not_starve_other_keys(seed_index, seed_settings):
    settings = seed_settings.model_copy(update={"api_keys": "key-a,key-b", "rate_limit": 6.0, "rate_burst": 3})
    with ServerThread(create_app(settings, seed_index, with_ui=False)) as server, httpx.Client(base_url=server.url, timeout=60) as c:
        a = [c.get("/api/documents", headers={"X-API-Key": "key-a"}) for _ in range(4)]
        assert [r.status_code for r in a] == [200, 200, 200, 429]
        assert a[0].headers["X-RateLimit-Remaining"] == "2"
        limited = a[3]
        assert limited.json()["error"] == "rate_limited" and "请求过于频繁" in limited.json()["message"]
        assert 1 <= int(limited.headers["Retry-After"]) <= 10  # 6/min: one token every 10 s
        # Another key has its own bucket; the limit holds for the bearer form of the same key too.
        assert c.get("/api/documents", headers={"Authorization": "Bearer key-b"}).status_code == 200
        assert c.get("/api/documents", headers={"Authorization": "Bearer key-a"}).status_code == 429
        # Health checks and pages are not limited; a wrong key is still a 401, not a 429.
        assert c.get("/healthz").status_code == 200
        assert c.get("/api/documents", headers={"X-API-Key": "nope"}).status_code == 401


def test_rate_limiter_refills_and_forgets_idle_clients():
    from qa.ratelimit import RateLimiter, client_id

    now = [0.0]
    limiter = RateLimiter(per_minute=60, burst=2, clock=lambda: now[0], max_clients=3)
    assert [limiter.hit("a").allowed for _ in range(3)] == [True, True, False]
    assert limiter.hit("a").retry_after == pytest.approx(1.0)
    now[0] += 1.0
    assert limiter.hit("a").allowed and not limiter.hit("a").allowed
    for c in "bcde":
        limiter.hit(c)
    now[0] += 10
    limiter.hit("f")  # over max_clients: refilled buckets are dropped
    assert len(limiter._buckets) <= 3
    assert client_id("secret", "1.2.3.4") != client_id("other", "1.2.3.4") and "secret" not in client_id("secret", None)
