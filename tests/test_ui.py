"""Issue #13: the chat as a civil servant uses it, in Chromium (Playwright) against a real uvicorn server.

Answers that read right (是/不是 first, tables with CSV, numbered lists, notes), copy as plain text with sources,
one reset, Chinese page and labels, dark mode contrast, the welcome state, the embed in a 400×600 iframe, and an
axe-core check. Screenshots go to docs/screenshots/ (listed in docs/ui.md).
"""
from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from qa.settings import PROJECT_ROOT
from qa.web import ServerThread, create_app
from qa.web.ui import EXAMPLES, answer_html, answer_plain, chinese_page

from .test_browser import TIMEOUT, browser, server, static_site  # noqa: F401  (fixtures)

SHOTS = PROJECT_ROOT / "docs" / "screenshots"
AXE = PROJECT_ROOT / ".test-node" / "node_modules" / "axe-core" / "axe.min.js"
PREMISE = "呼伦贝尔市出庭应诉率是99.74%吗?"
SECTION = "克拉玛依市2024年法治政府建设还有哪些不足?"
TABLE = "各地行政复议案件数量分别是多少?"


# ---------------------------------------------------------------- without a browser

def test_every_built_in_example_is_answered_by_the_index(seed_index, seed_settings):
    from qa.service import Service

    service = Service(seed_settings, seed_index)
    who = service.keys.principal(None)
    for q in EXAMPLES:
        a = service.ask(who, q)
        assert not a.refused, q
        assert a.citations, q


def test_answer_html_leads_with_the_verdict_and_writes_sources_out():
    a = {"answer": "不是,呼伦贝尔市为100%[1]。\n99.74%是内蒙古自治区的数据[2]。", "verdict": "no", "answer_type": "yesno", "refused": False,
         "citations": [{"n": 1, "region": "呼伦贝尔市", "year": 2023, "kind": "article", "section": "三、积法治之势", "quote": "达到100%"},
                       {"n": 2, "region": "内蒙古自治区", "year": 2023, "kind": "report", "section": "一、坚持 > (三)加强督察", "quote": "99.74%"}],
         "table": [{"region": "呼伦贝尔市", "year": 2023, "raw": "100%", "status": "result", "scope": "全市", "n": 1}], "notes": ["只列出部分地区"]}
    html = answer_html(a, 0, {"region": "呼伦贝尔市"})
    assert html.startswith('<p class="qa-verdict qa-verdict-no"><strong>不是</strong>')
    assert "<table" in html and "已实现" in html and "只列出部分地区" in html and "已启用筛选:地区 呼伦贝尔市" in html
    plain = answer_plain(a)
    assert "<" not in plain and plain.splitlines()[-1] == "[2] 内蒙古自治区 · 2023年工作报告 · 一、坚持 (三)加强督察"


def test_a_list_answer_is_a_numbered_list():
    a = {"answer": "克拉玛依市「三、存在的问题」[1]:\n一是发展不均衡[1]\n二是基层仍需发力[2]", "answer_type": "section", "refused": False,
         "citations": [{"n": 1, "region": "克拉玛依市", "year": 2024, "kind": "report", "section": "三", "quote": ""},
                       {"n": 2, "region": "克拉玛依市", "year": 2024, "kind": "report", "section": "三", "quote": ""}]}
    html = answer_html(a, 3)
    assert '<ol class="qa-list"><li>一是发展不均衡' in html and html.count("<li>") == 2


def test_a_refusal_names_the_active_filters():
    html = answer_html({"answer": "文档中没有找到能回答该问题的内容。", "refused": True, "citations": []}, 0, {"region": "新乡市", "year": "2019"})
    assert "已启用筛选:地区 新乡市、年份 2019" in html and "全部" in html


def test_gradio_page_is_chinese_for_link_previews():
    page = '<html\n\tlang="en"><head><meta property="og:title" content="Gradio" /><meta property="og:description" content="Click to try out the app!" />'
    out = chinese_page(page)
    assert 'lang="zh-CN"' in out and "Gradio" not in out and "Click to try" not in out


# ---------------------------------------------------------------- in the browser

def screenshots_on() -> bool:
    """docs/screenshots/ is documentation: rewritten only on request (QA_SCREENSHOTS=1), not by every test run."""
    return os.environ.get("QA_SCREENSHOTS", "") == "1"


def shot(pg, name: str, **kw) -> None:
    if not screenshots_on():
        return
    SHOTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(SHOTS / name), **kw)


@pytest.fixture
def context_of(browser):  # noqa: F811
    made = []

    def make(**kw):
        kw.setdefault("viewport", {"width": 1366, "height": 800})
        kw.setdefault("locale", "en-US")  # Gradio's own strings must be Chinese whatever the browser says
        ctx = browser.new_context(**kw)
        ctx.set_default_timeout(TIMEOUT)
        made.append(ctx)
        pg = ctx.new_page()
        pg.errors = []
        pg.on("pageerror", lambda e: pg.errors.append(str(e)))
        return pg

    yield make
    for ctx in made:
        ctx.close()


def ask(root, question: str) -> None:
    box = root.locator("#qa-question textarea")
    box.fill(question)
    box.press("Enter")


def last_bot(root):
    return root.locator("#qa-chat .message-row.bot-row, #qa-chat [data-testid=bot]").last


def wait_final(root, n: int = 1) -> None:
    """Until the chat holds n final answers (each ends with the hint line or a refusal/error)."""
    root.locator("#qa-chat .qa-hint, #qa-chat :text('没有找到'), #qa-chat :text('⚠️')").nth(n - 1).wait_for()


def test_answers_read_right_copy_and_reset(context_of, server):  # noqa: F811
    pg = context_of(permissions=["clipboard-read", "clipboard-write"])
    pg.goto(server.url + "/")
    box = pg.locator("#qa-question textarea")
    box.wait_for()

    # welcome inside the chat: coverage from the index, the examples, no feedback controls yet
    welcome = pg.locator("#qa-chat #qa-welcome")
    welcome.wait_for()
    assert "克拉玛依市" in welcome.inner_text() and "工作报告" in welcome.inner_text() and "2024" in welcome.inner_text()
    assert not pg.locator("#qa-up").is_visible() and not pg.locator("#qa-down").is_visible()
    shot(pg, "desktop-welcome.png")

    # 1. a false premise: 不是 comes first
    pg.locator("#qa-chat button", has_text=PREMISE).first.click()
    wait_final(pg)
    verdict = pg.locator("#qa-chat .qa-verdict").first
    assert verdict.inner_text().strip() == "不是"
    first = pg.evaluate("() => { const v = document.querySelector('#qa-chat .qa-verdict'); const p = v.parentElement;"
                        " return [...p.children].indexOf(v) }")
    assert first == 0
    assert pg.locator("#qa-up").is_visible()  # feedback once there is an answer

    # 2. copy: plain text with the sources written out, not HTML
    pg.locator("#qa-chat button[aria-label^='复制回答']").last.click()
    pg.wait_for_timeout(300)
    copied = pg.evaluate("navigator.clipboard.readText()")
    assert "<a" not in copied and "qa-cite" not in copied
    assert copied.startswith("不是")
    assert "[1] 呼伦贝尔市 · 2023年经验文章 · " in copied and "\n[2] 内蒙古自治区 · 2023年工作报告 · " in copied
    assert "点击 [n]" not in copied

    # an aggregation: a table with a CSV download
    ask(pg, TABLE)
    wait_final(pg, 2)
    table = pg.locator("#qa-chat table.qa-table").last
    assert table.locator("th").all_inner_texts() == ["地区", "年份", "数值", "状态", "来源"]
    assert table.locator("tbody tr").count() >= 2 and "已实现" in table.inner_text()
    with pg.expect_download() as dl:
        pg.locator("#qa-csv").click()
    csv = Path(dl.value.path()).read_text(encoding="utf-8-sig")
    assert csv.splitlines()[0].startswith("地区,年份,指标,数值") and "克拉玛依市" in csv
    shot(pg, "desktop-table.png", full_page=True)

    # a list: numbered, every item cited
    ask(pg, SECTION)
    wait_final(pg, 3)
    items = pg.locator("#qa-chat ol.qa-list").last.locator("li")
    assert items.count() >= 3 and all("[" in t for t in items.all_inner_texts())

    # one reset: chat, sources, memory and the feedback target
    assert pg.locator("#qa-chat button[aria-label='清空对话']").count() == 0 or not pg.locator("#qa-chat button[aria-label='清空对话']").first.is_visible()
    pg.locator("#qa-clear").click()
    pg.wait_for_function("!document.querySelector('#qa-sources .qa-card')")
    assert "克拉玛依市" not in pg.locator("#qa-chat .bubble-wrap").inner_text().split("已收录")[0]
    assert not pg.locator("#qa-up").is_visible()
    ask(pg, "那新乡市呢?")  # without memory this is not a follow-up of the cleared questions
    wait_final(pg)
    assert pg.locator("#qa-sources #qa-turn-1").count() == 0  # numbering starts again: the old turns are gone
    assert not pg.errors, pg.errors


def test_page_is_chinese_with_labels_counter_and_kept_question(context_of, server, seed_settings):  # noqa: F811
    pg = context_of()
    pg.goto(server.url + "/")
    box = pg.locator("#qa-question textarea")
    box.wait_for()
    pg.wait_for_timeout(500)
    assert pg.evaluate("document.documentElement.lang") == "zh-CN"
    assert pg.title() == "法治报告问答"
    html = httpx.get(server.url + "/").text
    assert 'content="Gradio"' not in html and "Click to try out the app" not in html and 'lang="zh-CN"' in html
    # inputs have Chinese accessible names, never 「Textbox」
    assert pg.get_by_label("您的问题").count() >= 1
    names = pg.evaluate("() => [...document.querySelectorAll('textarea, input')].map(e => e.getAttribute('aria-label') || (e.labels && e.labels[0] && e.labels[0].innerText) || '')")
    assert not any("Textbox" in n for n in names), names
    labels = pg.evaluate("() => [...document.querySelectorAll('[aria-label]')].map(e => e.getAttribute('aria-label'))")
    assert not any(l in ("Copy message", "Clear", "More tabs") or l.startswith("Select example") for l in labels), labels
    # the counter, and a question too long stays in the box with a message
    box.fill("行政复议")
    pg.locator("#qa-counter").get_by_text("4 / ").wait_for()
    long_q = "行政复议" * (seed_settings.max_question_chars // 4 + 2)
    box.fill(long_q)
    assert "超出上限" in pg.locator("#qa-counter").inner_text()
    box.press("Enter")
    pg.locator("#qa-chat").get_by_text("问题太长").first.wait_for()
    pg.wait_for_function("document.querySelector('#qa-question textarea').value.length > 100")
    assert box.input_value() == long_q
    assert not pg.errors, pg.errors


def contrast_js() -> str:
    return """(sel) => {
      function rgb(s) { const m = s.match(/[\\d.]+/g).map(Number); return m; }
      function lum(c) { const a = c.slice(0, 3).map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
                        return 0.2126 * a[0] + 0.7152 * a[1] + 0.0722 * a[2]; }
      function bg(el) { for (; el; el = el.parentElement) { const c = rgb(getComputedStyle(el).backgroundColor); if (c.length < 4 || c[3] > 0.5) { if (c.length >= 3 && !(c.length == 4 && c[3] == 0)) return c; } }
                        return document.documentElement.classList.contains('dark') || document.body.classList.contains('dark') ? [11, 15, 25] : [255, 255, 255]; }
      const el = document.querySelector(sel); if (!el) return null;
      const f = lum(rgb(getComputedStyle(el).color)), b = lum(bg(el));
      return (Math.max(f, b) + 0.05) / (Math.min(f, b) + 0.05);
    }"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_contrast_focus_and_source_size(context_of, server, scheme):  # noqa: F811
    pg = context_of(color_scheme=scheme)
    pg.goto(server.url + "/")
    ask(pg, PREMISE)
    wait_final(pg)
    pg.locator("#qa-sources .qa-card mark").first.wait_for()
    for sel in ("#qa-sources .qa-card mark", "#qa-chat a.qa-cite", "#qa-sources .qa-card .qa-para", "#qa-sources .qa-card-head",
                "#qa-send", "#qa-chat .qa-verdict strong", "#qa-chat .qa-refs"):
        ratio = pg.evaluate(contrast_js(), sel)
        assert ratio is not None and ratio >= 4.5, (scheme, sel, ratio)
    if scheme == "dark":
        card_bg = pg.evaluate("getComputedStyle(document.querySelector('#qa-sources .qa-card')).backgroundColor")
        assert card_bg not in ("rgb(255, 255, 255)", "rgba(0, 0, 0, 0)"), card_bg  # no white blocks in dark mode
    size = pg.evaluate("parseFloat(getComputedStyle(document.querySelector('#qa-sources .qa-para')).fontSize)")
    assert size >= 14
    # visible focus on the question box, reached by keyboard
    pg.locator("#qa-question textarea").focus()
    outline = pg.evaluate("(() => { const s = getComputedStyle(document.querySelector('#qa-question textarea')); return [s.outlineStyle, parseFloat(s.outlineWidth)] })()")
    assert outline[0] != "none" and outline[1] >= 2, outline
    shot(pg, f"{'dark' if scheme == 'dark' else 'light'}-answer.png", full_page=True)


def test_phone_shows_sources_under_the_answer(context_of, server):  # noqa: F811
    pg = context_of(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    pg.goto(server.url + "/")
    ask(pg, PREMISE)
    wait_final(pg)
    refs = pg.locator("#qa-chat .qa-refs").last
    assert "[1]" in refs.inner_text() and "呼伦贝尔市" in refs.inner_text()
    shot(pg, "phone-answer.png", full_page=True)


HOST = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>门户</title></head>
<body style="margin:0;font-family:sans-serif"><header style="height:300px;background:#b91c1c;color:#fff;padding:12px">某市政府内部门户</header>
<iframe id="qa-frame" src="{src}" title="法治报告问答" style="width:400px;height:600px;border:1px solid #cbd5e1"></iframe>
<div style="height:3000px">……</div></body></html>"""


@pytest.fixture
def host_page(seed_index, seed_settings, tmp_path):
    origin, shutdown = static_site(tmp_path)
    with ServerThread(create_app(seed_settings.model_copy(update={"cors_origins": origin}), seed_index)) as qa:
        (tmp_path / "index.html").write_text(HOST.format(src=qa.url + "/embed/"), encoding="utf-8")
        yield f"{origin}/index.html"
    shutdown()


NESTED_SCROLL = """() => [...document.querySelectorAll('body *')].filter(e => {
  const s = getComputedStyle(e); return (s.overflowY === 'auto' || s.overflowY === 'scroll') && e.scrollHeight > e.clientHeight + 2 && e.clientHeight > 0;
}).map(e => e.className || e.tagName)"""


def test_embed_in_a_400x600_iframe_never_scrolls_the_host(context_of, host_page):
    pg = context_of(viewport={"width": 1200, "height": 800})
    pg.goto(host_page)
    frame = pg.frame_locator("#qa-frame")
    frame.locator("#qa-question textarea").wait_for()
    ask(frame, PREMISE)
    wait_final(frame)
    frame.locator("#qa-chat .qa-inline-src .qa-card").nth(1).wait_for(state="attached")  # embed: sources folded under the answer
    inner = pg.frame("qa-frame") or next(f for f in pg.frames if "/embed" in f.url)
    assert inner.evaluate(NESTED_SCROLL) == []  # one scroll area: the frame's own page
    # question, answer and the sources (written out under the answer) are all in the frame
    assert "呼伦贝尔市" in frame.locator("#qa-chat .qa-refs").last.inner_text()
    shot(pg.locator("#qa-frame"), "embed-400x600.png")
    pg.evaluate("window.scrollTo(0, 0)")  # the element screenshot scrolled the host; our clicks must not
    pg.wait_for_function("window.scrollY === 0")
    assert pg.evaluate("window.scrollY") == 0
    for i in range(2):
        # a DOM click, not Playwright's (which scrolls the host itself to reach the link before clicking)
        inner.evaluate("i => document.querySelectorAll('#qa-chat a.qa-cite')[i].click()", i)
        inner.wait_for_function("document.querySelector('.qa-card.qa-flash') !== null")
        assert pg.evaluate("window.scrollY") == 0  # the host page never moves
    inner_y = inner.evaluate("window.scrollY")
    assert inner_y >= 0
    assert not pg.errors, pg.errors


# ---------------------------------------------------------------- accessibility (axe-core from npm, see Makefile)

def axe_source() -> str:
    if not AXE.exists():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"axe-core is missing at {AXE}: `make install-test` installs it from npm")
        pytest.skip(f"axe-core is not installed ({AXE} missing; `make install-test` runs npm install --prefix .test-node axe-core@4)")
    return AXE.read_text(encoding="utf-8")


def serious(pg) -> list[str]:
    result = pg.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [f"{v['id']} ({v['impact']}): {v['help']} → {[n['target'] for n in v['nodes']][:3]}"
            for v in result["violations"] if v["impact"] in ("serious", "critical")]


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("where", ["/", "/embed/", "documents"])
def test_axe_finds_no_serious_violations(context_of, server, where, scheme):  # noqa: F811
    source = axe_source()
    pg = context_of(color_scheme=scheme)
    pg.goto(server.url + ("/" if where == "documents" else where))
    pg.locator("#qa-question textarea").wait_for()
    if where == "documents":
        pg.get_by_role("tab", name="文档管理").click()
        pg.locator("#qa-doc-table").wait_for()
    else:
        ask(pg, PREMISE)
        wait_final(pg)
    pg.wait_for_timeout(500)
    pg.add_script_tag(content=source)
    problems = serious(pg)
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------- documents page

def test_documents_page_metadata_confidence_region_edit_and_confirmed_delete(context_of, server, tmp_path):  # noqa: F811
    from .test_browser import make_docx

    path = tmp_path / "博乐市法治报告.docx"
    make_docx(path)
    pg = context_of()
    pg.goto(server.url + "/")
    pg.get_by_role("tab", name="文档管理").click()
    assert not pg.locator("#qa-reader-note").is_visible()  # no keys configured: this is the local admin
    pg.locator("#qa-upload input[type=file]").set_input_files(str(path))
    pg.locator("#qa-upload").get_by_text("博乐市法治报告").first.wait_for()
    pg.locator("#qa-upload-btn").click()
    try:
        pg.locator("#qa-upload-status").get_by_text("已添加").wait_for()
        assert "uploads/" not in pg.locator("#qa-doc-table").inner_text()  # readable names, no storage paths
        pg.locator("#qa-doc-pick input").click()
        pg.get_by_role("option").filter(has_text="博乐市").first.click()
        meta = pg.locator("#qa-doc-meta-table")
        meta.wait_for()
        assert "可信度" in meta.inner_text() and "地区" in meta.inner_text()
        shot(pg, "documents-metadata.png", full_page=True)

        # a corrected region brings its province and level
        region = pg.locator("#qa-f-region textarea, #qa-f-region input").first
        pg.wait_for_function("() => { const e = document.querySelector('#qa-f-region textarea, #qa-f-region input'); return e && e.value.length > 0 }")
        region.fill("新乡市")
        pg.locator("#qa-doc-save").click()
        pg.locator("#qa-edit-status").get_by_text("已保存").wait_for()
        province = pg.locator("#qa-f-province textarea, #qa-f-province input").first
        pg.wait_for_function("() => document.querySelector('#qa-f-province textarea, #qa-f-province input').value === '河南省'")
        assert province.input_value() == "河南省"
        assert "市级" in pg.locator("#qa-doc-meta-table").inner_text()

        # delete asks first, naming exactly what goes; cancel keeps it
        pg.locator("#qa-doc-delete").click()
        confirm = pg.locator("#qa-confirm-text")
        confirm.get_by_text("确定吗").wait_for()
        text = confirm.inner_text()
        assert "博乐市2024年法治政府建设情况报告" in text and "博乐市法治报告.docx" in text and "uploads/" not in text
        pg.locator("#qa-cancel-delete").click()
        pg.locator("#qa-edit-status").get_by_text("未删除").wait_for()
        assert any("博乐市法治报告" in d["source"] for d in httpx.get(server.url + "/api/documents").json()["documents"])
        pg.locator("#qa-doc-delete").click()
        pg.locator("#qa-confirm-delete").click()
        pg.locator("#qa-edit-status").get_by_text("已删除").wait_for()
        assert not any("博乐市法治报告" in d["source"] for d in httpx.get(server.url + "/api/documents").json()["documents"])
    finally:
        for d in httpx.get(server.url + "/api/documents").json()["documents"]:
            if d["source"].startswith("uploads/") and d["source"].endswith(".docx"):
                httpx.delete(f"{server.url}/api/documents/{d['doc_id']}")
    assert not pg.errors, pg.errors


def test_readers_do_not_see_admin_controls(context_of, seed_index, seed_settings):
    settings = seed_settings.model_copy(update={"api_keys": "reader-key-13", "admin_keys": "admin-key-13"})
    with ServerThread(create_app(settings, seed_index)) as qa:
        pg = context_of()
        pg.goto(qa.url + "/?key=reader-key-13")
        pg.locator("#qa-question textarea").wait_for()
        pg.get_by_role("tab", name="文档管理").click()
        pg.locator("#qa-reader-note").wait_for()
        pg.locator("#qa-doc-table").get_by_text("克拉玛依市").first.wait_for()
        assert not pg.locator("#qa-upload-btn").is_visible() and not pg.locator("#qa-doc-delete").is_visible()
        assert "uploads/" not in pg.locator("#qa-doc-table").inner_text()
        shot(pg, "documents-reader.png")


# ---------------------------------------------------------------- evaluation and status pages

def test_metrics_in_chinese_with_floors_pass_fail():
    from qa.web.ui import load_floors, metrics_html

    floors = load_floors()
    assert floors.get("fully_correct")
    html = metrics_html({"fully_correct": floors["fully_correct"] + 0.01, "refusal_recall": floors["refusal_recall"] - 0.1}, floors)
    assert "完全正确率" in html and "正确拒答率" in html and "达标" in html and "未达标" in html
    assert "fully_correct" not in html and "refusal_recall" not in html  # no English keys for known metrics


def test_evaluation_and_status_pages_read_plainly(context_of, server):  # noqa: F811
    pg = context_of()
    pg.goto(server.url + "/")
    pg.locator("#qa-question textarea").wait_for()
    pg.get_by_role("tab", name="评测").click()
    table = pg.locator("#qa-eval-table")
    table.wait_for()
    text = table.inner_text()
    assert "完全正确率" in text and "下限" in text and "尚未运行" in text and "key_fact_recall" not in text
    pg.get_by_role("tab", name="运行状态").click()
    status = pg.locator("#qa-status")
    status.get_by_text("服务状态").wait_for()
    text = status.inner_text()
    assert "正常" in text and "已收录文档" in text and "最近更新" in text
    assert "/tmp" not in text and "/work" not in text and "e5" not in text.lower() and "chroma" not in text.lower()
    shot(pg, "status.png")
