"""The evaluation history as inline SVG: one small line chart per gated metric, its floor as a dashed line.

No scripts, no external assets (the server has no internet; the page must render offline). Every value is a
number formatted here and every name is escaped, so nothing from a report file reaches the page as markup.
Colours come from CSS classes (qa-h-*) so that dark mode restyles them; text is `currentColor`.
Each chart is an <svg role="img"> whose <title> says in words what it shows; a table under the charts holds the
same numbers for screen readers and for copying.
"""
from __future__ import annotations

import html

W, H = 300, 130  # one chart
LEFT, RIGHT, TOP, BOTTOM = 40, 12, 26, 22


def _e(text) -> str:
    return html.escape(str(text if text is not None else ""), quote=True)


def _day(created: str) -> str:
    """2026-12-04T10:00:00+00:00 → 12-04 (a folder-name stamp 20261204-100000 → 12-04 too)."""
    c = created or ""
    if len(c) >= 10 and c[4] == "-":
        return c[5:10]
    if len(c) >= 8 and c[:8].isdigit():
        return f"{c[4:6]}-{c[6:8]}"
    return c[:10]


def metric_chart(key: str, name: str, values: list[float | None], days: list[str], floor: float | None) -> str:
    """One metric over the runs: points joined by a line, the floor dashed, the last point marked 达标/未达标."""
    known = [v for v in values if v is not None]
    lo = min(known + ([floor] if floor is not None else []) + [1.0]) if known else 0.0
    lo = max(0.0, min(lo, 1.0) - 0.05)
    lo = min(lo, 0.8)
    hi = 1.0

    def x(i: int) -> float:
        n = len(values)
        return LEFT + (W - LEFT - RIGHT) * (0.5 if n == 1 else i / (n - 1))

    def y(v: float) -> float:
        return TOP + (H - TOP - BOTTOM) * (1 - (min(max(v, lo), hi) - lo) / (hi - lo))

    last = known[-1] if known else None
    ok = None if last is None or floor is None else last >= floor
    verdict = "" if ok is None else ("达标" if ok else "未达标")
    words = f"{name}:{len(known)} 次运行" + (f",最近一次 {last:.3f}" if last is not None else "") + \
        (f",下限 {floor:.2f},{verdict}" if floor is not None and verdict else "")
    parts = [f'<svg class="qa-h-chart" role="img" aria-labelledby="qa-h-t-{_e(key)}" viewBox="0 0 {W} {H}" width="{W}" height="{H}" '
             f'data-metric="{_e(key)}" data-runs="{len(known)}">',
             f'<title id="qa-h-t-{_e(key)}">{_e(words)}</title>',
             f'<text x="4" y="15" class="qa-h-name" fill="currentColor" font-size="13">{_e(name)}</text>']
    if verdict:
        parts.append(f'<text x="{W - 4}" y="15" text-anchor="end" font-size="13" font-weight="600" '
                     f'class="{"qa-h-pass" if ok else "qa-h-fail"}">{verdict} {last:.3f}</text>')
    for v in (lo, hi):  # the scale
        parts.append(f'<text x="{LEFT - 4}" y="{y(v) + 4:.1f}" text-anchor="end" font-size="11" fill="currentColor">{v:.2f}</text>')
        parts.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y(v):.1f}" y2="{y(v):.1f}" class="qa-h-grid" stroke-width="1"/>')
    if floor is not None:
        parts.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y(floor):.1f}" y2="{y(floor):.1f}" class="qa-h-floor" stroke-width="1.5" '
                     f'stroke-dasharray="5 4"><title>下限 {floor:.2f}</title></line>')
    points = [(x(i), y(v), v, i) for i, v in enumerate(values) if v is not None]
    if len(points) > 1:
        parts.append('<polyline fill="none" class="qa-h-line" stroke-width="2" points="'
                     + " ".join(f"{px:.1f},{py:.1f}" for px, py, _, _ in points) + '"/>')
    for px, py, v, i in points:
        cls = "qa-h-dot" if floor is None else ("qa-h-dot qa-h-ok" if v >= floor else "qa-h-dot qa-h-bad")
        parts.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3.5" class="{cls}"><title>{_e(days[i])}:{v:.3f}</title></circle>')
    if days:
        parts.append(f'<text x="{LEFT}" y="{H - 5}" font-size="11" fill="currentColor">{_e(days[0])}</text>')
        if len(days) > 1:
            parts.append(f'<text x="{W - RIGHT}" y="{H - 5}" text-anchor="end" font-size="11" fill="currentColor">{_e(days[-1])}</text>')
    parts.append("</svg>")
    return "".join(parts)


def history_html(runs: list[dict], floors: dict[str, float], labels: dict[str, tuple[str, str]]) -> str:
    """All gated metrics' charts, then the numbers as a table; a sentence instead when nothing has run yet."""
    if not runs:
        return ('<div class="qa-empty" id="qa-eval-history">还没有保存的评测记录。运行一次评测(或在服务器上运行 '
                '<code>qa eval</code>)后,这里会显示历次结果的走势。</div>')
    keys = list(floors) or sorted({k for r in runs for k in r["metrics"]})
    days = [_day(r["created"]) for r in runs]
    charts = "".join(metric_chart(k, labels.get(k, (k, ""))[0], [r["metrics"].get(k) for r in runs], days, floors.get(k)) for k in keys)
    head = "".join(f"<th scope=\"col\">{_e(labels.get(k, (k, ''))[0])}</th>" for k in keys)
    rows = []
    for r, day in zip(reversed(runs), reversed(days)):
        cells = []
        for k in keys:
            v, f = r["metrics"].get(k), floors.get(k)
            mark = "" if v is None or f is None else ("" if v >= f else " ❌")
            cells.append(f"<td>{'—' if v is None else f'{v:.3f}'}{mark}</td>")
        rows.append(f"<tr><th scope=\"row\">{_e(r['created'][:16].replace('T', ' '))}</th><td>{r['items'] or '—'}</td>{''.join(cells)}</tr>")
    table = (f'<details class="qa-h-data"><summary>各次运行的数字(共 {len(runs)} 次,最新在上)</summary><div class="qa-table-wrap">'
             f'<table class="qa-table" id="qa-eval-history-table"><thead><tr><th scope="col">时间(UTC)</th><th scope="col">问题数</th>{head}</tr></thead>'
             f'<tbody>{"".join(rows)}</tbody></table></div></details>')
    return (f'<section id="qa-eval-history" aria-label="历次评测走势"><h3 class="qa-h-title">历次评测走势(共 {len(runs)} 次)</h3>'
            '<p class="qa-hint">每张小图是一项指标:蓝线为历次结果,红色虚线为下限;圆点绿色表示达标,红色表示未达标。</p>'
            f'<div class="qa-h-grid-wrap">{charts}</div>{table}</section>')
