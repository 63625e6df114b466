"""Time and peak memory of `dlgrader batch` on 100,000 answers synthesised from the bundled bank.

    .venv/bin/python bench/batch_100k.py                 # 100,000 answers, temp dir removed afterwards
    .venv/bin/python bench/batch_100k.py --n 5000 --keep /tmp/b100k

Answers mix key points, reference sentences and noise (sentences of other questions), some short or
empty, and one in ten names its question by text rather than id. The batch command runs as a subprocess
(the real CLI, progress bar off); its resident memory is sampled every two seconds together with the
number of results written, so the report shows whether memory grows with the file (it should not), and
the peak comes from the kernel (ru_maxrss of the child).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from dlgrader.corpus.loader import load_bank, split_sentences  # noqa: E402

FILLER = ["I think this is important.", "I don't know.", "It depends on the data.", "", "Not sure, maybe."]


def synthesise(n: int, out: Path, seed: int = 0) -> None:
    """n answers to random bank questions, written as JSONL (id, question_id or question, answer)."""
    bank = load_bank(ROOT / "corpus" / "questions.jsonl")
    rng = random.Random(seed)
    refs = {q.id: split_sentences(q.reference_answer) for q in bank.questions}
    with out.open("w", encoding="utf-8") as fh:
        for i in range(n):
            q = rng.choice(bank.questions)
            other = rng.choice(bank.questions)
            kind = rng.random()
            points = [kp.text for kp in q.key_points]
            if kind < 0.35:
                parts = rng.sample(points, k=rng.randint(1, len(points)))
            elif kind < 0.60:
                parts = rng.sample(refs[q.id], k=rng.randint(1, len(refs[q.id])))
            elif kind < 0.85:
                parts = rng.sample(points, k=rng.randint(1, len(points))) + rng.sample(refs[other.id], k=1)
                rng.shuffle(parts)
            elif kind < 0.95:
                parts = rng.sample(refs[other.id], k=min(2, len(refs[other.id])))
            else:
                parts = [rng.choice(FILLER)]
            record: dict[str, object] = {"id": f"s{i}", "answer": " ".join(parts)}
            if rng.random() < 0.1:
                record["question"] = rng.choice([q.question, *q.aliases])
            else:
                record["question_id"] = q.id
            fh.write(json.dumps(record) + "\n")


def _rss_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _lines(path: Path) -> int:
    if not path.exists():
        return 0
    with path.open("rb") as fh:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))


def run(n: int, workdir: Path) -> dict[str, object]:
    answers, results = workdir / "answers.jsonl", workdir / "results.jsonl"
    t0 = time.perf_counter()
    synthesise(n, answers)
    print(f"synthesised {n} answers in {time.perf_counter() - t0:.1f}s -> {answers}", flush=True)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    cmd = [str(ROOT / ".venv" / "bin" / "dlgrader"), "batch", str(answers), "-o", str(results),
           "--no-progress"]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    samples: list[tuple[float, int, int]] = []  # (seconds, results written, RSS kB)
    last_print = 0.0
    while proc.poll() is None:
        time.sleep(2.0)
        rss = _rss_kb(proc.pid)
        elapsed = time.perf_counter() - start
        if rss is not None:
            samples.append((elapsed, _lines(results), rss))
        if elapsed - last_print >= 60 and samples:
            last_print = elapsed
            _, written, rss_kb = samples[-1]
            print(f"  {elapsed:7.0f}s  {written:>7} written  RSS {rss_kb / 1024:.0f} MiB", flush=True)
    wall = time.perf_counter() - start
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"batch failed ({proc.returncode}): {err[-2000:]}")
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    written = _lines(results)
    print(err.strip())
    return {"answers": n, "written": written, "wall_s": round(wall, 1), "answers_per_s": round(n / wall, 1),
            "peak_rss_mib": round(peak_kb / 1024, 1), "output_mib": round(results.stat().st_size / 2**20, 1),
            "rss_by_progress": _milestones(samples, n)}


def _milestones(samples: list[tuple[float, int, int]], n: int) -> list[dict[str, float]]:
    """RSS when 10%, 25%, 50%, 75% and ~100% of the results were written: flat means bounded memory."""
    out: list[dict[str, float]] = []
    for share in (0.1, 0.25, 0.5, 0.75, 0.99):
        hit = next((s for s in samples if s[1] >= share * n), None)
        if hit and not any(o["written"] == hit[1] for o in out):
            out.append({"written": hit[1], "at_s": round(hit[0], 1), "rss_mib": round(hit[2] / 1024, 1)})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--keep", type=Path, help="Work in this folder and keep it (default: a temp dir).")
    args = parser.parse_args()
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="dlgrader-100k-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        summary = run(args.n, workdir)
    finally:
        if args.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps(summary, indent=2))
    print(f"\n{summary['answers']:,} answers: {summary['wall_s']:.0f} s wall, "
          f"{summary['answers_per_s']} answers/s, peak RSS {summary['peak_rss_mib']} MiB "
          f"({os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
