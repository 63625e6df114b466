"""Speed of the grading engine beside the encode-only floor of the same backend.

    python bench/speed.py [--backend onnx|sentence-transformers] [--repeat 60]

Prints per-answer latency p50/p95 for ~50- and ~150-word answers, batch throughput, the time to just
encode the same sentences (the floor), cold start of `dlgrader grade` and resident memory.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time

ANSWER_50 = (
    "Dropout is a regularisation method. During training it switches off a random fraction of the neurons "
    "at every step, so the network cannot lean on any single unit. That reduces overfitting and works a bit "
    "like averaging an ensemble. At inference every neuron stays on and the outputs are scaled."
)
ANSWER_150 = " ".join([
    ANSWER_50,
    "The dropout rate is a hyperparameter, usually between 0.2 and 0.5, and it is applied to hidden layers",
    "rather than to the output layer. Because each mini-batch trains a slightly different thinned network,",
    "neurons cannot co-adapt and have to learn features that are useful on their own. The price is slower",
    "convergence: training usually needs more epochs. In frameworks such as PyTorch you call model.eval()",
    "before inference so that dropout layers are disabled, and model.train() to switch them back on. Dropout",
    "combines well with weight decay and early stopping, although batch normalisation reduces the need for it",
    "in convolutional networks.",
])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def timed(fn, repeat: int) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def cold_start(backend: str) -> float:
    env = {**os.environ, "DLGRADER_BACKEND": backend, "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "dlgrader", "grade", "-i", "dropout", "-a", ANSWER_50, "--json"]
    subprocess.run(cmd, env=env, capture_output=True, check=True)  # make sure the index is built
    runs = []
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run(cmd, env=env, capture_output=True, check=True)
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="onnx", choices=("onnx", "sentence-transformers"))
    parser.add_argument("--repeat", type=int, default=60)
    args = parser.parse_args()
    os.environ["DLGRADER_BACKEND"] = args.backend

    from dlgrader.config import get_settings
    from dlgrader.segment import sentences
    from dlgrader.service import Grader, GradeRequest

    grader = Grader.from_settings(get_settings())
    enc = grader.embedder
    print(f"backend {enc.backend} ({enc.model_id}), {os.cpu_count()} cores")
    print(f"{'measure':<34}{'p50 ms':>9}{'p95 ms':>9}{'floor p50':>11}{'ratio':>7}")
    for label, answer in (("~50-word answer", ANSWER_50), ("~150-word answer", ANSWER_150)):
        sents = [s.text for s in sentences(answer)]
        grader.grade(answer, question_id="dropout")  # warm-up
        grade_ms = timed(lambda a=answer: grader.grade(a, question_id="dropout"), args.repeat)
        floor_ms = timed(lambda s=sents: enc.encode(s), args.repeat)
        words = len(answer.split())
        print(f"{label + f' ({words} w)':<34}{percentile(grade_ms, 50):>9.1f}{percentile(grade_ms, 95):>9.1f}"
              f"{percentile(floor_ms, 50):>11.1f}{percentile(grade_ms, 50) / percentile(floor_ms, 50):>7.2f}")

    bank = grader.bank
    answers = [" ".join(kp.text for kp in q.key_points[:3]) for q in bank.questions] * 4
    requests = [GradeRequest(answer=a, question_id=q.id) for a, q in zip(answers, bank.questions * 4, strict=True)]
    all_sents = [s.text for a in answers for s in sentences(a)]
    start = time.perf_counter()
    grader.grade_many(requests)
    batch_s = time.perf_counter() - start
    start = time.perf_counter()
    enc.encode(all_sents)
    floor_s = time.perf_counter() - start
    mean_words = statistics.mean(len(a.split()) for a in answers)
    print(f"batch: {len(requests)} answers (~{mean_words:.0f} words) in {batch_s:.2f} s = "
          f"{len(requests) / batch_s:.0f} answers/s (encode-only floor {len(requests) / floor_s:.0f} answers/s)")
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory of this process: {rss_mb:.0f} MB")
    print(f"cold start `dlgrader grade` (median of 3, index built): {cold_start(args.backend):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
