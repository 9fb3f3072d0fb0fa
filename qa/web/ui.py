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
from ..models import KIND_LABELS, LOW_CONFIDENCE
from ..service import Principal, Service, display_source
from .guard import principal_of

log = logging.getLogger("qa.web.ui")

ANCHOR_QUESTION = "哪些地区行政机关负责人出庭应诉率达100%?"
# Each is asked through the service by tests/test_ui_answers.py and must be answered, not refused.
EXAMPLES = [
    ANCHOR_QUESTION,
    "呼伦贝尔市出庭应诉率是99.74%吗?",
    "克拉玛依市2024年法治政府建设还有哪些不足?",
    "各地行政复议案件数量分别是多少?",
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
).set(
    # Text contrast >= 4.5:1 in both schemes (WCAG AA): the primary button, labels and placeholders.
    button_primary_background_fill="#b91c1c",
    button_primary_background_fill_hover="#991b1b",
    button_primary_background_fill_dark="#b91c1c",
    button_primary_background_fill_hover_dark="#991b1b",
    button_primary_text_color="#ffffff",
    button_primary_text_color_dark="#ffffff",
    block_label_text_color="#334155",
    block_label_text_color_dark="#e2e8f0",
    block_title_text_color="#334155",
    block_title_text_color_dark="#e2e8f0",
    block_label_background_fill_dark="#991b1b",  # the Soft theme's #dc2626 gives light label text 3.9:1
    block_info_text_color="#334155",
    block_info_text_color_dark="#e2e8f0",
    input_placeholder_color="#64748b",
    input_placeholder_color_dark="#a3b1c6",
    body_text_color_subdued="#475569",
    body_text_color_subdued_dark="#cbd5e1",
    checkbox_label_background_fill_selected="#b91c1c",
    checkbox_label_background_fill_selected_dark="#b91c1c",
    checkbox_label_text_color_selected="#ffffff",
    checkbox_label_text_color_selected_dark="#ffffff",
)

CSS = """
.qa-sources { max-height: 70vh; overflow-y: auto; }
.qa-card { border: 1px solid #cbd5e1; border-radius: 8px; padding: 8px 10px; margin: 8px 0; background: #fff; color: #1f2937; transition: box-shadow .3s, border-color .3s; }
.qa-card:focus { outline: 3px solid #b91c1c; outline-offset: 2px; }
.qa-card.qa-flash { border-color: #b91c1c; box-shadow: 0 0 0 3px rgba(185,28,28,.3); }
.qa-card-head { font-size: 14px; color: #334155; margin-bottom: 4px; }
.qa-card-head b { color: #b91c1c; margin-right: 4px; }
.qa-para { font-size: 15px; line-height: 1.7; margin: 4px 0; color: #1f2937; }
.qa-para mark, .qa-refs mark { background: #fde68a; color: #1f2937; padding: 0 1px; }
.qa-para mark + mark { margin-left: 4px; }  /* two cited sentences side by side stay two */
.qa-card a.qa-doc { font-size: 14px; color: #1d4ed8; }
.qa-turn-q { font-weight: 600; margin-top: 6px; color: #334155; }
.qa-empty { color: #475569; font-size: 14px; }
.qa-nearest { color: #475569; }
a.qa-cite, a[href^="#qa-src-"] { color: #b91c1c !important; font-weight: 600; text-decoration: none !important; cursor: pointer; }
a.qa-cite:focus-visible { outline: 2px solid currentColor; outline-offset: 1px; }
.qa-verdict { display: inline-block; font-size: 1.05em; padding: 1px 10px; border-radius: 6px; margin: 0 0 6px; }
.qa-verdict-yes { background: #dcfce7; color: #14532d; }
.qa-verdict-no { background: #fee2e2; color: #7f1d1d; }
.qa-note { font-size: 14px; color: #713f12; background: #fef9c3; border-radius: 6px; padding: 2px 8px; margin: 6px 0; }
.qa-table-wrap { overflow-x: auto; }
table.qa-table { border-collapse: collapse; font-size: 14px; margin: 6px 0; }
table.qa-table th, table.qa-table td { border: 1px solid #cbd5e1; padding: 3px 8px; text-align: left; }
table.qa-table th { background: #f1f5f9; color: #1f2937; }
ol.qa-list { padding-left: 1.6em; margin: 4px 0; }
ol.qa-list li { margin: 3px 0; }
.qa-refs { font-size: 14px; color: #334155; border-top: 1px solid #cbd5e1; margin-top: 8px; padding-top: 4px; }
.qa-hint { font-size: 14px; color: #334155; }
#qa-counter { font-size: 13px; color: #475569; text-align: right; margin: 0 4px; }
#qa-counter.qa-over { color: #b91c1c; font-weight: 600; }
#qa-question textarea:focus, #qa-question textarea:focus-visible { outline: 3px solid #b91c1c !important; outline-offset: 1px; }
button:focus-visible, a:focus-visible, input:focus-visible { outline: 3px solid #b91c1c !important; outline-offset: 2px; }
.qa-welcome { font-size: 15px; line-height: 1.7; color: #1f2937; text-align: left; }
.qa-welcome .qa-cover { color: #334155; font-size: 14px; }
.qa-low { background: #fef3c7; color: #78350f; font-weight: 600; }
.qa-pass { color: #14532d; }
.qa-fail { color: #991b1b; }
.qa-compact .qa-sources { max-height: none; overflow: visible; }
.qa-compact #qa-chat, .qa-compact #qa-chat > div, .qa-compact #qa-chat .bubble-wrap, .qa-compact #qa-chat [role=log] { height: auto !important; max-height: none !important; overflow: visible !important; }
footer { display: none !important; }
#qa-chat button[aria-label="清空对话"], #qa-chat button[aria-label="Clear"] { display: none !important; }  /* one reset: 新对话 */
table.qa-table td:nth-child(2), table.qa-table td:nth-child(3), table.qa-table td:nth-child(4) { white-space: nowrap; }
button.qa-sort { background: none; border: 0; padding: 0; font: inherit; font-weight: 600; color: inherit; cursor: pointer; }
.qa-sort-icon::after { content: "↕" / ""; margin-left: 4px; color: #475569; }
th[aria-sort=ascending] .qa-sort-icon::after { content: "▲" / ""; color: #b91c1c; }
th[aria-sort=descending] .qa-sort-icon::after { content: "▼" / ""; color: #b91c1c; }
.qa-inline-src { display: none; margin-top: 6px; }
.qa-inline-src > summary { cursor: pointer; font-size: 14px; color: #1e3a8a; opacity: 1; padding: 4px 0; }
.qa-compact .qa-inline-src { display: block; }
.qa-compact table.qa-table td:last-child { min-width: 11em; }
.qa-compact #qa-filters > * { flex: 1 1 0 !important; min-width: 0 !important; }
.qa-compact #qa-filters input { font-size: 13px; }
#qa-ask { gap: 4px; }
#qa-filters { gap: 6px; flex-wrap: wrap; align-items: center; margin-top: 0; }
#qa-filters input { padding-top: 2px; padding-bottom: 2px; }
#qa-filters .wrap-inner, #qa-filters .secondary-wrap { min-height: 32px; }
#qa-filters .qa-chip { border-radius: 999px; }
#qa-filters .qa-chip input { font-size: 14px; }
#qa-filters .qa-chip-active { box-shadow: 0 0 0 2px #b91c1c; border-radius: 999px; }
#qa-filters .qa-chip-active input { font-weight: 600; color: #7f1d1d; }
.qa-active-filters { display: flex; flex-wrap: wrap; gap: 6px; align-items: center; font-size: 13px; color: #334155; margin: 2px 4px; }
.qa-chip-on { background: #fee2e2; color: #7f1d1d; border-radius: 999px; padding: 0 8px; font-weight: 600; }
.qa-chip-lead, .qa-chip-none { color: #334155; }
#qa-preview { position: fixed; z-index: 1000; display: none; max-width: min(360px, 88vw); background: #1f2937; color: #f9fafb; font-size: 13px;
  line-height: 1.5; padding: 6px 8px; border-radius: 6px; box-shadow: 0 4px 14px rgba(0,0,0,.25); pointer-events: none; }
.qa-compact #qa-ask { position: sticky; bottom: 0; z-index: 20; background: var(--background-fill-primary, #fff); padding: 4px 0 2px;
  box-shadow: 0 -8px 10px -10px rgba(0,0,0,.4); }
@media (max-width: 640px) {
  #qa-chat, #qa-chat > div, #qa-chat .bubble-wrap, #qa-chat [role=log] { height: auto !important; max-height: none !important; overflow: visible !important; }
  #qa-side { display: none !important; }
  table.qa-table td:last-child { min-width: 11em; }  /* the source column scrolls sideways rather than one character a line */
  #qa-filters input { font-size: 13px; }
  #qa-filters > * { flex: 1 1 0 !important; min-width: 0 !important; }  /* three equal chips: 全部年份 fits */
  .qa-inline-src { display: block; }
  #qa-ask { position: sticky; bottom: 0; z-index: 20; background: var(--background-fill-primary, #fff); padding: 4px 0 2px;
    box-shadow: 0 -8px 10px -10px rgba(0,0,0,.4); }
}
.qa-h-grid-wrap { display: flex; flex-wrap: wrap; gap: 12px; }
.qa-h-chart { border: 1px solid #cbd5e1; border-radius: 8px; background: #fff; color: #1f2937; max-width: 100%; height: auto; }
.qa-h-line { stroke: #1d4ed8; } .qa-h-grid { stroke: #e2e8f0; } .qa-h-floor { stroke: #b91c1c; }
.qa-h-dot { fill: #1d4ed8; } .qa-h-ok { fill: #15803d; } .qa-h-bad { fill: #b91c1c; }
.qa-h-pass { fill: #14532d; } .qa-h-fail { fill: #991b1b; }
.qa-h-title { font-size: 16px; margin: 12px 0 4px; }

"""

# Dark mode, designed: the same rules under Gradio's .dark class and under the system setting itself.
DARK_CSS = """
@D .qa-card { background: #1e293b; border-color: #475569; color: #e2e8f0; }
@D .qa-card-head, @D .qa-turn-q, @D .qa-refs { color: #cbd5e1; }
@D .qa-card-head b, @D a.qa-cite, @D a[href^="#qa-src-"] { color: #fca5a5 !important; }
@D .qa-para { color: #e2e8f0; }
@D .qa-para mark, @D .qa-refs mark { background: #713f12; color: #fef9c3; }
@D .qa-card a.qa-doc { color: #93c5fd; }
@D .qa-empty, @D .qa-nearest, @D .qa-hint, @D #qa-counter { color: #cbd5e1; }
@D .qa-verdict-yes { background: #14532d; color: #dcfce7; }
@D .qa-verdict-no { background: #7f1d1d; color: #fee2e2; }
@D .qa-note { background: #422006; color: #fef08a; }
@D table.qa-table th { background: #334155; color: #f1f5f9; }
@D table.qa-table th, @D table.qa-table td { border-color: #475569; }
@D .qa-welcome { color: #e2e8f0; }
@D .qa-welcome .qa-cover { color: #cbd5e1; }
@D .qa-low { background: #713f12; color: #fef3c7; }
@D #qa-question textarea:focus, @D #qa-question textarea:focus-visible, @D button:focus-visible, @D a:focus-visible { outline-color: #fca5a5 !important; }
@D .qa-card:focus { outline-color: #fca5a5; }
@D .qa-sort-icon::after { color: #cbd5e1; }
@D th[aria-sort=ascending] .qa-sort-icon::after, @D th[aria-sort=descending] .qa-sort-icon::after { color: #fca5a5; }
@D .qa-inline-src > summary { color: #93c5fd; }
@D .qa-active-filters, @D .qa-chip-lead, @D .qa-chip-none { color: #cbd5e1; }
@D .qa-chip-on { background: #7f1d1d; color: #fee2e2; }
@D #qa-filters .qa-chip-active input { color: #fecaca; }
@D #qa-filters .qa-chip-active { box-shadow: 0 0 0 2px #fca5a5; }
@D #qa-preview { background: #f1f5f9; color: #0f172a; }
@D .qa-h-chart { background: #1e293b; border-color: #475569; color: #e2e8f0; }
@D .qa-h-line { stroke: #93c5fd; }
@D .qa-h-grid { stroke: #334155; }
@D .qa-h-floor { stroke: #fca5a5; }
@D .qa-h-dot { fill: #93c5fd; }
@D .qa-h-ok { fill: #4ade80; }
@D .qa-h-bad { fill: #fca5a5; }
@D .qa-h-pass { fill: #bbf7d0; }
@D .qa-h-fail { fill: #fecaca; }
"""


def _one_selector_per_rule(css: str) -> str:
    """Gradio rewrites `.dark` in the first selector of a rule only: give every selector its own rule."""
    out = []
    for line in css.strip().splitlines():
        if "{" not in line:
            continue
        sels, body = line.split("{", 1)
        out += [f"{sel.strip()} {{{body}" for sel in sels.split(",")]
    return "\n".join(out)


CSS += ("\n/* dark mode */\n" + _one_selector_per_rule(DARK_CSS.replace("@D ", ".dark ")) + "\n@media (prefers-color-scheme: dark) {\n"
        + _one_selector_per_rule(DARK_CSS.replace("@D ", ":root ")) + "\n}\n")

# [n] in an answer is a link to #qa-src-<turn>-<n>; a click opens that source card and brings it into view within
# this page only: no scrollIntoView (inside an <iframe> it would scroll the portal page too), the page's own scroll
# areas and window are scrolled by hand. Copying an answer copies plain text with its sources written out, not HTML.
# The question box gets a character counter.
HEAD = """
<style>
/* Gradio's container says overflow: hidden, which makes it a scroll container and stops the question box from
   sticking to the bottom of the screen (phone, embed); clip cuts the same way without that. Here, not in CSS:
   Gradio prefixes custom CSS with the container's own class, so a rule for the container itself never matches. */
.gradio-container { overflow: clip !important; }
</style>
<script>
window.QA_MAX_CHARS = __QA_MAX__;
(function () {
  function scrollWithin(card) {
    for (var p = card.parentElement; p && p !== document.body && p !== document.documentElement; p = p.parentElement) {
      var oy = getComputedStyle(p).overflowY;
      if ((oy === 'auto' || oy === 'scroll') && p.scrollHeight > p.clientHeight + 1) {
        var pr = p.getBoundingClientRect(), cr = card.getBoundingClientRect();
        p.scrollTop += (cr.top - pr.top) - Math.max(0, (p.clientHeight - cr.height) / 3);
      }
    }
    var r = card.getBoundingClientRect();
    if (r.top < 0 || r.bottom > window.innerHeight) {
      window.scrollTo({top: window.scrollY + r.top - Math.max(0, (window.innerHeight - r.height) / 3), behavior: 'instant'});
    }
  }
  // A source card is in the side panel (desktop) and folded under its answer (phone, embed): use the one shown.
  function shown(el) { return !!(el && el.getClientRects().length); }
  function reveal(id) {
    var card = document.getElementById(id);
    var m = id.match(/^qa-src-(\d+)-(\d+)$/);
    var inline = m && document.getElementById('qa-isrc-' + m[1] + '-' + m[2]);
    if (inline && (!card || !shown(document.getElementById('qa-sources')))) card = inline;
    if (!card) return false;
    var d = card.closest('details');
    if (d) d.open = true;
    scrollWithin(card);
    if (!card.hasAttribute('tabindex')) card.setAttribute('tabindex', '-1');
    card.focus({preventScroll: true});
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

  // Sortable answer tables: each header is a button; the sorted column's <th> says so in aria-sort. Cells with
  // data-v sort by that number, others by their text (Chinese collation); empty values stay last either way.
  function sortBy(btn) {
    var th = btn.closest('th'), table = btn.closest('table');
    if (!th || !table || !table.tBodies[0]) return;
    var col = Array.prototype.indexOf.call(th.parentElement.children, th);
    var dir = th.getAttribute('aria-sort') === 'ascending' ? 'descending' : 'ascending';
    table.querySelectorAll('thead th').forEach(function (h) { h.setAttribute('aria-sort', 'none'); });
    th.setAttribute('aria-sort', dir);
    var body = table.tBodies[0];
    var numeric = th.classList.contains('qa-num');
    var rows = Array.prototype.slice.call(body.rows).map(function (r, i) {
      var c = r.cells[col], text = c ? (c.textContent || '').trim() : '', key = text || null;
      if (numeric) { var m = text.replace(/,/g, '').match(/-?\d+(\.\d+)?/); key = m ? parseFloat(m[0]) : null; }
      return [key, i, r];
    });
    rows.sort(function (a, b) {
      if (a[0] === null || b[0] === null) return a[0] === b[0] ? a[1] - b[1] : (a[0] === null ? 1 : -1);
      var d = (typeof a[0] === 'number' && typeof b[0] === 'number') ? a[0] - b[0] : String(a[0]).localeCompare(String(b[0]), 'zh-CN');
      return d === 0 ? a[1] - b[1] : (dir === 'ascending' ? d : -d);
    });
    rows.forEach(function (x) { body.appendChild(x[2]); });
  }
  document.addEventListener('click', function (ev) {
    var b = ev.target.closest && ev.target.closest('button.qa-sort');
    if (!b) return;
    ev.preventDefault();
    ev.stopPropagation();
    sortBy(b);
  }, true);
  window.qaSort = sortBy;

  // [n] previews its source on hover and on keyboard focus: a fixed tooltip inside this page (never the host's).
  var tip = null;
  function preview(a) {
    var m = (a.getAttribute('href') || '').match(/#qa-src-(\d+)-(\d+)$/);
    if (!m) return '';
    var card = document.getElementById('qa-isrc-' + m[1] + '-' + m[2]) || document.getElementById('qa-src-' + m[1] + '-' + m[2]);
    if (!card) return '';
    var head = card.querySelector('.qa-card-head'), marks = card.querySelectorAll('.qa-para mark'), quote = [];
    marks.forEach(function (k) { quote.push(k.textContent.trim()); });
    if (!quote.length) quote.push((card.querySelector('.qa-para') || card).textContent.trim().slice(0, 80));
    var text = (head ? head.textContent.trim() : '') + ':' + quote.join(' … ');
    return text.length > 220 ? text.slice(0, 219) + '…' : text;
  }
  function showTip(a) {
    var text = preview(a);
    if (!text) return;
    if (!tip) {
      tip = document.createElement('div');
      tip.id = 'qa-preview';
      tip.setAttribute('role', 'tooltip');
      document.body.appendChild(tip);
    }
    tip.textContent = text;
    tip.style.display = 'block';
    var r = a.getBoundingClientRect(), w = tip.offsetWidth, h = tip.offsetHeight;
    var left = Math.min(Math.max(4, r.left), window.innerWidth - w - 4), top = r.bottom + 6;
    if (top + h > window.innerHeight - 4) top = Math.max(4, r.top - h - 6);
    tip.style.left = left + 'px';
    tip.style.top = top + 'px';
    a.setAttribute('aria-describedby', 'qa-preview');
  }
  function hideTip(a) {
    if (tip) tip.style.display = 'none';
    if (a && a.removeAttribute) a.removeAttribute('aria-describedby');
  }
  function citeOf(ev) { return ev.target.closest && ev.target.closest('a.qa-cite'); }
  document.addEventListener('mouseover', function (ev) { var a = citeOf(ev); if (a) showTip(a); }, true);
  document.addEventListener('mouseout', function (ev) { var a = citeOf(ev); if (a) hideTip(a); }, true);
  document.addEventListener('focusin', function (ev) { var a = citeOf(ev); if (a) showTip(a); }, true);
  document.addEventListener('focusout', function (ev) { var a = citeOf(ev); if (a) hideTip(a); }, true);
  document.addEventListener('keydown', function (ev) { if (ev.key === 'Escape') hideTip(document.activeElement); }, true);

  // Plain text of an answer bubble: [n] stays [n], list items are numbered, table rows become lines,
  // the source list under the answer is written out; hints (qa-nocopy) are left out.
  function plain(node) {
    if (node.nodeType === 3) return node.nodeValue;
    if (node.nodeType !== 1) return '';
    var tag = node.tagName;
    if (node.classList && node.classList.contains('qa-nocopy')) return '';
    if (tag === 'BR') return '\\n';
    if (tag === 'OL' || tag === 'UL') {
      var out = '\\n', i = 0;
      node.childNodes.forEach(function (c) {
        if (c.nodeType === 1 && c.tagName === 'LI') { i += 1; out += (tag === 'OL' ? i + '. ' : '- ') + plain(c).trim() + '\\n'; }
      });
      return out;
    }
    if (tag === 'TR') {
      var cells = [];
      node.childNodes.forEach(function (c) { if (c.nodeType === 1) cells.push(plain(c).trim()); });
      return cells.join(' · ') + '\\n';
    }
    var inner = '';
    node.childNodes.forEach(function (c) { inner += plain(c); });
    if (/^(P|DIV|TABLE|THEAD|TBODY|CAPTION|H\\d|LI|SECTION)$/.test(tag)) return '\\n' + inner + '\\n';
    return inner;
  }
  function toPlain(text) {
    if (typeof text !== 'string' || !/<(a|p|div|span|table|ol|br|strong)\\b/i.test(text)) return text;
    var doc = new DOMParser().parseFromString('<div>' + text + '</div>', 'text/html');
    return plain(doc.body.firstChild).replace(/[ \\t]+\\n/g, '\\n').replace(/\\n{2,}/g, '\\n').trim();
  }
  window.qaPlainText = toPlain;
  if (navigator.clipboard && navigator.clipboard.writeText) {
    var write = navigator.clipboard.writeText.bind(navigator.clipboard);
    navigator.clipboard.writeText = function (t) { return write(toPlain(t)); };
  }

  function counter() {
    var box = document.querySelector('#qa-question textarea');
    if (!box) return;
    var el = document.getElementById('qa-counter');
    if (!el) {
      el = document.createElement('div');
      el.id = 'qa-counter';
      el.setAttribute('aria-live', 'polite');
      var host = document.getElementById('qa-question');
      host.appendChild(el);
    }
    var max = parseInt(box.getAttribute('data-max') || (document.getElementById('qa-question').dataset.max) || window.QA_MAX_CHARS || '500', 10);
    var n = box.value.length;
    // empty box, no counter: the line it takes matters on a phone and in a 600 px embed
    el.textContent = n ? n + ' / ' + max + ' 字' + (n > max ? '(超出上限,请精简)' : '') : '';
    el.classList.toggle('qa-over', n > max);
  }
  // Gradio's own strings that its translations leave in English.
  var LABELS = [[/^Copy message$/, '复制回答(纯文本,含出处)'], [/^Copied message$/, '已复制'], [/^Select example (\\d+): /, '示例 $1:'],
                [/^More tabs$/, '更多标签页'], [/^chatbot conversation$/, '对话记录'], [/^Clear$/, '清空'], [/^Copy$/, '复制'],
                [/^Download$/, '下载'], [/^Close$/, '关闭'], [/^Error$/, '错误']];
  function relabel(root) {
    (root.querySelectorAll ? root : document).querySelectorAll('[aria-label],[title]').forEach(function (el) {
      ['aria-label', 'title'].forEach(function (attr) {
        var v = el.getAttribute(attr);
        if (!v) return;
        for (var i = 0; i < LABELS.length; i++) {
          if (LABELS[i][0].test(v)) { el.setAttribute(attr, v.replace(LABELS[i][0], LABELS[i][1])); break; }
        }
      });
    });
  }
  function named(root) {
    // an upload area's accessible name is its visible (Chinese) text
    document.querySelectorAll('.boundedheight[aria-label]').forEach(function (el) {
      var t = (el.innerText || '').replace(/\s+/g, ' ').trim();
      if (t && el.getAttribute('aria-label') !== t) el.setAttribute('aria-label', t);
    });
  }
  function sortable() {  // aria-sort on every header of an answer table (the sanitizer drops it from the HTML)
    document.querySelectorAll('table.qa-sortable thead th:not([aria-sort])').forEach(function (th) { th.setAttribute('aria-sort', 'none'); });
  }
  new MutationObserver(function () { relabel(document); named(document); sortable(); }).observe(document.documentElement, {subtree: true, childList: true, attributes: true, attributeFilter: ['aria-label', 'title']});
  document.addEventListener('input', function (ev) { if (ev.target.closest && ev.target.closest('#qa-question')) counter(); }, true);
  setInterval(counter, 700);
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


STATUS_LABELS = {"result": "已实现", "goal": "目标", "plan": "计划", "missing": "未提及"}
VERDICT_LABELS = {"yes": "是", "no": "不是"}
LIST_TYPES = ("list", "section")


def cite_label(c: dict) -> str:
    """A citation written out, as plain text: 克拉玛依市 · 2024年工作报告 · 二、… (innermost headings)."""
    kind = KIND_LABELS.get(c.get("kind"), c.get("kind") or "")
    parts = [c.get("region") or "地区不详", f"{c['year']}年{kind}" if c.get("year") else (kind or "年份不详")]
    section = (c.get("section") or "").split(" > ")
    if section and section[0]:
        parts.append(" ".join(section[-2:]) if len(section) > 1 else section[0])
    return " · ".join(parts)


def cite_link(turn: int, n: int, preview: str = "") -> str:
    """[n] as a link to its source card. The chat's sanitizer drops title, data-* and aria-* attributes, so HEAD's
    script builds the hover/focus preview from the card itself (the one folded under the answer is always in the page)."""
    return f'<a class="qa-cite" href="#qa-src-{turn}-{n}">[{n}]</a>'


def answer_markdown(text: str, turn: int, known: set[int] | None = None, titles: dict[int, str] | None = None) -> str:
    """The answer for the chat bubble: inert text (see _inert), with each of our [n] a link to its source card
    (its title previews the source on hover)."""
    text = text or ""
    pieces, pos = [], 0
    for m in MARKER.finditer(text):
        pieces.append(_inert(text[pos : m.start()]))
        n = int(m.group(1))
        if known is not None and n not in known:
            pieces.append(_inert(m.group(0)))
        else:
            pieces.append(cite_link(turn, n, (titles or {}).get(n) or f"查看来源 {n}"))
        pos = m.end()
    pieces.append(_inert(text[pos:]))
    return "".join(pieces)


def filters_note(filters: dict | None, refused: bool) -> str:
    active = [f"{name} {_inert(KIND_LABELS.get(v, v) if key == 'kind' else v)}" for key, name in (("region", "地区"), ("year", "年份"), ("kind", "类型"))
              if (v := (filters or {}).get(key))]
    if not active:
        return ""
    tail = "没有找到可能是筛选所致,可把筛选改回「全部」再问。" if refused else "回答只来自符合筛选的文档。"
    return f'<p class="qa-note qa-filter-note" role="note">已启用筛选:{"、".join(active)}。{tail}</p>'


def answer_html(answer: dict, turn: int, filters: dict | None = None, back: str = "") -> str:
    """A whole answer bubble: 是/不是 first for yes/no and premise questions, lists numbered, aggregation tables as
    tables, notes (partial list, active filters) visible, and the sources written out under the answer."""
    cites = answer.get("citations") or []
    known = {c["n"] for c in cites}
    titles = {c["n"]: f"[{c['n']}] {cite_label(c)}:{(c.get('quote') or '')[:80]}" for c in cites}  # the [n] previews
    text = (answer.get("answer") or "").strip()
    out = []
    verdict = answer.get("verdict")
    if verdict in VERDICT_LABELS:
        out.append(f'<p class="qa-verdict qa-verdict-{verdict}"><strong>{VERDICT_LABELS[verdict]}</strong></p>')
    lines = [ln for ln in text.split("\n") if ln.strip()]
    if answer.get("answer_type") in LIST_TYPES and not answer.get("refused") and len(lines) >= 2:
        intro = lines[0] if lines[0].rstrip().endswith((":", ":")) else ""
        items = lines[1:] if intro else lines
        if intro:
            out.append(f"<p>{answer_markdown(intro, turn, known, titles)}</p>")
        out.append('<ol class="qa-list">' + "".join(f"<li>{answer_markdown(i, turn, known, titles)}</li>" for i in items) + "</ol>")
    else:
        out.append("<p>" + "<br>".join(answer_markdown(ln, turn, known, titles) for ln in lines) + "</p>")
    table = answer.get("table") or []
    if table:
        out.append(table_html(table, turn, cites, titles))
    for note in answer.get("notes") or []:
        out.append(f'<p class="qa-note" role="note">ⓘ {_inert(note)}</p>')
    out.append(filters_note(filters, bool(answer.get("refused"))))
    if cites:
        refs = "".join(f'<div>{cite_link(turn, c["n"], titles[c["n"]])} {_inert(cite_label(c))}</div>' for c in cites)
        out.append(f'<div class="qa-refs">{refs}</div>')
        out.append(inline_sources(turn, cites, back))
        out.append('<p class="qa-hint qa-nocopy">点击 [n] 查看原文出处;点表头可排序,表格可下载为 CSV。</p>' if table else
                   '<p class="qa-hint qa-nocopy">点击 [n] 查看原文出处。</p>')
    return "".join(out)


TABLE_COLUMNS = ("地区", "年份", "数值", "状态", "来源")
NUMERIC_COLUMNS = (1, 2, 4)  # year, value, [n]


def table_html(table: list[dict], turn: int, cites: list[dict], titles: dict[int, str]) -> str:
    """An aggregation answer as a table whose headers sort it (HEAD's script): each header is a button and the sorted
    column's <th> carries aria-sort. The chat's sanitizer keeps classes but drops data-*/aria-* attributes, so a
    numeric column says so by its class (qa-num: sorted by the first number in each cell, 9 before 10)."""
    known = {c["n"]: c for c in cites}
    head = "".join(f'<th scope="col"{" class=qa-num" if i in NUMERIC_COLUMNS else ""}><button type="button" class="qa-sort">{h}<span class="qa-sort-icon"></span></button></th>'
                   for i, h in enumerate(TABLE_COLUMNS))
    rows = []
    for r in table:
        region = _inert(r.get("region")) + (f"({_inert(r['scope'])})" if r.get("scope") else "")
        n = r.get("n") or 0
        src = f"{cite_link(turn, n, titles.get(n, ''))} {_inert(cite_label(known[n]))}" if n in known else "—"
        rows.append(f"<tr><td>{region}</td><td>{r.get('year') or '—'}</td><td>{_inert(r.get('raw') or '—')}</td>"
                    f"<td>{_inert(STATUS_LABELS.get(r.get('status'), r.get('status') or ''))}</td><td>{src}</td></tr>")
    return (f'<div class="qa-table-wrap"><table class="qa-table qa-sortable" id="qa-table-{turn}"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')


def inline_sources(turn: int, cites: list[dict], back: str = "") -> str:
    """The source cards again, folded under the answer: what a phone and the embed show instead of the side panel
    (CSS picks one of the two; the ids differ, qa-isrc- here, so each card id stays unique on the page)."""
    cards = "".join(source_card(turn, c, inline=True, back=back) for c in cites)
    return (f'<details class="qa-inline-src qa-nocopy"><summary>来源原文({len(cites)} 条,点开查看)</summary>'
            f"{cards}</details>")


def answer_plain(answer: dict) -> str:
    """The answer as plain text with its citations written out (what 复制 copies)."""
    text = (answer.get("answer") or "").strip()
    if answer.get("verdict") in VERDICT_LABELS and not text.startswith(VERDICT_LABELS[answer["verdict"]]):
        text = f"{VERDICT_LABELS[answer['verdict']]}。{text}"
    refs = [f"[{c['n']}] {cite_label(c)}" for c in answer.get("citations") or []]
    return "\n".join([text] + refs)


def highlighted_paragraph(text: str, quote: str, quotes: list[str] | None = None, esc=None) -> str:
    """The chunk with every cited sentence marked (the first quote and those other answer sentences cite); all escaped.
    Overlapping quotes become one mark; a quote the chunk does not hold verbatim is shown after it, marked."""
    esc = esc or _e
    text = text or ""
    wanted = [q.strip() for q in [quote or ""] + list(quotes or []) if q and q.strip()]
    spans, missing = [], []
    for q in dict.fromkeys(wanted):
        i = text.find(q)
        (spans.append((i, i + len(q))) if i >= 0 else missing.append(q))
    merged: list[list[int]] = []
    for a, b in sorted(spans):
        if merged and a < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    out, pos = [], 0
    for a, b in merged:
        out.append(f"{esc(text[pos:a])}<mark>{esc(text[a:b])}</mark>")
        pos = b
    out.append(esc(text[pos:]))
    out += [f"<br><mark>{esc(q)}</mark>" for q in missing]
    return "".join(out)


def card_label_text(c: dict) -> str:
    year = f"{c['year']}年" if c.get("year") else "年份不详"
    parts = [c.get("region") or "地区不详", year, KIND_LABELS.get(c.get("kind"), c.get("kind") or "")]
    if c.get("section"):
        parts.append(c["section"])
    return " · ".join(p for p in parts if p)


def card_label(c: dict) -> str:
    return _e(card_label_text(c))


def source_card(turn: int, c: dict, inline: bool = False, back: str = "") -> str:
    """A source card: region · year · kind · section, the chunk with its cited sentences marked, a link to the whole
    document at that place. Inline cards (under an answer, rendered by the chat's markdown) keep their text inert
    and on one line, since a blank line would end the HTML block."""
    n = int(c["n"])
    link = (f"/doc/{_e(c['doc_id'])}?start={int(c.get('start') or 0)}&end={int(c.get('end') or 0)}" + ("&back=embed" if back == "embed" else "") + "#hl"
            if c.get("doc_id") else "")
    text = (c.get("text") or "").replace("\r", " ").replace("\n", " ") if inline else c.get("text", "")
    para = highlighted_paragraph(text, c.get("quote", ""), c.get("quotes"), _inert if inline else _e)
    return (
        f'<div class="qa-card" id="{"qa-isrc" if inline else "qa-src"}-{turn}-{n}" data-n="{n}">'
        f'<div class="qa-card-head"><b>[{n}]</b>{_inert(card_label_text(c)) if inline else card_label(c)}</div>'
        f'<div class="qa-para">{para}</div>'
        + (f'<a class="qa-doc" href="{link}" target="_blank" rel="noopener">查看全文(定位到此处)›</a>' if link else "")
        + "</div>"
    )


def sources_html(turns: list[dict], back: str = "") -> str:
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
        cards = "".join(source_card(i, c, back=back) for c in t.get("citations", []))
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


def coverage(service: Service) -> dict:
    """What the index covers, from the catalogue: regions, years, kinds and the document count."""
    docs = service.index.catalog.documents()
    years = sorted({d.year for d in docs if d.year})
    return {"documents": len(docs), "regions": sorted({d.region for d in docs if d.region}), "years": years,
            "kinds": [KIND_LABELS[k] for k in KIND_LABELS if any(d.kind == k for d in docs)]}


def welcome_html(service: Service) -> str:
    """The chat's first screen: what the bot covers and how to ask; the example questions sit under it."""
    cov = coverage(service)
    if not cov["documents"]:
        cover = "目前还没有收录报告,请管理员在「文档管理」中上传。"
    else:
        regions = "、".join(cov["regions"][:12]) + (f" 等 {len(cov['regions'])} 个地区" if len(cov["regions"]) > 12 else f"(共 {len(cov['regions'])} 个地区)")
        years = (f"{cov['years'][0]}—{cov['years'][-1]} 年" if len(cov["years"]) > 1 else f"{cov['years'][0]} 年") if cov["years"] else "年份不详"
        cover = f"已收录 {cov['documents']} 篇文档:{_e(regions)};{years};类型:{_e('、'.join(cov['kinds']))}。"
    return (f'<div class="qa-welcome" id="qa-welcome"><p><strong>您好!我根据各地法治政府建设报告回答问题</strong>,每句回答都附可核对的原文出处。</p>'
            f'<p class="qa-cover">{cover}</p><p class="qa-cover">可以问具体指标、哪些地区达到某个标准、某地的不足和下一步打算,或核对一个说法是否属实。点下面的示例试试:</p></div>')


def write_csv(text: str) -> str:
    """The answer's table as a file Gradio can serve (its temporary folder; never the data folder)."""
    import tempfile
    import uuid

    folder = Path(tempfile.gettempdir()) / "qa-tables" / uuid.uuid4().hex
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "回答表格.csv"
    path.write_text(text, encoding="utf-8")
    return str(path)


def make_respond(service: Service, channel: str):
    from ..retrieval import Filters

    back = "embed" if channel == "embed" else ""

    def respond(message, chat, turns, region=ALL, year=ALL, kind=ALL, backend=None, request: gr.Request = None):
        chat = list(chat or [])
        turns = list(turns or [])
        question = (message or "").strip()
        hidden = gr.DownloadButton(visible=False, value=None)
        if not question:
            yield chat, sources_html(turns, back), turns, message, gr.skip(), gr.skip()
            return
        chat.append({"role": "user", "content": _e(question)})
        chat.append({"role": "assistant", "content": "正在检索相关报告…"})
        yield chat, sources_html(turns, back), turns, "", gr.skip(), hidden
        filters = Filters(region=region or None, year=int(year) if year else None, kind=kind or None)
        active = {"region": region or None, "year": year or None, "kind": kind or None}
        history = [{"question": t["question"], "answer": t["answer"]} for t in turns if not t.get("error")]
        turn = len(turns)
        streamed = ""
        csv = hidden
        try:
            for ev in service.ask_stream(_who(service, request), question, filters=filters, history=history, backend=backend or None):
                if ev["type"] == "token":
                    streamed += ev["text"]
                    chat[-1] = {"role": "assistant", "content": _e(streamed) + " ▌"}
                    yield chat, gr.skip(), turns, gr.skip(), gr.skip(), gr.skip()
                elif ev["type"] == "answer":
                    obj = ev["answer"]
                    answer = obj.to_dict()
                    turns.append({
                        "question": question,
                        "answer": answer["answer"],
                        "citations": answer["citations"],
                        "nearest": answer.get("nearest", []),
                        "refused": answer["refused"],
                        "backend": answer.get("backend", ""),
                        "filters": active,
                    })
                    chat[-1] = {"role": "assistant", "content": answer_html(answer, turn, active, back)}
                    if answer.get("table"):
                        csv = gr.DownloadButton(value=write_csv(obj.table_csv()), visible=True)
        except QaError as exc:
            chat[-1] = {"role": "assistant", "content": f"⚠️ {_e(exc.message)}"}
        except Exception:  # keep the chat usable whatever happens; details go to the log, not to the user
            log.exception("chat answer failed")
            chat[-1] = {"role": "assistant", "content": "⚠️ 出错了,请稍后再试。"}
        failed = len(turns) == turn
        if failed:  # one turn per question, so chat message 2i+1 is always turn i
            turns.append({"question": question, "answer": "", "citations": [], "nearest": [], "refused": True, "error": True,
                          "backend": "", "filters": {}})
        answered = any(not t.get("error") for t in turns)
        # On an error the question goes back into the box, to be fixed and sent again. Otherwise the box is left as it
        # is: it was emptied when the question was taken, and may hold the next question by now.
        yield chat, sources_html(turns, back), turns, (message if failed else gr.skip()), gr.Column(visible=answered), csv

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

    return feedback


FILTER_NAMES = {"region": "地区", "year": "年份", "kind": "类型"}


def filter_chips(region=ALL, year=ALL, kind=ALL) -> str:
    """The active filters in words, right under the question box (every screen, the embed too): a question is never
    answered under a filter the reader cannot see."""
    values = {"region": region, "year": year, "kind": KIND_LABELS.get(kind, kind) if kind else kind}
    active = [f'<span class="qa-chip-on" data-filter="{k}">{FILTER_NAMES[k]}:{_e(v)}</span>' for k, v in values.items() if v]
    if not active:
        return '<div class="qa-active-filters" id="qa-active" aria-live="polite"><span class="qa-chip-none">未筛选:在全部报告中查找</span></div>'
    return f'<div class="qa-active-filters" id="qa-active" aria-live="polite"><span class="qa-chip-lead">已筛选</span>{"".join(active)}</div>'


def chat_panel(service: Service, compact: bool):
    """The chat column and sources panel; used by both the full page and /embed.

    Layout: the question box with the filters as chips under it (a row of small dropdowns, the active ones named in
    words), kept at the bottom of the screen on a phone and in the embed (sticky, no scroll area of its own); the
    sources beside the chat on a desktop, folded under each answer on a phone and in the embed (CSS decides)."""
    from ..llm import available_backends

    turns = gr.State([])
    respond = make_respond(service, "embed" if compact else "ui")
    feedback = make_feedback(service, "embed" if compact else "ui")
    backends = available_backends(service.settings)
    backend = None

    with gr.Row(equal_height=False, elem_classes=["qa-layout"]):
        with gr.Column(scale=3 if not compact else 1, elem_id="qa-main"):
            chat = gr.Chatbot(
                value=[],
                label="对话",
                show_label=False,
                # desktop: the chat fills the screen above the question box and its filters, which stay in view
                height=None if compact else "calc(100vh - 330px)",
                min_height=None if compact else 300,
                elem_id="qa-chat",
                sanitize_html=True,
                render_markdown=True,
                buttons=["copy"],
                feedback_options=None,  # one feedback control: 👍/👎 under the chat, about the latest answer
                placeholder=welcome_html(service),
                examples=[{"text": q} for q in EXAMPLES],
            )
            with gr.Column(elem_id="qa-ask"):
                with gr.Row(elem_id="qa-ask-row"):
                    msg = gr.Textbox(placeholder="输入问题,按回车发送", label="您的问题", show_label=False, scale=5, elem_id="qa-question",
                                     max_lines=4, autofocus=not compact)
                    send = gr.Button("发送", variant="primary", scale=1, min_width=70, elem_id="qa-send")
                with gr.Row(elem_id="qa-filters", elem_classes=["qa-chips"]):
                    region = gr.Dropdown(label="地区", choices=[("全部地区", ALL)], value=ALL, elem_id="qa-region", allow_custom_value=True,
                                         container=False, min_width=90, scale=2)
                    year = gr.Dropdown(label="年份", choices=[("全部年份", ALL)], value=ALL, elem_id="qa-year", container=False, min_width=80, scale=1)
                    kind = gr.Dropdown(label="类型", choices=KIND_CHOICES, value=ALL, elem_id="qa-kind", container=False, min_width=80, scale=1)
                    unfilter = gr.Button("✕ 清除筛选", size="sm", visible=False, elem_id="qa-unfilter", min_width=60, scale=0)
                chips = gr.HTML(filter_chips(), elem_id="qa-chips-active")
            if not compact:
                backend = gr.Radio(label="生成方式", choices=[(BACKEND_LABELS.get(b, b), b) for b in backends], value=service.settings.backend if service.settings.backend in backends else backends[0],
                                   visible=len(backends) > 1, elem_id="qa-backend")
            csv = gr.DownloadButton("下载表格(CSV)", visible=False, size="sm", elem_id="qa-csv")
            with gr.Column(visible=False, elem_id="qa-feedback") as fb_box:
                with gr.Row():
                    up = gr.Button("👍 有帮助", size="sm", elem_id="qa-up", min_width=60)
                    down = gr.Button("👎 没帮助", size="sm", elem_id="qa-down", min_width=60)
                comment = gr.Textbox(placeholder="(可选)写下您的意见,再点 👍 或 👎", label="意见", show_label=False, lines=1, elem_id="qa-comment")
            fb_status = gr.Markdown("", elem_id="qa-feedback-status")
            clear = gr.Button("🗑 新对话(清空对话、来源和上下文)", size="sm", elem_id="qa-clear", min_width=60)
        with gr.Column(scale=2 if not compact else 1, elem_id="qa-side"):
            if compact:
                sources = gr.HTML(sources_html([]), elem_id="qa-sources", elem_classes=["qa-sources"], visible=False)
            else:
                gr.Markdown("### 来源")
                sources = gr.HTML(sources_html([]), elem_id="qa-sources", elem_classes=["qa-sources"])

    inputs = [msg, chat, turns, region, year, kind] + ([backend] if backend is not None else [])
    outputs = [chat, sources, turns, msg, fb_box, csv]
    # always_last: a question sent while the previous answer is still finishing runs after it; Gradio's default
    # ("once") dropped it silently, and a quick follow-up was never answered.
    msg.submit(respond, inputs, outputs, api_visibility="private", trigger_mode="always_last")
    send.click(respond, inputs, outputs, api_visibility="private", trigger_mode="always_last")

    def example(data: gr.SelectData):
        return data.value.get("text", "") if isinstance(data.value, dict) else str(data.value)

    chat.example_select(example, None, msg, api_visibility="private").then(respond, inputs, outputs, api_visibility="private")

    def show_filters(r, y, k):
        on = lambda v: ["qa-chip", "qa-chip-active"] if v else ["qa-chip"]  # noqa: E731
        return (filter_chips(r, y, k), gr.Button(visible=bool(r or y or k)),
                gr.Dropdown(elem_classes=on(r)), gr.Dropdown(elem_classes=on(y)), gr.Dropdown(elem_classes=on(k)))

    for f in (region, year, kind):
        f.change(show_filters, [region, year, kind], [chips, unfilter, region, year, kind], api_visibility="private")
    unfilter.click(lambda: (ALL, ALL, ALL), None, [region, year, kind], api_visibility="private")

    # One reset: the bubbles, the sources, the conversation memory (turns), the feedback target and the table.
    def reset():
        return [], sources_html([]), [], "", "", gr.Column(visible=False), gr.DownloadButton(visible=False, value=None), ""

    reset_outputs = [chat, sources, turns, msg, fb_status, fb_box, csv, comment]
    clear.click(reset, None, reset_outputs, api_visibility="private")
    chat.clear(reset, None, reset_outputs, api_visibility="private")

    def thumbs_up(c, t, request: gr.Request):
        return feedback(1, c, t, request)

    def thumbs_down(c, t, request: gr.Request):
        return feedback(-1, c, t, request)

    up.click(thumbs_up, [comment, turns], [fb_status, comment], api_visibility="private")
    down.click(thumbs_down, [comment, turns], [fb_status, comment], api_visibility="private")
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


def is_admin(service: Service, who: Principal | None) -> bool:
    return who is not None and who.is_admin


def metadata_html(d) -> str:
    """The detected metadata with how sure the detection was; low confidence highlighted, to be checked."""
    if d is None:
        return '<div class="qa-empty">选择一篇文档后,这里显示系统识别出的元数据及其可信度。</div>'
    rows = []
    values = {"title": d.title, "region": d.region, "province": d.province, "level": d.level, "department": getattr(d, "department", ""),
              "year": _years(d), "kind": KIND_LABELS.get(d.kind, d.kind), "published": d.published or ""}
    for key, value in values.items():
        a = (d.attribution or {}).get(key) or ({} if key != "year" else (d.attribution or {}).get("year_end") or {})
        conf = a.get("confidence")
        low = conf is not None and conf < LOW_CONFIDENCE
        sure = "—" if conf is None else f"{round(conf * 100)}%" + ("(低,请核对)" if low else "")
        evidence = _e((a.get("evidence") or "")[:60])
        rows.append(f'<tr class="{"qa-low" if low else ""}"><th scope="row">{FIELD_LABELS.get(key, key)}</th><td>{_e(value) or "—"}</td>'
                    f"<td>{sure}</td><td>{evidence}</td></tr>")
    return ('<table class="qa-table qa-meta" id="qa-doc-meta-table"><caption>识别出的元数据(可信度低于 '
            f'{round(LOW_CONFIDENCE * 100)}% 的已标出)</caption><thead><tr><th>字段</th><th>值</th><th>可信度</th><th>依据</th></tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>')


def delete_preview(service: Service, who: Principal | None, doc_id: str) -> str:
    """Exactly what a delete removes: this document, and the stored original only when no other document shares it."""
    d = service.document(who, doc_id)
    siblings = [x for x in service.documents(who) if x.source == d.source and x.doc_id != d.doc_id]
    what = f"将删除文档《{_e(d.title)}》({_e(d.label())})及其索引"
    if siblings:
        what += f";文件「{_e(display_source(d.source))}」中的其他 {len(siblings)} 篇文档保留,文件本身保留。"
    else:
        what += f";它是文件「{_e(display_source(d.source))}」中唯一的文档,该文件也将一并移除。"
    return f"⚠️ {what}此操作不能撤销,确定吗?"


def documents_page(service: Service, chat_parts: dict):
    with gr.Column():
        reader_note = gr.Markdown("您可以浏览已索引的文档。上传、更正和删除需要管理员登录。", visible=False, elem_id="qa-reader-note")
        with gr.Column(visible=False, elem_id="qa-admin-upload") as admin_upload:
            gr.Markdown(f"上传报告(txt、md、html、pdf、docx,单个文件不超过 {service.settings.max_upload_mb} MB),系统会自动识别地区、年份和类型并建立索引。")
            files = gr.File(label="选择文件", file_count="multiple", file_types=sorted(set(FORMATS)), elem_id="qa-upload", type="filepath")
            upload_btn = gr.Button("上传并索引", variant="primary", elem_id="qa-upload-btn")
            upload_status = gr.Markdown("", elem_id="qa-upload-status")
        table = gr.Dataframe(value=[], headers=DOC_HEADERS, interactive=False, wrap=True, elem_id="qa-doc-table", label="已索引的文档", max_height=420)
        with gr.Column(visible=False, elem_id="qa-admin-edit") as admin_edit:
            with gr.Accordion("核对元数据 / 删除文档", open=True):
                doc_pick = gr.Dropdown(label="选择文档", choices=[], value=None, elem_id="qa-doc-pick")
                meta = gr.HTML(metadata_html(None), elem_id="qa-doc-meta")
                with gr.Row():
                    f_title = gr.Textbox(label="标题", elem_id="qa-f-title")
                    f_region = gr.Textbox(label="地区(省份和级别随之更新)", elem_id="qa-f-region")
                    f_province = gr.Textbox(label="省份", elem_id="qa-f-province")
                    f_level = gr.Dropdown(label="级别", choices=["省级", "市级", "县区级"], value=None, allow_custom_value=True, elem_id="qa-f-level")
                with gr.Row():
                    f_department = gr.Textbox(label="部门", elem_id="qa-f-department")
                    f_year = gr.Number(label="年份", precision=0, value=None, elem_id="qa-f-year")
                    f_kind = gr.Dropdown(label="类型", choices=[(label, kind) for kind, label in KIND_LABELS.items()], value=None, elem_id="qa-f-kind")
                with gr.Row():
                    save_btn = gr.Button("保存更正", elem_id="qa-doc-save")
                    delete_btn = gr.Button("删除该文档…", variant="stop", elem_id="qa-doc-delete")
                with gr.Column(visible=False, elem_id="qa-confirm") as confirm_box:
                    confirm_text = gr.Markdown("", elem_id="qa-confirm-text")
                    with gr.Row():
                        confirm_btn = gr.Button("确认删除", variant="stop", elem_id="qa-confirm-delete")
                        cancel_btn = gr.Button("取消", elem_id="qa-cancel-delete")
                edit_status = gr.Markdown("", elem_id="qa-edit-status")

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
            docs = "、".join(f"{_e(d.region or '地区不详')} {d.year or ''} {_e(KIND_LABELS.get(d.kind, d.kind))}" + (" ⚠ 需核对" if d.low_confidence() else "")
                            for d in result.documents)
            extra = f"(与 {_e(display_source(result.duplicate_of))} 相同,未重复索引)" if result.status == "duplicate" else ""
            lines.append(f"{status} {_e(name)}{extra}" + (f":{len(result.documents)} 篇({docs}),{result.chunks} 段" if result.documents and result.status != "duplicate" else ""))
        progress((len(paths), len(paths)), desc="完成")
        return ["<br>".join(lines)] + refreshed(request)

    def pick(doc_id, request: gr.Request):
        try:
            d = service.document(_who(service, request), doc_id) if doc_id else None
        except QaError:
            d = None
        hide = gr.Column(visible=False)
        if d is None:
            return "", "", "", None, "", None, None, metadata_html(None), hide
        return d.title, d.region, d.province, d.level or None, getattr(d, "department", "") or "", d.year, d.kind, metadata_html(d), hide

    def save(doc_id, title, region, province, level, department, year, kind, request: gr.Request):
        if not doc_id:
            return ["请先选择文档。"] + refreshed(request) + [gr.skip()] * 4
        fields = {"title": title, "region": region, "province": province, "level": level, "department": department,
                  "year": int(year) if year else None, "kind": kind}
        try:
            d = service.correct(_who(service, request), doc_id, {k: v for k, v in fields.items() if v not in (None, "")})
        except QaError as exc:
            return [f"❌ {_e(exc.message)}"] + refreshed(request) + [gr.skip()] * 4
        msg = f"✅ 已保存:{_e(d.title)}({_e(d.region)} · {_e(d.province)} · {_e(d.level)} · {d.year or '—'} · {_e(KIND_LABELS.get(d.kind, d.kind))})"
        out = refreshed(request)
        out[1] = gr.Dropdown(choices=doc_choices(service, _who(service, request)), value=doc_id)
        return [msg] + out + [d.region, d.province, d.level or None, metadata_html(d)]

    def ask_delete(doc_id, request: gr.Request):
        if not doc_id:
            return "请先选择文档。", gr.Column(visible=False), ""
        try:
            text = delete_preview(service, _who(service, request), doc_id)
        except QaError as exc:
            return f"❌ {_e(exc.message)}", gr.Column(visible=False), ""
        return "", gr.Column(visible=True), text

    def delete(doc_id, request: gr.Request):
        hide = gr.Column(visible=False)
        if not doc_id:
            return ["请先选择文档。"] + refreshed(request) + [hide, metadata_html(None)]
        try:
            out = service.delete(_who(service, request), doc_id)
        except QaError as exc:
            return [f"❌ {_e(exc.message)}"] + refreshed(request) + [hide, gr.skip()]
        gone = f",文件「{_e(out['file'])}」已一并移除" if out["file_removed"] else ",文件中的其他文档保留"
        return [f"🗑 已删除《{_e(out['title'])}》{gone}。"] + refreshed(request) + [hide, metadata_html(None)]

    extra = [chat_parts["region"], chat_parts["year"]] if chat_parts.get("region") is not None else []
    upload_btn.click(upload, [files], [upload_status, table, doc_pick] + extra, api_visibility="private")
    doc_pick.change(pick, [doc_pick], [f_title, f_region, f_province, f_level, f_department, f_year, f_kind, meta, confirm_box], api_visibility="private")
    save_btn.click(save, [doc_pick, f_title, f_region, f_province, f_level, f_department, f_year, f_kind],
                   [edit_status, table, doc_pick] + extra + [f_region, f_province, f_level, meta], api_visibility="private")
    delete_btn.click(ask_delete, [doc_pick], [edit_status, confirm_box, confirm_text], api_visibility="private")
    cancel_btn.click(lambda: (gr.Column(visible=False), "已取消,未删除任何内容。"), None, [confirm_box, edit_status], api_visibility="private")
    confirm_btn.click(delete, [doc_pick], [edit_status, table, doc_pick] + extra + [confirm_box, meta], api_visibility="private")
    return table, doc_pick, {"reader_note": reader_note, "admin": [admin_upload, admin_edit]}


# ---------------------------------------------------------------- evaluation and status pages

# Metric names a non-engineer can read, each with one line on what it measures.
METRIC_LABELS = {
    "evidence_recall@5": ("证据召回率(前 5 段)", "正确的原文段落出现在检索结果前 5 段中的问题比例。"),
    "key_fact_recall": ("关键事实召回率", "标准答案要求的关键事实(数字、名称、条目)出现在回答中的比例。"),
    "fully_correct": ("完全正确率", "回答包含全部关键事实且出处正确的问题比例。"),
    "refusal_recall": ("正确拒答率", "文档中没有答案的问题,系统如实回答“没有找到”而不是编造的比例。"),
    "false_premises_corrected": ("错误前提纠正率", "问题里带着错误说法时,回答先用“不是”加以纠正的比例。"),
    "supported_rate": ("有据可查率", "回答中的每句话都能在所引原文中找到依据的比例。"),
    "citation_precision": ("引用准确率", "回答所引的出处确实支持该句话的比例。"),
    "hit@1": ("首位命中率", "正确文档排在检索结果第一位的问题比例。"),
    "hit@5": ("前 5 命中率", "正确文档出现在检索结果前 5 位的问题比例。"),
    "mrr": ("平均倒数排名", "正确文档排名的倒数的平均值,越接近 1 越好。"),
}


def load_floors() -> dict[str, float]:
    try:
        from ..evaluation.run import DEFAULT_FLOORS, load_floors as load

        return load(DEFAULT_FLOORS)
    except Exception:
        return {}


def metrics_html(metrics: dict | None, floors: dict[str, float]) -> str:
    """The gated metrics (and any others measured) in Chinese, with their floors as 达标 / 未达标."""
    metrics = metrics or {}
    keys = list(dict.fromkeys(list(floors) + [k for k in metrics if isinstance(metrics.get(k), (int, float))]))
    rows = []
    for key in keys:
        name, explain = METRIC_LABELS.get(key, (key, ""))
        value, floor = metrics.get(key), floors.get(key)
        shown = "尚未运行" if value is None else (f"{value:.3f}" if isinstance(value, (int, float)) else _e(value))
        if floor is None or value is None or not isinstance(value, (int, float)):
            verdict = "—"
        else:
            verdict = '<strong class="qa-pass">✅ 达标</strong>' if value >= floor else '<strong class="qa-fail">❌ 未达标</strong>'
        rows.append(f"<tr><th scope=\"row\">{_e(name)}<div class=\"qa-hint\">{_e(explain)}</div></th><td>{shown}</td>"
                    f"<td>{'—' if floor is None else f'{floor:.2f}'}</td><td>{verdict}</td></tr>")
    return ('<table class="qa-table qa-metrics" id="qa-eval-table"><caption>评测指标(0 到 1,越高越好;下限来自 eval/floors.json)</caption>'
            '<thead><tr><th>指标</th><th>本次结果</th><th>下限</th><th>是否达标</th></tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>')


def history_html(service: Service, who: Principal | None) -> str:
    """The stored runs as charts with the floors (qa.web.charts); for anyone who may read, since it shows no paths."""
    from .charts import history_html as render

    try:
        runs = service.eval_history(who)
    except QaError:
        return ""
    return render(runs, load_floors(), METRIC_LABELS)


def evaluation_page(service: Service):
    """Returns the history block (refreshed on every page load) or None when the evaluation module is absent."""
    if importlib.util.find_spec("qa.evaluation") is None or importlib.util.find_spec("qa.evaluation.run") is None:
        gr.Markdown("评测模块 `qa.evaluation` 尚未安装,此页暂不可用。", elem_id="qa-eval-note")
        return None
    gr.Markdown("在项目自带的标准问答集上评测回答质量(需要管理员权限)。评测使用单独的种子文档索引,不受上传文档影响。"
                "下表列出每项指标的含义和必须达到的下限;运行后显示本次结果是否达标。", elem_id="qa-eval-note")
    run = gr.Button("运行评测", variant="primary", elem_id="qa-eval-run")
    where = gr.Markdown("")
    table = gr.HTML(metrics_html(None, load_floors()), elem_id="qa-eval-metrics")
    history = gr.HTML("", elem_id="qa-eval-history-box")
    charts = gr.HTML("")

    def go(request: gr.Request, progress=gr.Progress()):
        who = _who(service, request)
        try:
            service.need_admin(who)
            progress(0, desc="正在准备评测索引…")
            out = service.evaluate(who, lambda d, n: progress((d, n), desc=f"评测中 {d}/{n}"))
        except QaError as exc:
            raise gr.Error(exc.message, title="错误")
        except Exception:
            log.exception("evaluation failed")
            raise gr.Error("评测失败,请查看服务器日志。", title="错误")
        summ = out["summary"]
        metrics = next(iter(summ.get("systems", {}).values()), {}).get("metrics", {})
        head = f"已评测 {summ.get('items', '—')} 个问题,用时 {summ.get('seconds', 0) or 0:.0f} 秒;报告已保存为 {_e(out['report'])}。"
        return head, metrics_html(metrics, load_floors()), history_html(service, who), out["charts"]

    run.click(go, None, [where, table, history, charts], api_visibility="private")
    return history


def status_markdown(service: Service, who: Principal | None = None) -> str:
    """Health, document count and last update for anyone signed in; no paths, no model ids."""
    try:
        s = service.status(who)
    except QaError:
        return "请先登录。"
    rows = [
        ("服务状态", "✅ 正常" if s["status"] == "ok" else "⚠️ 降级:检索库暂不可用或与目录不一致,请联系管理员"),
        ("已收录文档", f"{s['documents']} 篇(来自 {s['files']} 个文件,共 {s['chunks']} 段)"),
        ("最近更新", s.get("last_update") or "—"),
        ("回答方式", "、".join(BACKEND_LABELS.get(b, b) for b in s["backends"]) + f"(默认:{BACKEND_LABELS.get(s['backend'], s['backend'])})"),
        ("访问控制", "已启用访问密钥" if s["auth"] else "未启用(本机使用)"),
    ]
    return "\n".join(["| 项目 | 状态 |", "|---|---|"] + [f"| {k} | {_e(v)} |" for k, v in rows])


# ---------------------------------------------------------------- pages

def build_main(service: Service) -> gr.Blocks:
    with gr.Blocks(title="法治报告问答", analytics_enabled=False) as demo:
        gr.Markdown("## 法治报告问答\n基于各地法治政府建设年度报告回答问题,每句回答都有可核对的原文出处。", elem_id="qa-title")
        with gr.Tabs():
            with gr.Tab("问答", id="chat"):
                parts = chat_panel(service, compact=False)
            with gr.Tab("文档管理", id="docs"):
                table, doc_pick, roles = documents_page(service, parts)
            with gr.Tab("评测", id="eval"):
                history = evaluation_page(service)
            with gr.Tab("运行状态", id="status"):
                status = gr.Markdown("", elem_id="qa-status")
                refresh = gr.Button("刷新", size="sm")

        def refresh_status(request: gr.Request):
            return status_markdown(service, _who(service, request))

        refresh.click(refresh_status, None, status, api_visibility="private")

        def on_load(request: gr.Request):
            who = _who(service, request)
            regions, years = filter_choices(service)
            admin = is_admin(service, who)  # readers never see the upload, edit and delete controls
            return (gr.Dropdown(choices=regions), gr.Dropdown(choices=years), documents_table(service, who),
                    gr.Dropdown(choices=doc_choices(service, who)), status_markdown(service, who), gr.Chatbot(placeholder=welcome_html(service)),
                    gr.Markdown(visible=not admin), *[gr.Column(visible=admin) for _ in roles["admin"]],
                    *([history_html(service, who)] if history is not None else []))

        demo.load(on_load, None, [parts["region"], parts["year"], table, doc_pick, status, parts["chat"], roles["reader_note"], *roles["admin"]]
                  + ([history] if history is not None else []), api_visibility="private")
    return demo


def build_embed(service: Service) -> gr.Blocks:
    with gr.Blocks(title="法治报告问答", analytics_enabled=False, fill_width=True) as demo:
        with gr.Column(elem_classes=["qa-compact"]):
            parts = chat_panel(service, compact=True)
        def on_load():
            regions, years = filter_choices(service)
            return gr.Chatbot(placeholder=welcome_html(service)), gr.Dropdown(choices=regions), gr.Dropdown(choices=years)

        demo.load(on_load, None, [parts["chat"], parts["region"], parts["year"]], api_visibility="private")
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
        head=HEAD.replace("__QA_MAX__", str(int(service.settings.max_question_chars))),
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
    app.add_middleware(ChinesePages)


# ---------------------------------------------------------------- the page's own HTML, in Chinese

PAGE_HEAD = """<script>
/* the UI library's own strings (错误, 复制, 重新连接…) follow the browser's language: this app is Chinese */
try { Object.defineProperty(navigator, 'language', {get: function () { return 'zh-CN'; }});
      Object.defineProperty(navigator, 'languages', {get: function () { return ['zh-CN', 'zh']; }}); } catch (e) {}
</script>"""
PREVIEW_TITLE = "法治报告问答"
PREVIEW_TEXT = "基于各地法治政府建设年度报告回答问题,每句回答都有可核对的原文出处。"


def chinese_page(html_text: str) -> str:
    """Gradio's index page says lang="en" and "Gradio / Click to try out the app!" in its link preview."""
    out = html_text.replace('lang="en"', 'lang="zh-CN"', 1)
    out = re.sub(r'(<meta (?:property|name)="(?:og|twitter):title" content=")[^"]*(")', rf"\g<1>{PREVIEW_TITLE}\g<2>", out)
    out = re.sub(r'(<meta (?:property|name)="(?:og|twitter):description" content=")[^"]*(")', rf"\g<1>{PREVIEW_TEXT}\g<2>", out)
    out = re.sub(r'<meta\s+(?:property|name)="(?:og|twitter):image"\s+content="https://raw\.githubusercontent\.com[^"]*"\s*/?>', "", out)
    out = out.replace('<meta name="twitter:creator" content="@Gradio" />', "").replace('<meta name="twitter:creator" content="@teamGradio" />', "")
    out = out.replace("<head>", "<head>" + PAGE_HEAD + f'<meta name="description" content="{PREVIEW_TEXT}">', 1)
    return out


class ChinesePages:
    """ASGI middleware: the two UI pages' HTML (GET / and /embed/) rewritten by chinese_page()."""

    PAGES = ("/", "/embed/")

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("method") != "GET" or scope.get("path") not in self.PAGES:
            return await self.app(scope, receive, send)
        start: dict = {}
        body = bytearray()

        async def capture(message):
            if message["type"] == "http.response.start":
                start.update(message)
                return
            if message["type"] == "http.response.body":
                body.extend(message.get("body", b""))
                if message.get("more_body"):
                    return
                headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
                data = bytes(body)
                ctype = dict((k.lower(), v) for k, v in headers).get(b"content-type", b"")
                if ctype.startswith(b"text/html") and not any(k.lower() == b"content-encoding" for k, _ in headers):
                    data = chinese_page(data.decode("utf-8", "replace")).encode("utf-8")
                headers.append((b"content-length", str(len(data)).encode()))
                await send({**start, "headers": headers})
                await send({"type": "http.response.body", "body": data})
                return
            await send(message)

        await self.app(scope, receive, capture)
