"""The Gradio UI (Chinese): chat with sources at /, a compact chat at /embed for portals' <iframe>s.

Everything a document says is untrusted: answers, quotes and titles are HTML-escaped before they are
shown (a report may contain <script>), and the whole-document view (/doc/<id>) forbids scripts.
"""
from __future__ import annotations

import html
import importlib.util
import logging
import re
from pathlib import Path

import gradio as gr

from ..errors import QaError
from ..loaders import FORMATS
from ..models import KIND_LABELS
from ..service import Principal, Service, display_source
from .guard import principal_of

log = logging.getLogger("qa.web.ui")

ANCHOR_QUESTION = "哪些地区行政机关负责人出庭应诉率达100%?"
EXAMPLES = [
    ANCHOR_QUESTION,
    "克拉玛依市2023年法治政府建设取得了哪些成效?",
    "呼伦贝尔市在行政复议方面做了什么?",
    "比较克拉玛依市和呼伦贝尔市的行政机关负责人出庭应诉率",
]
ALL = ""  # the dropdown value meaning "no filter"
KIND_CHOICES = [("全部类型", ALL)] + [(label, kind) for kind, label in KIND_LABELS.items()]
MARKER = re.compile(r"\[(\d{1,3})\]")
BACKEND_LABELS = {"extractive": "抽取式(不用大模型)", "openai": "大模型(OpenAI 兼容接口)", "local": "本地大模型"}

THEME = gr.themes.Soft(
    primary_hue="red",
    neutral_hue="slate",
    font=["Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei", "sans-serif"],
    font_mono=["Noto Sans Mono CJK SC", "monospace"],
)

CSS = """
.qa-sources { max-height: 70vh; overflow-y: auto; }
.qa-card { border: 1px solid #e5e7eb; border-radius: 8px; padding: 8px 10px; margin: 8px 0; background: #fff; transition: box-shadow .3s, border-color .3s; }
.qa-card.qa-flash { border-color: #dc2626; box-shadow: 0 0 0 3px rgba(220,38,38,.25); }
.qa-card-head { font-size: .85em; color: #475569; margin-bottom: 4px; }
.qa-card-head b { color: #b91c1c; margin-right: 4px; }
.qa-para { font-size: .92em; line-height: 1.7; margin: 4px 0; color: #1f2937; }
.qa-para mark { background: #fde68a; padding: 0 1px; }
.qa-card a.qa-doc { font-size: .85em; }
.qa-turn-q { font-weight: 600; margin-top: 6px; color: #334155; }
.qa-empty { color: #64748b; font-size: .9em; }
.qa-nearest { color: #64748b; }
a.qa-cite, a[href^="#qa-src-"] { color: #b91c1c !important; font-weight: 600; text-decoration: none !important; cursor: pointer; }
.qa-compact .qa-sources { max-height: 40vh; }
footer { display: none !important; }
"""

# [n] in an answer is a link to #qa-src-<turn>-<n>; a click opens that source card and brings it into view
# (inside the page, never in a new tab).
HEAD = """
<script>
(function () {
  function reveal(id) {
    var root = document;
    var card = root.getElementById(id);
    if (!card) return false;
    var d = card.closest('details');
    if (d) d.open = true;
    var acc = card.closest('.qa-sources-acc');
    card.scrollIntoView({behavior: 'smooth', block: 'center'});
    document.querySelectorAll('.qa-card.qa-flash').forEach(function (c) { c.classList.remove('qa-flash'); });
    card.classList.add('qa-flash');
    setTimeout(function () { card.classList.remove('qa-flash'); }, 4000);
    return true;
  }
  document.addEventListener('click', function (ev) {
    var a = ev.target.closest && ev.target.closest('a');
    if (!a) return;
    var href = a.getAttribute('href') || '';
    var m = href.match(/#(qa-src-\\d+-\\d+)$/);
    if (!m) return;
    ev.preventDefault();
    ev.stopPropagation();
    reveal(m[1]);
  }, true);
  window.qaReveal = reveal;
})();
</script>
"""


# ---------------------------------------------------------------- rendering (all text escaped)

def _e(text) -> str:
    return html.escape(str(text or ""), quote=True)


def _inert(text: str) -> str:
    """Escaped HTML whose markdown cannot make links or images either: a report's `[x](http://…)`, `![](…)`,
    `<http://…>` or a bare `www.`/`http://` stays text (brackets, colons and dots become entities, which markdown
    neither parses as syntax nor autolinks)."""
    out = _e(text)
    out = out.replace("[", "&#91;").replace("]", "&#93;").replace("(", "&#40;").replace(")", "&#41;").replace("!", "&#33;")
    return re.sub(r"(?i)(https?|ftp|mailto)(:)|(www)(\.)", lambda m: (m.group(1) or m.group(3)) + ("&#58;" if m.group(2) else "&#46;"), out)


def answer_markdown(text: str, turn: int, known: set[int] | None = None) -> str:
    """The answer for the chat bubble: inert text (see _inert), with each of our [n] a link to its source card."""
    text = text or ""
    pieces, pos = [], 0
    for m in MARKER.finditer(text):
        pieces.append(_inert(text[pos : m.start()]))
        n = int(m.group(1))
        if known is not None and n not in known:
            pieces.append(_inert(m.group(0)))
        else:
            pieces.append(f'<a class="qa-cite" href="#qa-src-{turn}-{n}" title="查看来源 {n}">[{n}]</a>')
        pos = m.end()
    pieces.append(_inert(text[pos:]))
    return "".join(pieces)


def highlighted_paragraph(text: str, quote: str) -> str:
    """The chunk with the cited sentence marked; both escaped."""
    text, quote = text or "", (quote or "").strip()
    i = text.find(quote) if quote else -1
    if i < 0:
        if quote:
            return f"{_e(text)}<br><mark>{_e(quote)}</mark>"
        return _e(text)
    return f"{_e(text[:i])}<mark>{_e(quote)}</mark>{_e(text[i + len(quote):])}"


def card_label(c: dict) -> str:
    year = f"{c['year']}年" if c.get("year") else "年份不详"
    parts = [c.get("region") or "地区不详", year, KIND_LABELS.get(c.get("kind"), c.get("kind") or "")]
    if c.get("section"):
        parts.append(c["section"])
    return " · ".join(_e(p) for p in parts if p)


def source_card(turn: int, c: dict) -> str:
    link = f"/doc/{_e(c['doc_id'])}?start={int(c['start'])}&end={int(c['end'])}#hl"
    return (
        f'<div class="qa-card" id="qa-src-{turn}-{int(c["n"])}" data-n="{int(c["n"])}">'
        f'<div class="qa-card-head"><b>[{int(c["n"])}]</b>{card_label(c)}</div>'
        f'<div class="qa-para">{highlighted_paragraph(c.get("text", ""), c.get("quote", ""))}</div>'
        f'<a class="qa-doc" href="{link}" target="_blank" rel="noopener">查看全文(定位到此处)›</a>'
        f"</div>"
    )


def sources_html(turns: list[dict]) -> str:
    if not turns:
        return '<div class="qa-empty">回答引用的来源会显示在这里。点击回答中的 [n] 可定位到对应来源。</div>'
    latest = max((i for i, t in enumerate(turns) if not t.get("error")), default=-1)
    if latest < 0:
        return sources_html([])
    blocks = []
    for i in range(len(turns) - 1, -1, -1):
        t = turns[i]
        if t.get("error"):
            continue
        cards = "".join(source_card(i, c) for c in t.get("citations", []))
        if not cards and t.get("nearest"):
            near = "".join(
                f'<div class="qa-card qa-nearest"><div class="qa-card-head">{card_label(h)}</div><div class="qa-para">{_e(h.get("text", ""))}</div></div>'
                for h in t["nearest"]
            )
            cards = f'<div class="qa-empty">没有可引用的来源。最接近的段落:</div>{near}'
        elif not cards:
            cards = '<div class="qa-empty">没有引用来源。</div>'
        head = f'<div class="qa-turn-q">问:{_e(t["question"])}</div>'
        if i == latest:
            blocks.append(f'<div class="qa-turn" id="qa-turn-{i}">{head}{cards}</div>')
        else:
            blocks.append(f'<details class="qa-turn" id="qa-turn-{i}"><summary>{head}</summary>{cards}</details>')
    return "".join(blocks)


# ---------------------------------------------------------------- chat logic

def _who(service: Service, request: gr.Request | None) -> Principal | None:
    """The caller of a UI function, decided exactly as the request guard decided it (key header or session cookie)."""
    if request is None:
        return service.keys.principal(None)
    try:
        headers = {str(k).lower(): str(v) for k, v in dict(request.headers).items()}
    except Exception:
        headers = {}
    return principal_of(service, headers)[0]


def filter_choices(service: Service):
    docs = service.index.catalog.documents()
    regions = sorted({d.region for d in docs if d.region})
    years = sorted({d.year for d in docs if d.year}, reverse=True)
    return [("全部地区", ALL)] + [(r, r) for r in regions], [("全部年份", ALL)] + [(str(y), str(y)) for y in years]


def make_respond(service: Service, channel: str):
    from ..retrieval import Filters

    def respond(message, chat, turns, region=ALL, year=ALL, kind=ALL, backend=None, request: gr.Request = None):
        chat = list(chat or [])
        turns = list(turns or [])
        question = (message or "").strip()
        if not question:
            yield chat, sources_html(turns), turns, message
            return
        chat.append({"role": "user", "content": _e(question)})
        chat.append({"role": "assistant", "content": "正在检索相关报告…"})
        yield chat, sources_html(turns), turns, ""
        filters = Filters(region=region or None, year=int(year) if year else None, kind=kind or None)
        history = [{"question": t["question"], "answer": t["answer"]} for t in turns if not t.get("error")]
        turn = len(turns)
        streamed = ""
        try:
            for ev in service.ask_stream(_who(service, request), question, filters=filters, history=history, backend=backend or None):
                if ev["type"] == "token":
                    streamed += ev["text"]
                    chat[-1] = {"role": "assistant", "content": _e(streamed) + " ▌"}
                    yield chat, gr.skip(), turns, gr.skip()
                elif ev["type"] == "answer":
                    answer = ev["answer"].to_dict()
                    cites = answer["citations"]
                    turns.append({
                        "question": question,
                        "answer": answer["answer"],
                        "citations": cites,
                        "nearest": answer.get("nearest", []),
                        "refused": answer["refused"],
                        "backend": answer.get("backend", ""),
                        "filters": {"region": region or None, "year": year or None, "kind": kind or None},
                    })
                    body = answer_markdown(answer["answer"], turn, {c["n"] for c in cites})
                    if cites:
                        body += f'<br><span style="font-size:.8em;color:#64748b">来源 {len(cites)} 条 · 点击 [n] 查看</span>'
                    chat[-1] = {"role": "assistant", "content": body}
        except QaError as exc:
            chat[-1] = {"role": "assistant", "content": f"⚠️ {_e(exc.message)}"}
        except Exception:  # keep the chat usable whatever happens; details go to the log, not to the user
            log.exception("chat answer failed")
            chat[-1] = {"role": "assistant", "content": "⚠️ 出错了,请稍后再试。"}
        if len(turns) == turn:  # one turn per question, so chat message 2i+1 is always turn i
            turns.append({"question": question, "answer": "", "citations": [], "nearest": [], "refused": True, "error": True,
                          "backend": "", "filters": {}})
        yield chat, sources_html(turns), turns, ""

    return respond


def make_feedback(service: Service, channel: str):
    def feedback(rating: int, comment: str, turns: list, request: gr.Request = None):
        answered = [t for t in turns or [] if not t.get("error")]
        if not answered:
            return "还没有可评价的回答。", comment
        t = answered[-1]
        service.add_feedback(_who(service, request), rating, t["question"], t["answer"], t.get("citations", []), (comment or "")[:4000],
                             t.get("backend", ""), t.get("filters"), channel)
        return ("👍 已记录,谢谢!" if rating > 0 else "👎 已记录,我们会改进。") + (" (含评论)" if (comment or "").strip() else ""), ""

    def like(data: gr.LikeData, turns: list, request: gr.Request = None):
        # Chat messages alternate question/answer, so answer i sits at index 2*i+1.
        index = data.index[0] if isinstance(data.index, (list, tuple)) else data.index
        turn = int(index) // 2
        if not turns or turn >= len(turns) or data.liked in (None, ""):
            return "已记录。"
        t = turns[turn]
        service.add_feedback(_who(service, request), 1 if data.liked is True or data.liked == "Like" else -1, t["question"], t["answer"],
                             t.get("citations", []), "", t.get("backend", ""), t.get("filters"), channel)
        return "已记录,谢谢!"

    return feedback, like


def chat_panel(service: Service, compact: bool):
    """The chat column and sources panel; used by both the full page and /embed."""
    from ..llm import available_backends

    turns = gr.State([])
    respond = make_respond(service, "embed" if compact else "ui")
    feedback, like = make_feedback(service, "embed" if compact else "ui")
    backends = available_backends(service.settings)
    region = year = kind = backend = None

    with gr.Row(equal_height=False):
        with gr.Column(scale=3 if not compact else 1):
            chat = gr.Chatbot(
                value=[],
                label="对话",
                height=360 if compact else 520,
                elem_id="qa-chat",
                sanitize_html=True,
                render_markdown=True,
                buttons=["copy"],
                placeholder="请输入关于法治政府建设报告的问题,例如:" + ANCHOR_QUESTION,
            )
            with gr.Row():
                msg = gr.Textbox(placeholder="输入问题,回车发送", show_label=False, scale=5, elem_id="qa-question", max_lines=4, autofocus=not compact)
                send = gr.Button("发送", variant="primary", scale=1, min_width=80, elem_id="qa-send")
            if not compact:
                gr.Examples(examples=[[q] for q in EXAMPLES], inputs=[msg], label="示例问题")
                with gr.Row():
                    region = gr.Dropdown(label="地区", choices=[("全部地区", ALL)], value=ALL, elem_id="qa-region", allow_custom_value=True)
                    year = gr.Dropdown(label="年份", choices=[("全部年份", ALL)], value=ALL, elem_id="qa-year")
                    kind = gr.Dropdown(label="类型", choices=KIND_CHOICES, value=ALL, elem_id="qa-kind")
                backend = gr.Radio(label="生成方式", choices=[(BACKEND_LABELS.get(b, b), b) for b in backends], value=service.settings.backend if service.settings.backend in backends else backends[0],
                                   visible=len(backends) > 1, elem_id="qa-backend")
            else:
                gr.Examples(examples=[[ANCHOR_QUESTION]], inputs=[msg], label="试试")
            with gr.Row():
                up = gr.Button("👍 有帮助", size="sm", elem_id="qa-up", min_width=60)
                down = gr.Button("👎 没帮助", size="sm", elem_id="qa-down", min_width=60)
                clear = gr.Button("🗑 清空对话", size="sm", elem_id="qa-clear", min_width=60)
            comment = gr.Textbox(placeholder="(可选)写下您的意见,再点 👍 或 👎", show_label=False, lines=1, elem_id="qa-comment", visible=True)
            fb_status = gr.Markdown("", elem_id="qa-feedback-status")
        with gr.Column(scale=2 if not compact else 1):
            if compact:
                with gr.Accordion("来源", open=True, elem_classes=["qa-sources-acc"]):
                    sources = gr.HTML(sources_html([]), elem_id="qa-sources", elem_classes=["qa-sources"])
            else:
                gr.Markdown("### 来源")
                sources = gr.HTML(sources_html([]), elem_id="qa-sources", elem_classes=["qa-sources"])

    inputs = [msg, chat, turns] + ([region, year, kind, backend] if not compact else [])
    outputs = [chat, sources, turns, msg]
    msg.submit(respond, inputs, outputs, api_visibility="private")
    send.click(respond, inputs, outputs, api_visibility="private")
    clear.click(lambda: ([], sources_html([]), [], "", ""), None, [chat, sources, turns, msg, fb_status], api_visibility="private")
    def thumbs_up(c, t, request: gr.Request):
        return feedback(1, c, t, request)

    def thumbs_down(c, t, request: gr.Request):
        return feedback(-1, c, t, request)

    up.click(thumbs_up, [comment, turns], [fb_status, comment], api_visibility="private")
    down.click(thumbs_down, [comment, turns], [fb_status, comment], api_visibility="private")
    chat.like(like, [turns], [fb_status], api_visibility="private")
    return {"chat": chat, "region": region, "year": year, "kind": kind}


# ---------------------------------------------------------------- documents page

DOC_HEADERS = ["标题", "地区", "省份", "级别", "部门", "年份", "类型", "需核对", "文件"]
FIELD_LABELS = {"region": "地区", "province": "省份", "level": "级别", "year": "年份", "year_end": "年份", "kind": "类型",
                "department": "部门", "published": "发布日期", "title": "标题"}


def _years(d) -> str:
    if d.year and getattr(d, "year_end", None) and d.year_end != d.year:
        return f"{d.year}—{d.year_end}"
    return str(d.year or "")


def _check(d) -> str:
    """Fields detected with low confidence, with the evidence they came from (see Document.attribution)."""
    flagged = d.low_confidence() if hasattr(d, "low_confidence") else []
    names = list(dict.fromkeys(FIELD_LABELS.get(f, f) for f in flagged))
    return ("⚠ " + "、".join(names)) if names else ""


def documents_table(service: Service, who: Principal | None) -> list[list]:
    """Uploaded documents first (the ones a user is working on), then the rest, by file; names, never storage paths."""
    try:
        docs = service.documents(who)
    except QaError:
        return []
    docs = sorted(docs, key=lambda d: (not d.source.startswith("uploads/"), d.source, d.ord))
    return [[d.title, d.region, d.province, d.level, getattr(d, "department", "") or "", _years(d), KIND_LABELS.get(d.kind, d.kind), _check(d),
             display_source(d.source)] for d in docs]


def doc_choices(service: Service, who: Principal | None) -> list[tuple[str, str]]:
    try:
        docs = service.documents(who)
    except QaError:
        return []
    return [(f"{d.title[:40]}({d.region} · {d.year or '—'})", d.doc_id) for d in docs]


def _read_upload(path: str, limit: int) -> bytes:
    """A file Gradio received for us. Gradio's own check (enabled in mount_ui) has already refused any path outside
    its upload folder; this refuses anything but a regular file within the size limit before reading a byte."""
    import os
    import stat

    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise QaError("不是普通文件 (not a regular file)")
    if st.st_size > limit:
        raise QaError("文件太大 (file too large)", code="too_large", status=413)
    with open(path, "rb") as f:
        return f.read(limit + 1)


def documents_page(service: Service, chat_parts: dict):
    with gr.Column():
        gr.Markdown(f"上传报告(txt、md、html、pdf、docx,单个文件不超过 {service.settings.max_upload_mb} MB),系统会自动识别地区、年份和类型并建立索引。"
                    "上传、更正和删除需要管理员密钥。")
        files = gr.File(label="选择文件", file_count="multiple", file_types=sorted(set(FORMATS)), elem_id="qa-upload", type="filepath")
        upload_btn = gr.Button("上传并索引", variant="primary", elem_id="qa-upload-btn")
        upload_status = gr.Markdown("", elem_id="qa-upload-status")
        table = gr.Dataframe(value=[], headers=DOC_HEADERS, interactive=False, wrap=True, elem_id="qa-doc-table", label="已索引的文档", max_height=420)
        with gr.Accordion("更正元数据 / 删除文档", open=True):
            doc_pick = gr.Dropdown(label="选择文档", choices=[], value=None, elem_id="qa-doc-pick")
            with gr.Row():
                f_title = gr.Textbox(label="标题")
                f_region = gr.Textbox(label="地区")
                f_year = gr.Number(label="年份", precision=0, value=None)
                f_kind = gr.Dropdown(label="类型", choices=[(label, kind) for kind, label in KIND_LABELS.items()], value=None)
            with gr.Row():
                save_btn = gr.Button("保存更正", elem_id="qa-doc-save")
                delete_btn = gr.Button("删除该文档", variant="stop", elem_id="qa-doc-delete")
            edit_status = gr.Markdown("")

    def refreshed(request: gr.Request | None):
        who = _who(service, request)
        regions, years = filter_choices(service)
        out = [documents_table(service, who), gr.Dropdown(choices=doc_choices(service, who), value=None)]
        if chat_parts.get("region") is not None:
            out += [gr.Dropdown(choices=regions), gr.Dropdown(choices=years)]
        return out

    def upload(paths, request: gr.Request, progress=gr.Progress()):
        who = _who(service, request)
        try:
            service.need_admin(who)
        except QaError as exc:
            return [f"❌ {_e(exc.message)}"] + refreshed(request)
        if not paths:
            return ["请先选择文件。"] + refreshed(request)
        paths = paths if isinstance(paths, list) else [paths]
        limit = service.settings.max_upload_mb * 1024 * 1024
        lines = []
        for i, p in enumerate(paths):
            name = Path(p).name
            progress((i, len(paths)), desc=f"正在索引 {name}")
            embedded = [0]

            def tick(n=1, _name=name, _i=i):
                embedded[0] += n or 0
                progress((_i, len(paths)), desc=f"正在索引 {_name}:已嵌入 {embedded[0]} 段")

            try:
                result = service.upload(who, _read_upload(p, limit), name, progress=tick)
            except (QaError, OSError) as exc:
                lines.append(f"❌ {_e(name)}:{_e(getattr(exc, 'message', '无法读取该文件'))}")
                continue
            finally:
                Path(p).unlink(missing_ok=True)  # Gradio's temporary copy: we have what we need
            status = {"added": "✅ 已添加", "updated": "✅ 已更新", "unchanged": "ℹ️ 内容未变", "duplicate": "ℹ️ 已有相同文件"}.get(result.status, result.status)
            docs = "、".join(f"{_e(d.region or '地区不详')} {d.year or ''} {_e(KIND_LABELS.get(d.kind, d.kind))}" for d in result.documents)
            extra = f"(与 {_e(display_source(result.duplicate_of))} 相同,未重复索引)" if result.status == "duplicate" else ""
            lines.append(f"{status} {_e(name)}{extra}" + (f":{len(result.documents)} 篇({docs}),{result.chunks} 段" if result.documents and result.status != "duplicate" else ""))
        progress((len(paths), len(paths)), desc="完成")
        return ["<br>".join(lines)] + refreshed(request)

    def pick(doc_id, request: gr.Request):
        try:
            d = service.document(_who(service, request), doc_id) if doc_id else None
        except QaError:
            d = None
        if d is None:
            return "", "", None, None
        return d.title, d.region, d.year, d.kind

    def save(doc_id, title, region, year, kind, request: gr.Request):
        if not doc_id:
            return ["请先选择文档。"] + refreshed(request)
        fields = {"title": title, "region": region, "year": int(year) if year else None, "kind": kind}
        try:
            d = service.correct(_who(service, request), doc_id, {k: v for k, v in fields.items() if v not in (None, "")})
        except QaError as exc:
            return [f"❌ {_e(exc.message)}"] + refreshed(request)
        return [f"✅ 已保存:{_e(d.title)}({_e(d.region)} · {d.year or '—'} · {_e(KIND_LABELS.get(d.kind, d.kind))})"] + refreshed(request)

    def delete(doc_id, request: gr.Request):
        if not doc_id:
            return ["请先选择文档。"] + refreshed(request)
        try:
            out = service.delete(_who(service, request), doc_id)
        except QaError as exc:
            return [f"❌ {_e(exc.message)}"] + refreshed(request)
        gone = f",文件 {_e(out['file'])} 已移除" if out["file_removed"] else ""
        return [f"🗑 已删除《{_e(out['title'])}》{gone}"] + refreshed(request)

    extra = [chat_parts["region"], chat_parts["year"]] if chat_parts.get("region") is not None else []
    upload_btn.click(upload, [files], [upload_status, table, doc_pick] + extra, api_visibility="private")
    doc_pick.change(pick, [doc_pick], [f_title, f_region, f_year, f_kind], api_visibility="private")
    save_btn.click(save, [doc_pick, f_title, f_region, f_year, f_kind], [edit_status, table, doc_pick] + extra, api_visibility="private")
    delete_btn.click(delete, [doc_pick], [edit_status, table, doc_pick] + extra, api_visibility="private")
    return table, doc_pick


# ---------------------------------------------------------------- evaluation and status pages

def evaluation_page(service: Service):
    if importlib.util.find_spec("qa.evaluation") is None or importlib.util.find_spec("qa.evaluation.run") is None:
        gr.Markdown("评测模块 `qa.evaluation` 尚未安装,此页暂不可用。", elem_id="qa-eval-note")
        return
    gr.Markdown("在项目自带的标准问答集上评测(需要管理员密钥)。评测使用单独的种子文档索引,不受上传文档影响。"
                "用自己的问答集评测请用命令行:`qa eval --gold 文件.jsonl`。", elem_id="qa-eval-note")
    run = gr.Button("运行评测", variant="primary", elem_id="qa-eval-run")
    where = gr.Markdown("")
    summary = gr.JSON(label="评测摘要")
    charts = gr.HTML("")

    def go(request: gr.Request, progress=gr.Progress()):
        who = _who(service, request)
        try:
            service.need_admin(who)
            progress(0, desc="正在准备评测索引…")
            out = service.evaluate(who, lambda d, n: progress((d, n), desc=f"评测中 {d}/{n}"))
        except QaError as exc:
            raise gr.Error(exc.message)
        except Exception:
            log.exception("evaluation failed")
            raise gr.Error("评测失败,请查看服务器日志。")
        summ = out["summary"]
        metrics = {name: sys.get("metrics", {}) for name, sys in summ.get("systems", {}).items()}
        head = {k: summ.get(k) for k in ("dataset", "items", "backend", "documents", "seconds")}
        return f"报告已保存:{_e(out['report'])}", {**head, "metrics": metrics}, out["charts"]

    run.click(go, None, [where, summary, charts], api_visibility="private")


def status_markdown(service: Service, who: Principal | None = None) -> str:
    try:
        s = service.status(who)
    except QaError:
        return "请先登录。"
    rows = [
        ("状态", "正常" if s["status"] == "ok" else "降级(向量库不可用或不一致)"),
        ("文件 / 文档 / 段落", f"{s['files']} / {s['documents']} / {s['chunks']}"),
        ("最近更新", s.get("last_update") or "—"),
        ("嵌入模型", s["embedding_model"]),
        ("生成方式", f"{s['backend']}(可用:{'、'.join(s['backends'])})"),
        ("访问控制", "已启用 API key" if s["auth"] else "未启用"),
    ]
    return "\n".join(["| 项目 | 值 |", "|---|---|"] + [f"| {k} | {_e(v)} |" for k, v in rows])


# ---------------------------------------------------------------- pages

def build_main(service: Service) -> gr.Blocks:
    with gr.Blocks(title="法治报告问答", analytics_enabled=False) as demo:
        gr.Markdown("## 法治报告问答\n基于各地法治政府建设年度报告回答问题,每句回答都有可核对的原文出处。", elem_id="qa-title")
        with gr.Tabs():
            with gr.Tab("问答", id="chat"):
                parts = chat_panel(service, compact=False)
            with gr.Tab("文档管理", id="docs"):
                table, doc_pick = documents_page(service, parts)
            with gr.Tab("评测", id="eval"):
                evaluation_page(service)
            with gr.Tab("运行状态", id="status"):
                status = gr.Markdown("", elem_id="qa-status")
                refresh = gr.Button("刷新", size="sm")

        def refresh_status(request: gr.Request):
            return status_markdown(service, _who(service, request))

        refresh.click(refresh_status, None, status, api_visibility="private")

        def on_load(request: gr.Request):
            who = _who(service, request)
            regions, years = filter_choices(service)
            return (gr.Dropdown(choices=regions), gr.Dropdown(choices=years), documents_table(service, who),
                    gr.Dropdown(choices=doc_choices(service, who)), status_markdown(service, who))

        demo.load(on_load, None, [parts["region"], parts["year"], table, doc_pick, status], api_visibility="private")
    return demo


def build_embed(service: Service) -> gr.Blocks:
    with gr.Blocks(title="法治报告问答", analytics_enabled=False, fill_width=True) as demo:
        with gr.Column(elem_classes=["qa-compact"]):
            chat_panel(service, compact=True)
    return demo


def mount_ui(app, service: Service) -> None:
    """Mount both pages, with the file checks that Gradio's own launch() turns on.

    Gradio checks that a file argument lies in its upload folder only when `blocks.has_launched` is set, which
    launch() does and mount_gradio_app() does not: without it, the queue API accepted any server path as a file
    argument and opened it on the event loop (/dev/zero froze the server). Setting it makes every file argument
    outside the upload folder fail before any I/O (tests/test_security.py replays the attack).
    """
    common = dict(
        theme=THEME,
        css=CSS,
        head=HEAD,
        ssr_mode=False,
        footer_links=[],
        max_file_size=f"{service.settings.max_upload_mb}mb",
        show_error=False,  # our gr.Error messages still show; other exceptions' text (paths…) does not
        run_history=False,
        mcp_server=False,
        enable_monitoring=False,
        allowed_paths=[],
        blocked_paths=[str(service.settings.data_dir)],
    )
    for path, blocks in (("/embed", build_embed(service)), ("/", build_main(service))):
        gr.mount_gradio_app(app, blocks, path=path, **common)
        blocks.has_launched = True
