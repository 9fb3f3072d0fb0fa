"""Issue #13, second round: sortable tables, filter chips, the evaluation history, the document view with its
outline and original, the phone layout, every cited sentence highlighted with [n] previews, and the embed behind a
cross-site portal over plain HTTP. Chromium (Playwright) against real uvicorn servers; HTTP attacks with httpx and
timeouts. Screenshots only with QA_SCREENSHOTS=1 (see tests/test_ui.py).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest

from qa.web import ServerThread, create_app

from .test_browser import TIMEOUT, browser, server, static_site  # noqa: F401  (fixtures)
from .test_ui import AXE, HOST, NESTED_SCROLL, PREMISE, TABLE, ask, axe_source, context_of, host_page, serious, shot, wait_final  # noqa: F401

HTTP = dict(timeout=30)
TWO_QUOTES = "新乡推行“减县补乡”,到2021年底向乡镇街道下沉了多少执法人员?"  # two answer sentences cite one chunk
IN_VIEW = """sel => { const r = document.querySelector(sel).getBoundingClientRect();
  return r.height > 0 && r.top >= 0 && r.bottom <= window.innerHeight && r.left >= 0 && r.right <= window.innerWidth; }"""
TOP_IN_VIEW = """sel => { const r = document.querySelector(sel).getBoundingClientRect(); return r.top >= 0 && r.top < window.innerHeight; }"""


# ---------------------------------------------------------------- without a browser

def test_every_quote_of_a_card_is_marked():
    from qa.web.ui import highlighted_paragraph

    html = highlighted_paragraph("甲句。乙句。丙句。", "甲句。", ["丙句。", "不在文中"])
    assert html.count("<mark>") == 3 and "<mark>甲句。</mark>乙句。<mark>丙句。</mark>" in html and "<br><mark>不在文中</mark>" in html
    assert highlighted_paragraph("<b>x</b>y", "y", ["<b>"]).count("<b>") == 0  # escaped, always


def test_a_chunk_cited_for_two_sentences_keeps_both_quotes(seed_index):
    from qa.answer import ask as answer

    a = answer(seed_index, TWO_QUOTES)
    cited = [c for c in a.citations if c.quotes]
    assert cited, [c.quote for c in a.citations]
    c = cited[0]
    assert all(q in c.text for q in c.quotes) and c.quote not in c.quotes
    assert "quotes" in c.to_dict()


def test_eval_history_reads_seed_runs_and_skips_the_rest(tmp_path):
    from qa.evaluation.history import runs
    from qa.web.charts import history_html
    from qa.web.ui import METRIC_LABELS, load_floors

    def put(name, data):
        (tmp_path / name).mkdir()
        (tmp_path / name / "report.json").write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")

    put("20261201-100000", {"dataset": "seeds", "created": "2026-12-01T10:00:00+00:00", "items": 139,
                            "systems": {"ours": {"metrics": {"fully_correct": 0.85, "supported_rate": 1.0}}, "baseline": {"metrics": {"fully_correct": 0.1}}}})
    put("20261202-100000", {"dataset": "seeds", "created": "2026-12-02T10:00:00+00:00", "items": 139,
                            "systems": {"ours": {"metrics": {"fully_correct": 0.93, "supported_rate": 1.0}}}})
    put("20261203-100000", {"dataset": "ncpqa", "created": "2026-12-03T10:00:00+00:00", "systems": {"ours": {"metrics": {"hit@1": 0.7}}}})
    put("20261204-100000", "{ half written")
    found = runs([tmp_path, tmp_path / "missing"])
    assert [r["metrics"]["fully_correct"] for r in found] == [0.85, 0.93]  # seeds only, ours only, oldest first
    html = history_html(found, load_floors(), METRIC_LABELS)
    assert "完全正确率" in html and "fully_correct:" not in html and str(tmp_path) not in html
    assert 'data-metric="fully_correct" data-runs="2"' in html and "达标 0.930" in html
    assert "<script" not in html


# ---------------------------------------------------------------- document view and the stored original (HTTP)

def _doc_of(base: str, region: str, headers: dict | None = None) -> dict:
    docs = httpx.get(base + "/api/documents", headers=headers or {}, **HTTP).json()["documents"]
    return next(d for d in docs if d["region"] == region and d["kind"] == "report")


def test_original_is_served_only_for_catalogued_files_to_readers(seed_index, seed_settings, tmp_path):
    settings = seed_settings.model_copy(update={"api_keys": "reader-k", "admin_keys": "admin-k"})
    reader, admin = {"X-API-Key": "reader-k"}, {"X-API-Key": "admin-k"}
    with ServerThread(create_app(settings, seed_index)) as qa:
        doc = _doc_of(qa.url, "克拉玛依市", reader)
        url = f"{qa.url}/doc/{doc['doc_id']}/original"
        r = httpx.get(url, headers=reader, **HTTP)  # readers may read
        assert r.status_code == 200 and r.headers["content-type"] == "text/plain; charset=utf-8"
        assert "克拉玛依" in r.text and r.headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in r.headers["content-security-policy"] and "inline" in r.headers["content-disposition"]
        assert "seeds" not in r.headers["content-disposition"]  # the file's name, not its path
        assert httpx.get(url, **HTTP).status_code == 401  # no key
        assert httpx.get(url, headers={"X-API-Key": "wrong"}, **HTTP).status_code == 401
        for bad in ("..%2F..%2F..%2Fetc%2Fpasswd", "%2e%2e", "%2e%2e%2f%2e%2e%2fpyproject.toml", "nope", "x" * 300, doc["doc_id"] + "%00"):
            r = httpx.get(f"{qa.url}/doc/{bad}/original", headers=reader, **HTTP)
            assert r.status_code == 404, (bad, r.status_code)
            assert "root:" not in r.text and "[project]" not in r.text and "/etc" not in r.text

        # an uploaded HTML report is saved, never rendered on this origin; readers cannot delete it
        paras = "".join(f"<p>{i}、2024年,博乐市扎实推进法治政府建设第{i}项工作,全年开展行政执法案卷评查{i + 3}次,评查案卷{80 + i}卷,"
                        f"行政复议案件办结率达到100%,群众满意度持续提升,基层执法队伍专业化水平不断提高。</p>" for i in range(1, 6))
        page = ("<html><head><title>博乐市2024年法治政府建设情况报告</title></head><body><h1>博乐市2024年法治政府建设情况报告</h1>"
                f"{paras}<script>alert(1)</script></body></html>")
        up = httpx.post(qa.url + "/api/documents", headers=admin, files={"file": ("博乐.html", page.encode(), "text/html")}, **HTTP)
        assert up.status_code == 201, up.text
        new = up.json()["documents"][0]["doc_id"]
        try:
            r = httpx.get(f"{qa.url}/doc/{new}/original", headers=reader, **HTTP)
            assert r.status_code == 200 and r.content == page.encode()
            assert r.headers["content-disposition"].startswith("attachment") and "sandbox" in r.headers["content-security-policy"]
            assert httpx.delete(f"{qa.url}/api/documents/{new}", headers=reader, **HTTP).status_code == 403

            # bytes changed on disk since indexing: refused, not served
            stored = next(Path(settings.data_dir, "uploads").glob("*/博乐.html"))
            stored.write_bytes(b"<script>alert('swapped')</script>")
            r = httpx.get(f"{qa.url}/doc/{new}/original", headers=reader, **HTTP)
            assert r.status_code == 404 and r.json()["error"] == "original_missing" and str(settings.data_dir) not in r.text
        finally:
            httpx.delete(f"{qa.url}/api/documents/{new}", headers=admin, **HTTP)


def test_a_refused_upload_names_the_file_not_its_storage_path(server):  # noqa: F811
    r = httpx.post(server.url + "/api/documents", files={"file": ("空报告.html", "<html><body><p>短</p></body></html>".encode(), "text/html")}, **HTTP)
    assert r.status_code == 400 and "空报告.html" in r.json()["message"]
    assert "uploads/" not in r.text and not re.search(r"[0-9a-f]{64}", r.text)


def test_document_view_has_outline_way_back_and_original(context_of, server):  # noqa: F811
    doc = _doc_of(server.url, "克拉玛依市")
    pg = context_of()
    pg.goto(f"{server.url}/doc/{doc['doc_id']}?start={doc['start'] + 40}&end={doc['start'] + 60}")
    toc = pg.get_by_role("navigation", name="报告目录")
    links = toc.locator("a")
    assert links.count() >= 3
    first = links.nth(1)
    target = first.get_attribute("href")
    assert re.fullmatch(r"#s-\d+", target)
    first.focus()
    pg.keyboard.press("Enter")  # keyboard: the outline jumps to the section
    pg.wait_for_function(f"location.hash === '{target}'")
    assert pg.evaluate(TOP_IN_VIEW, target)
    assert pg.locator("mark#hl").count() == 1
    body = pg.locator("body").inner_text()
    assert "seeds/" not in body and "uploads/" not in body and "/tmp" not in body
    assert pg.locator("#back").get_attribute("href") == "/"
    with pg.expect_download() as dl:  # the .txt original opens inline; a download link still gets the bytes
        pg.evaluate("() => { const a = document.getElementById('original'); a.setAttribute('download', ''); a.click(); }")
    assert "克拉玛依" in Path(dl.value.path()).read_text(encoding="utf-8")
    shot(pg, "document-view.png")
    pg.goto(f"{server.url}/doc/{doc['doc_id']}?back=embed")
    assert pg.locator("#back").get_attribute("href") == "/embed/"
    pg.goto(f"{server.url}/doc/{doc['doc_id']}?back=https://evil.example/")
    assert pg.locator("#back").get_attribute("href") == "/"
    pg.locator("#back").click()
    pg.locator("#qa-question textarea").wait_for()  # back in the chat
    assert not pg.errors, pg.errors


# ---------------------------------------------------------------- answers: tables, highlights, previews

def test_answer_table_sorts_by_mouse_and_keyboard(context_of, server):  # noqa: F811
    pg = context_of()
    pg.goto(server.url + "/")
    ask(pg, TABLE)
    wait_final(pg)
    table = pg.locator("#qa-chat table.qa-table").last
    heads = table.locator("thead th")
    assert heads.count() == 5 and heads.first.get_attribute("aria-sort") == "none"

    def column(i):
        cells = [re.search(r"\d+(\.\d+)?", t) for t in table.locator(f"tbody td:nth-child({i + 1})").all_inner_texts()]
        return [float(m.group()) for m in cells if m]

    table.locator("button.qa-sort", has_text="数值").click()
    assert heads.nth(2).get_attribute("aria-sort") == "ascending"
    assert column(2) == sorted(column(2)) and len(column(2)) >= 3
    table.locator("button.qa-sort", has_text="数值").click()
    assert heads.nth(2).get_attribute("aria-sort") == "descending" and column(2) == sorted(column(2), reverse=True)
    assert heads.nth(1).get_attribute("aria-sort") == "none"
    # keyboard only: Tab reaches the header buttons, Enter sorts
    table.locator("button.qa-sort", has_text="年份").focus()
    pg.keyboard.press("Enter")
    assert heads.nth(1).get_attribute("aria-sort") == "ascending" and heads.nth(2).get_attribute("aria-sort") == "none"
    assert column(1) == sorted(column(1))
    pg.keyboard.press("Shift+Tab")
    pg.keyboard.press("Space")
    assert heads.nth(0).get_attribute("aria-sort") == "ascending"
    shot(pg, "desktop-table-sorted.png")
    assert not pg.errors, pg.errors


def test_a_sorted_table_stays_sorted_when_the_chat_redraws(context_of, server):  # noqa: F811
    pg = context_of()
    pg.goto(server.url + "/")
    ask(pg, TABLE)
    wait_final(pg)
    table = pg.locator("#qa-chat table.qa-table").first
    table.locator("button.qa-sort", has_text="数值").click()
    table.locator("button.qa-sort", has_text="数值").click()
    assert table.locator("thead th").nth(2).get_attribute("aria-sort") == "descending"
    before = table.locator("tbody").inner_text()
    ask(pg, "克拉玛依市行政机关负责人出庭应诉率是多少?")  # the chat redraws every message
    wait_final(pg, 2)
    table = pg.locator("#qa-chat table.qa-table").first
    pg.wait_for_function("(() => { const th = document.querySelectorAll('#qa-chat table.qa-table')[0].querySelectorAll('thead th')[2];"
                         " return th.getAttribute('aria-sort') === 'descending'; })()")
    assert table.locator("tbody").inner_text() == before
    assert not pg.errors, pg.errors


def test_all_cited_sentences_highlighted_and_cite_preview(context_of, server):  # noqa: F811
    pg = context_of()
    pg.goto(server.url + "/")
    ask(pg, TWO_QUOTES)
    wait_final(pg)
    cards = pg.locator("#qa-sources .qa-card")
    cards.first.wait_for()
    marks = [cards.nth(i).locator("mark").count() for i in range(cards.count())]
    assert max(marks) >= 2, marks  # the card two sentences cite shows both
    # [n] previews its source on hover and on keyboard focus
    cite = pg.locator("#qa-chat a.qa-cite").first
    cite.hover()
    tip = pg.locator("#qa-preview")
    tip.wait_for(state="visible")
    assert "新乡市" in tip.inner_text() and tip.get_attribute("role") == "tooltip"
    assert cite.get_attribute("aria-describedby") == "qa-preview"
    shot(pg, "desktop-two-quotes-preview.png")
    pg.mouse.move(0, 0)
    tip.wait_for(state="hidden")
    cite.focus()
    tip.wait_for(state="visible")
    pg.keyboard.press("Escape")
    tip.wait_for(state="hidden")
    cite.focus()
    pg.keyboard.press("Enter")  # and jumps to its card
    pg.wait_for_function("document.activeElement && document.activeElement.id === 'qa-src-0-1'")
    assert not pg.errors, pg.errors


def test_a_question_sent_while_an_answer_is_running_is_answered_after_it(context_of, server):  # noqa: F811
    pg = context_of()
    pg.goto(server.url + "/")
    pg.locator("#qa-question textarea").wait_for()
    ask(pg, PREMISE)
    pg.wait_for_function("document.querySelector('#qa-question textarea').value === ''")  # the question was taken
    ask(pg, "克拉玛依市行政机关负责人出庭应诉率是多少?")  # at once: the first answer is most likely still running
    wait_final(pg, 2)
    questions = pg.locator("#qa-sources .qa-turn-q").all_inner_texts()
    assert any("克拉玛依市" in q for q in questions) and any("99.74" in q for q in questions), questions
    assert not pg.errors, pg.errors


# ---------------------------------------------------------------- filters as chips

def pick(root, elem: str, option: str) -> None:
    root.locator(f"#{elem} input").click()
    root.get_by_role("option", name=option, exact=True).click()


@pytest.mark.parametrize("where", ["desktop", "phone"])
def test_filters_are_chips_by_the_question_and_stay_visible(context_of, server, where):  # noqa: F811
    kw = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True} if where == "phone" else {}
    pg = context_of(**kw)
    pg.goto(server.url + "/")
    pg.locator("#qa-question textarea").wait_for()
    assert "未筛选" in pg.locator("#qa-active").inner_text()
    for sel in ("#qa-question textarea", "#qa-region", "#qa-year", "#qa-kind", "#qa-active"):
        assert pg.evaluate(IN_VIEW, sel), (where, sel)  # next to the question box, without scrolling
    pick(pg, "qa-region", "新乡市")
    pg.locator("#qa-active").get_by_text("地区:新乡市").wait_for()
    pg.locator("#qa-unfilter").wait_for()
    ask(pg, "克拉玛依市行政复议案件有多少件?")
    wait_final(pg)
    note = pg.locator("#qa-chat .qa-filter-note").last
    assert "地区 新乡市" in note.inner_text()
    # after the answer the question box and the active filter are still on screen
    assert pg.evaluate(IN_VIEW, "#qa-question textarea") and pg.evaluate(IN_VIEW, "#qa-active"), where
    shot(pg, f"{where}-filter-chips.png")
    pg.locator("#qa-unfilter").click()
    pg.locator("#qa-active").get_by_text("未筛选").wait_for()
    assert pg.locator("#qa-region input").input_value() == "全部地区"
    assert not pg.errors, pg.errors


def test_filters_work_from_the_keyboard_alone(context_of, server):  # noqa: F811
    pg = context_of()
    pg.goto(server.url + "/")
    box = pg.locator("#qa-question textarea")
    box.wait_for()
    box.focus()
    for _ in range(12):  # Tab from the question box to the region chip
        pg.keyboard.press("Tab")
        if pg.evaluate("!!(document.activeElement && document.activeElement.closest('#qa-region'))"):
            break
    assert pg.evaluate("!!document.activeElement.closest('#qa-region')"), "the region chip is not reachable by Tab"
    pg.keyboard.type("新乡")
    pg.keyboard.press("ArrowDown")
    pg.keyboard.press("Enter")
    pg.locator("#qa-active").get_by_text("地区:新乡市").wait_for()
    for _ in range(12):  # on to the control that clears the filters
        pg.keyboard.press("Tab")
        if pg.evaluate("!!(document.activeElement && document.activeElement.closest('#qa-unfilter'))"):
            break
    pg.keyboard.press("Enter")
    pg.locator("#qa-active").get_by_text("未筛选").wait_for()
    assert not pg.errors, pg.errors


# ---------------------------------------------------------------- phone

def test_phone_sources_fold_under_the_answer_and_the_question_stays_in_view(context_of, server):  # noqa: F811
    pg = context_of(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    pg.goto(server.url + "/")
    box = pg.locator("#qa-question textarea")
    box.wait_for()
    assert pg.evaluate(IN_VIEW, "#qa-question textarea")  # without scrolling
    ask(pg, PREMISE)
    wait_final(pg)
    assert not pg.locator("#qa-sources").is_visible()  # no side panel 1,300 px below
    fold = pg.locator("#qa-chat details.qa-inline-src").last
    assert fold.is_visible() and fold.get_attribute("open") is None
    answer_bottom = pg.evaluate("document.querySelector('#qa-chat .qa-refs').getBoundingClientRect().bottom")
    assert pg.evaluate("document.querySelector('#qa-chat details.qa-inline-src').getBoundingClientRect().top") - answer_bottom < 60
    chat_h = pg.evaluate("document.querySelector('#qa-chat').getBoundingClientRect().height")
    assert chat_h > 600  # grows with the answer instead of a fixed box with a scroll bar of its own
    assert pg.evaluate(NESTED_SCROLL) == []
    assert pg.evaluate(IN_VIEW, "#qa-question textarea")  # the question box stays on screen
    pg.locator("#qa-chat a.qa-cite").first.tap()
    pg.wait_for_function("document.activeElement && document.activeElement.id === 'qa-isrc-0-1'")
    assert fold.get_attribute("open") is not None and pg.locator("#qa-isrc-0-1 mark").first.is_visible()
    shot(pg, "phone-sources-folded.png")
    assert not pg.errors, pg.errors


# ---------------------------------------------------------------- embed

def test_embed_fits_400x600_with_question_visible_and_filters(context_of, host_page):
    pg = context_of(viewport={"width": 1200, "height": 800})
    pg.goto(host_page)
    frame = pg.frame_locator("#qa-frame")
    frame.locator("#qa-question textarea").wait_for()
    inner = next(f for f in pg.frames if "/embed" in f.url)
    inner.wait_for_function("document.querySelector('#qa-active') !== null")
    assert inner.evaluate(IN_VIEW, "#qa-question textarea")  # before any scrolling
    assert inner.evaluate(NESTED_SCROLL) == []
    ask(frame, PREMISE)
    wait_final(frame)
    assert inner.evaluate(IN_VIEW, "#qa-question textarea") and inner.evaluate(IN_VIEW, "#qa-active")
    assert inner.evaluate(NESTED_SCROLL) == []
    assert frame.locator("#qa-chat details.qa-inline-src").last.is_visible()
    pg.evaluate("window.scrollTo(0, 0)")
    pg.wait_for_function("window.scrollY === 0")
    inner.evaluate("document.querySelectorAll('#qa-chat a.qa-cite')[1].focus({preventScroll: true})")
    pg.keyboard.press("Enter")  # keyboard: jump to the card, the portal page does not move
    inner.wait_for_function("document.activeElement && document.activeElement.id.startsWith('qa-isrc-')")
    assert pg.evaluate("window.scrollY") == 0
    shot(pg.locator("#qa-frame"), "embed-400x600-answer.png")
    assert not pg.errors, pg.errors


def test_embed_on_a_cross_site_http_portal_explains_instead_of_looping(context_of, seed_index, seed_settings, tmp_path):
    """The portal is http://localhost:<port>, the chat http://127.0.0.1:<port>: two sites, no HTTPS, so the session
    cookie (SameSite=Lax) never comes back inside the iframe. A same-site portal keeps working."""
    origin, shutdown = static_site(tmp_path)
    cross = origin.replace("127.0.0.1", "localhost")
    settings = seed_settings.model_copy(update={"api_keys": "portal-key", "admin_keys": "admin-key", "cors_origins": f"{origin},{cross}"})
    try:
        with ServerThread(create_app(settings, seed_index)) as qa:
            (tmp_path / "index.html").write_text(HOST.format(src=qa.url + "/embed/?key=portal-key"), encoding="utf-8")
            pg = context_of(viewport={"width": 1200, "height": 800})
            pg.goto(f"{cross}/index.html")
            frame = pg.frame_locator("#qa-frame")
            notice = frame.locator("#qa-cookie-blocked")
            notice.wait_for(state="visible")
            assert "HTTPS" in notice.inner_text() and "新窗口" in notice.inner_text()
            assert not frame.locator("#key").is_visible()  # no form that would loop
            link = notice.get_by_role("link", name=re.compile("新窗口"))
            assert link.get_attribute("target") == "_blank" and "key=" not in (link.get_attribute("href") or "")
            shot(pg.locator("#qa-frame"), "embed-cross-site-http.png")

            pg.goto(f"{origin}/index.html")  # same site (another port): the cookie works, the chat opens
            pg.frame_locator("#qa-frame").locator("#qa-question textarea").wait_for()
            r = httpx.get(qa.url + "/embed/", headers={"Accept": "text/html", "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Dest": "iframe"}, **HTTP)
            assert r.status_code == 401 and 'id="qa-cookie-blocked" role="alert" ' in r.text and 'id="qa-login" hidden' in r.text
    finally:
        shutdown()


# ---------------------------------------------------------------- evaluation history

def test_evaluation_page_charts_the_stored_runs(context_of, server, seed_settings, tmp_path, monkeypatch):  # noqa: F811
    from qa.web.ui import load_floors

    monkeypatch.setattr("qa.evaluation.run.DEFAULT_OUT", tmp_path / "no-cli-reports")  # only this test's runs

    floors = load_floors()
    folder = Path(seed_settings.data_dir, "eval-reports")
    made = []
    for day, bump in (("01", -0.05), ("02", 0.0), ("03", 0.02)):
        f = folder / f"202612{day}-090000-ui"
        f.mkdir(parents=True, exist_ok=True)
        metrics = {k: min(1.0, v + bump) for k, v in floors.items()}
        (f / "report.json").write_text(json.dumps({"dataset": "seeds", "created": f"2026-12-{day}T09:00:00+00:00", "items": 139,
                                                   "systems": {"ours": {"metrics": metrics}}}), encoding="utf-8")
        made.append(f)
    try:
        pg = context_of()
        pg.goto(server.url + "/")
        pg.locator("#qa-question textarea").wait_for()
        pg.get_by_role("tab", name="评测").click()
        history = pg.locator("#qa-eval-history")
        history.wait_for()
        charts = history.locator("svg.qa-h-chart")
        assert charts.count() == len(floors)
        fc = history.locator('svg[data-metric="fully_correct"]')
        assert fc.get_attribute("data-runs") == "3" and fc.locator("circle").count() == 3
        assert fc.locator("circle.qa-h-bad").count() == 1 and fc.locator("circle.qa-h-ok").count() == 2  # the floor as pass/fail
        assert "完全正确率" in fc.locator("title").first.text_content() and "达标" in fc.text_content()
        assert "fully_correct" not in history.inner_text()
        history.get_by_text("各次运行的数字").click()
        assert pg.locator("#qa-eval-history-table tbody tr").count() == 3
        shot(pg, "evaluation-history.png", full_page=True)
        if AXE.exists():
            pg.add_script_tag(content=axe_source())
            problems = serious(pg)
            assert not problems, "\n".join(problems)
        assert not pg.errors, pg.errors
    finally:
        for f in made:
            (f / "report.json").unlink()
            f.rmdir()


# ---------------------------------------------------------------- accessibility of the new views

@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_on_answers_with_tables_and_the_document_view(context_of, server, scheme):  # noqa: F811
    source = axe_source()
    pg = context_of(color_scheme=scheme, bypass_csp=True)  # the document view forbids scripts, axe's included
    pg.goto(server.url + "/")
    ask(pg, TABLE)
    wait_final(pg)
    pg.locator("#qa-chat button.qa-sort").first.click()
    pg.add_script_tag(content=source)
    problems = serious(pg)
    assert not problems, "\n".join(problems)
    doc = _doc_of(server.url, "克拉玛依市")
    pg.goto(f"{server.url}/doc/{doc['doc_id']}?start={doc['start'] + 40}&end={doc['start'] + 60}")
    pg.add_script_tag(content=source)
    problems = serious(pg)
    assert not problems, "\n".join(problems)
