"""The web edge under attack, over real HTTP: a real uvicorn server with keys, the real Gradio mount, real index.

Each test replays one finding of the adversarial review (issue #12) and fails if it comes back. Every request
has a timeout: an attack that freezes the server fails the test, it never hangs it.
"""
from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

pytest.importorskip("gradio", reason="gradio is not installed")

from qa.index import Index  # noqa: E402
from qa.service import LOCAL_ADMIN, Keys, Service, key_id  # noqa: E402
from qa.settings import Settings  # noqa: E402
from qa.web import ServerThread, create_app  # noqa: E402
from qa.web.guard import SESSION_COOKIE, RedactKeys, local_path  # noqa: E402

pytestmark = pytest.mark.slow

USER, ADMIN = "sec-user-key-1", "sec-admin-key-2"
PORTAL = "http://portal.example.cn"
EVIL = "http://evil.example"
T = 10  # seconds: no single request of these tests may take longer

REPORT = """{region}2024年法治政府建设情况报告

一、主要工作成效

2024年,{region}共办理行政复议案件{n}件,行政机关负责人出庭应诉率达到100%。
{region}组织执法人员培训{m}场次,政务服务事项网上可办率达到97.5%。
"""


@pytest.fixture(scope="module")
def settings(tmp_path_factory, embed_cache) -> Settings:
    return Settings(data_dir=tmp_path_factory.mktemp("sec"), embed_cache=embed_cache, api_keys=USER, admin_keys=ADMIN,
                    cors_origins=PORTAL, max_upload_mb=1, rate_limit=0)


@pytest.fixture(scope="module")
def server(settings):
    index = Index(settings)
    Service(settings, index).upload(LOCAL_ADMIN, REPORT.format(region="阿勒泰市", n=57, m=12).encode(), "altay.txt")
    with ServerThread(create_app(settings, index)) as srv:
        yield srv


def client(server, key: str | None = None, **kw) -> httpx.Client:
    headers = {"X-API-Key": key} if key else {}
    return httpx.Client(base_url=server.url, headers=headers, timeout=T, **kw)


def alive(server) -> None:
    """/healthz answers (a frozen event loop would not: the request times out and the test fails, never hangs)."""
    r = httpx.get(server.url + "/healthz", timeout=T)
    assert r.status_code == 200


# ---------------------------------------------------------------- Gradio's queue API, as a browser would call it

def config(c: httpx.Client, prefix: str = "") -> dict:
    r = c.get(prefix + "/config")
    assert r.status_code == 200, r.text[:200]
    return r.json()


def fn_index(cfg: dict, *, input_elem: str | None = None, trigger_elem: str | None = None) -> int:
    elems = {comp["id"]: comp.get("props", {}).get("elem_id") for comp in cfg["components"]}
    for i, dep in enumerate(cfg["dependencies"]):
        if input_elem and dep.get("inputs") and elems.get(dep["inputs"][0]) == input_elem:
            return i
        if trigger_elem and any(elems.get(t[0]) == trigger_elem for t in dep.get("targets", [])):
            return i
    raise AssertionError(f"no function for {input_elem or trigger_elem}")


def gradio_call(c: httpx.Client, fn: int, data: list, prefix: str = "", session: str | None = None) -> dict:
    """Join the queue and read the event stream until the call completes; returns the completion message (or the
    HTTP error of the join as {"status": …})."""
    session = session or f"s{time.monotonic_ns()}"
    r = c.post(prefix + "/gradio_api/queue/join", json={"data": data, "fn_index": fn, "session_hash": session, "event_data": None, "trigger_id": None})
    if r.status_code != 200:
        return {"status": r.status_code, "body": r.text}
    with c.stream("GET", prefix + "/gradio_api/queue/data", params={"session_hash": session}) as stream:
        for line in stream.iter_lines():
            if line.startswith("data:"):
                msg = json.loads(line[5:])
                if msg.get("msg") == "process_completed":
                    return msg
    raise AssertionError("stream ended without completion")


def file_arg(path: str) -> dict:
    return {"path": path, "orig_name": Path(path).name or "x.txt", "meta": {"_type": "gradio.FileData"}}


# ---------------------------------------------------------------- 1. critical: a server path as a file argument

@pytest.mark.parametrize("key", [USER, ADMIN])
def test_a_server_path_as_file_argument_is_refused_and_the_server_stays_up(server, key, tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with client(server, key) as c:
        cfg = config(c)
        upload = fn_index(cfg, input_elem="qa-upload")
        for path in ("/dev/zero", str(fifo), "/etc/passwd", str(server_settings_path(server))):
            done = {}

            def call(p=path):
                done["msg"] = gradio_call(c, upload, [[file_arg(p)]])

            t = threading.Thread(target=call, daemon=True)
            t.start()
            for _ in range(3):  # the event loop keeps answering while the call is handled
                alive(server)
            t.join(T)
            assert not t.is_alive(), f"the call with {path} never completed"
            assert done["msg"].get("success") is False, done  # refused, not processed
    # Nothing was copied into Gradio's cache or the index.
    with client(server, ADMIN) as c:
        docs = c.get("/api/documents").json()["documents"]
        assert [d["title"] for d in docs] == ["阿勒泰市2024年法治政府建设情况报告"]
        assert c.get("/gradio_api/file=/etc/passwd").status_code in (403, 404)


def server_settings_path(server) -> Path:
    return Path(server.server.config.app.state.service.settings.catalog_path)


def test_a_file_path_inside_a_chat_message_is_refused_too(server):
    with client(server, USER) as c:
        cfg = config(c)
        respond = fn_index(cfg, input_elem="qa-question")
        chat = [{"role": "user", "content": [{"type": "file", "file": file_arg("/dev/zero")}]}]
        msg = gradio_call(c, respond, ["你好", chat, [], "", "", "", "extractive"])  # each read has a timeout of T
        assert msg.get("msg") == "process_completed"
        alive(server)


# ---------------------------------------------------------------- 2. roles: evaluation and writes need an admin

def test_evaluation_and_uploads_need_the_admin_role_in_the_ui(server, settings):
    with client(server, USER) as c:
        cfg = config(c)
        run_eval = fn_index(cfg, trigger_elem="qa-eval-run")
        msg = gradio_call(c, run_eval, [])
        assert msg.get("success") is False and "管理员" in (msg.get("output", {}).get("error") or "")
        assert not (settings.data_dir / "eval-reports").exists()
        # Gradio's own upload route: only admins have a function that takes files.
        r = c.post("/gradio_api/upload", files={"files": ("a.txt", b"x" * 10)})
        assert r.status_code == 403 and r.json()["error"] == "forbidden"
        # A reader's 'upload' through the queue is refused by the service, whatever Gradio lets through.
        delete = fn_index(cfg, trigger_elem="qa-doc-delete")
        doc_id = c.get("/api/documents").json()["documents"][0]["doc_id"]
        msg = gradio_call(c, delete, [doc_id])
        assert msg.get("success") is False or "管理员" in json.dumps(msg, ensure_ascii=False)
        assert len(c.get("/api/documents").json()["documents"]) == 1
        with pytest.raises(Exception, match="管理员"):  # and the service itself, whatever the UI lets through
            server.server.config.app.state.service.delete(server.server.config.app.state.service.keys.principal(USER), doc_id)


# ---------------------------------------------------------------- 3. storage: one original per document

def test_identical_bytes_are_one_document_and_deleting_one_upload_keeps_the_others(server, settings):
    a = REPORT.format(region="福海县", n=31, m=4).encode()
    b = REPORT.format(region="吉木乃县", n=22, m=6).encode()
    with client(server, ADMIN) as c:
        first = c.post("/api/documents", files={"file": ("fuhai.txt", a)}).json()
        again = c.post("/api/documents", files={"file": ("copy-of-fuhai.txt", a)})
        assert again.status_code == 200 and again.json()["status"] == "duplicate" and again.json()["duplicate_of"] == first["source"]
        other = c.post("/api/documents", files={"file": ("jimunai.txt", b)}).json()
        originals = sorted(p.name for p in (settings.data_dir / "uploads").glob("*/*"))
        assert "copy-of-fuhai.txt" not in originals and {"fuhai.txt", "jimunai.txt"} <= set(originals)
        out = c.delete(f"/api/documents/{first['documents'][0]['doc_id']}").json()
        assert out["file_removed"] is True and "uploads/" not in json.dumps(out)
        left = sorted(p.name for p in (settings.data_dir / "uploads").glob("*/*"))
        assert "fuhai.txt" not in left and "jimunai.txt" in left
        c.delete(f"/api/documents/{other['documents'][0]['doc_id']}")


def test_refused_and_failed_uploads_leave_nothing(server, settings):
    before = sorted((settings.data_dir / "uploads").rglob("*"))
    with client(server, ADMIN) as c:
        assert c.post("/api/documents", files={"file": ("bin.txt", bytes(range(256)) * 50)}).status_code == 400
        assert c.post("/api/documents", files={"file": ("empty.txt", b"   \n\n  ")}).status_code == 400
        assert c.post("/api/documents", files={"file": ("x.exe", b"MZ")}).status_code == 415
    assert sorted((settings.data_dir / "uploads").rglob("*")) == before


def test_a_full_disk_is_a_clear_error_and_leaves_nothing(make_settings, monkeypatch):
    import errno

    settings = make_settings()
    service = Service(settings, Index(settings))

    def full(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", full)
    from qa.errors import StorageFull

    with pytest.raises(StorageFull, match="磁盘空间不足"):
        service.upload(LOCAL_ADMIN, REPORT.format(region="布尔津县", n=1, m=1).encode(), "b.txt")
    monkeypatch.undo()
    assert not list((settings.data_dir / "uploads").rglob("*.*")) and service.index.catalog.sources() == []


def test_gc_removes_what_an_interrupted_upload_left(make_settings):
    settings = make_settings()
    index = Index(settings)
    service = Service(settings, index)
    service.upload(LOCAL_ADMIN, REPORT.format(region="哈巴河县", n=9, m=2).encode(), "habahe.txt")
    # A killed upload: vectors written, the catalogue never committed, the original still `.part`.
    index.vectorstore.add_texts(["孤立的段落"], ids=["orphan-chunk-1"], metadatas=[{"doc_id": "gone"}])
    stray = settings.data_dir / "uploads" / ("0" * 64)
    stray.mkdir()
    (stray / "killed.txt.part").write_text("half")
    os.utime(stray / "killed.txt.part", (time.time() - 7200, time.time() - 7200))
    assert service.health()["orphan_vectors"] == 1
    out = service.gc(LOCAL_ADMIN)
    assert out["orphan_vectors"] == 1 and out["uploads_removed"] == 1
    assert service.health()["orphan_vectors"] == 0 and not stray.exists()
    assert [p.name for p in (settings.data_dir / "uploads").glob("*/*")] == ["habahe.txt"]
    # `qa rebuild` later finds only what succeeded.
    from qa.rebuild import stored_uploads

    assert [s for _, s in stored_uploads(settings)] == index.catalog.sources()


# ---------------------------------------------------------------- 4. CORS, framing, headers, redirects

def test_cors_only_for_configured_origins_on_every_route(server):
    with client(server, USER) as c:
        for path in ("/config", "/gradio_api/info", "/api/documents", "/healthz"):
            r = c.get(path, headers={"Origin": EVIL})
            assert "access-control-allow-origin" not in r.headers, path
            assert "access-control-allow-credentials" not in r.headers, path
        pre = c.options("/api/ask", headers={"Origin": EVIL, "Access-Control-Request-Method": "POST"})
        assert pre.status_code == 403 and "access-control-allow-origin" not in pre.headers
        pre = c.options("/config", headers={"Origin": PORTAL, "Access-Control-Request-Method": "GET"})
        assert "access-control-allow-origin" not in pre.headers
        pre = c.options("/api/ask", headers={"Origin": PORTAL, "Access-Control-Request-Method": "POST"})
        assert pre.status_code == 204 and pre.headers["access-control-allow-origin"] == PORTAL
        assert "authorization" in pre.headers["access-control-allow-headers"].lower() and "POST" in pre.headers["access-control-allow-methods"]
        assert c.get("/api/documents", headers={"Origin": PORTAL}).headers["access-control-allow-origin"] == PORTAL


def test_framing_nosniff_and_no_paths_for_anyone(server):
    with client(server, USER) as c:
        main = c.get("/", headers={"Accept": "text/html"})
        assert main.headers["x-frame-options"] == "SAMEORIGIN" and "frame-ancestors 'self'" in main.headers["content-security-policy"]
        embed = c.get("/embed/", headers={"Accept": "text/html"})
        assert "x-frame-options" not in embed.headers
        assert embed.headers["content-security-policy"] == f"frame-ancestors 'self' {PORTAL}"
        doc_id = c.get("/api/documents").json()["documents"][0]["doc_id"]
        view = c.get(f"/doc/{doc_id}")
        csp = view.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "frame-ancestors 'self'" in csp and "uploads/" not in view.text
        for r in (main, embed, view, c.get("/api/documents")):
            assert r.headers["x-content-type-options"] == "nosniff"
    health = httpx.get(server.url + "/healthz", timeout=T)
    assert health.status_code == 200 and "index_dir" not in health.json() and "vector_store" not in health.json()
    assert not any(str(v).startswith("/") for v in health.json().values())


def test_no_open_redirect_and_keys_become_a_signed_session(server):
    with socket.create_connection((server.host, server.port), timeout=T) as s:  # raw: clients normalise `//`
        s.sendall(f"GET //evil.example/?key={USER} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        head = s.recv(4096).decode("latin-1").lower()
    assert head.startswith("http/1.1 303") and "\r\nlocation: /evil.example/\r\n" in head
    with client(server, follow_redirects=False) as c:
        r = c.get("/embed/", params={"key": USER, "x": "1"})
        assert r.status_code == 303 and r.headers["location"] == "/embed/?x=1"
        cookie = r.headers["set-cookie"]
        assert USER not in cookie and f"{SESSION_COOKIE}=" in cookie and "HttpOnly" in cookie
        token = r.cookies[SESSION_COOKIE]
        assert c.get("/api/documents", cookies={SESSION_COOKIE: token}).status_code == 200
        forged = token[:-1] + ("0" if token[-1] != "0" else "1")
        assert c.get("/api/documents", cookies={SESSION_COOKIE: forged}).status_code == 401
        out = c.get("/logout", cookies={SESSION_COOKIE: token})
        assert out.status_code == 303 and "Max-Age=0" in out.headers["set-cookie"]
        r = c.post("/login", data={"key": USER, "next": "//evil.example/x"})
        assert r.status_code == 303 and r.headers["location"] == "/evil.example/x"
    assert local_path("/\\evil.example") == "/evil.example"


def test_a_cookie_is_no_licence_for_another_sites_forms(server):
    token = Keys(server.server.config.app.state.service.settings).session_token(ADMIN)
    with client(server) as c:
        r = c.post("/api/gc", cookies={SESSION_COOKIE: token}, headers={"Origin": EVIL})
        assert r.status_code == 403 and r.json()["error"] == "cross_site"
        r = c.post("/api/gc", cookies={SESSION_COOKIE: token}, headers={"Origin": server.url})
        assert r.status_code == 200


def test_keys_never_reach_the_access_log():
    import logging

    record = logging.LogRecord("uvicorn.access", logging.INFO, "", 0, '%s - "%s %s HTTP/%s" %d', ("1.2.3.4", "GET", f"/embed/?key={USER}&x=1", "1.1", 303), None)
    RedactKeys().filter(record)
    assert USER not in record.getMessage() and "key=***&x=1" in record.getMessage()


# ---------------------------------------------------------------- 4. rate and size limits everywhere

def test_key_guessing_is_limited_per_address(server):
    with client(server, follow_redirects=False) as c:
        codes = [c.get("/api/documents", headers={"X-API-Key": f"guess-{i}"}).status_code for i in range(12)]
        assert codes[:10] == [401] * 10 and codes[-1] == 429
        # While locked out even the right key is not checked (else guessing could go on), through every door.
        assert c.get("/api/documents", headers={"X-API-Key": USER}).status_code == 429
        assert c.get("/", params={"key": "guess"}).status_code == 429
        assert c.post("/login", data={"key": USER}).status_code == 429
    guard = server.server.config.app.state.guard
    guard.failures._buckets.clear()  # the other tests come from the same address
    with client(server, follow_redirects=False) as c:
        assert c.post("/login", data={"key": "wrong"}).status_code == 401
    guard.failures._buckets.clear()


def test_the_chat_ui_and_uploads_are_rate_limited_per_key(tmp_path, embed_cache):
    settings = Settings(data_dir=tmp_path / "rl", embed_cache=embed_cache, api_keys=USER, admin_keys=ADMIN, rate_limit=60, rate_burst=3)
    with ServerThread(create_app(settings, Index(settings))) as srv, client(srv, USER) as c, client(srv, ADMIN) as admin:
        cfg = config(c)
        respond = fn_index(cfg, input_elem="qa-question")
        codes = [c.post("/gradio_api/queue/join", json={"data": ["问题", [], [], "", "", "", "extractive"], "fn_index": respond, "session_hash": f"r{i}"}).status_code
                 for i in range(4)]
        assert codes[-1] == 429 and 429 not in codes[:3]
        assert admin.post("/gradio_api/upload", files={"files": ("a.txt", b"x")}).status_code == 200  # another key's own bucket
        assert c.get("/healthz").status_code == 200  # never limited


def _raw_request(server, head: bytes, chunks: list[bytes]) -> tuple[int, float]:
    """Send a request over a raw socket (chunked body) and return (status, seconds until the status line)."""
    host, port = server.host, server.port
    t0 = time.perf_counter()
    with socket.create_connection((host, port), timeout=T) as s:
        s.sendall(head)
        status = None
        for piece in chunks:
            try:
                s.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
            except OSError:
                break  # the server closed the connection: it stopped reading
            s.setblocking(False)
            try:
                data = s.recv(4096)
                if data:
                    status = int(data.split(b" ", 2)[1])
                    break
            except BlockingIOError:
                pass
            finally:
                s.setblocking(True)
        if status is None:
            try:
                s.sendall(b"0\r\n\r\n")
            except OSError:
                pass
            s.settimeout(T)
            data = s.recv(4096)
            status = int(data.split(b" ", 2)[1])
    return status, time.perf_counter() - t0


def test_chunked_bodies_are_limited_by_the_bytes_read(server):
    piece = b"a" * 65536
    head = b"POST /api/ask HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
    # Without a key: refused before a byte of the body is read.
    status, _ = _raw_request(server, head + b"\r\n", [piece] * 3)
    assert status == 401
    # With a key: 413 once more than 1 MiB has arrived, not after the whole 8 MiB.
    status, _ = _raw_request(server, head + f"X-API-Key: {USER}\r\n\r\n".encode(), [piece] * 128)
    assert status == 413
    alive(server)
    # The UI's upload route too (1 MB limit here).
    head = (b"POST /gradio_api/upload HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\nTransfer-Encoding: chunked\r\n"
            + f"X-API-Key: {ADMIN}\r\n\r\n".encode())
    status, _ = _raw_request(server, head, [b"--b\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a.txt\"\r\n\r\n"] + [piece] * 40)
    assert status == 413


# ---------------------------------------------------------------- 5. odd input is a JSON error, never plain text

def test_odd_input_gives_json_errors(server):
    with client(server, USER) as c:
        raw = b'{"question": "\\ud800\\u5e02\\u5e74"}'
        r = c.post("/api/ask", content=raw, headers={"Content-Type": "application/json"})
        assert r.status_code == 422 and r.json()["error"] == "invalid_request"
        r = c.get("/api/search", params={"q": "市"}, headers={})  # the library's own check, for callers that skip the API's
        from qa.answer import QuestionError, validate

        with pytest.raises(QuestionError, match="无效字符"):
            validate("\ud800市", 100)
        for body in (b'{"question": "q\\u5e02", "year": 1e400}', b'{"question": "q\\u5e02", "year": NaN}', b'{"question": "q", "history": [1e400]}'):
            r = c.post("/api/ask", content=body, headers={"Content-Type": "application/json"})
            assert r.status_code == 422 and r.json()["error"] == "invalid_request", body
        r = c.post("/api/ask", content=b'{"question": "q\\u5e02", "history": [{"question": "\\udc00", "answer": "a"}]}', headers={"Content-Type": "application/json"})
        assert r.status_code == 422 and r.json()["error"] == "invalid_request"
        r = c.post("/api/ask", json={"question": "克拉玛依", "backend": "gpt-99"})
        assert r.status_code == 400 and r.json()["error"] == "bad_backend"
    with client(server, ADMIN) as c:
        doc_id = c.get("/api/documents").json()["documents"][0]["doc_id"]
        r = c.patch(f"/api/documents/{doc_id}", content=b'{"title": "\\udc80"}', headers={"Content-Type": "application/json"})
        assert r.status_code in (400, 422) and r.headers["content-type"].startswith("application/json")


def test_an_unhandled_error_is_a_json_500_without_a_traceback(server, monkeypatch):
    service = server.server.config.app.state.service

    def boom(*a, **k):
        raise RuntimeError("/secret/path/catalog.sqlite is broken")

    monkeypatch.setattr(service, "status", boom)
    with client(server, USER) as c:
        r = c.get("/api/status")
    assert r.status_code == 500 and r.json()["error"] == "internal_error" and "secret" not in r.text


def test_the_library_refuses_an_unknown_backend(seed_index):
    from qa.answer import QuestionError, ask

    with pytest.raises(QuestionError, match="未知的后端"):
        ask(seed_index, "克拉玛依市出庭应诉率是多少?", backend="nope")


def test_answers_read_one_catalogue_version_while_an_admin_edits(make_settings):
    """An ask during corrections used to mix two catalogue versions (KeyError in compose)."""
    from qa.answer import ask
    from qa.ingest import correct_document

    settings = make_settings()
    index = Index(settings)
    service = Service(settings, index)
    service.upload(LOCAL_ADMIN, REPORT.format(region="阿勒泰市", n=57, m=12).encode(), "a.txt")
    service.upload(LOCAL_ADMIN, REPORT.format(region="福海县", n=31, m=4).encode(), "b.txt")
    errors, stop = [], threading.Event()

    def edit():
        year = 2020
        while not stop.is_set():
            for d in index.catalog.documents():
                year = 2021 if year == 2020 else 2020
                correct_document(index, d.doc_id, {"year": year})

    t = threading.Thread(target=edit, daemon=True)
    t.start()
    try:
        for _ in range(25):
            try:
                ask(index, "哪些地区行政机关负责人出庭应诉率达到100%?")
            except Exception as exc:  # noqa: BLE001 - any error is the finding
                errors.append(repr(exc))
    finally:
        stop.set()
        t.join(30)
    assert errors == []


def test_feedback_csv_cells_never_run_as_formulas(server):
    with client(server, USER) as c:
        c.post("/api/feedback", json={"rating": 1, "question": "=HYPERLINK(\"http://evil\")", "comment": "@SUM(A1)", "answer": "+1"})
    with client(server, ADMIN) as c:
        csv = c.get("/api/feedback", params={"format": "csv"}).text
    assert "'=HYPERLINK" in csv and "'@SUM" in csv and ",=" not in csv and ",@" not in csv


def test_links_in_documents_are_not_clickable_in_answers():
    from qa.web.ui import answer_markdown

    out = answer_markdown("见[官网](http://evil.example/x)与 www.evil.example 和 ![img](http://e/i.png)[1]", 0, {1})
    assert "](" not in out and "http://" not in out and "www." not in out
    assert out.endswith('<a class="qa-cite" href="#qa-src-0-1">[1]</a>')  # its preview comes from the card (see ui.HEAD)


def test_session_tokens_expire_and_die_with_their_key(settings):
    keys = Keys(settings)
    token = keys.session_token(USER, now=1000.0)
    assert keys.from_session(token, now=1001.0).role == "reader"
    assert keys.from_session(token, now=1000.0 + keys.SESSION_SECONDS + 1) is None
    assert key_id(USER) in token and USER not in token
    other = Keys(settings.model_copy(update={"api_keys": "another-key"}))
    assert other.from_session(token, now=1001.0) is None
