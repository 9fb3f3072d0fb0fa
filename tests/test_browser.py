"""The app as a person uses it: Playwright for Python driving Debian's Chromium (headless) against uvicorn on 127.0.0.1.

Screenshots go to test-artifacts/. Skipped only when Chromium (or the playwright package) is genuinely absent;
in CI .ci/install-system-deps installs Chromium.
"""
from __future__ import annotations

import functools
import http.server
import os
import shutil
import sqlite3
import threading
from pathlib import Path

import httpx
import pytest

pytest.importorskip("gradio", reason="gradio is not installed (pip install gradio==6.31.0)")
pytest.importorskip("python_multipart", reason="python-multipart is not installed (pip install python-multipart==0.0.34)")

from qa.web import ServerThread, create_app  # noqa: E402
from qa.settings import PROJECT_ROOT  # noqa: E402

pytestmark = pytest.mark.slow

ANCHOR = "哪些地区行政机关负责人出庭应诉率达100%?"
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
# The machine's network is closed: without the background-networking flags Chromium keeps dialling out.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]
TIMEOUT = int(os.environ.get("QA_BROWSER_TIMEOUT_MS", "120000"))  # ms: answers take seconds, more on a loaded machine


def chromium_path() -> str | None:
    for candidate in (os.environ.get("QA_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and os.path.exists(candidate):
            return candidate
    return None


@pytest.fixture(scope="module")
def browser():
    path = chromium_path()
    if path is None:
        reason = "Chromium is not installed (/usr/bin/chromium missing; .ci/install-system-deps installs it)"
        print(f"SKIP browser tests: {reason}")
        pytest.skip(reason)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        reason = "the playwright package is not installed (pip install playwright)"
        print(f"SKIP browser tests: {reason}")
        pytest.skip(reason)
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def server(seed_index, seed_settings):
    with ServerThread(create_app(seed_settings, seed_index)) as s:
        yield s


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
    context.set_default_timeout(TIMEOUT)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.errors = errors
    yield pg
    context.close()


def ask(pg, question: str, *, scope=None):
    root = scope or pg
    box = root.locator("#qa-question textarea")
    box.fill(question)
    box.press("Enter")


def wait_answer(pg, *needles: str, frame=None):
    """Wait until the last bot message is final (no streaming cursor) and names every needle."""
    chat = (frame or pg).locator("#qa-chat")
    for needle in needles:
        chat.get_by_text(needle).first.wait_for()
    (frame or pg).locator("#qa-chat a.qa-cite, #qa-chat :text('⚠️'), #qa-chat :text('没有找到')").first.wait_for()


def test_chat_answers_anchor_question_with_sources_and_citations(page, server, seed_settings):
    page.goto(server.url + "/")
    page.locator("#qa-question textarea").wait_for()
    page.locator("#qa-chat #qa-welcome").wait_for()  # the welcome state inside the chat
    page.locator("#qa-chat button", has_text=ANCHOR).first.wait_for()  # the anchor question is among its examples
    ask(page, ANCHOR)
    wait_answer(page, "克拉玛依市", "呼伦贝尔市")
    cards = page.locator("#qa-sources .qa-card")
    cards.nth(1).wait_for()
    assert cards.count() >= 2
    bot = page.locator("#qa-chat").inner_text()
    assert "克拉玛依市" in bot and "呼伦贝尔市" in bot and "▌" not in bot
    head = cards.first.locator(".qa-card-head").inner_text()
    assert head.count("·") >= 2 and "克拉玛依市" in head  # region · year · kind · section
    assert cards.first.locator("mark").count() == 1  # the cited sentence is highlighted
    page.screenshot(path=str(ARTIFACTS / "browser-1-chat-answer.png"), full_page=True)

    # click the [2] marker in the answer: its source card is revealed and flagged
    cite = page.locator("#qa-chat a.qa-cite", has_text="[2]").first
    cite.click()
    card = page.locator("#qa-src-0-2")
    page.wait_for_function("document.getElementById('qa-src-0-2').classList.contains('qa-flash')")
    assert card.is_visible()
    assert "呼伦贝尔市" in card.inner_text() or "呼伦贝尔市" in bot
    assert page.url.endswith("/")  # stayed on the page, no new tab, no navigation
    page.screenshot(path=str(ARTIFACTS / "browser-2-citation-clicked.png"))

    # "查看全文" opens the whole document at the cited place
    link = card.locator("a.qa-doc")
    href = link.get_attribute("href")
    assert href.startswith("/doc/") and href.endswith("#hl")
    doc_page = page.context.new_page()
    doc_page.goto(server.url + href)
    mark = doc_page.locator("mark#hl")
    mark.wait_for()
    quote = card.locator("mark").inner_text().strip()
    assert quote[:20] in mark.inner_text()
    doc_page.screenshot(path=str(ARTIFACTS / "browser-3-document-view.png"))
    doc_page.close()

    # 👍 with a comment lands in the feedback database
    page.locator("#qa-comment textarea").fill("来源很清楚")
    page.locator("#qa-up").click()
    page.locator("#qa-feedback-status").get_by_text("已记录").wait_for()
    db = sqlite3.connect(seed_settings.data_dir / "feedback.sqlite")
    rows = db.execute("SELECT rating, comment, question, citations FROM feedback WHERE channel='ui'").fetchall()
    db.close()
    assert any(r[0] == 1 and r[1] == "来源很清楚" and r[2] == ANCHOR and "克拉玛依市" in r[3] for r in rows)
    assert not page.errors, page.errors


def test_follow_up_and_clear(page, server):
    page.goto(server.url + "/")
    ask(page, "克拉玛依市行政机关负责人出庭应诉率是多少?")
    wait_answer(page, "100%")
    ask(page, "那呼伦贝尔市呢?")
    page.locator("#qa-sources #qa-turn-1").wait_for()
    wait_answer(page, "呼伦贝尔")
    assert page.locator("#qa-sources details#qa-turn-0").count() == 1  # the earlier turn's sources are folded
    ask(page, "?!。")
    page.locator("#qa-chat").get_by_text("问题中没有文字").first.wait_for()  # a clear message, the chat goes on
    page.locator("#qa-clear").click()
    page.wait_for_function("!document.querySelector('#qa-sources .qa-card')")
    page.locator("#qa-chat #qa-welcome").wait_for()  # back to the welcome state
    assert "那呼伦贝尔市呢" not in page.locator("#qa-chat").inner_text()


def make_docx(path: Path) -> None:
    from docx import Document

    doc = Document()
    doc.add_heading("博乐市2024年法治政府建设情况报告", level=1)
    doc.add_paragraph("一、主要工作成效")
    doc.add_paragraph("2024年,博乐市扎实推进法治政府建设,全年开展行政执法案卷评查4次,评查案卷88卷。")
    doc.add_paragraph("博乐市政务服务事项网上可办率达到97.5%,群众满意度持续提升。<img src=x onerror=\"window.__xss=1\"><script>window.__xss=2</script>")
    doc.add_paragraph("二、存在的不足")
    doc.add_paragraph("基层执法队伍专业化水平有待提高。")
    doc.save(path)


def test_upload_docx_appears_in_list(page, server, tmp_path):
    path = tmp_path / "博乐市法治报告.docx"
    make_docx(path)
    page.goto(server.url + "/")
    page.get_by_role("tab", name="文档管理").click()
    page.locator("#qa-upload input[type=file]").set_input_files(str(path))
    page.locator("#qa-upload").get_by_text("博乐市法治报告").first.wait_for()
    page.locator("#qa-upload-btn").click()
    try:
        page.locator("#qa-upload-status").get_by_text("已添加").wait_for()
        table = page.locator("#qa-doc-table")
        table.get_by_text("博乐市").filter(visible=True).first.wait_for()
        row = table.get_by_role("row").filter(has_text="博乐市").filter(visible=True).first
        assert "2024" in row.inner_text() and "工作报告" in row.inner_text()
        page.screenshot(path=str(ARTIFACTS / "browser-4-upload-listed.png"), full_page=True)

        # correct the detected metadata: pick the document, change its year, save
        page.locator("#qa-doc-pick input").click()
        page.get_by_role("option").filter(has_text="博乐市").first.click()
        year = page.locator("div", has=page.get_by_text("年份", exact=True)).locator("input[type=number]").last
        page.wait_for_function("() => [...document.querySelectorAll('input[type=number]')].some(i => i.value === '2024')")
        year.fill("2023")
        page.locator("#qa-doc-save").click()
        page.get_by_text("已保存").first.wait_for()
        row = table.get_by_role("row").filter(has_text="博乐市").filter(visible=True).first
        assert "2023" in row.inner_text()

        # the new report answers, and its <script>/<img onerror> text is shown, never run
        page.get_by_role("tab", name="问答").click()
        ask(page, "博乐市政务服务事项网上可办率是多少?")
        wait_answer(page, "97.5%")
        page.locator("#qa-sources .qa-card").first.wait_for()
        assert page.evaluate("window.__xss") is None
        assert not page.locator("#qa-sources img, #qa-chat img[src='x']").count()
        page.screenshot(path=str(ARTIFACTS / "browser-5-uploaded-doc-answer.png"), full_page=True)
    finally:
        docs = httpx.get(server.url + "/api/documents").json()["documents"]
        for d in docs:
            if d["source"].startswith("uploads/") and d["source"].endswith(".docx"):
                httpx.delete(f"{server.url}/api/documents/{d['doc_id']}")


PORTAL = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>某市政府内部门户</title>
<style>body{{font-family:"Noto Sans CJK SC",sans-serif;margin:0;background:#f1f5f9}} header{{background:#b91c1c;color:#fff;padding:12px 24px;font-size:20px}}
main{{display:flex;gap:24px;padding:24px}} article{{flex:1;background:#fff;padding:16px}} aside{{width:440px}}</style></head>
<body><header>某市政府内部门户</header><main><article><h2>通知公告</h2><p>关于开展2025年度法治政府建设自查工作的通知……</p></article>
<aside><iframe id="qa-frame" src="{src}" title="法治报告问答" style="width:440px;height:720px;border:1px solid #cbd5e1;border-radius:8px;background:#fff"></iframe></aside>
</main></body></html>"""


def static_site(folder: Path):
    """A plain HTTP server on its own port (another origin) serving `folder`; returns (origin, shutdown)."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *a, **k: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{httpd.server_address[1]}", httpd.shutdown


@pytest.fixture
def portal(seed_index, seed_settings, tmp_path):
    """A portal page on another origin (its own port) embedding /embed in an <iframe>; the server lists it as a portal
    (QA_CORS_ORIGINS), as it must: /embed may be framed only by configured origins."""
    origin, shutdown = static_site(tmp_path)
    with ServerThread(create_app(seed_settings.model_copy(update={"cors_origins": origin}), seed_index)) as qa:
        (tmp_path / "index.html").write_text(PORTAL.format(src=qa.url + "/embed/"), encoding="utf-8")
        yield f"{origin}/index.html"
    shutdown()


def _framed(pg, url: str, selector: str = "textarea") -> bool:
    """Whether a page on the portal could show `url` in an iframe (Chromium replaces a refused frame by an error page)."""
    pg.set_content(f'<iframe id="f" src="{url}" style="width:600px;height:500px"></iframe>')
    pg.wait_for_timeout(300)
    try:
        pg.frame_locator("#f").locator(selector).first.wait_for(timeout=20000)
        return True
    except Exception:
        return False


def test_framing_only_by_configured_portals(browser, seed_index, seed_settings, tmp_path):
    origin, shutdown = static_site(tmp_path)
    (tmp_path / "blank.html").write_text("<!doctype html><title>portal</title>", encoding="utf-8")
    context = browser.new_context(locale="zh-CN")
    pg = context.new_page()
    try:
        with ServerThread(create_app(seed_settings.model_copy(update={"cors_origins": origin}), seed_index)) as qa, \
                ServerThread(create_app(seed_settings, seed_index)) as closed:
            pg.goto(f"{origin}/blank.html")
            assert _framed(pg, qa.url + "/embed/")  # a configured portal may embed the chat
            assert not _framed(pg, qa.url + "/")  # but not the full app (uploads, deletes): clickjacking
            assert not _framed(pg, closed.url + "/embed/")  # and an unlisted site may embed nothing
            pg.screenshot(path=str(ARTIFACTS / "browser-9-framing-refused.png"))
    finally:
        context.close()
        shutdown()


def test_login_keeps_a_signed_session_not_the_key_and_logout_ends_it(browser, seed_index, seed_settings):
    settings = seed_settings.model_copy(update={"api_keys": "reader-key-77", "admin_keys": "admin-key-88"})
    context = browser.new_context(locale="zh-CN")
    context.set_default_timeout(TIMEOUT)
    pg = context.new_page()
    try:
        with ServerThread(create_app(settings, seed_index)) as qa:
            pg.goto(qa.url + "/")
            pg.get_by_label("访问密钥").fill("wrong")
            pg.get_by_role("button", name="进入").click()
            assert pg.get_by_role("alert").inner_text().startswith("密钥无效")
            pg.get_by_label("访问密钥").fill("reader-key-77")
            pg.get_by_role("button", name="进入").click()
            pg.locator("#qa-question textarea").wait_for()
            cookies = {c["name"]: c for c in context.cookies()}
            assert set(cookies) == {"qa_session"} and cookies["qa_session"]["httpOnly"] and "reader-key-77" not in cookies["qa_session"]["value"]
            pg.goto(qa.url + "/logout")
            assert "qa_session" not in {c["name"] for c in context.cookies()}
            assert pg.get_by_label("访问密钥").count() == 1  # back at the login form
    finally:
        context.close()


def test_embed_in_portal_iframe_answers(page, portal):
    page.goto(portal)
    frame = page.frame_locator("#qa-frame")
    frame.locator("#qa-question textarea").wait_for()
    assert frame.locator("#qa-doc-table").count() == 0 and frame.get_by_role("tab", name="文档管理").count() == 0  # chat only
    ask(page, ANCHOR, scope=frame)
    wait_answer(page, "克拉玛依市", "呼伦贝尔市", frame=frame)
    frame.locator("#qa-chat .qa-inline-src .qa-card").nth(1).wait_for(state="attached")  # embed: sources folded under the answer
    page.screenshot(path=str(ARTIFACTS / "browser-6-embed-in-portal.png"))
    frame.locator("#qa-chat a.qa-cite").first.click()
    page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / "browser-7-embed-citation-clicked.png"))
    assert not page.errors, page.errors


def doc_snippets() -> list[str]:
    text = (PROJECT_ROOT / "docs" / "embed.md").read_text(encoding="utf-8")
    return [block.split("```", 1)[0] for block in text.split("```html\n")[1:]]


def test_docs_embed_examples_work_with_keys_and_cors(browser, seed_index, seed_settings, tmp_path):
    """The copy-paste examples of docs/embed.md, pasted into a portal on another origin, against a server with keys and CORS."""
    iframe_page, js_page = doc_snippets()[:2]
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *a, **k: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    origin = f"http://127.0.0.1:{httpd.server_address[1]}"
    settings = seed_settings.model_copy(update={"api_keys": "portal-key-1", "admin_keys": "admin-key", "cors_origins": origin})
    try:
        with ServerThread(create_app(settings, seed_index)) as qa:
            for name, snippet in (("iframe.html", iframe_page), ("js.html", js_page)):
                (tmp_path / name).write_text(snippet.replace("https://qa.example.gov.cn", qa.url), encoding="utf-8")
            context = browser.new_context(viewport={"width": 1200, "height": 900}, locale="zh-CN")
            context.set_default_timeout(TIMEOUT)
            pg = context.new_page()
            console: list[str] = []
            pg.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
            pg.on("dialog", lambda d: (console.append(f"dialog: {d.message}"), d.dismiss()))
            pg.on("requestfailed", lambda r: console.append(f"failed: {r.url} {r.failure}"))

            pg.goto(f"{origin}/js.html")
            pg.locator("#go").click()
            try:
                pg.locator("#sources li").nth(1).wait_for()
            except Exception:
                pg.screenshot(path=str(ARTIFACTS / "browser-8-docs-js-example-failed.png"))
                raise AssertionError(f"docs JS example failed: {console} answer={pg.locator('#answer').inner_text()!r}")
            answer = pg.locator("#answer").inner_text()
            assert "克拉玛依市" in answer and "呼伦贝尔市" in answer
            pg.screenshot(path=str(ARTIFACTS / "browser-8-docs-js-example.png"))

            pg.goto(f"{origin}/iframe.html")
            frame = pg.frame_locator("iframe")
            ask(pg, ANCHOR, scope=frame)
            wait_answer(pg, "克拉玛依市", "呼伦贝尔市", frame=frame)
            context.close()
    finally:
        httpd.shutdown()
