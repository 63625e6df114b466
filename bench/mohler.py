"""The Mohler (UNT) short-answer benchmark, run through dlgrader's own commands.

    .venv/bin/python bench/mohler.py [--data /work/shared/datasets/mohler/mohler.jsonl] [--keep DIR]

Builds, in a temporary folder (the dataset is never copied into the repository), a question bank CSV
(id = question_id, question, reference_answer; key points derived from the reference sentences) and an
answers file (id, question_id, answer, label = score_avg), then runs the CLI as a user would:

    dlgrader batch answers.jsonl -o results.jsonl          (DLGRADER_CORPUS / DLGRADER_INDEX_DIR -> temp)
    dlgrader report results.jsonl --labels label --scale 0-5:0.5 --json summary.json --html report.html
    dlgrader calibrate results.jsonl --labels label --scale 0-5:0.5 -o calibration.json
    dlgrader calibrate results.jsonl --labels label --scale 0-5:0.5 --method learned --json -o learned.json

and prints Pearson, Spearman, QWK, MAE and RMSE against the averaged human grade: the raw score/20, the
calibrated score (isotonic, cross-validated with folds grouped by question text), the learned scoring
(cross-validated the same way, and over answers of graded questions), the plain whole-answer
cosine baseline (same embedder) raw and calibrated the same way, and the agreement of the two human
graders. No grader threshold is tuned on this data. Cite: Mohler, Bunescu & Mihalcea, ACL-HLT 2011.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from dlgrader.calibration import cross_validate, linear  # noqa: E402
from dlgrader.metrics import Agreement, Scale, agreement  # noqa: E402

DEFAULT_DATA = Path(os.environ.get("MOHLER_JSONL", "/work/shared/datasets/mohler/mohler.jsonl"))
SCALE = Scale(0.0, 5.0, 0.5)
DLGRADER = ROOT / ".venv" / "bin" / "dlgrader"


def load_rows(path: Path) -> list[dict[str, object]]:
    if not path.is_file():
        raise SystemExit(f"Mohler dataset not found at {path}: this benchmark needs mohler.jsonl "
                         "(see the dataset README; pass --data PATH or set MOHLER_JSONL). Nothing was run.")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def write_inputs(rows: list[dict[str, object]], work: Path) -> tuple[Path, Path]:
    bank, answers = work / "bank.csv", work / "answers.jsonl"
    seen: dict[str, dict[str, object]] = {}
    for r in rows:
        seen.setdefault(str(r["question_id"]), r)
    with bank.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["id", "question", "reference_answer", "topic"])
        writer.writeheader()
        for qid, r in seen.items():
            topic = f"exam_{r['assignment']}" if r["is_exam"] else f"assignment_{r['assignment']}"
            writer.writerow({"id": qid, "question": r["question"], "reference_answer": r["reference_answer"],
                             "topic": topic})
    with answers.open("w", encoding="utf-8") as fh:
        for r in rows:
            record = {"id": r["id"], "question_id": r["question_id"], "answer": r["student_answer"],
                      "label": r["score_avg"]}
            fh.write(json.dumps(record) + "\n")
    return bank, answers


def cli(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run([str(DLGRADER), *args], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"dlgrader {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done.stdout


def cosine_baseline(rows: list[dict[str, object]]) -> np.ndarray:
    """cos(answer, reference) with the grader's own embedder, whole texts."""
    from dlgrader.config import Settings
    from dlgrader.embedding import load_embedder

    s = Settings()
    embedder = load_embedder(model=s.model, backend=s.backend, threads=s.threads)
    answers = embedder.encode([str(r["student_answer"]) for r in rows])
    refs = embedder.encode([str(r["reference_answer"]) for r in rows])
    return np.sum(answers * refs, axis=1)


def _row(name: str, a: Agreement) -> str:
    cells = [a.pearson, a.spearman, a.qwk, a.mae, a.rmse]
    return f"| {name} | " + " | ".join("n/a" if c.value is None else f"{c.value:.3f}" for c in cells) + " |"


def _json_row(name: str, figures: dict[str, float | None]) -> str:
    cells = [figures.get(k) for k in ("pearson", "spearman", "qwk", "mae", "rmse")]
    return f"| {name} | " + " | ".join("n/a" if c is None else f"{c:.3f}" for c in cells) + " |"


def _bands(name: str, pred: np.ndarray, gold: np.ndarray) -> str:
    cells = []
    for lo, hi in ((0.0, 2.99), (3.0, 4.5), (5.0, 5.0)):
        mask = (gold >= lo) & (gold <= hi)
        cells.append(f"{np.mean(np.abs(pred[mask] - gold[mask])):.2f} (n={int(mask.sum())})")
    return f"| {name} | " + " | ".join(cells) + " |"


def run(data: Path, work: Path) -> str:
    rows = load_rows(data)
    bank, answers = write_inputs(rows, work)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "DLGRADER_CORPUS": str(bank),
           "DLGRADER_INDEX_DIR": str(work / "index"), "DLGRADER_DATA_DIR": str(work / "data")}
    env.pop("DLGRADER_CALIBRATION", None)
    results = work / "results.jsonl"
    t0 = time.perf_counter()
    cli(["batch", str(answers), "-o", str(results), "--restart", "--no-progress"], env)
    batch_s = time.perf_counter() - t0
    cli(["report", str(results), "--labels", "label", "--scale", "0-5:0.5",
         "--json", str(work / "summary.json"), "--html", str(work / "report.html")], env)
    print(cli(["calibrate", str(results), "--labels", "label", "--scale", "0-5:0.5", "-o",
               str(work / "calibration.json")], env))
    learned = json.loads(cli(["calibrate", str(results), "--labels", "label", "--scale", "0-5:0.5", "--method",
                              "learned", "--json", "-o", str(work / "calibration_learned.json")], env))
    summary = json.loads((work / "summary.json").read_text())
    calibration = json.loads((work / "calibration.json").read_text())

    by_id = {r["id"]: r for r in rows}
    graded = [json.loads(line) for line in results.read_text().splitlines()]
    graded = [g for g in graded if g["status"] == "graded"]
    gold = np.array([float(by_id[g["id"]]["score_avg"]) for g in graded])
    groups = [str(g["question"]) for g in graded]
    raw = np.array([g["score"] for g in graded])
    cv = cross_validate(raw, gold, groups, scale=SCALE)
    ordered = [by_id[g["id"]] for g in graded]
    cos = cosine_baseline(ordered)
    cos_cv = cross_validate(np.clip(cos, 0, 1) * 100, gold, groups, scale=SCALE)
    me = np.array([float(r["score_me"]) for r in ordered])
    other = np.array([float(r["score_other"]) for r in ordered])

    # The report's and calibrate's own numbers must be the ones this table shows.
    assert abs(summary["labels"]["overall"]["pearson"]["value"] - cv.before.pearson.value) < 1e-9
    assert abs(calibration["cross_validation"]["after"]["rmse"]["value"] - cv.after.rmse.value) < 1e-9

    lines = [
        f"Mohler/UNT ShortAnswerGrading v2.0: {len(rows)} answers, {len(graded)} graded, "
        f"{len({r['question_id'] for r in rows})} questions; batch {batch_s:.0f} s "
        f"({len(rows) / batch_s:.1f} answers/s). Gold: score_avg (0-5).",
        f"Calibration: isotonic, {cv.grouping}.",
        "",
        "| predictor | Pearson | Spearman | QWK | MAE | RMSE |",
        "|---|---|---|---|---|---|",
        _row("dlgrader, raw score/20", cv.before),
        _row("dlgrader, calibrated (cross-validated)", cv.after),
        _json_row(f"dlgrader, learned ({learned['method']} kept; cross-validated)", learned["calibrated"]),
        _json_row("dlgrader, learned, new answers to graded questions (5-fold over answers)",
                  learned["within_questions"]),
        _row("cosine(answer, reference), x5", agreement(np.clip(cos, 0, 1) * 5, gold, SCALE)),
        _row("cosine, calibrated (cross-validated)", cos_cv.after),
        _row("human grader A vs grader B", agreement(me, other, SCALE)),
        _row("human grader A vs average (A is half of it: inflated)", agreement(me, gold, SCALE)),
        _row("constant: mean label", agreement(np.full_like(gold, gold.mean()), gold, SCALE, resamples=0)),
        "",
        f"95% bootstrap intervals, dlgrader raw: Pearson {cv.before.pearson}, RMSE {cv.before.rmse}; "
        f"calibrated: Pearson {cv.after.pearson}, RMSE {cv.after.rmse}.",
        "",
        "Mean absolute error by gold band:",
        "",
        "| predictor | gold < 3 | gold 3-4.5 | gold 5 |",
        "|---|---|---|---|",
        _bands("dlgrader, raw score/20", linear(raw, SCALE), gold),
        _bands("dlgrader, calibrated (CV)", cv.out_of_fold, gold),
        _bands("cosine, calibrated (CV)", cos_cv.out_of_fold, gold),
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--keep", type=Path, help="Work in this folder and keep it (outside the repo).")
    args = parser.parse_args()
    if not args.data.is_file():
        load_rows(args.data)  # exits with the explanation
    work = args.keep or Path(tempfile.mkdtemp(prefix="dlgrader-mohler-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        print(run(args.data, work))
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
