"""The HTML page of ``dlgrader report``: self-contained (inline CSS and SVG charts, no script, no network)."""

from __future__ import annotations

import html
from pathlib import Path

from dlgrader.metrics import Scale
from dlgrader.report import Group, LabelSummary, Report


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


_CSS = """body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#222;
padding:0 16px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd;padding-bottom:4px}
table{border-collapse:collapse;margin:8px 0;width:100%}td,th{border-bottom:1px solid #eee;padding:3px 6px;
text-align:left;vertical-align:top}th{background:#f6f6f6}td.n{text-align:right;font-variant-numeric:tabular-nums}
.charts{display:flex;flex-wrap:wrap;gap:18px}.chart{background:#fbfbfb;border:1px solid #e4e4e4}
.bar{fill:#4878a8}.bar2{fill:#e08a3c}.point{fill:#4878a8;fill-opacity:.35}.axis{stroke:#888}
.grid{stroke:#e3e3e3}.ident{stroke:#c33;stroke-dasharray:4 3}text{font-size:11px;fill:#444}
.muted{color:#777}.warn{color:#a33}"""


def _svg(chart_id: str, title: str, width: int, height: int, body: list[str]) -> str:
    return (f'<svg class="chart" id="{chart_id}" xmlns="http://www.w3.org/2000/svg" width="{width}" '
            f'height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="{esc(title)}">'
            f'<title>{esc(title)}</title><text x="{width / 2}" y="16" text-anchor="middle" '
            f'font-weight="bold">{esc(title)}</text>{"".join(body)}</svg>')


def svg_histogram(counts: list[int]) -> str:
    """Score distribution: ten bars of 10 points each."""
    w, h, left, bottom, top = 520, 260, 44, 36, 40
    peak = max(counts) or 1
    bw = (w - left - 10) / len(counts)
    body = [f'<line class="axis" x1="{left}" y1="{h - bottom}" x2="{w - 10}" y2="{h - bottom}"/>']
    for i, c in enumerate(counts):
        bh = (h - bottom - top) * c / peak
        x, y = left + i * bw + 2, h - bottom - bh
        body.append(f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{bw - 4:.1f}" height="{bh:.1f}" '
                    f'data-count="{c}"><title>{i * 10}-{i * 10 + 10}: {c}</title></rect>')
        body.append(f'<text x="{x + (bw - 4) / 2:.1f}" y="{y - 3:.1f}" text-anchor="middle">{c}</text>')
        body.append(f'<text x="{left + i * bw:.1f}" y="{h - bottom + 14}" '
                    f'text-anchor="middle">{i * 10}</text>')
    body.append(f'<text x="{w - 10}" y="{h - bottom + 14}" text-anchor="end">100</text>')
    body.append(f'<text x="{(w + left) / 2}" y="{h - 6}" text-anchor="middle">score (0-100)</text>')
    return _svg("chart-histogram", "Score distribution", w, h, body)


def svg_topics(topics: list[Group], scale: Scale | None) -> str:
    """Mean score per topic (blue); with labels, the mean human label stretched onto 0-100 (orange)."""
    rows = [t for t in topics if t.n]
    w, left, row_h, top = 520, 150, 22, 30
    h = top + row_h * max(1, len(rows)) + 30
    span = w - left - 50
    body = []
    for i, t in enumerate(rows):
        y = top + i * row_h
        body.append(f'<text x="{left - 6}" y="{y + 13}" text-anchor="end">{esc(t.key[:24])}</text>')
        mean = t.mean_score or 0.0
        body.append(f'<rect class="bar" x="{left}" y="{y + 2}" width="{span * mean / 100:.1f}" height="9">'
                    f'<title>{esc(t.key)}: mean score {mean:.1f} (n={t.n})</title></rect>')
        body.append(f'<text x="{left + span * mean / 100 + 4:.1f}" y="{y + 11}">{mean:.0f}</text>')
        if scale is not None and t.mean_label is not None:
            human = (t.mean_label - scale.low) / (scale.high - scale.low) * 100
            body.append(f'<rect class="bar2" x="{left}" y="{y + 12}" width="{span * human / 100:.1f}" '
                        f'height="7"><title>{esc(t.key)}: mean label {t.mean_label:.2f}</title></rect>')
    legend = "blue: mean score" + ("; orange: mean human label (as % of the scale)" if scale else "")
    body.append(f'<text x="{left}" y="{h - 8}">{legend}</text>')
    return _svg("chart-topics", "Mean score per topic", w, h, body)


def svg_scatter(points: list[tuple[float, float]], scale: Scale) -> str:
    """Grader prediction against human label, with the identity line; labels jittered to show density."""
    w, h, m = 520, 400, 48
    lo, hi = scale.low, scale.high
    pad = scale.step * 0.6  # room for the jittered columns at both ends
    span = (hi - lo) or 1.0

    def sx(v: float) -> float:
        return m + (v - lo + pad) / (span + 2 * pad) * (w - 2 * m)

    def sy(v: float) -> float:
        return h - m - (v - lo + pad) / (span + 2 * pad) * (h - 2 * m)

    body = [f'<line class="axis" x1="{m}" y1="{h - m}" x2="{w - m}" y2="{h - m}"/>',
            f'<line class="axis" x1="{m}" y1="{m - 20}" x2="{m}" y2="{h - m}"/>',
            f'<line class="ident" x1="{sx(lo):.1f}" y1="{sy(lo):.1f}" x2="{sx(hi):.1f}" y2="{sy(hi):.1f}"/>']
    for k in range(5):
        v = lo + span * k / 4
        body.append(f'<text x="{sx(v):.1f}" y="{h - m + 14}" text-anchor="middle">{v:g}</text>')
        body.append(f'<text x="{m - 5}" y="{sy(v) + 4:.1f}" text-anchor="end">{v:g}</text>')
        body.append(f'<line class="grid" x1="{m}" y1="{sy(v):.1f}" x2="{w - m}" y2="{sy(v):.1f}"/>')
    jitter = scale.step * 0.35
    for i, (pred, label) in enumerate(points):
        dx = ((i * 0.618034) % 1.0 - 0.5) * 2 * jitter
        body.append(f'<circle class="point" cx="{sx(label + dx):.1f}" cy="{sy(min(max(pred, lo), hi)):.1f}" '
                    'r="2.6"/>')
    body.append(f'<text x="{w / 2}" y="{h - 8}" text-anchor="middle">human label</text>')
    body.append(f'<text x="12" y="{h / 2}" transform="rotate(-90 12 {h / 2})" text-anchor="middle">'
                'grader</text>')
    return _svg("chart-scatter", "Grader versus human", w, h, body)


def _table(headers: list[str], rows: list[list[object]], numeric: set[int] | None = None) -> str:
    numeric = numeric or set()
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f'<td{" class=n" if i in numeric else ""}>{esc(c)}</td>'
                                    for i, c in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>" if rows else '<p class="muted">none</p>'


def _f(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _agreement_rows(groups: list[Group]) -> list[list[object]]:
    out = []
    for g in groups:
        a = g.agreement
        if a is None:
            continue
        out.append([g.key, g.title if g.title != g.key else "", a.n, _f(g.mean_label, 2), str(a.pearson),
                     str(a.spearman), str(a.qwk), str(a.mae), str(a.rmse)])
    return out


def _labels_html(lab: LabelSummary, topics: list[Group], questions: list[Group]) -> list[str]:
    out = [f"<h2>Agreement with human labels</h2><p>Label column <b>{esc(lab.column)}</b>, scale "
           f"{esc(lab.scale)}; {lab.n} graded answers with a usable label. Grader value compared: "
           f"{esc(lab.prediction)}. Intervals: bootstrap 95%.</p>"]
    if lab.overall is not None:
        a = lab.overall
        out.append(_table(["metric", "value [95% CI]"], [[m, str(getattr(a, m))] for m in
                                                          ("pearson", "spearman", "qwk", "mae", "rmse")]))
    heads = ["key", "question", "n", "mean label", "Pearson", "Spearman", "QWK", "MAE", "RMSE"]
    out.append("<h2>Agreement per topic</h2>" + _table(heads, _agreement_rows(topics), {2}))
    out.append("<h2>Agreement per question</h2>" + _table(heads, _agreement_rows(questions), {2}))
    out.append("<h2>Largest disagreements</h2>" + _table(
        ["line", "id", "question", "score", "grader", "human", "gap", "grader's summary"],
        [[d.line, d.id, d.question_id, f"{d.score:g}", f"{d.prediction:.2f}", f"{d.label:g}", f"{d.gap:+.2f}",
          d.summary] for d in lab.disagreements], {0, 3, 4, 5, 6}))
    if lab.issue_count:
        shown = f" (first {len(lab.issues)})" if len(lab.issues) < lab.issue_count else ""
        out.append(f'<h2 class="warn">Label problems: {lab.issue_count}{shown}</h2>'
                   + _table(["line", "id", "problem"], [[i.line, i.id, i.reason] for i in lab.issues], {0}))
    return out


def render_html(report: Report) -> str:
    """The report as one HTML page with inline SVG charts."""
    st = report.score_stats
    lab = report.labels
    charts = [svg_histogram(report.histogram), svg_topics(report.topics, lab.scale if lab else None)]
    if lab is not None and lab.points:
        charts.append(svg_scatter(lab.points, lab.scale))
    status = ", ".join(f"{n} {k}" for k, n in sorted(report.by_status.items()))
    parts = [
        f"<h1>dlgrader report</h1><p>{esc(report.source)}: <b>{report.total}</b> results ({esc(status)}). "
        f"Score mean {_f(st['mean'])}, median {_f(st['median'])}, sd {_f(st['sd'])}.</p>",
        '<div class="charts">' + "".join(charts) + "</div>",
        "<h2>Grades (0-5)</h2>" + _table(list(report.grades), [list(report.grades.values())]),
        "<h2>Per topic</h2>" + _table(
            ["topic", "answers", "mean score", "flagged"],
            [[t.key, t.n, _f(t.mean_score), t.flagged] for t in report.topics], {1, 2, 3}),
        "<h2>Per question (weakest first)</h2>" + _table(
            ["id", "question", "topic", "answers", "mean score", "flagged"],
            [[q.key, q.title, q.topic, q.n, _f(q.mean_score), q.flagged] for q in report.questions],
            {3, 4, 5}),
        "<h2>Most-missed key points</h2>" + _table(
            ["question", "key point", "missed", "of", "rate"],
            [[m.question_id, m.text, m.missed, m.answered, f"{m.rate:.0%}"] for m in report.missed],
            {2, 3, 4}),
        "<h2>Flags</h2>" + _table(["flag", "answers"], [[k, v] for k, v in report.flags.items()], {1}),
        "<h2>Unknown questions</h2>" + _table(["question asked", "answers"],
                                              [[k, v] for k, v in report.unknown_questions.items()], {1}),
    ]
    if report.invalid_reasons:
        parts.append("<h2>Invalid records (first 20)</h2>"
                     + _table(["error"], [[r] for r in report.invalid_reasons]))
    if report.unreadable:
        parts.append("<h2>Unreadable lines</h2>"
                     + _table(["line", "problem"], [[u.line, u.reason] for u in report.unreadable], {0}))
    if lab is not None:
        parts.extend(_labels_html(lab, report.topics, report.questions))
    return ('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>dlgrader report</title>'
            f"<style>{_CSS}</style></head><body>{''.join(parts)}</body></html>\n")


def write_html(report: Report, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(report), encoding="utf-8")
