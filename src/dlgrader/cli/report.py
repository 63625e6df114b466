"""``dlgrader report`` (summary, agreement with human labels, HTML/CSV/JSON) and ``dlgrader calibrate``."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import click

from dlgrader.errors import CalibrationError, CorpusError, InputError

_RESULTS = click.Path(exists=True, dir_okay=False, path_type=Path)
_OUT = click.Path(dir_okay=False, path_type=Path)


@contextmanager
def writing(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to, moved onto ``path`` once the block has succeeded.

    A failure (a read-only place, a full disk) thus never leaves a half-written file, and an OSError
    becomes one line for the user instead of a traceback. Missing folders are created, as batch does."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield tmp
        os.replace(tmp, path)
    except OSError as exc:
        raise click.ClickException(f"cannot write {path}: {exc.strerror or exc}") from exc
    finally:
        with suppress(OSError):
            tmp.unlink(missing_ok=True)


def _scale(value: str | None):
    """'0-5' or '0-5:0.5' (low-high[:step]) -> Scale; None when not given."""
    if not value:
        return None
    from dlgrader.metrics import Scale

    bounds, _, step = value.partition(":")
    low, sep, high = bounds.strip().partition("-")
    try:
        scale = Scale(float(low), float(high), float(step) if step else 1.0) if sep else None
    except ValueError:
        scale = None
    if scale is None or scale.high <= scale.low or scale.step <= 0:
        raise click.BadParameter(f"{value!r}: use LOW-HIGH or LOW-HIGH:STEP, e.g. 0-5:0.5",
                                 param_hint="--scale")
    return scale


def _labels_options(command):
    command = click.option("--id-column", default="id", show_default=True,
                           help="With --labels-file: the column that holds the answer ids.")(command)
    command = click.option("--labels-file", type=_RESULTS, help="Take the labels from this JSONL/CSV "
                           "(e.g. the batch input), joined by id.")(command)
    command = click.option("--scale", help="The label scale LOW-HIGH[:STEP], e.g. 0-5:0.5 "
                           "(default: guessed from the labels).")(command)
    return command


def _echo_issues(issues, count: int, limit: int = 10) -> None:
    if not count:
        return
    click.echo(f"{count} answer(s) without a usable label (left out):", err=True)
    for issue in issues[:limit]:
        click.echo(f"  line {issue.line} (id {issue.id}): {issue.reason}", err=True)
    if count > limit:
        click.echo(f"  ... and {count - limit} more", err=True)


@click.command("report")
@click.argument("results", type=_RESULTS)
@click.option("--labels", metavar="COLUMN",
              help="Field holding the human label (batch writes it as 'label'); two as A,B for two graders.")
@_labels_options
@click.option("--html", "html_path", type=_OUT, help="Write a self-contained HTML report with charts.")
@click.option("--csv", "csv_path", type=_OUT, help="Write per-topic and per-question figures as CSV.")
@click.option("--json", "json_path", type=_OUT, help="Write the whole summary as JSON.")
@click.option("--top", default=10, show_default=True,
              help="How many missed key points / disagreements to list.")
@click.option("--answers", "panels", default=300, show_default=True, type=click.IntRange(0),
              help="How many answers the HTML page shows in full (largest disagreements first).")
def report(results: Path, labels: str | None, labels_file: Path | None, id_column: str, scale: str | None,
           html_path: Path | None, csv_path: Path | None, json_path: Path | None, top: int, panels: int) -> None:
    """Summarise a batch results file: scores, topics, questions, missed key points, flags; with
    --labels, agreement with human grades (Pearson, Spearman, QWK, MAE, RMSE, bootstrap 95% CIs).
    --labels a,b takes two people's labels: the grader is compared with both, and the people with each other."""
    from dlgrader.report import build_report, write_csv, write_json
    from dlgrader.report_html import write_html

    if labels_file and not labels:
        raise click.UsageError("--labels-file needs --labels COLUMN (the column to read there)")
    try:
        report_ = build_report(results, _bank(), labels=labels, labels_file=labels_file, id_column=id_column,
                               scale=_scale(scale), top=top, panels=panels)
    except InputError as exc:
        raise click.ClickException(str(exc)) from exc
    _echo_report(report_)
    for path, write in ((html_path, write_html), (csv_path, write_csv), (json_path, write_json)):
        if path is not None:
            with writing(path) as tmp:
                write(report_, tmp)
            click.echo(f"wrote {path}", err=True)


def _bank():
    """The configured bank, for topics; the report still works (without topics) when it cannot be read."""
    from dlgrader.config import get_settings
    from dlgrader.corpus.loader import load_bank

    try:
        return load_bank(get_settings().corpus)
    except CorpusError as exc:
        click.echo(f"warning: topics unavailable ({exc})", err=True)
        return None


def _echo_report(r) -> None:
    st = r.score_stats
    status = ", ".join(f"{n} {k}" for k, n in sorted(r.by_status.items()))
    click.echo(f"{r.source}: {r.total} results ({status})")
    if st["mean"] is not None:
        click.echo(f"score: mean {st['mean']:.1f}, median {st['median']:.1f}, sd {st['sd']:.1f}")
        click.echo("score histogram: " + "  ".join(f"{i * 10}-{i * 10 + 10}: {c}"
                                                   for i, c in enumerate(r.histogram)))
    click.echo("\nper topic (answers, mean score):")
    for t in r.topics:
        click.echo(f"  {t.key:<28} {t.n:>6}  {t.mean_score:6.1f}")
    click.echo("\nweakest questions (answers, mean score):")
    for q in r.questions[:10]:
        click.echo(f"  {q.key:<36} {q.n:>6}  {q.mean_score:6.1f}")
    if r.missed:
        click.echo("\nmost-missed key points:")
        for m in r.missed:
            click.echo(f"  {m.missed}/{m.answered} ({m.rate:.0%})  [{m.question_id}] {m.text[:90]}")
    if r.flags:
        click.echo("\nflags: " + ", ".join(f"{k} {v}" for k, v in r.flags.items()))
    if r.unknown_questions:
        asked = list(r.unknown_questions.items())[:10]
        click.echo("unknown questions: " + ", ".join(f"{k} ({v})" for k, v in asked))
    if r.unreadable:
        click.echo(f"{len(r.unreadable)} unreadable line(s), first: line {r.unreadable[0].line}: "
                   f"{r.unreadable[0].reason}", err=True)
    if r.labels is not None:
        _echo_labels(r.labels)


def _echo_labels(lab) -> None:
    click.echo(f"\nagreement with '{lab.column}' ({lab.n} labelled answers; scale {lab.scale}; "
               f"grader value: {lab.prediction}; bootstrap 95% CI):")
    if lab.overall is not None:
        extra = []
        if lab.raw_overall is not None:
            extra.append(("before calibration", lab.raw_overall))
        if lab.second is not None:
            extra += [(f"vs {lab.second.column}", lab.second.grader),
                      (f"{lab.column} vs {lab.second.column}", lab.second.humans)]
        if extra:
            click.echo(f"  {'metric':<9} {'grader':<26} " + " ".join(f"{name:<26}" for name, _ in extra))
        for name in ("pearson", "spearman", "qwk", "mae", "rmse"):
            cells = " ".join(f"{str(getattr(a, name)):<26}" for _, a in extra)
            click.echo(f"  {name:<9} {str(getattr(lab.overall, name)):<26} {cells}".rstrip())
    if lab.disagreements:
        click.echo("largest disagreements (line, id, grader, human):")
        for d in lab.disagreements:
            click.echo(f"  line {d.line}  {d.id}  {d.prediction:.2f}  {d.label:g}  [{d.question_id}]")
    _echo_issues(lab.issues, lab.issue_count)


@click.command("calibrate")
@click.argument("results", type=_RESULTS)
@click.option("--labels", metavar="COLUMN", required=True, help="Field holding the human label.")
@_labels_options
@click.option("-o", "--output", type=_OUT, required=True, help="Where to write calibration.json.")
@click.option("--method", type=click.Choice(["isotonic", "logistic", "learned"]), default="isotonic",
              show_default=True, help="isotonic/logistic: a monotone curve on the score; learned: a small model "
              "on the parts of each result (kept only when it beats the curve on held-out questions).")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON object (method, n, raw and calibrated figures) instead of the table.")
def calibrate(results: Path, labels: str, labels_file: Path | None, id_column: str, scale: str | None,
              output: Path, method: str, as_json: bool) -> None:
    """Fit a mapping from the grader's result to your marking scale, from answers you graded.

    Reports agreement before and after under cross-validation grouped by question text (the figures expected
    on questions the fit never saw), then writes OUTPUT; use it with `grade`/`batch --calibration OUTPUT` or
    DLGRADER_CALIBRATION=OUTPUT.
    """
    import numpy as np

    from dlgrader.calibration import fit_calibration
    from dlgrader.metrics import infer_scale
    from dlgrader.report import labelled_sample

    try:
        sample = labelled_sample(results, labels=labels, labels_file=labels_file, id_column=id_column)
        _echo_issues(sample.issues, sample.issue_count)
        chosen = _scale(scale) or infer_scale(sample.labels)
        fitted, cv = fit_calibration(sample.scores, sample.labels, sample.groups, scale=chosen,
                                     method=method, source=str(results),  # type: ignore[arg-type]
                                     features=np.array(sample.features), question_ids=sample.question_ids)
    except (CalibrationError, InputError) as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(_calibration_json(fitted, cv, method)))
    else:
        _echo_calibration(fitted, cv, method, len(sample.scores), chosen)
    with writing(output) as tmp:  # the figures are shown even when the file cannot be written
        fitted.save(tmp)
    click.echo(f"wrote {output}", err=True)


_JSON_METRICS = ("pearson", "spearman", "qwk", "rmse", "mae")


def _figures(agreement) -> dict[str, float | None]:
    return {name: getattr(agreement, name).value for name in _JSON_METRICS}


def _calibration_json(fitted, cv, requested: str) -> dict[str, object]:
    """The documented machine-readable summary (README, "Calibration")."""
    info = fitted.info
    out: dict[str, object] = {"method": fitted.method, "requested": requested, "n": cv.before.n,
                              "questions": info["fitted_on"]["questions"], "cross_validation": cv.grouping,
                              "raw": _figures(cv.before), "calibrated": _figures(cv.after)}
    if requested == "learned":
        out["kept_curve"] = info.get("kept_curve")
        for key in ("curve_cross_validation", "within_questions"):
            out[key] = {name: info[key]["after"][name]["value"] for name in _JSON_METRICS}
    return out


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _echo_calibration(fitted, cv, requested: str, n: int, scale) -> None:
    click.echo(f"{fitted.method} calibration on {n} labelled answers, scale {scale}")
    click.echo(f"cross-validation: {cv.grouping}")
    click.echo(f"  {'metric':<9} {'before (raw score rescaled)':<30} after (calibrated)")
    for name in ("pearson", "spearman", "qwk", "mae", "rmse"):
        click.echo(f"  {name:<9} {str(getattr(cv.before, name)):<30} {getattr(cv.after, name)}")
    info = fitted.info
    if requested == "learned":
        curve = info["curve_cross_validation"]["after"]
        click.echo(f"isotonic curve on the same folds: Pearson {_num(curve['pearson']['value'])}, "
                   f"RMSE {_num(curve['rmse']['value'])}")
        within = info["within_questions"]["after"]
        click.echo(f"learned, on new answers to questions you graded ({info['within_questions']['grouping']}): "
                   f"Pearson {_num(within['pearson']['value'])}, RMSE {_num(within['rmse']['value'])}")
        if info.get("kept_curve"):
            click.echo(f"note: {info['kept_curve']}")
    if fitted.scorer is None:
        marks = "  ".join(f"{s:g}->{v:.2f}" for s, v in zip((0, 25, 50, 75, 100),
                                                             fitted.predict([0, 25, 50, 75, 100]), strict=True))
        click.echo(f"mapping (score -> your scale): {marks}")
    else:
        click.echo(f"learned model: {len(fitted.scorer.per_question)} question(s) with their own adjustment")


def register(cli: click.Group) -> None:
    cli.add_command(report)
    cli.add_command(calibrate)
