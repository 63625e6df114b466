"""The HTML page of ``dlgrader report``: one self-contained file (inline CSS, SVG charts and a small script
for the answer filters; nothing from the network). Without the script every answer stays listed; with it
the filters work, and their state lives in the address (``#topic=cnn&gap=1``) so a view can be shared."""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

from dlgrader.metrics import Agreement, Scale
from dlgrader.report import MIN_GROUP_FIGURES, AnswerView, Group, LabelSummary, Report


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
.muted{color:#777}.warn{color:#a33}
.note{color:#555;font-size:13px}td.diag{background:#e4efe4;font-weight:bold}td.off2{background:#f8e4e4}
mark{padding:0 1px;border-radius:2px}mark.covered{background:#cfe8cf}mark.partial{background:#fbeec0}
mark.contradicted{background:#f4c7c7}.kp-covered{color:#276b27}.kp-partial{color:#8a6a00}
.kp-missing{color:#777}.kp-contradicted{color:#a33;font-weight:bold}
details.answer{border:1px solid #ddd;border-radius:4px;margin:8px 0;padding:6px 10px}
details.answer[open]{background:#fcfcfc}details.answer summary{cursor:pointer}
.answer-text{white-space:pre-wrap;border-left:3px solid #ccd;padding:4px 8px;margin:6px 0}
.filters{display:flex;flex-wrap:wrap;gap:12px;align-items:end;margin:8px 0}.filters label{font-size:13px}
.filters select,.filters input{display:block;font:inherit;padding:2px 4px}"""

METRIC_NOTES = {
    "pearson": "Linear correlation of the grader's value with the label, -1 to 1: does a higher grade go with a "
               "higher label? Above 0.7 is strong; two trained people typically agree at 0.6-0.9.",
    "spearman": "Correlation of the two rankings, -1 to 1: would the grader order the answers as the person "
                "did? Read it like Pearson, without assuming a straight-line relation.",
    "qwk": "Quadratic weighted kappa on the scale's steps, -1 to 1: exact agreement beyond chance, large "
           "disagreements weighing most. 0 is chance; above 0.6 is substantial.",
    "mae": "Mean absolute error, in label units: how far off a grade is on average. Lower is better; compare "
           "with the scale's step.",
    "rmse": "Root mean squared error, in label units: like MAE, but a few large misses weigh more. Lower is "
            "better.",
}


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


def _table(headers: list[str], rows: Sequence[Sequence[object]], numeric: set[int] | None = None) -> str:
    numeric = numeric or set()
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f'<td{" class=n" if i in numeric else ""}>'
                                    f'{c if isinstance(c, _Raw) else esc(c)}</td>'
                                    for i, c in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>" if rows else '<p class="muted">none</p>'


def _f(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _agreement_rows(groups: list[Group], *, with_title: bool) -> list[list[object]]:
    """Agreement per group; a group with too few labelled answers gets a warning instead of figures."""
    out: list[list[object]] = []
    for g in groups:
        a = g.agreement
        if a is None:
            continue
        lead: list[object] = [g.key, g.title] if with_title else [g.key]
        if a.n < MIN_GROUP_FIGURES:
            out.append([*lead, a.n, _f(g.mean_label, 2),
                        f"too few labelled answers ({a.n}) for meaningful figures (needs {MIN_GROUP_FIGURES})",
                        "", "", "", ""])
            continue
        out.append([*lead, a.n, _f(g.mean_label, 2), str(a.pearson), str(a.spearman), str(a.qwk), str(a.mae),
                    str(a.rmse)])
    return out


def _metrics_table(lab: LabelSummary) -> str:
    a = lab.overall
    assert a is not None
    heads = ["metric", f"grader vs {lab.column} [95% CI]"]
    extra: list[tuple[str, Agreement]] = []
    if lab.raw_overall is not None:
        extra.append(("before calibration (raw score rescaled)", lab.raw_overall))
    if lab.second is not None:
        extra.append((f"grader vs {lab.second.column}", lab.second.grader))
        extra.append((f"{lab.column} vs {lab.second.column} (people)", lab.second.humans))
    heads += [name for name, _ in extra] + ["what it says"]
    rows = [[m, str(getattr(a, m)), *(str(getattr(e, m)) for _, e in extra), METRIC_NOTES[m]]
            for m in ("pearson", "spearman", "qwk", "mae", "rmse")]
    return _table(heads, rows)


def _confusion_html(lab: LabelSummary) -> str:
    c = lab.confusion
    if c is None:
        return ""
    head = "".join(f"<th>{esc(b)}</th>" for b in c.bins)
    body = []
    for i, (name, row) in enumerate(zip(c.bins, c.counts, strict=True)):
        cells = []
        for j, n in enumerate(row):
            cls = ' class="n diag"' if i == j else ' class="n off2"' if abs(i - j) >= 2 and n else ' class="n"'
            cells.append(f"<td{cls}>{n}</td>")
        body.append(f"<tr><th>{esc(name)}</th>{''.join(cells)}</tr>")
    return ('<h2>Grade versus label</h2><p class="note">Rows: the human label; columns: the grader\'s value, '
            'both rounded to the scale. The diagonal is exact agreement; red cells are two or more bins apart.</p>'
            f'<table id="confusion"><tr><th>label \\ grader</th>{head}</tr>{"".join(body)}</table>')


def _labels_html(lab: LabelSummary, topics: list[Group], questions: list[Group], linked: set[int]) -> list[str]:
    out = [f"<h2>Agreement with human labels</h2><p>Label column <b>{esc(lab.column)}</b>, scale "
           f"{esc(lab.scale)}; {lab.n} graded answers with a usable label. Grader value compared: "
           f"{esc(lab.prediction)}. Intervals: bootstrap 95%.</p>"]
    if lab.second is not None:
        out.append(f'<p class="note">Second label column <b>{esc(lab.second.column)}</b> on {lab.second.n} of '
                   "these answers: the people's agreement with each other is the yardstick for the grader's.</p>")
    if lab.overall is not None:
        out.append(_metrics_table(lab))
    if lab.overall is not None and lab.n < MIN_GROUP_FIGURES * 3:
        out.append(f'<p class="warn">Only {lab.n} labelled answers: the intervals are wide; read the figures '
                   "as a first impression.</p>")
    out.append(_confusion_html(lab))
    heads = ["n", "mean label", "Pearson", "Spearman", "QWK", "MAE", "RMSE"]
    out.append("<h2>Agreement per topic</h2>" + _table(["topic", *heads], _agreement_rows(topics, with_title=False),
                                                       {1}))
    out.append("<h2>Agreement per question</h2>" + _table(["id", "question", *heads],
                                                          _agreement_rows(questions, with_title=True), {2}))
    rows = []
    for d in lab.disagreements:
        link = f'<a href="#a-{d.line}">open</a>' if d.line in linked else ""
        rows.append([d.line, d.id, d.question_id, f"{d.score:g}", f"{d.prediction:.2f}", f"{d.label:g}",
                     f"{d.gap:+.2f}", d.summary, _Raw(link)])
    out.append("<h2>Largest disagreements</h2>" + _table(
        ["line", "id", "question", "score", "grader", "human", "gap", "grader's summary", "answer"], rows,
        {0, 3, 4, 5, 6}))
    if lab.issue_count:
        shown = f" (first {len(lab.issues)})" if len(lab.issues) < lab.issue_count else ""
        out.append(f'<h2 class="warn">Label problems: {lab.issue_count}{shown}</h2>'
                   + _table(["line", "id", "problem"], [[i.line, i.id, i.reason] for i in lab.issues], {0}))
    return out


class _Raw(str):
    """Markup a table cell carries as is (everything else is escaped)."""


_VERDICT_RANK = {"contradicted": 3, "covered": 2, "partial": 1}


def highlight(answer: str, view: AnswerView) -> str:
    """The answer with each key point's evidence span marked (class = the strongest verdict over it)."""
    owners: list[list[int]] = [[] for _ in answer]
    for kp in view.key_points:
        if kp.start is None or kp.end is None or kp.verdict not in _VERDICT_RANK:
            continue
        for i in range(max(kp.start, 0), min(kp.end, len(answer))):
            owners[i].append(kp.index)
    verdict = {kp.index: kp.verdict for kp in view.key_points}
    parts: list[str] = []
    i = 0
    while i < len(answer):
        j = i
        while j < len(answer) and owners[j] == owners[i]:
            j += 1
        text = esc(answer[i:j])
        if owners[i]:
            best = max(owners[i], key=lambda k: _VERDICT_RANK[verdict[k]])
            names = ", ".join(f"key point {k + 1}" for k in owners[i])
            parts.append(f'<mark class="{verdict[best]}" title="{esc(names)}">{text}</mark>')
        else:
            parts.append(text)
        i = j
    return "".join(parts)


def _answer_panel(v: AnswerView) -> str:
    attrs = _filter_attrs(v)
    gap = f", gap {v.gap:+.2f}" if v.gap is not None else ""
    label = f", label {v.label:g}" if v.label is not None else ""
    head = (f"<summary><b>line {v.line}</b> {esc(v.id or '')} · {esc(v.question_id)} · score {v.score:g}"
            f"{esc(label)}{esc(gap)}{' · flags: ' + esc(', '.join(v.flags)) if v.flags else ''}</summary>")
    body = [f"<p><b>Question</b> ({esc(v.topic)}): {esc(v.question)}</p>"]
    if v.answer is None:
        body.append('<p class="muted">The results file does not carry the answer text (written by an older '
                    "dlgrader): re-run the batch to see the evidence in place.</p>")
    else:
        body.append(f'<div class="answer-text">{highlight(v.answer, v)}</div>')
    figures = [f"score {v.score:g}/100"]
    if v.grade is not None:
        figures.append(f"grade {v.grade:g}/5")
    if v.calibrated is not None:
        figures.append(f"calibrated {v.calibrated:g}")
    if v.prediction is not None and v.label is not None:
        figures.append(f"grader {v.prediction:.2f} vs label {v.label:g}")
    body.append(f"<p>{esc(' · '.join(figures))}</p>")
    items = []
    for kp in v.key_points:
        sim = f" (similarity {kp.similarity:.2f})" if kp.similarity is not None else ""
        items.append(f'<li class="kp-{esc(kp.verdict)}"><b>{esc(kp.verdict)}</b> · {esc(kp.weight)} · '
                     f"{esc(kp.text)}{esc(sim)}</li>")
    body.append(f"<ol>{''.join(items)}</ol>" if items else "")
    for text, correction in v.misconceptions:
        body.append(f'<p class="warn">Misconception: {esc(text)}<br>Correction: {esc(correction)}</p>')
    if v.flags:
        body.append(f"<p>Flags: {esc(', '.join(v.flags))}</p>")
    if v.summary:
        body.append(f'<p class="note">{esc(v.summary)}</p>')
    return f'<details class="answer" id="a-{v.line}" {attrs}>{head}{"".join(body)}</details>'


def _filter_attrs(v: AnswerView) -> str:
    gap = "" if v.gap is None else f"{abs(v.gap):.3f}"
    return (f'data-topic="{esc(v.topic)}" data-question="{esc(v.question_id)}" '
            f'data-flags="{esc(" ".join(v.flags))}" data-gap="{gap}"')


def _answers_html(report: Report) -> str:
    views = report.answers
    if not views:
        return ""
    labelled = report.labels is not None
    chosen = "the largest disagreements first" if labelled else "flagged answers first, then the lowest scores"
    topics = sorted({v.topic for v in views})
    questions = sorted({v.question_id for v in views})
    flags = sorted({f for v in views for f in v.flags})

    def select(name: str, label: str, values: list[str]) -> str:
        options = "".join(f'<option value="{esc(x)}">{esc(x)}</option>' for x in values)
        return f'<label>{label}<select id="f-{name}"><option value="">all</option>{options}</select></label>'

    controls = [select("topic", "topic", topics), select("question", "question", questions),
                select("flag", "flag", flags)]
    if labelled:
        controls.append('<label>gap at least<input id="f-gap" type="number" min="0" step="0.5" value="0"></label>')
    rows = []
    for v in views:
        text = (v.answer or "")[:160] + ("…" if v.answer and len(v.answer) > 160 else "")
        cells = [f'<a href="#a-{v.line}">{v.line}</a>', esc(v.id or ""), esc(v.question_id), esc(v.topic),
                 f"{v.score:g}", "" if v.label is None else f"{v.label:g}",
                 "" if v.gap is None else f"{v.gap:+.2f}", esc(", ".join(v.flags)), esc(text)]
        rows.append(f'<tr class="answer-row" {_filter_attrs(v)}>' + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    heads = "".join(f"<th>{h}</th>" for h in ("line", "id", "question", "topic", "score", "label", "gap", "flags",
                                              "answer"))
    return (f'<h2 id="answers">Answers</h2><p class="note">{len(views)} of {report.answers_total} graded answers, '
            f"{chosen}. Open one to see each key point's evidence marked in the answer (green: covered, yellow: "
            'partly, red: contradicted).</p>'
            f'<div class="filters">{"".join(controls)}<span id="f-count" class="note"></span></div>'
            f'<table id="answer-table"><tr>{heads}</tr>{"".join(rows)}</table>'
            + "".join(_answer_panel(v) for v in views) + f"<script>{_SCRIPT}</script>")


# Filters rows and panels by data attributes; keeps the state in the address; opens a panel it points at.
_SCRIPT = """(function(){
var names=['topic','question','flag','gap'];
function get(n){var e=document.getElementById('f-'+n);return e?e.value:'';}
function read(){var h=new URLSearchParams(location.hash.slice(1));names.forEach(function(n){
var e=document.getElementById('f-'+n);if(e&&h.has(n))e.value=h.get(n);});return h;}
function keep(el){var t=get('topic'),q=get('question'),f=get('flag'),g=parseFloat(get('gap')||'0');
if(t&&el.dataset.topic!==t)return false;if(q&&el.dataset.question!==q)return false;
if(f&&el.dataset.flags.split(' ').indexOf(f)<0)return false;
if(g>0&&!(parseFloat(el.dataset.gap)>=g))return false;return true;}
function apply(){var shown=0,all=document.querySelectorAll('.answer-row');
all.forEach(function(r){var k=keep(r);r.hidden=!k;if(k)shown++;});
document.querySelectorAll('details.answer').forEach(function(d){d.hidden=!keep(d);});
document.getElementById('f-count').textContent=shown+' of '+all.length+' shown';}
function save(){var h=new URLSearchParams();names.forEach(function(n){var v=get(n);if(v&&v!=='0')h.set(n,v);});
history.replaceState(null,'','#'+h.toString());apply();}
function openTarget(){var m=/^#a-(\\d+)$/.exec(location.hash);if(m){var d=document.getElementById('a-'+m[1]);
if(d){d.open=true;d.scrollIntoView();}return true;}return false;}
names.forEach(function(n){var e=document.getElementById('f-'+n);if(e)e.addEventListener('input',save);});
window.addEventListener('hashchange',function(){if(!openTarget()){read();apply();}});
if(!openTarget())read();apply();})();"""


def render_html(report: Report) -> str:
    """The report as one HTML page with inline SVG charts and the answer views."""
    st = report.score_stats
    lab = report.labels
    charts = [svg_histogram(report.histogram), svg_topics(report.topics, lab.scale if lab else None)]
    if lab is not None and lab.points:
        charts.append(svg_scatter(lab.points, lab.scale))
    status = ", ".join(f"{n} {k}" for k, n in sorted(report.by_status.items()))
    parts = [
        f"<h1>dlgrader report</h1><p>{esc(report.source)}: <b>{report.total}</b> results ({esc(status)}). "
        f"Score mean {_f(st['mean'])}, median {_f(st['median'])}, sd {_f(st['sd'])}."
        + (' <a href="#answers">Open the answers</a>.' if report.answers else "") + "</p>",
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
        parts.extend(_labels_html(lab, report.topics, report.questions, {v.line for v in report.answers}))
    parts.append(_answers_html(report))
    return ('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1"><title>dlgrader report</title>'
            f"<style>{_CSS}</style></head><body>{''.join(parts)}</body></html>\n")


def write_html(report: Report, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(report), encoding="utf-8")
