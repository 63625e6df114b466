"""Reports on a batch results file: where the answers are weak, and how far the grader agrees with people.

``build_report`` streams a results JSONL (as written by ``dlgrader batch``) once, keeping only counters
and one small row per labelled answer, so it handles 100,000-answer files. Human labels come from a field
of the results (``--labels label``) or from another file joined by id. A bad label (text in a numeric
column, a missing value) is reported with its line and left out; it never stops the report.
``write_html`` renders a self-contained page (inline CSS and SVG charts, no script, no network).
"""

from __future__ import annotations

import csv
import heapq
import html
import json
import math
import statistics
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from dlgrader.batch import Columns, iter_records, record_id
from dlgrader.corpus.loader import Bank
from dlgrader.errors import InputError
from dlgrader.metrics import Agreement, Scale, agreement, infer_scale

GROUP_RESAMPLES = 200  # per question/topic intervals: many small groups, fewer resamples each
MAX_LISTED_ISSUES = 500
SCATTER_POINTS = 4000
UNKNOWN_TOPIC = "(not in bank)"


@dataclass
class LabelIssue:
    """A labelled line that could not be used, and why."""

    line: int
    id: str | None
    reason: str


@dataclass
class Group:
    """Aggregates for one question or topic."""

    key: str
    title: str = ""
    topic: str = ""
    n: int = 0
    score_sum: float = 0.0
    flagged: int = 0
    agreement: Agreement | None = None
    mean_label: float | None = None

    @property
    def mean_score(self) -> float | None:
        return self.score_sum / self.n if self.n else None


@dataclass
class MissedPoint:
    question_id: str
    index: int
    text: str
    missed: int
    answered: int

    @property
    def rate(self) -> float:
        return self.missed / self.answered if self.answered else 0.0


@dataclass
class Disagreement:
    line: int
    id: str | None
    question_id: str | None
    score: float
    prediction: float
    label: float
    summary: str = ""

    @property
    def gap(self) -> float:
        return self.prediction - self.label


@dataclass
class LabelSummary:
    """Agreement with human labels (present only when labels were asked for)."""

    column: str
    scale: Scale
    prediction: str
    n: int
    overall: Agreement | None
    issues: list[LabelIssue]
    issue_count: int
    disagreements: list[Disagreement]
    mean_label: float | None = None
    points: list[tuple[float, float]] = field(default_factory=list, repr=False)


@dataclass
class Report:
    """Everything ``dlgrader report`` shows."""

    source: str
    total: int
    by_status: dict[str, int]
    unreadable: list[LabelIssue]
    scores: list[float] = field(repr=False)
    histogram: list[int] = field(default_factory=list)
    grades: dict[str, int] = field(default_factory=dict)
    topics: list[Group] = field(default_factory=list)
    questions: list[Group] = field(default_factory=list)
    missed: list[MissedPoint] = field(default_factory=list)
    flags: dict[str, int] = field(default_factory=dict)
    unknown_questions: dict[str, int] = field(default_factory=dict)
    invalid_reasons: list[str] = field(default_factory=list)
    labels: LabelSummary | None = None

    @property
    def graded(self) -> int:
        return self.by_status.get("graded", 0)

    @property
    def score_stats(self) -> dict[str, float | None]:
        if not self.scores:
            return {"mean": None, "median": None, "sd": None}
        return {"mean": statistics.fmean(self.scores), "median": statistics.median(self.scores),
                "sd": statistics.pstdev(self.scores)}

    def to_dict(self) -> dict[str, object]:
        data = {k: v for k, v in asdict(self).items() if k not in ("scores", "labels", "topics", "questions")}
        data.update(graded=self.graded, score_stats=self.score_stats,
                    topics=[_group_dict(g) for g in self.topics],
                    questions=[_group_dict(g) for g in self.questions],
                    missed=[{**asdict(m), "rate": m.rate} for m in self.missed])
        if self.labels is not None:
            lab = self.labels
            data["labels"] = {
                "column": lab.column, "scale": asdict(lab.scale), "prediction": lab.prediction, "n": lab.n,
                "mean_label": lab.mean_label,
                "overall": lab.overall.as_dict() if lab.overall else None, "issue_count": lab.issue_count,
                "issues": [asdict(i) for i in lab.issues],
                "disagreements": [{**asdict(d), "gap": d.gap} for d in lab.disagreements],
            }
        return data


def _group_dict(g: Group) -> dict[str, object]:
    return {"key": g.key, "title": g.title, "topic": g.topic, "n": g.n, "mean_score": g.mean_score,
            "flagged": g.flagged, "mean_label": g.mean_label,
            "agreement": g.agreement.as_dict() if g.agreement else None}


# ---------------------------------------------------------------- reading


_MISSING = object()  # the label field is absent from the record
_NOT_ASKED = object()  # no labels were asked for


@dataclass(frozen=True)
class _Sourced:
    """A label read from a separate file, with where it came from (for the problem report)."""

    value: object
    where: str


def read_label_file(path: Path, column: str, *, id_column: str = "id") -> dict[str, tuple[int, object]]:
    """id -> (line, raw label value) from a JSONL/CSV file (the batch input, or a separate marking sheet)."""
    columns = Columns(id=id_column)
    out: dict[str, tuple[int, object]] = {}
    for number, record in iter_records(path):
        if isinstance(record, dict):
            out[record_id(number, record, columns)] = (number, record.get(column, _MISSING))
    return out


def parse_label(value: object) -> float | str:
    """The label as a number, or the reason it is unusable."""
    if value is _MISSING or value is None or (isinstance(value, str) and not value.strip()):
        return "no label"
    if isinstance(value, bool):
        return f"label {value!r} is not a number"
    try:
        number = float(value) if isinstance(value, int | float | str) else math.nan
    except ValueError:
        return f"label {str(value)[:40]!r} is not a number"
    if not math.isfinite(number):
        return f"label {str(value)[:40]!r} is not a finite number"
    return number


@dataclass
class _Row:
    line: int
    id: str | None
    question_id: str
    group: str  # question text, for grouped cross-validation
    score: float
    label: float
    calibrated: float | None
    calibrated_scale: str | None


@dataclass
class _Accumulator:
    bank: Bank | None
    by_status: Counter[str] = field(default_factory=Counter)
    unreadable: list[LabelIssue] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    questions: dict[str, Group] = field(default_factory=dict)
    missed: dict[tuple[str, int], MissedPoint] = field(default_factory=dict)
    flags: Counter[str] = field(default_factory=Counter)
    unknown: Counter[str] = field(default_factory=Counter)
    invalid: list[str] = field(default_factory=list)
    rows: list[_Row] = field(default_factory=list)
    issues: list[LabelIssue] = field(default_factory=list)
    issue_count: int = 0

    def topic_of(self, question_id: str) -> str:
        q = self.bank.get(question_id) if self.bank is not None else None
        return q.topic if q is not None else UNKNOWN_TOPIC

    def add(self, line: int, record: dict[str, object], label: object) -> None:
        status = str(record.get("status"))
        self.by_status[status] += 1
        rid = None if record.get("id") is None else str(record["id"])
        if status == "unknown_question":
            self.unknown[str(record.get("question_id") or "(free-text question)")] += 1
        elif status == "invalid" and len(self.invalid) < 20:
            self.invalid.append(str(record.get("error") or "invalid"))
        if status != "graded":
            return
        qid, score = str(record.get("question_id")), float(record.get("score") or 0.0)
        self.scores.append(score)
        group = self.questions.get(qid)
        if group is None:
            group = self.questions[qid] = Group(qid, str(record.get("question") or ""), self.topic_of(qid))
        group.n += 1
        group.score_sum += score
        flags = [f.get("code") for f in record.get("flags") or [] if isinstance(f, dict)]
        group.flagged += bool(flags)
        self.flags.update(str(c) for c in flags)
        self._key_points(qid, record.get("key_points") or [])
        if label is not _NOT_ASKED:
            self._label(line, rid, qid, group.title, score, label, record)

    def _key_points(self, qid: str, points: object) -> None:
        for kp in points if isinstance(points, list) else []:
            if not isinstance(kp, dict):
                continue
            key = (qid, int(kp.get("index", 0)))
            entry = self.missed.get(key)
            if entry is None:
                entry = self.missed[key] = MissedPoint(qid, key[1], str(kp.get("text", "")), 0, 0)
            entry.answered += 1
            entry.missed += kp.get("verdict") in ("missing", "contradicted")

    def _label(self, line: int, rid: str | None, qid: str, title: str, score: float, label: object,
               record: dict[str, object]) -> None:
        where = label.where if isinstance(label, _Sourced) else None
        value = parse_label(label.value if isinstance(label, _Sourced) else label)
        if isinstance(value, str):
            self.issue_count += 1
            if len(self.issues) < MAX_LISTED_ISSUES:
                self.issues.append(LabelIssue(line, rid, f"{value} ({where})" if where else value))
            return
        cal = record.get("calibrated_score")
        self.rows.append(_Row(line, rid, qid, title or qid, score, value,
                              float(cal) if isinstance(cal, int | float) else None,
                              str(record.get("calibrated_scale") or "") or None))


def read_results(path: Path, bank: Bank | None, *, labels: str | None = None,
                 labels_file: Path | None = None, id_column: str = "id") -> _Accumulator:
    """One streaming pass over a results file."""
    external = read_label_file(labels_file, labels or "label", id_column=id_column) if labels_file else None
    acc = _Accumulator(bank)
    for line, record in iter_records(path):
        if isinstance(record, str) or "status" not in record:
            acc.unreadable.append(LabelIssue(line, None, record if isinstance(record, str)
                                             else "not a grading result (no 'status')"))
            continue
        label: object = _NOT_ASKED
        if external is not None and labels_file is not None:
            sheet_line, label = external.get(str(record.get("id")), (None, _MISSING))
            label = _Sourced(label, f"{labels_file.name} line {sheet_line}" if sheet_line
                             else f"not in {labels_file.name}")
        elif labels:
            label = record.get(labels, _MISSING)
        acc.add(line, record, label)
    if not sum(acc.by_status.values()):
        raise InputError(f"{path} holds no grading results")
    return acc


# ---------------------------------------------------------------- building


def _scale_for(rows: list[_Row], scale: Scale | None) -> tuple[Scale, bool]:
    """The label scale, and whether the results' calibrated scores are the prediction."""
    calibrated = bool(rows) and all(r.calibrated is not None for r in rows)
    if scale is not None:
        return scale, calibrated
    inferred = infer_scale([r.label for r in rows])
    if calibrated and rows[0].calibrated_scale:
        low, _, high = rows[0].calibrated_scale.partition("-")
        try:
            return Scale(float(low), float(high), inferred.step), True
        except ValueError:
            pass
    return inferred, calibrated


def _agreement_by(rows: list[_Row], preds: np.ndarray, key, scale: Scale) -> dict[str, tuple[Agreement, float]]:  # type: ignore[no-untyped-def]  # noqa: E501
    members: dict[str, list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        members[key(row)].append(i)
    labels = np.array([r.label for r in rows])
    return {k: (agreement(preds[idx], labels[idx], scale, resamples=GROUP_RESAMPLES),
                float(labels[idx].mean())) for k, idx in members.items()}


def _label_summary(acc: _Accumulator, column: str, scale: Scale | None, top: int) -> LabelSummary:
    rows = acc.rows
    scale, calibrated = _scale_for(rows, scale)
    scores = np.array([r.score for r in rows])
    preds = np.array([r.calibrated for r in rows], dtype=float) if calibrated else \
        scale.low + scores / 100.0 * (scale.high - scale.low)
    labels = np.array([r.label for r in rows])
    overall = agreement(preds, labels, scale) if rows else None
    for qid, (agr, mean_label) in _agreement_by(rows, preds, lambda r: r.question_id, scale).items():
        acc.questions[qid].agreement, acc.questions[qid].mean_label = agr, mean_label
    worst = heapq.nlargest(top, range(len(rows)), key=lambda i: (abs(preds[i] - labels[i]), -i))
    disagreements = [Disagreement(rows[i].line, rows[i].id, rows[i].question_id, rows[i].score,
                                  float(preds[i]), float(labels[i])) for i in worst]
    step = max(1, len(rows) // SCATTER_POINTS)
    how = "calibrated_score" if calibrated else f"score/100 stretched onto {scale.low:g}-{scale.high:g}"
    return LabelSummary(column=column, scale=scale, prediction=how, n=len(rows), overall=overall,
                        issues=acc.issues, issue_count=acc.issue_count, disagreements=disagreements,
                        mean_label=float(labels.mean()) if rows else None,
                        points=[(float(preds[i]), float(labels[i])) for i in range(0, len(rows), step)])


def _topics(acc: _Accumulator, labels: LabelSummary | None) -> list[Group]:
    topics: dict[str, Group] = {}
    for g in acc.questions.values():
        t = topics.setdefault(g.topic, Group(g.topic, g.topic, g.topic))
        t.n += g.n
        t.score_sum += g.score_sum
        t.flagged += g.flagged
    if labels is not None and acc.rows:
        rows = acc.rows
        calibrated = labels.prediction == "calibrated_score"
        s = labels.scale
        preds = np.array([r.calibrated if calibrated else s.low + r.score / 100 * (s.high - s.low)
                          for r in rows], dtype=float)
        for topic, (agr, mean_label) in _agreement_by(
                rows, preds, lambda r: acc.questions[r.question_id].topic, s).items():
            topics[topic].agreement, topics[topic].mean_label = agr, mean_label
    return sorted(topics.values(), key=lambda g: (-g.n, g.key))


def _attach_summaries(path: Path, disagreements: list[Disagreement]) -> None:
    wanted = {d.line: d for d in disagreements}
    if not wanted:
        return
    for line, record in iter_records(path):
        if line in wanted and isinstance(record, dict):
            wanted[line].summary = str(record.get("summary") or "")


def build_report(path: Path, bank: Bank | None, *, labels: str | None = None, labels_file: Path | None = None,
                 id_column: str = "id", scale: Scale | None = None, top: int = 10) -> Report:
    """Summarise a results file; with ``labels``, measure agreement with the human labels."""
    acc = read_results(path, bank, labels=labels, labels_file=labels_file, id_column=id_column)
    label_summary = _label_summary(acc, labels or "label", scale, top) if (labels or labels_file) else None
    if label_summary is not None:
        _attach_summaries(path, label_summary.disagreements)
    histogram = [0] * 10
    grades: Counter[str] = Counter()
    for s in acc.scores:
        histogram[min(9, int(s // 10))] += 1
        grades[f"{round(s / 10) / 2:g}"] += 1
    missed = sorted((m for m in acc.missed.values() if m.missed),
                    key=lambda m: (-m.missed, -m.rate, m.question_id, m.index))[:top]
    return Report(
        source=str(path), total=sum(acc.by_status.values()), by_status=dict(acc.by_status),
        unreadable=acc.unreadable[:MAX_LISTED_ISSUES], scores=acc.scores, histogram=histogram,
        grades=dict(sorted(grades.items(), key=lambda kv: float(kv[0]))),
        topics=_topics(acc, label_summary),
        questions=sorted(acc.questions.values(), key=lambda g: (g.mean_score or 0.0, g.key)),
        missed=missed, flags=dict(acc.flags.most_common()), unknown_questions=dict(acc.unknown.most_common()),
        invalid_reasons=acc.invalid, labels=label_summary,
    )


@dataclass
class LabelledSample:
    """What calibration needs: raw scores, labels, question texts (the CV groups), and the label issues."""

    scores: list[float]
    labels: list[float]
    groups: list[str]
    issues: list[LabelIssue]
    issue_count: int


def labelled_sample(path: Path, *, labels: str, labels_file: Path | None = None,
                    id_column: str = "id") -> LabelledSample:
    """The graded, labelled answers of a results file (bad labels reported, not fatal)."""
    acc = read_results(path, None, labels=labels, labels_file=labels_file, id_column=id_column)
    return LabelledSample([r.score for r in acc.rows], [r.label for r in acc.rows],
                          [r.group for r in acc.rows], acc.issues, acc.issue_count)


# ---------------------------------------------------------------- CSV


CSV_FIELDS = ["level", "key", "title", "topic", "n", "mean_score", "flagged", "mean_label",
              *[f"{m}{suffix}" for m in ("pearson", "spearman", "qwk", "mae", "rmse")
                for suffix in ("", "_low", "_high")]]


def write_csv(report: Report, path: Path) -> None:
    """One row overall, then one per topic and per question, with agreement columns when labelled."""
    path.parent.mkdir(parents=True, exist_ok=True)
    overall = Group("all", "all answers", "", report.graded, sum(report.scores),
                    sum(g.flagged for g in report.questions))
    if report.labels is not None:
        overall.agreement = report.labels.overall
        overall.mean_label = report.labels.mean_label
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_FIELDS)
        writer.writeheader()
        levels = (("overall", [overall]), ("topic", report.topics), ("question", report.questions))
        for level, groups in levels:
            for g in groups:
                writer.writerow(_csv_row(level, g))


def _csv_row(level: str, g: Group) -> dict[str, object]:
    row: dict[str, object] = {"level": level, "key": g.key, "title": g.title, "topic": g.topic, "n": g.n,
                              "mean_score": _r(g.mean_score), "flagged": g.flagged,
                              "mean_label": _r(g.mean_label)}
    if g.agreement is not None:
        for name in ("pearson", "spearman", "qwk", "mae", "rmse"):
            est = getattr(g.agreement, name)
            row.update({name: _r(est.value), f"{name}_low": _r(est.low), f"{name}_high": _r(est.high)})
    return row


def _r(value: float | None) -> float | str:
    return "" if value is None else round(value, 4)


def write_json(report: Report, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report.to_dict(), indent=2) + "\n", encoding="utf-8")


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


# ---------------------------------------------------------------- HTML (self-contained: inline CSS and SVG)


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
