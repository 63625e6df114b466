"""``dlgrader verifier train|eval|predict``: rebuild the shipped verifier, measure it, ask it."""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import click

from dlgrader.config import PROJECT_ROOT
from dlgrader.errors import VerifierError

CHECK_PAIRS = 300
PAIRS_DIR = PROJECT_ROOT / "corpus" / "verifier"


@click.group("verifier")
def verifier_group() -> None:
    """The correctness verifier: train it from corpus/verifier/, evaluate it, run it on your pairs."""


@verifier_group.command("train")
@click.option("--pairs", "pairs_dir", type=click.Path(file_okay=False, path_type=Path), default=PAIRS_DIR,
              show_default=True, help="Folder of training pairs (*.jsonl).")
@click.option("--output", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Model folder to write (default: DLGRADER_VERIFIER_DIR, i.e. models/verifier).")
@click.option("--epochs", type=click.IntRange(1, 20), default=2, show_default=True)
def train_command(pairs_dir: Path, output: Path | None, epochs: int) -> None:
    """Fine-tune the cross-encoder on every pair and write the int8 ONNX model with its manifest.

    Deterministic (fixed seed and thread count); about 40 minutes on two cores for ~11,000 pairs and 2
    epochs.
    """
    from dlgrader.config import get_settings
    from dlgrader.verifier.data import load_pairs, summary
    from dlgrader.verifier.train import TrainSettings, export, manifest_for, train

    pairs = load_pairs(pairs_dir)
    _export_tools_or_fail()  # before 40 minutes of training, not after
    click.echo(f"training on {json.dumps(summary(pairs))}", err=True)
    settings = TrainSettings(epochs=epochs)
    started = time.perf_counter()
    model, tokenizer = train(pairs, settings, progress=lambda line: click.echo(line, err=True))
    out_dir = output or get_settings().verifier_dir
    metrics: dict[str, object] = {"train_seconds": round(time.perf_counter() - started)}
    # every n-th pair, about 300: the int8 file's agreement with the fp32 model is recorded and re-tested
    check = pairs[::max(1, len(pairs) // CHECK_PAIRS)][:CHECK_PAIRS]
    path = export(model, tokenizer, out_dir, manifest_for(pairs, settings, metrics), check_pairs=check)
    click.echo(f"verifier written to {path} ({path.stat().st_size / 1e6:.1f} MB)")


def _export_tools_or_fail() -> None:
    """The ONNX export and the int8 quantiser, imported up front: a missing one is a clear error at once."""
    try:
        import onnx  # noqa: F401
        from onnxruntime.quantization import quantize_dynamic  # noqa: F401
    except ImportError as exc:
        raise VerifierError(f"exporting the verifier needs the onnx package ({exc}); "
                            "reinstall dlgrader: pip install -e .") from exc


@verifier_group.command("eval")
@click.option("--pairs", "pairs_dir", type=click.Path(file_okay=False, path_type=Path), default=PAIRS_DIR,
              show_default=True)
@click.option("--folds", type=click.IntRange(2, 10), default=5, show_default=True)
@click.option("--only-fold", type=int, default=None, help="Run one fold only (each fold trains a model).")
@click.option("--epochs", type=click.IntRange(1, 20), default=3, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def eval_command(pairs_dir: Path, folds: int, only_fold: int | None, epochs: int, as_json: bool) -> None:
    """Cross-validated figures, grouped by question (no question in both train and test): per-class
    precision, recall and F1. Each fold trains a model: expect ~20 minutes a fold on two cores."""
    from dlgrader.verifier.data import folds_by_group, load_pairs
    from dlgrader.verifier.train import TrainSettings, evaluate_split

    pairs = load_pairs(pairs_dir)
    fold_of = folds_by_group(pairs, folds)
    reports = {}
    for fold in ([only_fold] if only_fold is not None else range(folds)):
        report = evaluate_split(pairs, [f == fold for f in fold_of], TrainSettings(epochs=epochs),
                                progress=lambda line: click.echo(line, err=True))
        reports[f"fold{fold}"] = report
        if not as_json:
            click.echo(f"fold {fold}: macro-F1 {report['macro_f1']}, accuracy {report['accuracy']}, "
                       f"{json.dumps(report['per_class'])}")
    if as_json:
        click.echo(json.dumps(reports, indent=2))


@verifier_group.command("predict")
@click.argument("input_path", metavar="INPUT", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="JSONL output (default: standard output).")
def predict_command(input_path: Path, output: Path | None) -> None:
    """What the verifier believes: for each line {"premise", "hypothesis", "id"?} one line
    {"id", "label", "probs": {"entailment", "contradiction", "neutral"}}, in order. A bad line gives an
    {"id", "error"} line and costs that line only."""
    from dlgrader.config import get_settings
    from dlgrader.records import iter_records
    from dlgrader.verifier import LABELS, load_verifier

    settings = get_settings()
    verifier = load_verifier(settings.verifier_dir, threads=settings.threads)
    lines: list[dict[str, object]] = []
    todo: list[tuple[int, tuple[str, str]]] = []
    for number, record in iter_records(input_path):
        rid = str(record.get("id")) if isinstance(record, dict) and record.get("id") not in (None, "") \
            else f"line-{number}"
        problem = record if isinstance(record, str) else _pair_problem(record)
        if problem:
            lines.append({"id": rid, "error": problem})
            continue
        assert isinstance(record, dict)
        todo.append((len(lines), (str(record["premise"]), str(record["hypothesis"]))))
        lines.append({"id": rid})
    probs = verifier.predict([pair for _, pair in todo])
    for (position, _), row in zip(todo, probs, strict=True):
        lines[position]["label"] = LABELS[int(row.argmax())]
        lines[position]["probs"] = {label: round(float(p), 4) for label, p in zip(LABELS, row, strict=True)}
    text = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
    if output is None:
        click.echo(text, nl=False)
        return
    _write_atomic(output, text)
    click.echo(f"{len(lines)} lines written to {output} ({len(lines) - len(todo)} with an error)", err=True)


def _pair_problem(record: dict[str, object]) -> str | None:
    for key in ("premise", "hypothesis"):
        value = record.get(key)
        if not isinstance(value, str) or not value.strip():
            return f"'{key}' must be a non-empty string"
    return None


def _write_atomic(path: Path, text: str) -> None:
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise click.ClickException(f"cannot write {path}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise click.ClickException(f"cannot write {path}: {exc.strerror or exc}") from exc


def register(cli: click.Group) -> None:
    cli.add_command(verifier_group)


@verifier_group.command("train-matcher")
@click.option("--questions", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=PROJECT_ROOT / "corpus" / "matching" / "train_questions.jsonl", show_default=True)
@click.option("--epochs", type=click.IntRange(1, 20), default=2, show_default=True)
def train_matcher_command(questions: Path, epochs: int) -> None:
    """Train the question re-ranker (DLGRADER_MATCHER_DIR) from the bank's aliases and the typed questions,
    and choose its acceptance threshold on the held-back third of them."""
    from dlgrader.config import get_settings
    from dlgrader.verifier.matcher_train import train_matcher

    report = train_matcher(get_settings(), questions, epochs=epochs,
                           progress=lambda line: click.echo(line, err=True))
    click.echo(json.dumps(report, indent=2))
