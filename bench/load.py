"""Load benchmark of the HTTP API against the engine it wraps.

Sends a bounded number of ``POST /v1/grade`` requests with ~50-word answers at concurrency 1, 8 and 32 and
prints requests/s, p50/p99 latency and errors; beside them, the engine's own per-answer time
(``Grader.grade`` in this process, interleaved with the concurrency-1 requests so both see the same
machine load) and the batch command's answers/s (``Grader.grade_many`` on the same answers). The issue's
two targets are printed at the end:

- at concurrency 1 the service adds at most 20% latency over the engine's per-answer time;
- at concurrency 8 its throughput reaches at least 80% of the batch answers/s.

Usage: ``python bench/load.py`` (starts ``dlgrader serve`` on a free loopback port, with the rate limit
off) or ``python bench/load.py --url http://127.0.0.1:8000``. DLGRADER_* settings apply to both sides.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
WORDS = 50


def make_answers(n: int) -> list[dict[str, str]]:
    """``n`` requests of ~50 words each: the opening of the bank's reference answers, bank order."""
    from dlgrader.config import get_settings
    from dlgrader.corpus.loader import load_bank

    bank = load_bank(get_settings().corpus)
    out = []
    for question in bank.questions:
        words = question.reference_answer.split()
        if len(words) >= 40:
            out.append({"question_id": question.id, "answer": " ".join(words[:WORDS])})
    return [out[i % len(out)] for i in range(n)]


@dataclass
class Run:
    concurrency: int
    requests: int
    errors: int
    seconds: float
    latencies: list[float]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def _load(url: str, bodies: list[dict[str, str]], concurrency: int, headers: dict[str, str]) -> Run:
    latencies: list[float] = []
    errors = 0
    queue = iter(bodies)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits, headers=headers) as client:

        async def worker() -> None:
            nonlocal errors
            for body in queue:
                start = time.perf_counter()
                try:
                    response = await client.post("/v1/grade", json=body)
                    ok = response.status_code == 200 and response.json().get("status") == "graded"
                except httpx.HTTPError:
                    ok = False
                latencies.append(time.perf_counter() - start)
                errors += not ok

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return Run(concurrency, len(bodies), errors, elapsed, latencies)


def paired_sequential(grader, url: str, bodies: list[dict[str, str]],  # type: ignore[no-untyped-def]
                      headers: dict[str, str]) -> tuple[list[float], Run]:
    """Concurrency 1, interleaved: each answer graded in-process, then sent to the service, so both see
    the same machine load (a busy machine otherwise skews a comparison made minutes apart)."""
    engine: list[float] = []
    service: list[float] = []
    errors = 0
    with httpx.Client(base_url=url, timeout=120, headers=headers) as client:
        for body in bodies:
            start = time.perf_counter()
            grader.grade(body["answer"], question_id=body["question_id"])
            engine.append(time.perf_counter() - start)
            start = time.perf_counter()
            response = client.post("/v1/grade", json=body)
            service.append(time.perf_counter() - start)
            errors += not (response.status_code == 200 and response.json().get("status") == "graded")
    return engine, Run(1, len(bodies), errors, sum(service), service)


def batch_rate(grader, bodies: list[dict[str, str]]) -> float:  # type: ignore[no-untyped-def]
    """Answers/s of ``grade_many`` on the same answers (what ``dlgrader batch`` calls)."""
    from dlgrader.service import GradeRequest

    requests = [GradeRequest(answer=b["answer"], question_id=b["question_id"]) for b in bodies]
    start = time.perf_counter()
    grader.grade_many(requests)
    return len(requests) / (time.perf_counter() - start)


def measure(grader, url: str, bodies: list[dict[str, str]], levels: list[int],  # type: ignore[no-untyped-def]
            headers: dict[str, str]) -> tuple[list[Run], list[float], float]:
    """Every concurrency level, the engine's per-answer times and the batch rate."""
    asyncio.run(_load(url, bodies[:10], 2, headers))  # warm-up: connections, first-call costs
    engine: list[float] = []
    runs = []
    batch = 0.0
    for level in levels:
        print(f"concurrency {level}...", file=sys.stderr)
        if level == 1:
            engine, run = paired_sequential(grader, url, bodies, headers)
            runs.append(run)
            continue
        if not batch:  # measured just before the concurrent runs it is compared with
            batch = batch_rate(grader, bodies)
        runs.append(asyncio.run(_load(url, bodies, level, headers)))
    if not engine:
        engine = paired_sequential(grader, url, bodies[:20], headers)[0]
    return runs, engine, batch or batch_rate(grader, bodies)


def _table(runs: list[Run], engine: list[float], batch: float) -> str:
    engine_mean, engine_p50 = statistics.mean(engine) * 1000, statistics.median(engine) * 1000
    lines = [f"machine: {os.cpu_count()} CPUs (nproc), python {sys.version.split()[0]}",
             f"engine in-process: {engine_mean:.1f} ms/answer mean, {engine_p50:.1f} ms p50 "
             f"({1000 / engine_mean:.1f} answers/s one at a time)",
             f"batch (grade_many): {batch:.1f} answers/s", "",
             f"{'concurrency':>11} {'requests':>8} {'errors':>6} {'req/s':>7} {'p50 ms':>8} {'p99 ms':>8}"]
    for r in runs:
        lines.append(f"{r.concurrency:>11} {r.requests:>8} {r.errors:>6} {r.rps:>7.1f} {r.pct(0.5):>8.1f} "
                     f"{r.pct(0.99):>8.1f}")
    by_c = {r.concurrency: r for r in runs}
    if 1 in by_c:
        overhead = by_c[1].pct(0.5) / engine_p50 - 1
        verdict = "met" if overhead <= 0.20 else "NOT met"
        lines.append(f"\nlatency added at concurrency 1 (service p50 vs engine p50, interleaved): "
                     f"{overhead:+.0%} (target <= +20%: {verdict})")
    if 8 in by_c:
        share = by_c[8].rps / batch
        verdict = "met" if share >= 0.80 else "NOT met"
        lines.append(f"throughput at concurrency 8 vs batch: {share:.0%} (target >= 80%: {verdict})")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="A running server (default: start one on a free loopback port).")
    parser.add_argument("--requests", type=int, default=160, help="Requests per concurrency level.")
    parser.add_argument("--concurrency", default="1,8,32", help="Comma-separated levels.")
    parser.add_argument("--api-key", default=os.environ.get("DLGRADER_BENCH_API_KEY"))
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    levels = [int(c) for c in args.concurrency.split(",")]
    bodies = make_answers(args.requests)
    print(f"{len(bodies)} requests per level, answers of {WORDS} words", file=sys.stderr)
    from dlgrader.service import default_grader

    grader = default_grader()
    for body in bodies[:5]:  # warm-up
        grader.grade(body["answer"], question_id=body["question_id"])
    headers = {"Authorization": f"Bearer {args.api_key}"} if args.api_key else {}
    server = None
    url = args.url
    if url is None:
        sys.path.insert(0, str(ROOT / "tests"))  # the same launcher the API tests use
        from apiserver import start

        overrides = {k: v for k, v in os.environ.items() if k.startswith("DLGRADER_")}
        overrides["DLGRADER_RATE_LIMIT_PER_MINUTE"] = "0"
        server = start(overrides, workdir=Path(tempfile.mkdtemp(prefix="dlgrader-bench-")))
        url = server.url
    try:
        runs, engine, batch = measure(grader, url, bodies, levels, headers)
    finally:
        if server is not None:
            server.stop()
    print(_table(runs, engine, batch))
    return 1 if any(r.errors for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
