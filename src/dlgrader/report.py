"""Reports on a batch results file: where the answers are weak, and how far the grader agrees with people.

``build_report`` streams a results JSONL (as written by ``dlgrader batch``) once, keeping only counters
and one small row per labelled answer, so it handles 100,000-answer files. Human labels come from a field
of the results (``--labels label``) or from another file joined by id. A bad label (text in a numeric
column, a missing value) is reported with its line and left out; it never stops the report. A second
label column (``--labels a,b``) adds the agreement between the two people, the yardstick for the grader's.
A second pass fetches the full records of the answers worth opening (the largest disagreements, or the
flagged and lowest-scored without labels; at most ``ANSWER_PANELS``) for the HTML page's answer views.
The HTML page is in ``report_html``.
"""

from __future__ import annotations

import csv
import heapq
import json
import statistics
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from dlgrader.corpus.loader import Bank
from dlgrader.errors import InputError
from dlgrader.learned import record_features
from dlgrader.metrics import Agreement, Scale, agreement, infer_scale
from dlgrader.records import MISSING, Columns, iter_records, parse_label, record_id

GROUP_RESAMPLES = 200  # per question/topic intervals: many small groups, fewer resamples each
MAX_LISTED_ISSUES = 500
SCATTER_POINTS = 4000
UNKNOWN_TOPIC = "(not in bank)"
ANSWER_PANELS = 300  # answers the HTML page shows in full, with their evidence
MIN_GROUP_FIGURES = 10  # below this many labelled answers a question's or topic's figures are not shown
CONFUSION_BINS = 11  # at most this many grade bins per axis (finer scales are binned)


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
class SecondOpinion:
    """A second person's labels (``--labels a,b``): how the grader and the first person compare with them."""

    column: str
    n: int  # answers both people labelled
    grader: Agreement  # the grader against the second person
    humans: Agreement  # the first person against the second: the yardstick


@dataclass
class Confusion:
    """Counts of (human label bin, grader bin) over the labelled answers."""

    bins: list[str]
    counts: list[list[int]]  # counts[label bin][grader bin]


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
    raw_overall: Agreement | None = None  # before calibration, when the results carry calibrated scores
    confusion: Confusion | None = None
    second: SecondOpinion | None = None


@dataclass
class EvidenceView:
    index: int
    text: str
    verdict: str
    weight: str
    similarity: float | None
    start: int | None
    end: int | None


@dataclass
class AnswerView:
    """One answer as the HTML page opens it: its text, each key point's evidence span, verdicts, flags."""

    line: int
    id: str | None
    question_id: str
    question: str
    topic: str
    score: float
    grade: float | None
    calibrated: float | None
    label: float | None
    prediction: float | None  # the grader's value on the label scale (with labels)
    answer: str | None  # None: the results file does not carry it (written before answers were kept)
    summary: str
    flags: list[str]
    key_points: list[EvidenceView]
    misconceptions: list[tuple[str, str]]  # (wrong belief, correction)

    @property
    def gap(self) -> float | None:
        return None if self.prediction is None or self.label is None else self.prediction - self.label


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
    answers: list[AnswerView] = field(default_factory=list, repr=False)
    answers_total: int = 0  # graded answers the panels were chosen from

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
        data = {k: v for k, v in asdict(self).items()
                if k not in ("scores", "labels", "topics", "questions", "answers")}
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
                "raw_overall": lab.raw_overall.as_dict() if lab.raw_overall else None,
                "confusion": asdict(lab.confusion) if lab.confusion else None,
                "second": {"column": lab.second.column, "n": lab.second.n, "grader": lab.second.grader.as_dict(),
                           "humans": lab.second.humans.as_dict()} if lab.second else None,
            }
        return data


def _group_dict(g: Group) -> dict[str, object]:
    return {"key": g.key, "title": g.title, "topic": g.topic, "n": g.n, "mean_score": g.mean_score,
            "flagged": g.flagged, "mean_label": g.mean_label,
            "agreement": g.agreement.as_dict() if g.agreement else None}


# ---------------------------------------------------------------- reading


_MISSING = MISSING  # the label field is absent from the record
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
    features: list[float] | None  # what a learned calibration reads (dlgrader.learned); calibrate only
    second: float | None = None  # a second person's label (--labels a,b), when usable


@dataclass
class _Accumulator:
    bank: Bank | None
    with_features: bool = False  # keep each labelled row's learned-calibration features (calibrate only)
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
    graded_lines: list[tuple[int, float, bool]] = field(default_factory=list)  # (line, score, flagged)

    def topic_of(self, question_id: str) -> str:
        q = self.bank.get(question_id) if self.bank is not None else None
        return q.topic if q is not None else UNKNOWN_TOPIC

    def add(self, line: int, record: dict[str, object], label: object, second: object = _NOT_ASKED) -> None:
        status = str(record.get("status"))
        self.by_status[status] += 1
        rid = None if record.get("id") is None else str(record["id"])
        if status == "unknown_question":
            self.unknown[str(record.get("question_id") or "(free-text question)")] += 1
        elif status == "invalid" and len(self.invalid) < 20:
            self.invalid.append(str(record.get("error") or "invalid"))
        if status != "graded":
            return
        raw_score = record.get("score")
        qid, score = str(record.get("question_id")), float(raw_score) if isinstance(raw_score, int | float) else 0.0
        self.scores.append(score)
        group = self.questions.get(qid)
        if group is None:
            group = self.questions[qid] = Group(qid, str(record.get("question") or ""), self.topic_of(qid))
        group.n += 1
        group.score_sum += score
        raw_flags = record.get("flags")
        flags = [f.get("code") for f in raw_flags if isinstance(f, dict)] if isinstance(raw_flags, list) else []
        group.flagged += bool(flags)
        self.graded_lines.append((line, score, bool(flags)))
        self.flags.update(str(c) for c in flags)
        self._key_points(qid, record.get("key_points") or [])
        if label is not _NOT_ASKED:
            self._label(line, rid, qid, group.title, score, label, record, second)

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
               record: dict[str, object], second: object) -> None:
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
                              str(record.get("calibrated_scale") or "") or None,
                              record_features(record) if self.with_features else None,
                              _second_value(second)))


def _second_value(value: object) -> float | None:
    parsed = parse_label(value.value if isinstance(value, _Sourced) else value)
    return None if isinstance(parsed, str) else parsed


def read_results(path: Path, bank: Bank | None, *, labels: str | None = None,
                 labels_file: Path | None = None, id_column: str = "id",
                 second_label: str | None = None, with_features: bool = False) -> _Accumulator:
    """One streaming pass over a results file."""
    external = read_label_file(labels_file, labels or "label", id_column=id_column) if labels_file else None
    external_second = read_label_file(labels_file, second_label, id_column=id_column) \
        if labels_file and second_label else None
    acc = _Accumulator(bank, with_features=with_features)
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
        second: object = _NOT_ASKED
        if second_label:
            second = external_second.get(str(record.get("id")), (None, _MISSING))[1] \
                if external_second is not None else record.get(second_label, _MISSING)
        acc.add(line, record, label, second)
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


def _agreement_by(rows: list[_Row], preds: np.ndarray, key, scale: Scale) -> dict[str, tuple[Agreement, float]]:  # noqa: E501
    members: dict[str, list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        members[key(row)].append(i)
    labels = np.array([r.label for r in rows])
    return {k: (agreement(preds[idx], labels[idx], scale, resamples=GROUP_RESAMPLES),
                float(labels[idx].mean())) for k, idx in members.items()}


def _label_summary(acc: _Accumulator, column: str, scale: Scale | None, top: int,
                   second_column: str | None = None) -> LabelSummary:
    rows = acc.rows
    scale, calibrated = _scale_for(rows, scale)
    scores = np.array([r.score for r in rows])
    raw = scale.low + scores / 100.0 * (scale.high - scale.low)
    preds = np.array([r.calibrated for r in rows], dtype=float) if calibrated else raw
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
                        points=[(float(preds[i]), float(labels[i])) for i in range(0, len(rows), step)],
                        raw_overall=agreement(raw, labels, scale) if calibrated and rows else None,
                        confusion=confusion(preds, labels, scale) if rows else None,
                        second=_second_opinion(rows, preds, scale, second_column) if second_column else None)


def _second_opinion(rows: list[_Row], preds: np.ndarray, scale: Scale, column: str) -> SecondOpinion | None:
    both = [i for i, r in enumerate(rows) if r.second is not None]
    if not both:
        return None
    second = np.array([rows[i].second for i in both], dtype=float)
    first = np.array([rows[i].label for i in both], dtype=float)
    return SecondOpinion(column=column, n=len(both), grader=agreement(preds[both], second, scale),
                         humans=agreement(first, second, scale))


def confusion(preds: np.ndarray, labels: np.ndarray, scale: Scale) -> Confusion:
    """Both values binned on the label scale: its own steps, or ``CONFUSION_BINS`` equal bins when finer."""
    steps = int(round((scale.high - scale.low) / scale.step)) + 1
    n_bins = min(steps, CONFUSION_BINS)
    width = (scale.high - scale.low) / max(n_bins - 1, 1)

    def bin_of(values: np.ndarray) -> np.ndarray:
        return np.clip(np.rint((values - scale.low) / width), 0, n_bins - 1).astype(int)

    counts = np.zeros((n_bins, n_bins), dtype=int)
    np.add.at(counts, (bin_of(labels), bin_of(preds)), 1)
    return Confusion(bins=[f"{scale.low + i * width:g}" for i in range(n_bins)], counts=counts.tolist())


def _topics(acc: _Accumulator, labels: LabelSummary | None) -> list[Group]:
    topics: dict[str, Group] = {}
    for g in acc.questions.values():
        t = topics.setdefault(g.topic, Group(g.topic, g.topic, g.topic))
        t.n += g.n
        t.score_sum += g.score_sum
        t.flagged += g.flagged
    if labels is not None and acc.rows:
        rows = acc.rows
        preds = np.array([_prediction(r, labels) for r in rows], dtype=float)
        for topic, (agr, mean_label) in _agreement_by(
                rows, preds, lambda r: acc.questions[r.question_id].topic, labels.scale).items():
            topics[topic].agreement, topics[topic].mean_label = agr, mean_label
    return sorted(topics.values(), key=lambda g: (-g.n, g.key))


def _prediction(row: _Row, labels: LabelSummary) -> float:
    """The grader's value compared with a label: the calibrated score when the results carry one, else the
    raw score stretched onto the label scale."""
    if labels.prediction == "calibrated_score" and row.calibrated is not None:
        return row.calibrated
    s = labels.scale
    return s.low + row.score / 100 * (s.high - s.low)


def _panel_lines(acc: _Accumulator, labels: LabelSummary | None, limit: int) -> list[int]:
    """The answers worth opening: the largest disagreements with labels, else flagged then lowest-scored."""
    if labels is not None and acc.rows:
        gaps = [(abs(_prediction(r, labels) - r.label), -r.line, r.line) for r in acc.rows]
        return [line for *_, line in heapq.nlargest(limit, gaps)]
    return [line for line, _, _ in heapq.nsmallest(limit, acc.graded_lines, key=lambda t: (not t[2], t[1], t[0]))]


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _answer_view(line: int, record: dict[str, object], acc: _Accumulator, labels: LabelSummary | None,
                 label_of: dict[int, _Row]) -> AnswerView:
    qid = str(record.get("question_id"))
    row = label_of.get(line)
    prediction = _prediction(row, labels) if labels is not None and row is not None else None
    points = []
    for kp in record.get("key_points") or []:  # type: ignore[attr-defined]
        if not isinstance(kp, dict):
            continue
        found = kp.get("evidence")
        evidence: dict[str, object] = found if isinstance(found, dict) else {}
        points.append(EvidenceView(int(kp.get("index", 0)), str(kp.get("text", "")), str(kp.get("verdict", "")),
                                   str(kp.get("weight", "core")), _number(kp.get("similarity")),
                                   _int(evidence.get("start")), _int(evidence.get("end"))))
    flags = [str(f.get("code")) for f in record.get("flags") or [] if isinstance(f, dict)]  # type: ignore[attr-defined]
    misconceptions = [(str(m.get("text", "")), str(m.get("correction", "")))
                      for m in record.get("misconceptions") or [] if isinstance(m, dict)]  # type: ignore[attr-defined]
    answer = record.get("answer")
    return AnswerView(line=line, id=None if record.get("id") is None else str(record.get("id")), question_id=qid,
                      question=str(record.get("question") or ""), topic=acc.topic_of(qid),
                      score=_number(record.get("score")) or 0.0, grade=_number(record.get("grade")),
                      calibrated=_number(record.get("calibrated_score")),
                      label=row.label if row is not None else None, prediction=prediction,
                      answer=answer if isinstance(answer, str) else None, summary=str(record.get("summary") or ""),
                      flags=flags, key_points=points, misconceptions=misconceptions)


def _int(value: object) -> int | None:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


def _second_pass(path: Path, acc: _Accumulator, labels: LabelSummary | None, panels: int) -> list[AnswerView]:
    """Summaries for the disagreements, and the chosen answers in full, in the order they were chosen."""
    chosen = _panel_lines(acc, labels, panels)
    wanted = set(chosen)
    disagreements = {d.line: d for d in labels.disagreements} if labels is not None else {}
    if not wanted and not disagreements:
        return []
    label_of = {r.line: r for r in acc.rows}
    views: dict[int, AnswerView] = {}
    for line, record in iter_records(path):
        if not isinstance(record, dict):
            continue
        if line in disagreements:
            disagreements[line].summary = str(record.get("summary") or "")
        if line in wanted:
            views[line] = _answer_view(line, record, acc, labels, label_of)
    return [views[line] for line in chosen if line in views]


def build_report(path: Path, bank: Bank | None, *, labels: str | None = None, labels_file: Path | None = None,
                 id_column: str = "id", scale: Scale | None = None, top: int = 10,
                 panels: int = ANSWER_PANELS) -> Report:
    """Summarise a results file; with ``labels`` ("a" or "a,b" for two people), measure agreement with the
    human labels."""
    first, _, second = (labels or "").partition(",")
    first, second = first.strip(), second.strip()
    if "," in second:
        raise InputError(f"--labels {labels!r}: give one label column, or two as 'first,second'")
    acc = read_results(path, bank, labels=first or None, labels_file=labels_file, id_column=id_column,
                       second_label=second or None)
    label_summary = _label_summary(acc, first or "label", scale, top, second or None) \
        if (first or labels_file) else None
    answers = _second_pass(path, acc, label_summary, panels)
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
        invalid_reasons=acc.invalid, labels=label_summary, answers=answers, answers_total=len(acc.graded_lines),
    )


@dataclass
class LabelledSample:
    """What calibration needs: raw scores, labels, question texts (the CV groups), question ids and features
    (for a learned calibration), and the label issues."""

    scores: list[float]
    labels: list[float]
    groups: list[str]
    issues: list[LabelIssue]
    issue_count: int
    question_ids: list[str]
    features: list[list[float]]


def labelled_sample(path: Path, *, labels: str, labels_file: Path | None = None,
                    id_column: str = "id") -> LabelledSample:
    """The graded, labelled answers of a results file (bad labels reported, not fatal)."""
    acc = read_results(path, None, labels=labels, labels_file=labels_file, id_column=id_column,
                       with_features=True)
    return LabelledSample([r.score for r in acc.rows], [r.label for r in acc.rows],
                          [r.group for r in acc.rows], acc.issues, acc.issue_count,
                          [r.question_id for r in acc.rows], [r.features or [] for r in acc.rows])


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
