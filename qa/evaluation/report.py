"""The report: a rich summary table, report.json and a self-contained report.html (inline SVG, no assets)."""
from __future__ import annotations

import html
import json
from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

COLOURS = {"ours": "#2563eb", "baseline": "#9ca3af", "input": "#059669", "local": "#2563eb", "openai": "#2563eb", "extractive": "#64748b"}
COUNTS = {"false_refusals", "items", "sentences", "questions", "evidence_outside_chunks"}
LOWER_IS_BETTER = {"false_refusals", "refused", "evidence_outside_chunks"}


def fmt(value, key: str = "") -> str:
    if value is None:
        return "—"
    if key in COUNTS or isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return f"{value:.3f}"


def summary(result: dict) -> dict:
    """The result without the per-question records: what `--json` prints and what floors are checked on."""
    return {k: v for k, v in result.items() if k != "questions"}


# ---------------------------------------------------------------- console

def print_summary(result: dict, console: Console | None = None) -> None:
    console = console or Console()
    names = list(result["systems"])
    title = f"qa eval · {result.get('dataset', '')} · {result.get('items', result.get('questions_run', ''))} items · k={result['k']}"
    table = Table(title=title)
    table.add_column("metric")
    for n in names:
        table.add_column(n, justify="right")
    if len(names) == 2:
        table.add_column(f"{names[0]}/{names[1]}", justify="right")
    keys = list(dict.fromkeys(k for n in names for k in result["systems"][n]["metrics"]))
    for key in keys:
        row = [key] + [fmt(result["systems"][n]["metrics"].get(key), key) for n in names]
        if len(names) == 2:
            ratio = result.get("ratios", {}).get(key)
            row.append("—" if ratio is None else f"×{ratio:.2f}")
        table.add_row(*row)
    console.print(table)
    lat = Table(title="latency (seconds)")
    lat.add_column("stage")
    for n in names:
        lat.add_column(f"{n} p50", justify="right")
        lat.add_column(f"{n} p95", justify="right")
    stages = list(dict.fromkeys(s for n in names for s in result["systems"][n]["latency"]))
    for s in stages:
        row = [s]
        for n in names:
            v = result["systems"][n]["latency"].get(s, {})
            row += [fmt(v.get("p50")), fmt(v.get("p95"))]
        lat.add_row(*row)
    console.print(lat)
    if all("splits" in result["systems"][n] for n in names):
        sp = Table(title="NCPQA halves (dev: settings were chosen here; test: reported)")
        sp.add_column("half")
        for n in names:
            sp.add_column(f"{n} hit@1", justify="right")
            sp.add_column(f"{n} hit@{result['k']}", justify="right")
        for part in ("dev", "test"):
            row = [part]
            for n in names:
                m = result["systems"][n]["splits"][part]
                row += [fmt(m.get("hit@1"), "hit@1"), fmt(m.get(f"hit@{result['k']}"), "hit")]
            sp.add_row(*row)
        console.print(sp)
    by_type = result["systems"][names[0]].get("by_type")
    if by_type:
        cols = ["evidence_recall@%d" % result["k"], "mrr", "key_fact_recall", "fully_correct", "supported_rate"]
        if any("llm_drafts" in m for m in by_type.values()):  # an LLM backend: its drafts kept, its latency
            cols += ["llm_drafts", "llm_drafts_kept", "seconds_p50", "seconds_p95"]
        bt = Table(title=f"by type ({names[0]})")
        bt.add_column("type")
        bt.add_column("items", justify="right")
        for c in cols:
            bt.add_column(c, justify="right")
        for t, m in by_type.items():
            bt.add_row(t, str(m["items"]), *[fmt(m.get(c), c) for c in cols])
        console.print(bt)


# ---------------------------------------------------------------- files

def write(result: dict, out_root: Path) -> Path:
    folder = Path(out_root) / datetime.now().strftime("%Y%m%d-%H%M%S")
    n = 1
    while folder.exists():
        n += 1
        folder = Path(out_root) / (datetime.now().strftime("%Y%m%d-%H%M%S") + f"-{n}")
    folder.mkdir(parents=True)
    (folder / "report.json").write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    (folder / "report.html").write_text(render_html(result), encoding="utf-8")
    return folder


# ---------------------------------------------------------------- HTML

def e(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def bar_chart(title: str, groups: list[tuple[str, dict[str, float | None]]], names: list[str]) -> str:
    """Horizontal grouped bars, one group per label, one bar per system; values in 0..1."""
    label_w, bar_w, bar_h, gap = 180, 300, 14, 10
    height = 30 + len(groups) * (len(names) * bar_h + gap) + 24
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + bar_w + 70}" height="{height}" role="img" aria-label="{e(title)}">',
             f'<text x="0" y="16" font-size="13" font-weight="bold">{e(title)}</text>']
    y = 30
    for label, values in groups:
        parts.append(f'<text x="0" y="{y + bar_h * len(names) / 2 + 4:.0f}" font-size="12">{e(label)}</text>')
        for n in names:
            v = values.get(n)
            w = 0 if v is None else max(0.0, min(1.0, v)) * bar_w
            parts.append(f'<rect x="{label_w}" y="{y}" width="{bar_w}" height="{bar_h - 2}" fill="#f3f4f6"/>')
            parts.append(f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h - 2}" fill="{COLOURS.get(n, "#f59e0b")}"><title>{e(n)} {e(label)}: {fmt(v)}</title></rect>')
            parts.append(f'<text x="{label_w + bar_w + 6}" y="{y + bar_h - 4}" font-size="11">{fmt(v)}</text>')
            y += bar_h
        y += gap
    x = 0
    for n in names:
        parts.append(f'<rect x="{label_w + x}" y="{y + 2}" width="10" height="10" fill="{COLOURS.get(n, "#f59e0b")}"/><text x="{label_w + x + 14}" y="{y + 11}" font-size="11">{e(n)}</text>')
        x += 90
    parts.append("</svg>")
    return "".join(parts)


CSS = """
body{font-family:system-ui,"Noto Sans CJK SC","PingFang SC",sans-serif;margin:24px;color:#111}
table{border-collapse:collapse;margin:8px 0 20px}td,th{border:1px solid #ddd;padding:4px 8px;vertical-align:top;font-size:13px}
th{background:#f3f4f6;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.fail td{background:#fff5f5}tr.ok td{background:#f6fef9}.fails{color:#b91c1c;margin:0;padding-left:16px}
.charts{display:flex;flex-wrap:wrap;gap:24px}.cite{color:#374151;font-size:12px}.small{color:#6b7280;font-size:12px}
pre{white-space:pre-wrap;margin:0;font-family:inherit}details summary{cursor:pointer}
"""


def _metrics_table(result: dict) -> str:
    names = list(result["systems"])
    head = "".join(f"<th>{e(n)}</th>" for n in names) + (f"<th>{e(names[0])}/{e(names[1])}</th>" if len(names) == 2 else "")
    rows = []
    keys = list(dict.fromkeys(k for n in names for k in result["systems"][n]["metrics"]))
    for key in keys:
        cells = "".join(f'<td class="num">{fmt(result["systems"][n]["metrics"].get(key), key)}</td>' for n in names)
        if len(names) == 2:
            r = result.get("ratios", {}).get(key)
            cells += f'<td class="num">{"—" if r is None else f"×{r:.2f}"}</td>'
        rows.append(f"<tr><td>{e(key)}</td>{cells}</tr>")
    return f"<table><tr><th>metric</th>{head}</tr>{''.join(rows)}</table>"


def _latency_table(result: dict) -> str:
    names = list(result["systems"])
    stages = list(dict.fromkeys(s for n in names for s in result["systems"][n]["latency"]))
    head = "".join(f"<th>{e(n)} p50</th><th>{e(n)} p95</th>" for n in names)
    rows = []
    for s in stages:
        cells = ""
        for n in names:
            v = result["systems"][n]["latency"].get(s, {})
            cells += f'<td class="num">{fmt(v.get("p50"))}</td><td class="num">{fmt(v.get("p95"))}</td>'
        rows.append(f"<tr><td>{e(s)}</td>{cells}</tr>")
    return f"<table><tr><th>stage (s)</th>{head}</tr>{''.join(rows)}</table>"


def _charts(result: dict) -> str:
    names = list(result["systems"])
    first = result["systems"][names[0]]
    charts = []
    overall = [k for k, v in first["metrics"].items() if isinstance(v, float) and k not in LOWER_IS_BETTER and 0 <= v <= 1]
    charts.append(bar_chart("overall", [(k, {n: result["systems"][n]["metrics"].get(k) for n in names}) for k in overall], names))
    if first.get("by_type"):
        k = result["k"]
        for metric in (f"evidence_recall@{k}", "mrr", "key_fact_recall", "fully_correct", "supported_rate", "citation_recall"):
            groups = [(t, {n: result["systems"][n]["by_type"].get(t, {}).get(metric) for n in names}) for t in first["by_type"]]
            if any(v is not None for _, vals in groups for v in vals.values()):
                charts.append(bar_chart(f"{metric} by type", groups, names))
    return '<div class="charts">' + "".join(charts) + "</div>"


def _answer_cell(rec: dict | None) -> str:
    if rec is None:
        return "<td></td><td></td><td></td>"
    answer = f"<pre>{e(rec.get('answer'))}</pre>" + ('<div class="small">(refused)</div>' if rec.get("refused") else "")
    cites = "".join(f'<div class="cite">[{e(c.get("n"))}] {e(c.get("source"))} · {e(c.get("region"))} · {e(c.get("year"))}<br>{e(c.get("quote"))}</div>' for c in rec.get("citations") or [])
    fails = rec.get("failures")
    if fails is None:  # NCPQA
        fails = []
        if rec.get("hit_rank") is None:
            fails.append("gold span not in the top chunks")
        if rec.get("refused"):
            fails.append("refused")
        elif not rec.get("contains_gold"):
            fails.append(f"answer does not contain the gold span (F1 {rec.get('f1', 0):.2f}, ROUGE-L {rec.get('rouge_l', 0):.2f})")
    failed = "".join(f"<li>{e(f)}</li>" for f in fails)
    return f"<td>{answer}</td><td>{cites}</td><td>{'<ul class=fails>' + failed + '</ul>' if failed else '✓'}</td>"


def _questions_table(result: dict) -> str:
    names = list(result["systems"])
    main = names[0]
    rows = []
    for q in result["questions"]:
        rec = q.get(main) or {}
        bad = bool(rec.get("failures")) if "failures" in rec else not rec.get("contains_gold")
        gold = q.get("gold_answer", "")
        meta = f'<div class="small">{e(q.get("id"))} · {e(q.get("type", ""))}</div>'
        keyf = f'<div class="small">key facts: {e("、".join(q.get("key_facts", [])))}</div>' if q.get("key_facts") else ""
        extra = ""
        for other in names[1:]:
            o = q.get(other)
            if o is not None:
                extra += f"<details><summary class=small>{e(other)}</summary><table><tr>{_answer_cell(o)}</tr></table></details>"
        rows.append(
            f'<tr class="{"fail" if bad else "ok"}"><td>{meta}{e(q["question"])}{extra}</td>'
            f'<td><pre>{e(gold)}</pre>{keyf}</td>{_answer_cell(rec)}</tr>'
        )
    return (f"<table><tr><th>question</th><th>gold answer</th><th>answer ({e(main)})</th><th>citations</th><th>what failed</th></tr>"
            + "".join(rows) + "</table>")


def render_html(result: dict) -> str:
    cfg = {k: v for k, v in result.items() if k not in ("systems", "questions", "ratios")}
    failing = sum(1 for q in result["questions"] if (q.get(list(result["systems"])[0]) or {}).get("failures"))
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>qa eval · {e(result.get('dataset'))}</title><style>{CSS}</style></head>
<body>
<h1>法治报告问答 · evaluation · {e(result.get('dataset'))}</h1>
<p class="small">{e(json.dumps(cfg, ensure_ascii=False))}</p>
<h2>Summary</h2>
{_metrics_table(result)}
{_charts(result)}
<h2>Latency</h2>
{_latency_table(result)}
<h2>Questions</h2>
<p class="small">{len(result['questions'])} questions, {failing} with a failure (red). Baseline answers fold out under each question.</p>
{_questions_table(result)}
</body></html>
"""
